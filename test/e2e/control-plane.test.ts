import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { processesMentioning } from './support/processes.ts';
import { waitUntil } from './support/serve-process.ts';

/**
 * The control plane the end-to-end tests build on: the pinned release, real TLS, real authentication and RBAC,
 * state that survives an API server restart, and no process left behind however the test process ends.
 */
// Two control plane starts (about 5 s each when the binaries are cached) and one restart normally take under
// 30 s in all; the margin covers a loaded CI machine without letting a hung start block the run for long.
t.setTimeout(120_000);

const PINNED = pinnedKubernetesVersion();
const NAMESPACE = 'control-plane-test';
const READER = { namespace: 'readers', name: 'namespace-reader' };

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());

function pinnedKubernetesVersion(): string {
  const goMod = readFileSync(new URL('../control-plane/go.mod', import.meta.url), 'utf8');
  const version = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1];
  if (version === undefined) throw new Error('test/control-plane/go.mod does not require k8s.io/kubernetes');
  return version;
}

interface Response {
  readonly status: number;
  readonly body: string;
}

function apiGet(path: string, options: { token?: string; trustTestCa?: boolean } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
    const ca = options.trustTestCa === false ? undefined : cp.caPem;
    const req = request(`${cp.url}${path}`, { ca, headers, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function kubectlOk(args: readonly string[], options: { input?: string; kubeconfig?: string } = {}): Promise<string> {
  const result = await cp.kubectl(args, options);
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

function tokenOf(kubeconfigPath: string): string {
  const config = JSON.parse(readFileSync(kubeconfigPath, 'utf8')) as { users: { user: { token: string } }[] };
  return config.users[0]?.user.token ?? '';
}

function pidsOf(binary: string): number[] {
  return processesMentioning(cp.dir)
    .filter((process) => process.commandLine.startsWith(join(cp.binDir, binary)))
    .map((process) => process.pid);
}

const namespaceReaderRbac = [
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'namespace-reader' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }] },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'namespace-reader' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'namespace-reader' },
    subjects: [{ kind: 'ServiceAccount', namespace: READER.namespace, name: READER.name }],
  },
];

t.test('the API server and kubectl both report the Kubernetes release pinned in go.mod', async (t) => {
  const versions = JSON.parse(await kubectlOk(['version', '--output=json'])) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
  t.equal(versions.serverVersion.gitVersion, PINNED);
  t.equal(versions.clientVersion.gitVersion, PINNED);
});

t.test('a client that does not trust the test CA cannot even connect', async (t) => {
  const error = await apiGet('/version', { trustTestCa: false }).then(
    () => undefined,
    (e: unknown) => e as NodeJS.ErrnoException,
  );
  t.match(error?.code, /VERIFY|CERT/, 'the TLS handshake fails on certificate verification');
});

t.test('a request without credentials is refused', async (t) => {
  const { status } = await apiGet('/api/v1/namespaces');
  t.ok(status === 401 || status === 403, `anonymous list of namespaces answered ${status}`);
});

t.test('the admin identity is in system:masters and creates a namespace with kubectl', async (t) => {
  t.match(await kubectlOk(['auth', 'whoami', '--output=jsonpath={.status.userInfo.groups}']), /"system:masters"/);
  await kubectlOk(['create', 'namespace', NAMESPACE]);
  t.equal(await kubectlOk(['get', 'namespace', NAMESPACE, '--output=jsonpath={.metadata.name}']), NAMESPACE);
});

