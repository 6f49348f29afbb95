import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startControlPlane } from '../control-plane/control-plane.ts';

/**
 * An install as the README describes it, on a real API server: `kubectl apply -k manifests/`, the starter policy
 * once (`kubectl apply -k manifests/policy/`), then certs/install.sh.
 */
t.setTimeout(180_000);

const ROOT = new URL('../../', import.meta.url).pathname;
const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const pki = mkdtempSync(join(tmpdir(), 'install-pki-'));
t.teardown(() => rmSync(pki, { recursive: true, force: true }));

function installCerts() {
  const env = { ...process.env, KUBECTL: join(cp.binDir, 'kubectl'), KUBECONFIG: cp.adminKubeconfig };
  return spawnSync('bash', [join(ROOT, 'certs/install.sh'), '--out', pki], { env, encoding: 'utf8' });
}

async function getJson(args: string[]) {
  const result = await cp.kubectl([...args, '-o', 'json']);
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

t.test('certs/install.sh without the webhook configuration stops with a hint to apply the manifests first', async (t) => {
  const result = installCerts();
  t.equal(result.status, 2);
  t.match(result.stderr, 'install.sh: MutatingWebhookConfiguration ecr-tenant-webhook not found; apply the manifests first (kubectl apply -k manifests/)');
});

t.test('the starter policy before the base is refused: its namespace comes with the base', async (t) => {
  const applied = await cp.kubectl(['apply', '-k', join(ROOT, 'manifests/policy')]);
  t.equal(applied.code, 1);
  t.match(applied.stderr, 'namespaces "ecr-tenant-webhook" not found');
});

t.test('kubectl apply -k manifests/ creates every object of the base, and no policy ConfigMap', async (t) => {
  const applied = await cp.kubectl(['apply', '-k', join(ROOT, 'manifests')]);
  t.equal(applied.code, 0, applied.stderr);
  for (const line of applied.stdout.trim().split('\n')) t.match(line, / created$/);
  t.equal(applied.stdout.trim().split('\n').length, 12);
  t.notMatch(applied.stdout, /configmap/);
});

t.test('kubectl apply -k manifests/policy/ then creates the starter policy ConfigMap the Deployment mounts', async (t) => {
  const applied = await cp.kubectl(['apply', '-k', join(ROOT, 'manifests/policy')]);
  t.equal(applied.code, 0, applied.stderr);
  t.equal(applied.stdout.trim(), 'configmap/ecr-tenant-webhook-policy created');
  const deployment = await getJson(['-n', 'ecr-tenant-webhook', 'get', 'deployment', 'ecr-tenant-webhook']);
  const volume = deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'policy');
  t.equal(volume.configMap.name, 'ecr-tenant-webhook-policy');
  const again = await cp.kubectl(['apply', '-k', join(ROOT, 'manifests')]);
  t.equal(again.code, 0, again.stderr);
  t.notMatch(again.stdout, /configmap/, 're-applying the base leaves it alone');
});

t.test('certs/install.sh creates the TLS Secret and fills in caBundle with the CA that signed it', async (t) => {
  const result = installCerts();
  t.equal(result.status, 0, result.stderr);
  const secret = await getJson(['-n', 'ecr-tenant-webhook', 'get', 'secret', 'ecr-tenant-webhook-tls']);
  t.equal(secret.type, 'kubernetes.io/tls');
  t.equal(Buffer.from(secret.data['tls.crt'], 'base64').toString(), readFileSync(join(pki, 'tls.crt'), 'utf8'));
  const configuration = await getJson(['get', 'mutatingwebhookconfiguration', 'ecr-tenant-webhook']);
  t.equal(Buffer.from(configuration.webhooks[0].clientConfig.caBundle, 'base64').toString(), readFileSync(join(pki, 'ca.crt'), 'utf8'));
  t.same(configuration.webhooks[0].clientConfig.service, { name: 'ecr-tenant-webhook', namespace: 'ecr-tenant-webhook', path: '/mutate', port: 443 }, 'the Service reference is kept');
  const validating = await getJson(['get', 'validatingwebhookconfiguration', 'ecr-tenant-webhook']);
  for (const webhook of validating.webhooks) {
    t.equal(Buffer.from(webhook.clientConfig.caBundle, 'base64').toString(), readFileSync(join(pki, 'ca.crt'), 'utf8'), `${webhook.name} trusts the same CA`);
  }
  t.match(result.stderr, 'caBundle set on 3 webhook(s) of ecr-tenant-webhook');
});

t.test('running certs/install.sh again renews the serving certificate and keeps the CA', async (t) => {
  const before = await getJson(['-n', 'ecr-tenant-webhook', 'get', 'secret', 'ecr-tenant-webhook-tls']);
  const bundle = (await getJson(['get', 'mutatingwebhookconfiguration', 'ecr-tenant-webhook'])).webhooks[0].clientConfig.caBundle;
  const result = installCerts();
  t.equal(result.status, 0, result.stderr);
  const after = await getJson(['-n', 'ecr-tenant-webhook', 'get', 'secret', 'ecr-tenant-webhook-tls']);
  t.not(after.data['tls.crt'], before.data['tls.crt']);
  t.equal((await getJson(['get', 'mutatingwebhookconfiguration', 'ecr-tenant-webhook'])).webhooks[0].clientConfig.caBundle, bundle);
});

t.test("the webhook's ServiceAccount can do exactly what serve needs, no more", async (t) => {
  const can = async (verb: string, resource: string, ...where: string[]) =>
    (await cp.kubectl(['auth', 'can-i', verb, resource, ...where, '--as=system:serviceaccount:ecr-tenant-webhook:ecr-tenant-webhook'])).stdout.trim();
  for (const verb of ['get', 'list', 'watch']) t.equal(await can(verb, 'namespaces'), 'yes', `${verb} namespaces`);
  t.equal(await can('patch', 'namespaces'), 'no');
  for (const verb of ['get', 'list', 'watch', 'create', 'update', 'delete']) t.equal(await can(verb, 'secrets'), 'yes', `${verb} secrets (pull secrets)`);
  t.equal(await can('patch', 'secrets'), 'no', 'patch secrets');
  for (const verb of ['get', 'create', 'update']) t.equal(await can(verb, 'leases', '-n', 'ecr-tenant-webhook'), 'yes', `${verb} its Lease`);
  t.equal(await can('get', 'leases', '-n', 'kube-system'), 'no', 'no Leases elsewhere');
  t.equal(await can('create', 'pods'), 'no');
});
