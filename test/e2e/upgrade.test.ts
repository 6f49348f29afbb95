import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { waitUntil } from './support/serve-process.ts';
import { startWebhookStack } from './support/webhook-stack.ts';

/**
 * An upgrade as an operator runs it, through a real API server and moto: install from manifests/ and the starter
 * policy, replace the policy with one that enforces, let the webhook write pull Secrets, then re-apply manifests/
 * (and the cert-manager overlay). The operator's policy, its Secrets and its enforcement must all survive.
 *
 * No pods of the Deployment ever run (the control plane has no nodes): the local `serve` stands in for them, and
 * syncPolicyFromConfigMap() for the kubelet copying the ConfigMap into their mounted policy file.
 */
t.setTimeout(240_000);

const ROOT = new URL('../../', import.meta.url).pathname;
const NAMESPACE = 'ecr-tenant-webhook';
const CONFIGMAP = 'ecr-tenant-webhook-policy';
const EXPIRES = 'ecr-tenant-webhook.io/expires-at';
const OLD = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const EU = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const US = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
const SECRETS = ['ecr-pull-111111111111-eu-west-1', 'ecr-pull-111111111111-us-east-1'];

// What the starter ConfigMap holds: what the pods would mount right after the first install.
const STARTER = parse(readFileSync(join(ROOT, 'manifests/policy/policy.yaml'), 'utf8')).data['policy.yaml'] as string;
// The operator's policy: the defaults stay dry-run, one tenant is enforced.
const OPERATOR_POLICY = `# Platform team's policy, revision 7: payments is enforced.
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults:
    mode: dry-run
    nonEcrImages: allow
  tenants:
    payments:
      mode: enforce
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${EU}
          repositories: ["payments/*"]
        - registry: ${US}
          repositories: ["payments/*"]
      rewrites:
        - from: ${OLD}/payments
          to: ${EU}/payments
`;

const stack = await startWebhookStack({ policy: STARTER, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());

/** `kubectl apply -k DIR`; the webhook configurations it overwrites are pointed back at the local serve. */
async function applyKustomization(dir: string): Promise<string> {
  const applied = await stack.kubectlOk(['apply', '-k', join(ROOT, dir)]);
  await stack.retarget(stack.serve.port);
  return applied;
}

async function configMapPolicy(): Promise<string> {
  const configMap = JSON.parse(await stack.kubectlOk(['-n', NAMESPACE, 'get', 'configmap', CONFIGMAP, '-o', 'json']));
  return configMap.data['policy.yaml'] as string;
}

/** What the kubelet does for the webhook's pods: the ConfigMap's policy.yaml, projected into the mounted file. */
async function syncPolicyFromConfigMap(): Promise<string> {
  const text = await configMapPolicy();
  stack.pushPolicy(text);
  return text;
}

/**
 * Resolves after `rounds` refresh rounds (one a second) that began `settleMs` from now: longer than a file poll
 * (1 s), so they ran on whatever policy was last pushed.
 */
async function refreshRounds(rounds: number, settleMs = 1500): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const from = stack.serve.lines.length;
  const seen = () => stack.serve.lines.slice(from).filter((l) => l.msg === 'pull secrets refreshed').length;
  await waitUntil(() => seen() >= rounds, `${rounds} refresh rounds`, 30_000);
}

/** The managed pull Secrets in the tenant namespace, by name, with their expiry. */
async function pullSecrets(): Promise<Map<string, number>> {
  const list = JSON.parse(await stack.kubectlOk(['-n', 'shop', 'get', 'secrets', '-l', 'app.kubernetes.io/managed-by=ecr-tenant-webhook', '-o', 'json']));
  return new Map(list.items.map((s: { metadata: { name: string; annotations: Record<string, string> } }) => [s.metadata.name, Date.parse(s.metadata.annotations[EXPIRES] ?? '')]));
}

const pod = (name: string, image: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { containers: [{ name: 'app', image }] } });

/** A new pod named after the old build account comes back rewritten, and one outside the grants is refused. */
async function assertEnforced(t: Test, suffix: string) {
  const created = await stack.kubectl(['create', '-f', '-'], pod(`rewritten-${suffix}`, `${OLD}/payments/api:${suffix}`));
  t.equal(created.code, 0, `a pod the policy rewrites is admitted: ${created.stderr}`);
  t.equal(created.stderr.includes('dry-run'), false, 'with no dry-run warning');
  const stored = JSON.parse(await stack.kubectlOk(['-n', 'shop', 'get', 'pod', `rewritten-${suffix}`, '-o', 'json']));
  t.equal(stored.spec.containers[0].image, `${EU}/payments/api:${suffix}`, 'its image is rewritten to the tenant registry');
  t.same(stored.spec.imagePullSecrets, [{ name: SECRETS[0] }], 'and pulls with the tenant’s Secret');
  const refused = await stack.kubectl(['create', '-f', '-'], pod(`ungranted-${suffix}`, `${EU}/billing/api:${suffix}`));
  t.equal(refused.code, 1, 'a pod outside the grants is refused');
  t.match(refused.stderr, /denied the request: container "app" image .* is not granted/);
}

