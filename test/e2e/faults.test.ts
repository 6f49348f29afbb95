import { Agent, request } from 'node:https';
import t, { type Test } from 'tap';
import type { Fault } from '../moto/moto-server.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { httpsGet, startServe, waitUntil } from './support/serve-process.ts';
import { startWebhookStack } from './support/webhook-stack.ts';

/**
 * Faults around the webhook, each through the real API server, AWS emulator and TLS: after every one, no pod was
 * wrongly admitted and no good pull Secret was lost. (The refresher's leader being killed is in refresher.test.ts,
 * a broken policy push in webhook.test.ts.)
 */
t.setTimeout(300_000);

const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const UNGRANTED = `${TARGET}/paymentsevil/shell:1`;
const TENANT = 'ecr-tenant-webhook.io/tenant';
const SECRET = 'ecr-pull-111111111111-eu-west-1';
const FAULTED_TENANTS = ['slow', 'throttled', 'refused', 'ecrfail'];

const tenant = (name: string) => `    ${name}:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-${name}
      grants:
        - registry: ${TARGET}
          repositories: ["${name}/*"]
`;
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults: { mode: enforce, nonEcrImages: allow }
  tenants:
${['steady', 'other', ...FAULTED_TENANTS].map(tenant).join('')}`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());
for (const name of ['steady', 'other', ...FAULTED_TENANTS]) await stack.namespace(name, { [TENANT]: name });

let serial = 0;
async function createPod(namespace: string, image: string, extra: string[] = []) {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${++serial}`, namespace }, spec: { containers: [{ name: 'app', image }] } };
  return stack.kubectl(['create', ...extra, '-f', '-'], JSON.stringify(pod));
}

type PullSecret = { password: string; expiresAt: string };
async function pullSecret(namespace: string): Promise<PullSecret> {
  const secret = JSON.parse(await stack.kubectlOk(['-n', namespace, 'get', 'secret', SECRET, '-o', 'json']));
  const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString());
  return { password: config.auths[TARGET].password, expiresAt: secret.metadata.annotations['ecr-tenant-webhook.io/expires-at'] };
}

const warm = await createPod('steady', `${TARGET}/steady/app:1`);
if (warm.code !== 0) throw new Error(`the steady tenant's first pod was refused: ${warm.stderr}`);
const goodSecret = await pullSecret('steady');

/** A good pull Secret may be renewed, never emptied or replaced by an older one. */
async function assertSecretKept(t: Test) {
  const now = await pullSecret('steady');
  t.ok(now.password.length > 0, 'the steady tenant’s pull Secret still holds a password');
  t.ok(Date.parse(now.expiresAt) >= Date.parse(goodSecret.expiresAt), 'and expires no earlier than before');
}

const AWS_FAULTS: { name: string; tenant: string; api: string; fault: Fault; message: RegExp }[] = [
  {
    name: 'STS slower than the admission deadline',
    tenant: 'slow',
    api: 'AssumeRole',
    fault: { kind: 'delay', ms: 6_000 },
    message: /no ECR credentials for tenant "slow" with role arn:aws:iam::111111111111:role\/ecr-pull-slow \(Timeout\): pull secret took longer than 3000 ms/,
  },
  {
    name: 'STS throttling every call',
    tenant: 'throttled',
    api: 'AssumeRole',
    fault: { kind: 'error', status: 400, code: 'Throttling', message: 'Rate exceeded' },
    message: /no ECR credentials for tenant "throttled" .*\((Throttling|Timeout)\)/,
  },
  {
    name: 'STS refusing the role (AccessDenied)',
    tenant: 'refused',
    api: 'AssumeRole',
    fault: { kind: 'error', status: 403, code: 'AccessDenied', message: 'not authorized to perform sts:AssumeRole' },
    message: /no ECR credentials for tenant "refused" .*\(AccessDenied\)/,
  },
  {
    name: 'ECR failing GetAuthorizationToken (ServerException)',
    tenant: 'ecrfail',
    api: 'GetAuthorizationToken',
    fault: { kind: 'error', status: 500, code: 'ServerException', message: 'internal failure' },
    message: /no ECR credentials for tenant "ecrfail" .*\((ServerException|Timeout)\)/,
  },
];

for (const c of AWS_FAULTS) {
  t.test(`with ${c.name}, a new tenant's pod is denied naming the cause, and the tenant with a good Secret keeps working`, async (t) => {
    stack.moto.setFault(c.api, c.fault);
    t.teardown(() => stack.moto.setFault(c.api, undefined));
    const denied = await createPod(c.tenant, `${TARGET}/${c.tenant}/app:1`);
    t.not(denied.code, 0, 'the pod is not admitted');
    t.match(denied.stderr, c.message);
    const stored = await stack.kubectl(['-n', c.tenant, 'get', 'pods', '-o', 'name']);
    t.equal(stored.stdout.trim(), '', 'nothing was stored');
    const steady = await createPod('steady', `${TARGET}/steady/app:2`);
    t.equal(steady.code, 0, steady.stderr);
    await assertSecretKept(t);
  });
}

/** The webhook configuration's timeoutSeconds in manifests/, in ms: when the API server stops waiting for the answer. */
const WEBHOOK_TIMEOUT_MS = 5000;

