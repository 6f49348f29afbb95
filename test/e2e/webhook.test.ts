import { get } from 'node:http';
import { connect } from 'node:tls';
import t from 'tap';
import { httpsGet, waitUntil } from './support/serve-process.ts';
import { startWebhookStack, type KubeObject } from './support/webhook-stack.ts';
import { parseExposition, sumOf } from '../support/metric-values.ts';

/**
 * The webhook inside a real control plane: kube-apiserver calls `serve` over TLS, applies its patch, and shows its
 * denials and warnings to kubectl. Every assertion is on what the API server stored or told the client.
 */
t.setTimeout(240_000);

const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const ANALYTICS = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';

const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults: { mode: enforce, nonEcrImages: allow }
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${TARGET}
          repositories: ["payments/*", "shared/**"]
      rewrites:
        - from: ${SOURCE}/payments
          to: ${TARGET}/payments
    analytics:
      mode: dry-run
      nonEcrImages: deny
      roleArn: arn:aws:iam::333333333333:role/ecr-pull-analytics
      grants:
        - registry: ${ANALYTICS}
          repositories: ["analytics/**"]
    burst:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-burst
      grants:
        - registry: ${TARGET}
          repositories: ["burst/*"]
    locked:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-locked
      grants:
        - registry: ${TARGET}
          repositories: ["locked/*"]
    lenient:
      onCredentialError: allow
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-lenient
      grants:
        - registry: ${TARGET}
          repositories: ["lenient/*"]