t.test('a ServiceAccount may list namespaces only once a ClusterRoleBinding grants it', async (t) => {
  const kubeconfig = await cp.serviceAccountKubeconfig(READER.namespace, READER.name);
  const whoami = await kubectlOk(['auth', 'whoami', '--output=jsonpath={.status.userInfo.username}'], { kubeconfig });
  t.equal(whoami, `system:serviceaccount:${READER.namespace}:${READER.name}`, 'the token authenticates as the ServiceAccount');

  const token = tokenOf(kubeconfig);
  t.equal((await apiGet('/api/v1/namespaces', { token })).status, 403, 'refused before the grant');
  const denied = await cp.kubectl(['get', 'namespaces'], { kubeconfig });
  t.not(denied.code, 0, 'kubectl fails before the grant');
  t.match(denied.stderr, /\(Forbidden\)/);

  await kubectlOk(['apply', '--filename=-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaceReaderRbac }) });
  // RBAC reads bindings through an informer: the grant takes effect within moments, not synchronously.
  await waitUntil(async () => (await apiGet('/api/v1/namespaces', { token })).status === 200, 'the grant to take effect', 10_000);
  const names = await kubectlOk(['get', 'namespaces', '--output=name'], { kubeconfig });
  t.match(names, `namespace/${NAMESPACE}`, 'the ServiceAccount now sees the namespace the admin created');
});

t.test('restarting kube-apiserver keeps what etcd stored and serves again on the same URL', async (t) => {
  const [etcdBefore, apiServerBefore] = [pidsOf('etcd'), pidsOf('kube-apiserver')];
  t.equal(apiServerBefore.length, 1, 'one kube-apiserver before the restart');
  await cp.restartApiServer();
  const apiServerAfter = pidsOf('kube-apiserver');
  t.equal(apiServerAfter.length, 1, 'one kube-apiserver after the restart: the old one is gone');
  t.not(apiServerAfter[0], apiServerBefore[0], 'it is a new process');
  t.same(pidsOf('etcd'), etcdBefore, 'etcd kept running');
  t.equal(await kubectlOk(['get', 'namespace', NAMESPACE, '--output=jsonpath={.metadata.name}']), NAMESPACE);
  const kubeconfig = await cp.serviceAccountKubeconfig(READER.namespace, READER.name);
  t.match(await kubectlOk(['get', 'namespaces', '--output=name'], { kubeconfig }), `namespace/${NAMESPACE}`, 'tokens and RBAC still work');
});

t.test('a test process killed before it can clean up takes its control plane with it', async (t) => {
  const { child, dir } = await controlPlaneInChildProcess(t);
  t.equal(processesMentioning(dir).length, 2, 'etcd and kube-apiserver run for the child');
  child.kill('SIGKILL');
  await waitUntil(() => processesMentioning(dir).length === 0, 'the orphaned control plane to die', 10_000);
  t.same(processesMentioning(dir), [], 'no etcd or kube-apiserver outlives it');
});

t.test('stop kills etcd and kube-apiserver, removes the directory, and a second stop is a no-op', async (t) => {
  t.equal(processesMentioning(cp.dir).length, 2, 'both run before stop');
  await cp.stop();
  t.same(processesMentioning(cp.dir), [], 'no process left');
  t.notOk(existsSync(cp.dir), 'directory removed');
  await t.rejects(apiGet('/version'), { code: 'ECONNREFUSED' }, 'nothing listens on the port any more');
  await t.resolves(cp.stop(), 'stopping again resolves');
  await t.rejects(cp.restartApiServer(), /stopped/, 'a stopped control plane cannot be restarted');
});

/** Starts a control plane in a separate Node process that never calls stop(), and waits until it is ready. */
async function controlPlaneInChildProcess(t: Test): Promise<{ child: ReturnType<typeof spawn>; dir: string }> {
  const module = new URL('../control-plane/control-plane.ts', import.meta.url).href;
  const script = `const { startControlPlane } = await import(${JSON.stringify(module)});
    console.log((await startControlPlane()).dir);
    setInterval(() => {}, 60_000);`;
  const env = { ...process.env, CONTROL_PLANE_BIN: cp.binDir };
  const child = spawn(process.execPath, ['--input-type=module', '--eval', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const dir = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before its control plane was ready:\n${stderr}`)));
  });
  t.teardown(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return { child, dir };
}
