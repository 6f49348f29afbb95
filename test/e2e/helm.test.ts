import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CHART, helm } from '../chart/helm-tool.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { awsEnvironment, startMoto } from '../moto/moto-server.ts';
import { freePort } from '../support/free-port.ts';
import { writeProjected } from '../support/projected-dir.ts';
import { httpsGet, startServe, waitUntil, type ServeProcess } from './support/serve-process.ts';

/**
 * The chart as an operator uses it, with the real helm against a real kube-apiserver: install, the policy edited in
 * place, a pod admitted through the chart's own webhook configuration, an upgrade that keeps the policy, the pull
 * Secrets and the serving certificate, and an uninstall that leaves no webhook configuration behind.
 *
 * There is no kubelet, so the chart's Deployment runs no pod: `serve` runs here instead, as the e2e tests run it,
 * with the chart's serving certificate, the chart's policy ConfigMap and the chart's ServiceAccount (its RBAC is
 * what lets it work), and the chart points its webhooks at it (webhook.url, with 127.0.0.1 in the certificate).
 */
t.setTimeout(300_000);

const NAMESPACE = 'ecr-tenant-webhook';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants: [{ registry: ${TARGET}, repositories: ["payments/*"] }]
`;

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const moto = await startMoto();
t.teardown(() => moto.stop());
const home = mkdtempSync(join(tmpdir(), 'helm-e2e-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
const port = await freePort();
const values = ['--set', `webhook.url=https://127.0.0.1:${port}`, '--set', 'certificates.extraIpAddresses={127.0.0.1}'];
const run = (args: string[]) => helm(args, { home, kubeconfig: cp.adminKubeconfig, timeoutMs: 120_000 });

async function getJson(args: string[]) {
  const result = await cp.kubectl([...args, '-o', 'json']);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

async function kubectlOk(args: string[], input?: string) {
  const result = await cp.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

let serve: ServeProcess | undefined;
t.teardown(async () => {
  await serve?.stop('SIGTERM');
});

t.test('helm install creates the chart’s objects and the starter policy', async (t) => {
  const installed = run(['install', 'ecr-tenant-webhook', CHART, '--namespace', NAMESPACE, '--create-namespace', ...values]);
  t.equal(installed.code, 0, installed.stderr);
  t.match(installed.stdout, 'STATUS: deployed');
  t.match(installed.stdout, 'The starter policy (dry-run, no tenants) is in ConfigMap ecr-tenant-webhook-policy');
  const policy = await getJson(['-n', NAMESPACE, 'get', 'configmap', 'ecr-tenant-webhook-policy']);
  t.match(policy.data['policy.yaml'], 'mode: dry-run');
  const mutating = await getJson(['get', 'mutatingwebhookconfiguration', 'ecr-tenant-webhook']);
  t.equal(mutating.webhooks[0].clientConfig.url, `https://127.0.0.1:${port}/mutate`);
});

t.test('serve, as the chart’s ServiceAccount with the chart’s certificate and policy, admits a pod through the chart’s webhook', async (t) => {
  // The operator replaces the starter policy in place, as NOTES.txt says.
  const starter = await getJson(['-n', NAMESPACE, 'get', 'configmap', 'ecr-tenant-webhook-policy']);
  starter.data['policy.yaml'] = POLICY;
  await kubectlOk(['replace', '-f', '-'], JSON.stringify(starter));
  const secret = await getJson(['-n', NAMESPACE, 'get', 'secret', 'ecr-tenant-webhook-tls']);
  const dir = mkdtempSync(join(home, 'serve-'));
  writeProjected(join(dir, 'tls'), { 'tls.crt': Buffer.from(secret.data['tls.crt'], 'base64'), 'tls.key': Buffer.from(secret.data['tls.key'], 'base64') });
  writeProjected(join(dir, 'policy'), { 'policy.yaml': POLICY });
  const kubeconfig = await cp.serviceAccountKubeconfig(NAMESPACE, 'ecr-tenant-webhook');
  serve = await startServe(
    ['--policy', join(dir, 'policy/policy.yaml'), '--tls-cert', join(dir, 'tls/tls.crt'), '--tls-key', join(dir, 'tls/tls.key'), '--address', '127.0.0.1', '--port', String(port), '--metrics-port', '0', '--kubeconfig', kubeconfig, '--shutdown-delay', '0', '--refresh-interval', '1', '--lease-duration', '3', '--identity', 'chart'],
    { env: { ...process.env, ...awsEnvironment(moto.endpoint) } },
  );
  const ca = Buffer.from(secret.data['ca.crt'], 'base64');
  const running = serve;
  await waitUntil(async () => (await httpsGet(running.port, '/readyz', ca)).status === 200, 'serve to be ready');
  await kubectlOk(['create', 'namespace', 'payments']);
  await kubectlOk(['label', 'namespace', 'payments', 'ecr-tenant-webhook.io/tenant=payments']);
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api', namespace: 'payments' }, spec: { containers: [{ name: 'api', image: `${TARGET}/payments/api:1.0` }] } };
  const created = JSON.parse(await kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(pod)));
  t.same(created.spec.imagePullSecrets, [{ name: 'ecr-pull-111111111111-eu-west-1' }], 'the pull secret was injected');
  const pull = await getJson(['-n', 'payments', 'get', 'secret', 'ecr-pull-111111111111-eu-west-1']);
  t.equal(pull.type, 'kubernetes.io/dockerconfigjson');
  const refused = await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ ...pod, metadata: { name: 'other', namespace: 'payments' }, spec: { containers: [{ name: 'x', image: `${TARGET}/ops/db:1` }] } }) });
  t.not(refused.code, 0);
  t.match(refused.stderr, 'admission webhook "pods.ecr-tenant-webhook.io" denied the request');
});