`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());

await stack.namespace('shop', { [TENANT]: 'payments' });
await stack.namespace('shop-canary', { [TENANT]: 'payments', [MODE]: 'dry-run' });
await stack.namespace('lab', { [TENANT]: 'analytics' });
await stack.namespace('plain');

let serial = 0;
function pod(namespace: string, image: string, name = `p${++serial}`) {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'app', image }] } });
}

async function create(namespace: string, image: string, extra: string[] = []) {
  const result = await stack.kubectl(['create', '-o', 'json', ...extra, '-f', '-'], pod(namespace, image));
  const stored = result.code === 0 ? (JSON.parse(result.stdout) as KubeObject & { spec: { containers: { image: string }[]; imagePullSecrets?: { name: string }[] } }) : undefined;
  return { ...result, stored };
}

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

t.test('a pod in a tenant namespace is stored with its image rewritten and the pull secret referenced', async (t) => {
  const { code, stored, stderr } = await create('shop', `${SOURCE}/payments/api:1.2`);
  t.equal(code, 0, stderr);
  t.equal(stored?.spec.containers[0]?.image, `${TARGET}/payments/api:1.2`);
  t.same(stored?.spec.imagePullSecrets, [{ name: 'ecr-pull-111111111111-eu-west-1' }]);
  const got = JSON.parse(await stack.kubectlOk(['get', 'pod', '-n', 'shop', stored!.metadata.name, '-o', 'json']));
  t.equal(got.spec.containers[0].image, `${TARGET}/payments/api:1.2`, 'what was stored is what was answered');
});

t.test('the pull Secret the pod references is stored in its namespace and decodes to ECR credentials for the registry host', async (t) => {
  const secret = JSON.parse(await stack.kubectlOk(['-n', 'shop', 'get', 'secret', 'ecr-pull-111111111111-eu-west-1', '-o', 'json']));
  t.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  t.match(secret.metadata.labels, { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', [TENANT]: 'payments' });
  t.ok(Date.parse(secret.metadata.annotations['ecr-tenant-webhook.io/expires-at']) > Date.now(), 'its declared expiry is in the future');
  const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString());
  t.same(Object.keys(config.auths), [TARGET]);
  t.same(config.auths[TARGET], { username: 'AWS', password: '111111111111-auth-token', auth: Buffer.from('AWS:111111111111-auth-token').toString('base64') }, "moto's token for the role's account");
});

t.test('ten pods admitted at once for a tenant whose role has no token yet make exactly one AssumeRole and one GetAuthorizationToken', async (t) => {
  await stack.namespace('burst', { [TENANT]: 'burst' });
  stack.moto.resetCalls();
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => stack.kubectl(['create', '-f', '-'], pod('burst', `${TARGET}/burst/app:${i}`, `b${i}`))));
  t.same(results.map((r) => r.code), Array(10).fill(0), results.map((r) => r.stderr).join(''));
  t.same(stack.moto.calls(), { AssumeRole: 1, GetAuthorizationToken: 1 });
  t.match(new URLSearchParams(stack.moto.lastBody('AssumeRole')).get('RoleArn'), 'arn:aws:iam::111111111111:role/ecr-pull-burst');
  const pods = JSON.parse(await stack.kubectlOk(['-n', 'burst', 'get', 'pods', '-o', 'json'])).items;
  t.ok(pods.every((p: { spec: { imagePullSecrets: unknown } }) => JSON.stringify(p.spec.imagePullSecrets) === '[{"name":"ecr-pull-111111111111-eu-west-1"}]'), 'every pod references the one Secret');
});

t.test('a server-side dry run of a pod writes no Secret', async (t) => {
  await stack.namespace('dry-secrets', { [TENANT]: 'burst' });
  const result = await create('dry-secrets', `${TARGET}/burst/app:1`, ['--dry-run=server']);
  t.equal(result.code, 0, result.stderr);
  const secret = await stack.kubectl(['-n', 'dry-secrets', 'get', 'secret', 'ecr-pull-111111111111-eu-west-1']);
  t.equal(secret.code, 1, 'sideEffects: NoneOnDryRun holds');
});

t.test('with AWS refusing the role, a new tenant’s pod is denied with tenant, role and AWS code, and a lenient tenant is admitted with a warning', async (t) => {
  stack.moto.setFault('AssumeRole', { kind: 'error', status: 403, code: 'AccessDenied', message: 'not authorized to perform sts:AssumeRole' });
  t.teardown(() => stack.moto.setFault('AssumeRole', undefined));
  await stack.namespace('vault', { [TENANT]: 'locked' });
  const denied = await create('vault', `${TARGET}/locked/app:1`);
  t.equal(denied.code, 1);
  t.match(denied.stderr, 'denied the request: no ECR credentials for tenant "locked" with role arn:aws:iam::111111111111:role/ecr-pull-locked (AccessDenied)');
  await stack.namespace('soft', { [TENANT]: 'lenient' });
  const admitted = await create('soft', `${TARGET}/lenient/app:1`);
  t.equal(admitted.code, 0, admitted.stderr);
  t.match(admitted.stderr, /Warning: pull secret ecr-pull-111111111111-eu-west-1 not ready \(AccessDenied\); admitted by onCredentialError: allow/);
  const existing = await create('shop', `${SOURCE}/payments/during-outage:1`);
  t.equal(existing.code, 0, 'a namespace whose Secret is fresh needs no AWS call and keeps admitting');
});

t.test("a pod with an image its tenant has no grant for is refused, and kubectl shows the webhook's reason", async (t) => {
  const { code, stderr } = await create('shop', `${TARGET}/paymentsevil/shell:latest`);
  t.equal(code, 1);
  t.match(stderr, `admission webhook "`);
  t.match(stderr, `denied the request: container "app" image "${TARGET}/paymentsevil/shell:latest" is not granted`);
  t.match(stderr, /tenant "payments", namespace "shop"/);
});

t.test('in a namespace switched to dry-run the pod is stored unchanged and kubectl prints the warnings', async (t) => {
  const { code, stored, stderr } = await create('shop-canary', `${TARGET}/billing/migrate:7`);
  t.equal(code, 0, stderr);
  t.equal(stored?.spec.containers[0]?.image, `${TARGET}/billing/migrate:7`);
  t.equal(stored?.spec.imagePullSecrets, undefined);
  t.match(stderr, /^Warning: dry-run: would deny: container "app": billing\/migrate not granted/m);
});