t.test('a new namespace’s first pod, with a slow API server and a slow STS together, gets the webhook’s own answer in time', async (t) => {
  // A replica whose every answer from the API server arrives 700 ms late (a cache miss then costs ~1.5 s: TLS
  // handshake and response), its credential deadline raised as an operator might: 4 s, alone within the webhook's
  // 5 s, but not after a slow namespace lookup. Only the shared admission budget keeps the answer in time.
  const { hostname, port } = new URL(stack.cp.url);
  const network = await startTcpProxy({ host: hostname, port: Number(port) });
  t.teardown(() => network.close());
  const replica = await startServe([...stack.serveArgsVia(network.address), '--identity', 'replica-slow', '--credential-deadline', '4'], { env: stack.serveEnv });
  t.teardown(() => replica.stop('SIGKILL'));
  await waitUntil(async () => (await httpsGet(replica.port, '/readyz', stack.webhookCa)).status === 200, 'the slow replica to be ready');
  await stack.retarget(replica.port);
  t.teardown(() => stack.retarget(stack.serve.port));
  stack.moto.setFault('AssumeRole', { kind: 'delay', ms: 8000 });
  t.teardown(() => stack.moto.setFault('AssumeRole', undefined));
  network.slow(700);

  await stack.namespace('newcomer', { [TENANT]: 'slow' });
  const started = performance.now();
  const result = await createPod('newcomer', `${TARGET}/slow/app:1`);
  const elapsed = performance.now() - started;
  t.not(result.code, 0, 'the pod is not admitted');
  t.match(result.stderr, /admission webhook "pods\.ecr-tenant-webhook\.io" denied the request: no ECR credentials for tenant "slow" .*\(Timeout\): pull secret did not finish within the 4000 ms one admission may wait/);
  t.notMatch(result.stderr, /failed calling webhook|context deadline exceeded/, 'the API server did not give up on the webhook first');
  t.ok(elapsed < WEBHOOK_TIMEOUT_MS, `answered in ${Math.round(elapsed)} ms, under the webhook's timeoutSeconds`);
  const metrics = await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`).then((r) => r.text());
  t.match(metrics, /ecr_tenant_webhook_namespace_lookups_total\{source="api"\} [1-9]/, 'the namespace was read from the slow API server, not the cache');
});

type Outcome = { image: string; admitted: boolean; stderr: string };
/** Server-side dry-run creates from `workers` loops until `done()`: granted and ungranted images alternating. */
async function loadThroughApiServer(namespace: string, workers: number, done: () => boolean): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const loop = async (worker: number) => {
    for (let i = 0; !done(); i++) {
      const image = (i + worker) % 2 === 0 ? UNGRANTED : `${TARGET}/${namespace}/app:${i}`;
      const result = await createPod(namespace, image, ['--dry-run=server']);
      outcomes.push({ image, admitted: result.code === 0, stderr: result.stderr });
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  return outcomes;
}

t.test('with the API server restarted under load, no ungranted pod is admitted and a relabel after it takes effect', async (t) => {
  let restarted = false;
  const load = loadThroughApiServer('steady', 2, () => restarted);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await stack.cp.restartApiServer();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  restarted = true;
  const outcomes = await load;
  t.ok(outcomes.length >= 10, `${outcomes.length} creates were tried`);
  t.same(outcomes.filter((o) => o.admitted && o.image === UNGRANTED), [], 'no ungranted pod was admitted');
  t.ok(outcomes.some((o) => o.admitted), 'granted pods were admitted');

  await stack.namespace('steady', { [TENANT]: 'other' });
  await waitUntil(async () => (await createPod('steady', `${TARGET}/steady/app:9`, ['--dry-run=server'])).code !== 0, 'the new tenant of the namespace to decide', 30_000);
  await stack.namespace('steady', { [TENANT]: 'steady' });
  await waitUntil(async () => (await createPod('steady', `${TARGET}/steady/app:10`, ['--dry-run=server'])).code === 0, 'the old tenant to be back', 30_000);
  await assertSecretKept(t);
});

function review(uid: string, image: string) {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'steady', dryRun: true, object: { kind: 'Pod', metadata: { name: uid }, spec: { containers: [{ name: 'app', image }] } } },
  });
}

/** Posts one review straight to serve; resolves with the HTTP status and the response, or the connection error. */
function post(agent: Agent | false, body: string): Promise<{ status: number; allowed?: boolean; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port: stack.serve.port, path: '/mutate', method: 'POST', ca: stack.webhookCa, servername: 'localhost', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, allowed: res.statusCode === 200 ? JSON.parse(text).response.allowed : undefined }));
      },
    );
    req.on('error', (error) => resolve({ status: 0, error: error.message }));
    req.end(body);
  });
}

t.test('with the serving certificate rotated under load, every request on new and kept-alive connections succeeds', async (t) => {
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => keepAlive.destroy());
  let rotating = true;
  const failures: string[] = [];
  let sent = 0;
  const loop = async (agent: Agent | false) => {
    while (rotating) {
      const ungranted = sent % 2 === 0;
      const uid = `tls-${++sent}`;
      const result = await post(agent, review(uid, ungranted ? UNGRANTED : `${TARGET}/steady/app:1`));
      if (result.status !== 200) failures.push(`${uid}: ${result.status} ${result.error ?? ''}`);
      else if (result.allowed !== !ungranted) failures.push(`${uid}: allowed=${result.allowed}`);
    }
  };
  const load = Promise.all([loop(false), loop(false), loop(keepAlive), loop(keepAlive)]);
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const reloads = stack.serve.lines.filter((l) => l.msg === 'TLS certificate reloaded').length;
    stack.rotateCertificate();
    await waitUntil(() => stack.serve.lines.filter((l) => l.msg === 'TLS certificate reloaded').length > reloads, 'the certificate reload');
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  rotating = false;
  await load;
  t.ok(sent >= 100, `${sent} requests were sent across three rotations`);
  t.same(failures, [], 'none failed or was answered wrongly');
});
