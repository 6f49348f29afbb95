import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { auditKubeConfigSource, parsePageSize, reportAudit, type AuditOptions } from '../../src/cli/audit.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import type { ServeEnvironment } from '../../src/cli/serve.ts';
import { InMemoryWorkloadSource } from '../../src/kube/workload-source.ts';
import { testPolicy } from '../admission/harness.ts';
import { MODE, object, SOURCE, TARGET, TENANT } from '../audit/objects.ts';
import { fixture } from './run-cli.ts';

/** `audit` in-process: options, where the kubeconfig comes from, output, progress and exit codes. Against a real API server: test/e2e/audit.test.ts. */
const dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const POLICY = fixture('policy.yaml');

/** A port nothing listens on: taken, then released. */
const closedPort = await new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    server.close(() => resolve(port));
  });
});
const UNREACHABLE = join(dir, 'unreachable.kubeconfig');
writeFileSync(
  UNREACHABLE,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${closedPort}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'c',
  }),
);
const NO_CONTEXT = join(dir, 'no-context.kubeconfig');
writeFileSync(NO_CONTEXT, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n');
const HOME = join(dir, 'home');
mkdirSync(join(HOME, '.kube'), { recursive: true });
writeFileSync(join(HOME, '.kube', 'config'), 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n');

const outside: ServeEnvironment = {
  kubernetesServiceHost: undefined,
  kubernetesServicePort: undefined,
  podNamespace: undefined,
  podName: undefined,
  hostname: 'laptop',
  onStopSignal: () => undefined,
};

function io(tty = false) {
  const out = { stdout: '', stderr: '' };
  const streams: CliIo = { stdout: (s) => (out.stdout += s), stderr: (s) => (out.stderr += s), stdin: async () => '', stderrIsTty: tty };
  return { out, streams };
}

const errors: { name: string; args: string[]; env?: Partial<ServeEnvironment>; stderr: RegExp }[] = [
  { name: '--namespace and --all-namespaces together are refused', args: ['audit', '--policy', POLICY, '-n', 'shop', '--all-namespaces'], stderr: /option '-n, --namespace <name>' cannot be used with option '-A, --all-namespaces'/ },
  { name: 'a missing --policy is named', args: ['audit'], stderr: /required option '--policy <file>' not specified/ },
  { name: 'a page size of 0 is refused', args: ['audit', '--policy', POLICY, '--page-size', '0'], stderr: /--page-size <n>' argument '0' is invalid\. must be a whole number from 1 to 10000/ },
  { name: 'a page size that is not a number is refused', args: ['audit', '--policy', POLICY, '--page-size', 'lots'], stderr: /must be a whole number from 1 to 10000/ },
  { name: 'an unknown output format is refused with the choices', args: ['audit', '--policy', POLICY, '--output', 'yaml'], stderr: /Allowed choices are text, json/ },
  { name: 'a policy that does not load is named before the cluster is read', args: ['audit', '--policy', fixture('policies/unknown-field.yaml'), '--kubeconfig', UNREACHABLE], stderr: /^error: .*unknown-field\.yaml: .*unknown field/ },
  { name: 'a kubeconfig file that does not exist is named', args: ['audit', '--policy', POLICY, '--kubeconfig', join(dir, 'missing')], stderr: /^error: kubeconfig .*missing cannot be loaded: .*ENOENT/ },
  { name: 'a kubeconfig without a current context is named', args: ['audit', '--policy', POLICY, '--kubeconfig', NO_CONTEXT], stderr: /^error: kubeconfig .*no-context\.kubeconfig has no current context with a cluster\n$/ },
  { name: 'without any kubeconfig outside a cluster the message says where one is looked for', args: ['audit', '--policy', POLICY], stderr: /^error: no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config/ },
  { name: 'the first file named by KUBECONFIG is used', args: ['audit', '--policy', POLICY], env: { kubeconfigEnv: `${join(dir, 'first')}:${UNREACHABLE}` }, stderr: /^error: kubeconfig .*first cannot be loaded/ },
  { name: '~/.kube/config is used when it exists', args: ['audit', '--policy', POLICY], env: { home: HOME }, stderr: /^error: kubeconfig .*home\/\.kube\/config has no current context/ },
  {
    name: 'an API server that refuses connections is one line naming what was being listed and the server',
    args: ['audit', '--policy', POLICY, '--kubeconfig', UNREACHABLE],
    stderr: new RegExp(`^error: listing namespaces: cannot reach the API server at https://127\\.0\\.0\\.1:${closedPort}: connect ECONNREFUSED 127\\.0\\.0\\.1:${closedPort}\\n$`),
  },
  {
    name: 'with --namespace the failure names the namespace being read',
    args: ['audit', '--policy', POLICY, '--kubeconfig', UNREACHABLE, '--namespace', 'shop'],
    stderr: /^error: reading namespace shop: cannot reach the API server at https:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/,
  },
  {
    name: 'in a pod without a kubeconfig the service account is used, and a missing one is named',
    args: ['audit', '--policy', POLICY],
    env: { kubernetesServiceHost: '127.0.0.1', kubernetesServicePort: String(closedPort), home: join(dir, 'nowhere') },
    stderr: /^error: listing namespaces: .*\/var\/run\/secrets\/kubernetes\.io\/serviceaccount\//,
  },
];

for (const c of errors) {
  t.test(`${c.name} (exit 2, one line, no stack trace)`, async (t) => {
    const { out, streams } = io();
    t.equal(await main(c.args, streams, { ...outside, ...c.env }), 2);
    t.match(out.stderr, c.stderr);
    t.notMatch(out.stderr, /\n\s+at /);
    t.equal(out.stdout, '');
  });
}

t.test('page sizes from 1 to 10000 are accepted', async (t) => {
  t.equal(parsePageSize('1'), 1);
  t.equal(parsePageSize('10000'), 10000);
  t.throws(() => parsePageSize('10001'));
  t.throws(() => parsePageSize('-1'));
});

t.test('the kubeconfig is looked for as kubectl looks for it', async (t) => {
  t.same(auditKubeConfigSource('given', { ...outside, kubeconfigEnv: 'env', home: HOME }), { kubeconfigPath: 'given' });
  t.same(auditKubeConfigSource(undefined, { ...outside, kubeconfigEnv: ':a:b', home: HOME }), { kubeconfigPath: 'a' });
  t.same(auditKubeConfigSource(undefined, { ...outside, kubeconfigEnv: '', home: HOME }), { kubeconfigPath: join(HOME, '.kube', 'config') });
  t.same(auditKubeConfigSource(undefined, { ...outside, kubernetesServiceHost: '10.0.0.1', kubernetesServicePort: '443' }), { inCluster: { host: '10.0.0.1', port: '443' } });
  t.throws(() => auditKubeConfigSource(undefined, { ...outside, kubernetesServiceHost: '' }), { name: 'KubeConfigError' });
});

const NAMESPACES = { shop: { [TENANT]: 'payments' }, canary: { [TENANT]: 'payments', [MODE]: 'dry-run' }, plain: {} };
const DENIED = object('Deployment', 'shop', 'bad', `${TARGET}/paymentsevil/x:1`);
const FINE = object('Deployment', 'shop', 'api', `${SOURCE}/payments/api:1`);
const options = (more: Partial<AuditOptions> = {}): AuditOptions => ({ policy: 'candidate.yaml', output: 'text', pageSize: 500, ...more });

t.test('the text report ends with the summary and exits 1 when anything would be denied', async (t) => {
  const { out, streams } = io();
  t.equal(await reportAudit(new InMemoryWorkloadSource(NAMESPACES, [DENIED, FINE]), testPolicy, options(), streams), 1);
  t.match(out.stdout, /^TENANT +NAMESPACE +MODE +WORKLOAD +FINDING +DETAIL\npayments +shop +enforce +Deployment\/api +rewrite /);
  t.match(out.stdout, /\n2 workloads audited in 2 namespaces of 1 tenant: 1 deny, 0 would deny \(dry-run\), 1 change, 0 ok; 0 pods counted under their owners\n$/);
  t.equal(out.stderr, '', 'no progress when stderr is not a terminal');
});

t.test('the JSON report names the policy and the scope, and exits 0 when nothing would be denied', async (t) => {
  const { out, streams } = io();
  t.equal(await reportAudit(new InMemoryWorkloadSource(NAMESPACES, [FINE]), testPolicy, options({ output: 'json', namespace: 'shop', tenant: 'payments' }), streams), 0);
  const json = JSON.parse(out.stdout);
  t.same(Object.keys(json), ['policy', 'scope', 'summary', 'ecr', 'tenants']);
  t.same(json.policy, 'candidate.yaml');
  t.same(json.scope, { namespace: 'shop', tenant: 'payments' });
  t.match(json.tenants, [{ name: 'payments', namespaces: [{ name: 'shop', mode: 'enforce', workloads: [{ kind: 'Deployment', name: 'api', verdict: 'change' }] }] }]);
});

t.test('JSON without a scope says so with nulls', async (t) => {
  const { out, streams } = io();
  await reportAudit(new InMemoryWorkloadSource(NAMESPACES, []), testPolicy, options({ output: 'json' }), streams);
  t.same(JSON.parse(out.stdout).scope, { namespace: null, tenant: null });
});

const notes: { name: string; more: Partial<AuditOptions>; note: string }[] = [
  { name: 'no tenant namespace at all', more: {}, note: 'note: no namespace is labelled ecr-tenant-webhook.io/tenant: nothing to audit\n' },
  { name: 'no namespace of the tenant asked for', more: { tenant: 'analytics' }, note: 'note: no namespace is labelled ecr-tenant-webhook.io/tenant=analytics: nothing to audit\n' },
  { name: 'a namespace asked for that is not a tenant’s', more: { namespace: 'plain' }, note: 'note: namespace plain is not labelled ecr-tenant-webhook.io/tenant: nothing to audit\n' },
];

for (const c of notes) {
  t.test(`with ${c.name}, stderr says there was nothing to audit and the exit code is 0`, async (t) => {
    const { out, streams } = io();
    t.equal(await reportAudit(new InMemoryWorkloadSource({ plain: {} }, [DENIED]), testPolicy, options(c.more), streams), 0);
    t.equal(out.stderr, c.note);
  });
}

t.test('a --tenant that neither the policy nor any namespace knows is refused, not passed as nothing to deny', async (t) => {
  const { streams } = io();
  await t.rejects(reportAudit(new InMemoryWorkloadSource(NAMESPACES, [DENIED]), testPolicy, options({ tenant: 'paymnets' }), streams), {
    name: 'UsageError',
    message: /^--tenant "paymnets": no namespace is labelled with it and .* names no such tenant$/,
  });
});

t.test('a --tenant the policy no longer names is still audited where namespaces carry it', async (t) => {
  const { out, streams } = io();
  t.equal(await reportAudit(new InMemoryWorkloadSource({ old: { [TENANT]: 'retired' } }, []), testPolicy, options({ tenant: 'retired' }), streams), 0);
  t.equal(out.stderr, '');
});

t.test('on a terminal, progress is one line redrawn per page on stderr and erased before the report', async (t) => {
  const { out, streams } = io(true);
  await reportAudit(new InMemoryWorkloadSource(NAMESPACES, [DENIED, FINE, FINE]), testPolicy, options(), streams);
  t.equal(
    out.stderr,
    ['audit: 2 namespaces read', 'audit: 3 namespaces read', 'audit: 2 deployments.apps read', 'audit: 3 deployments.apps read', ''].map((line) => `\r\x1b[2K${line}`).join(''),
  );
});

t.test('on a terminal, progress is erased when the audit fails too, so the error starts its own line', async (t) => {
  const { out, streams } = io(true);
  const broken = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, spec: { containers: 'x' } };
  await t.rejects(reportAudit(new InMemoryWorkloadSource(NAMESPACES, [broken]), testPolicy, options(), streams), { name: 'ClusterReadError' });
  t.match(out.stderr, /\r\x1b\[2K$/);
});

t.test('on a terminal, nothing is drawn or erased when nothing was listed', async (t) => {
  const { out, streams } = io(true);
  await reportAudit(new InMemoryWorkloadSource({ shop: { [TENANT]: 'payments' } }, []), testPolicy, options({ namespace: 'shop' }), streams);
  t.equal(out.stderr, '');
});

t.test('policy warnings go to stderr before the cluster is read, even when reading it then fails', async (t) => {
  const { out, streams } = io();
  t.equal(await main(['audit', '--policy', fixture('schema-example.yaml'), '--kubeconfig', UNREACHABLE], streams, outside), 2);
  t.match(out.stderr, /^warning: .*schema-example\.yaml: spec\.tenants\.payments\.grants\[0\]\.roleArn: "optional override" is not an IAM role ARN /);
});

t.test('--help lists the options', async (t) => {
  const { out, streams } = io();
  t.equal(await main(['audit', '--help'], streams, outside), 0);
  t.match(out.stdout, /--all-namespaces[\s\S]*--tenant <name>[\s\S]*--page-size <n>/);
});