t.test('a tenant in dry-run by policy gets warnings for what enforcement would change', async (t) => {
  const { code, stored, stderr } = await create('lab', 'nginx:1.27');
  t.equal(code, 0, stderr);
  t.equal(stored?.spec.containers[0]?.image, 'nginx:1.27');
  t.match(stderr, /^Warning: dry-run: would deny/m);
});

t.test('a server-side dry run shows the mutation but persists nothing', async (t) => {
  const { code, stored, stderr } = await create('shop', `${SOURCE}/payments/dry:1`, ['--dry-run=server']);
  t.equal(code, 0, stderr);
  t.equal(stored?.spec.containers[0]?.image, `${TARGET}/payments/dry:1`);
  const after = await stack.kubectl(['get', 'pod', '-n', 'shop', stored!.metadata.name]);
  t.equal(after.code, 1);
  t.match(after.stderr, /NotFound|not found/);
});

t.test('pods in an unlabelled namespace are untouched and never reach the webhook', async (t) => {
  const { code, stored, stderr } = await create('plain', `${SOURCE}/payments/api:1.2`);
  t.equal(code, 0, stderr);
  t.equal(stored?.spec.containers[0]?.image, `${SOURCE}/payments/api:1.2`);
  t.equal(stored?.spec.imagePullSecrets, undefined);
  t.notOk(stack.serve.lines.some((line) => line.namespace === 'plain'), 'the namespaceSelector kept the request away');
});

t.test('a namespace created a moment before its pod is known to the webhook', async (t) => {
  const input = `${JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh', labels: { [TENANT]: 'payments' } } })}\n${pod('fresh', `${SOURCE}/payments/new:1`, 'first')}`;
  const out = await stack.kubectlOk(['create', '-o', 'json', '-f', '-'], input);
  t.match(out, `${TARGET}/payments/new:1`);
});

t.test('relabelling a namespace switches its tenant without restarting the webhook', async (t) => {
  await stack.namespace('move', { [TENANT]: 'payments' });
  const first = await create('move', `${SOURCE}/payments/api:1`);
  t.equal(first.stored?.spec.containers[0]?.image, `${TARGET}/payments/api:1`);

  await stack.namespace('move', { [TENANT]: 'analytics' });
  await waitUntil(async () => /would deny/.test((await create('move', 'nginx', ['--dry-run=server'])).stderr), 'the relabel to reach the webhook');
  const second = await create('move', `${SOURCE}/payments/api:1`);
  t.equal(second.stored?.spec.containers[0]?.image, `${SOURCE}/payments/api:1`, 'analytics is a dry-run tenant: nothing rewritten');
  t.match(second.stderr, /Warning: dry-run: would deny/);

  await stack.namespace('move', {});
  await waitUntil(async () => (await create('move', 'nginx', ['--dry-run=server'])).stderr === '', 'the label removal to reach the webhook');
});

t.test('a policy pushed to the running webhook takes effect; a broken one is rejected and the last good keeps serving', async (t) => {
  const wider = POLICY.replace('["payments/*", "shared/**"]', '["payments/*", "shared/**", "billing/*"]');
  stack.pushPolicy(wider);
  await waitUntil(async () => (await create('shop', `${TARGET}/billing/run:1`, ['--dry-run=server'])).code === 0, 'the new policy to be served');

  stack.pushPolicy(wider.replace(`registry: ${TARGET}`, 'registry: foo'));
  const line = await stack.serve.waitForLine((l) => l.msg === 'policy change rejected; the last good policy keeps serving');
  t.match((line.problems as string[]).join('\n'), /grants\[0\]\.registry: "foo" is not an ECR registry host/);
  t.match(await metrics(stack.serve.metricsPort), /^ecr_tenant_webhook_policy_reload_healthy 0$/m);
  const stillServing = await create('shop', `${TARGET}/billing/run:2`);
  t.equal(stillServing.code, 0, 'the last good policy (with billing/*) still decides');

  stack.pushPolicy(POLICY);
  await waitUntil(async () => (await create('shop', `${TARGET}/billing/run:3`, ['--dry-run=server'])).code === 1, 'the original policy to be back');
  t.match(await metrics(stack.serve.metricsPort), /^ecr_tenant_webhook_policy_reload_healthy 1$/m);
});