t.test('every metric the chart’s alerts and dashboard query is one serve exports (a real scrape)', async (t) => {
  const scrape = await fetch(`http://127.0.0.1:${serve!.metricsPort}/metrics`).then((response) => response.text());
  const exported = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  t.ok(exported.size > 20, `${exported.size} metrics in the scrape`);
  const rendered = run(['template', 'ecr-tenant-webhook', CHART, '--namespace', NAMESPACE, '--set', 'prometheusRule.enabled=true', '--set', 'grafanaDashboard.enabled=true']);
  t.equal(rendered.code, 0, rendered.stderr);
  const queried = new Set([...rendered.stdout.matchAll(/ecr_tenant_webhook_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
  t.ok(queried.size >= 12, `${queried.size} metrics queried`);
  for (const name of queried) t.ok(exported.has(name), `${name} is exported`);
});

t.test('helm upgrade keeps the edited policy, the pull Secrets and the CA, and signs the serving certificate for the names asked', async (t) => {
  const before = await getJson(['-n', NAMESPACE, 'get', 'secret', 'ecr-tenant-webhook-tls']);
  const pullBefore = await getJson(['-n', 'payments', 'get', 'secret', 'ecr-pull-111111111111-eu-west-1']);
  const upgraded = run(['upgrade', 'ecr-tenant-webhook', CHART, '--namespace', NAMESPACE, ...values, '--set', 'replicas=3', '--set', 'certificates.extraDnsNames={webhook.example.com}']);
  t.equal(upgraded.code, 0, upgraded.stderr);
  t.match(upgraded.stdout, 'The policy in ConfigMap ecr-tenant-webhook-policy is yours and was left as it is.');
  const policy = await getJson(['-n', NAMESPACE, 'get', 'configmap', 'ecr-tenant-webhook-policy']);
  t.equal(policy.data['policy.yaml'], POLICY, 'the operator’s policy, not the starter');
  const after = await getJson(['-n', NAMESPACE, 'get', 'secret', 'ecr-tenant-webhook-tls']);
  t.equal(after.data['ca.crt'], before.data['ca.crt'], 'the same CA: the API server’s trust does not move');
  const mutating = await getJson(['get', 'mutatingwebhookconfiguration', 'ecr-tenant-webhook']);
  t.equal(mutating.webhooks[0].clientConfig.caBundle, before.data['ca.crt']);
  const leaf = new X509Certificate(Buffer.from(after.data['tls.crt'], 'base64'));
  t.ok(leaf.verify(new X509Certificate(Buffer.from(after.data['ca.crt'], 'base64')).publicKey), 'the serving certificate, signed again, by that CA');
  t.match(leaf.subjectAltName, 'DNS:webhook.example.com', 'carrying the names the upgrade asked for');
  t.match(leaf.subjectAltName, 'IP Address:127.0.0.1');
  t.equal((await getJson(['-n', NAMESPACE, 'get', 'deployment', 'ecr-tenant-webhook'])).spec.replicas, 3);
  const pullAfter = await getJson(['-n', 'payments', 'get', 'secret', 'ecr-pull-111111111111-eu-west-1']);
  t.equal(pullAfter.metadata.uid, pullBefore.metadata.uid, 'the pull Secret is the same object');
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-2', namespace: 'payments' }, spec: { containers: [{ name: 'api', image: `${TARGET}/payments/api:1.0` }] } };
  const created = JSON.parse(await kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(pod)));
  t.same(created.spec.imagePullSecrets, [{ name: 'ecr-pull-111111111111-eu-west-1' }], 'admission works after the upgrade');
});

t.test('helm rollback to the first revision keeps the edited policy and the CA', async (t) => {
  const before = await getJson(['-n', NAMESPACE, 'get', 'secret', 'ecr-tenant-webhook-tls']);
  const rolled = run(['rollback', 'ecr-tenant-webhook', '1', '--namespace', NAMESPACE]);
  t.equal(rolled.code, 0, rolled.stderr);
  const policy = await getJson(['-n', NAMESPACE, 'get', 'configmap', 'ecr-tenant-webhook-policy']);
  t.equal(policy.data['policy.yaml'], POLICY, 'the starter policy was an install hook: no revision holds it to bring back');
  t.equal((await getJson(['-n', NAMESPACE, 'get', 'deployment', 'ecr-tenant-webhook'])).spec.replicas, 2, 'the rest is revision 1 again');
  const after = await getJson(['-n', NAMESPACE, 'get', 'secret', 'ecr-tenant-webhook-tls']);
  t.equal(after.data['ca.crt'], before.data['ca.crt']);
  const mutating = await getJson(['get', 'mutatingwebhookconfiguration', 'ecr-tenant-webhook']);
  t.equal(mutating.webhooks[0].clientConfig.caBundle, before.data['ca.crt']);
});

t.test('helm uninstall leaves no webhook configuration behind, and keeps the policy', async (t) => {
  const removed = run(['uninstall', 'ecr-tenant-webhook', '--namespace', NAMESPACE]);
  t.equal(removed.code, 0, removed.stderr);
  t.match(removed.stdout, 'release "ecr-tenant-webhook" uninstalled');
  const mutating = await cp.kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name']);
  const validating = await cp.kubectl(['get', 'validatingwebhookconfigurations', '-o', 'name']);
  t.equal(mutating.stdout.trim(), '');
  t.equal(validating.stdout.trim(), '');
  const policy = await getJson(['-n', NAMESPACE, 'get', 'configmap', 'ecr-tenant-webhook-policy']);
  t.equal(policy.data['policy.yaml'], POLICY, 'resource-policy keep: the policy outlives the release');
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'after', namespace: 'payments' }, spec: { containers: [{ name: 'x', image: `${TARGET}/ops/db:1` }] } };
  const created = await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(pod) });
  t.equal(created.code, 0, 'no webhook: pods are admitted as written');
});