t.test('a first install applies the base, then the starter policy once', async (t) => {
  const base = await applyKustomization('manifests');
  t.notMatch(base, /configmap/, 'the base creates no ConfigMap');
  t.match(await applyKustomization('manifests/policy'), `configmap/${CONFIGMAP} created`);
  t.equal(await syncPolicyFromConfigMap(), STARTER);
});

t.test('the operator replaces the policy with one that enforces a tenant, and the webhook writes its pull Secrets', async (t) => {
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIGMAP, namespace: NAMESPACE }, data: { 'policy.yaml': OPERATOR_POLICY } };
  await stack.kubectlOk(['apply', '-f', '-'], JSON.stringify(configMap));
  const from = stack.serve.lines.length;
  t.equal(await syncPolicyFromConfigMap(), OPERATOR_POLICY);
  await waitUntil(() => stack.serve.lines.slice(from).some((l) => l.msg === 'policy reloaded' && l.tenants === 1), 'the operator’s policy to load');
  await stack.namespace('shop', { 'ecr-tenant-webhook.io/tenant': 'payments' });
  await stack.kubectlOk(['create', '-f', '-'], pod('api-eu', `${EU}/payments/api:1`));
  await stack.kubectlOk(['create', '-f', '-'], pod('api-us', `${US}/payments/api:1`));
  t.same([...(await pullSecrets()).keys()].sort(), SECRETS);
  await assertEnforced(t, 'before');
});

t.test('re-applying manifests/ and the cert-manager overlay leaves the operator’s policy, its Secrets and enforcement in place', async (t) => {
  await refreshRounds(1);
  const before = await pullSecrets();
  t.same([...before.keys()].sort(), SECRETS);

  const reapplied = await applyKustomization('manifests');
  t.notMatch(reapplied, /configmap/, 'the base touches no ConfigMap');
  await syncPolicyFromConfigMap();

  // cert-manager itself does not run here; its two CRDs let the API server store the overlay's Issuers and Certificates.
  const crd = (kind: string, plural: string) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.cert-manager.io` },
    spec: {
      group: 'cert-manager.io',
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  });
  await stack.kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [crd('Issuer', 'issuers'), crd('Certificate', 'certificates')] }));
  await stack.kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', 'crd/issuers.cert-manager.io', 'crd/certificates.cert-manager.io']);
  const overlay = await applyKustomization('manifests/overlays/cert-manager');
  t.match(overlay, /certificate\.cert-manager\.io\/ecr-tenant-webhook-serving created/, 'the overlay was applied whole');
  t.notMatch(overlay, /configmap/, 'the overlay touches no ConfigMap');
  await syncPolicyFromConfigMap();

  await refreshRounds(2, 3000);

  t.equal(await configMapPolicy(), OPERATOR_POLICY, 'the ConfigMap holds the operator’s policy, byte for byte');
  const after = await pullSecrets();
  for (const [name, expiry] of before) {
    t.ok(after.has(name), `${name} still exists`);
    t.ok((after.get(name) ?? 0) >= expiry, `${name} expires no earlier than before`);
  }
  t.notOk(stack.serve.lines.some((l) => l.msg === 'pull secret deleted'), 'the refresher deleted no pull Secret');
  await assertEnforced(t, 'after');
});

/** The command under the prune-command marker in manifests/README.md, as kubectl's arguments. */
function readmePruneCommand(): string[] {
  const readme = readFileSync(join(ROOT, 'manifests/README.md'), 'utf8');
  const block = /<!-- prune-command[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error('manifests/README.md has no prune-command block');
  const [command, ...args] = block.replaceAll('\\\n', ' ').trim().split(/\s+/);
  if (command !== 'kubectl') throw new Error(`the prune-command block runs ${command}, not kubectl`);
  return args.map((arg) => (arg === 'manifests/' ? join(ROOT, 'manifests') : arg));
}

t.test('pruning as manifests/README.md shows keeps the policy ConfigMap, which a prune by label alone deletes', async (t) => {
  const args = readmePruneCommand();
  const allowed = args.filter((a) => a.startsWith('--prune-allowlist=')).map((a) => a.slice('--prune-allowlist='.length)).sort();
  const kinds = [...new Set(stack.manifests.map((o) => `${o.apiVersion.includes('/') ? o.apiVersion : `core/${o.apiVersion}`}/${o.kind}`))].sort();
  t.same(allowed, kinds, 'the allowlist names every kind of the base, so a later release can still drop any of them');
  // The labels the starter ConfigMap came with, which it keeps when the operator edits it in place.
  await stack.kubectlOk(['-n', NAMESPACE, 'label', 'configmap', CONFIGMAP, 'app.kubernetes.io/name=ecr-tenant-webhook', 'app.kubernetes.io/part-of=ecr-tenant-webhook']);
  const documented = await stack.kubectlOk([...args, '--dry-run=server']);
  t.notMatch(documented, /configmap/);
  t.notMatch(documented, /pruned/, 'nothing of an unchanged install is pruned');
  const byLabel = await stack.kubectlOk(['apply', '-k', join(ROOT, 'manifests'), '--prune', '-l', 'app.kubernetes.io/part-of=ecr-tenant-webhook', '--dry-run=server']);
  t.match(byLabel, `configmap/${CONFIGMAP} pruned (server dry run)`, 'what the allowlist prevents');
  t.equal(await configMapPolicy(), OPERATOR_POLICY, 'a dry run changes nothing');
});