t.test('a serving certificate rotated under the running webhook is picked up and the API server keeps calling it', async (t) => {
  const fingerprint = () =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: stack.serve.port, ca: stack.webhookCa, servername: 'localhost' }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      });
      socket.on('error', reject);
    });
  const before = await fingerprint();
  stack.rotateCertificate();
  await stack.serve.waitForLine((l) => l.msg === 'TLS certificate reloaded');
  t.not(await fingerprint(), before, 'new connections get the new certificate');
  const { code, stderr } = await create('shop', `${SOURCE}/payments/after-rotation:1`);
  t.equal(code, 0, stderr);
});

t.test('the namespace watch resumes after the API server restarts, and later relabels still take effect', async (t) => {
  await stack.cp.restartApiServer();
  await stack.namespace('after-restart', { [TENANT]: 'payments' });
  await stack.namespace('after-restart', { [TENANT]: 'analytics' });
  await waitUntil(async () => /would deny/.test((await create('after-restart', 'nginx', ['--dry-run=server'])).stderr), 'the relabel after the restart', 60_000);
  t.pass('the tenant after the restart is the one labelled after it');
});

t.test('the metrics endpoint counts decisions by kind, tenant and mode, and the pull-secret work behind them', async (t) => {
  const samples = parseExposition(await metrics(stack.serve.metricsPort));
  const counted = (name: string, labels: Record<string, string>) => sumOf(samples, `ecr_tenant_webhook_${name}`, labels);
  const seen: { name: string; labels: Record<string, string> }[] = [
    { name: 'admission_decisions_total', labels: { resource: 'pods', decision: 'allow', tenant: 'payments', mode: 'enforce' } },
    { name: 'admission_decisions_total', labels: { resource: 'pods', decision: 'deny', tenant: 'payments', mode: 'enforce' } },
    { name: 'admission_decisions_total', labels: { resource: 'pods', decision: 'dry-run:would-deny', tenant: 'payments', mode: 'dry-run' } },
    { name: 'admission_duration_seconds_count', labels: { resource: 'pods', operation: 'CREATE', decision: 'allow' } },
    { name: 'token_cache_lookups_total', labels: { result: 'miss' } },
    { name: 'aws_requests_total', labels: { api: 'AssumeRole' } },
    { name: 'aws_requests_total', labels: { api: 'GetAuthorizationToken' } },
    { name: 'aws_errors_total', labels: { api: 'AssumeRole', code: 'AccessDenied' } },
    { name: 'pull_secret_writes_total', labels: { action: 'create', result: 'success' } },
  ];
  for (const { name, labels } of seen) t.ok(counted(name, labels) >= 1, `${name} ${JSON.stringify(labels)}`);
  t.ok(counted('namespace_cache_size', {}) >= 4, 'the namespaces made for these tests are cached');
});

t.test('every object in manifests/ is accepted by the API server (server-side dry run)', async (t) => {
  const result = await stack.kubectl(['apply', '--dry-run=server', '-k', new URL('../../manifests', import.meta.url).pathname]);
  t.equal(result.code, 0, result.stderr);
  for (const object of stack.manifests) t.match(result.stdout, `${object.kind.toLowerCase()}`, `${object.kind} ${object.metadata.name} was sent`);
});

t.test('on SIGTERM the webhook stops reporting ready, finishes, and exits 0', async (t) => {
  const ready = await httpsGet(stack.serve.port, '/readyz', stack.webhookCa);
  t.equal(ready.status, 200);
  const ended = await stack.serve.stop('SIGTERM');
  t.same(ended, { code: 0, signal: null });
  t.ok(stack.serve.lines.some((l) => l.msg === 'shut down'));
  t.equal(stack.serve.stderr(), '', 'nothing on stderr over the whole run');
});
