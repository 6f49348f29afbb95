import t from 'tap';
import { credentialDigest } from '../../src/credentials/provenance.ts';
import { buildPullSecret, type PullSecretSpec } from '../../src/credentials/pull-secret.ts';
import { tokenRequest } from '../../src/credentials/pull-secret-provisioner.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { Reconciler } from '../../src/credentials/reconciler.ts';
import { CountedSecretStore } from '../../src/kube/counted-secret-store.ts';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { CompiledTenant } from '../../src/policy/compile.ts';
import { testPolicy } from '../admission/harness.ts';
import { seriesValues } from '../support/metric-values.ts';
import { reconcilerOptions } from '../support/reconciler-options.ts';
import { testSealer } from '../support/test-sealer.ts';

/** pull_secret_writes_total{action,result}: every write to the store counted by its answer, reads not at all. */
const NOW = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3600_000;
const NAME = 'ecr-pull-111111111111-eu-west-1';
const SESSION = 3600;
const payments = testPolicy.tenants.get('payments') as CompiledTenant;
const credential = credentialDigest(tokenRequest(payments, 'arn:aws:iam::111111111111:role/ecr-pull-payments', { account: '111111111111', region: 'eu-west-1' }, SESSION));
const spec: PullSecretSpec = { name: NAME, namespace: 'shop', tenant: 'payments', credential, hosts: ['111111111111.dkr.ecr.eu-west-1.amazonaws.com'] };
const token = (hours: number) => ({ username: 'AWS', password: `pw-${hours}`, expiresAt: new Date(NOW + hours * HOUR) });
const secret = (hours: number) => buildPullSecret(spec, token(hours), testSealer);

function setup() {
  const inner = new InMemorySecretStore();
  const metrics = createMetrics();
  return { inner, metrics, store: new CountedSecretStore(inner, metrics), writes: () => seriesValues(metrics.pullSecretWrites) };
}

/** A store whose every call is refused, as by an API server that is down. */
function refusingStore(): InMemorySecretStore {
  const store = new InMemorySecretStore();
  const refuse = async () => Promise.reject(new Error('HTTP 500 from the API server'));
  Object.assign(store, { create: refuse, replace: refuse, delete: refuse });
  return store;
}

const version = async (store: InMemorySecretStore) => (await store.read('shop', NAME))?.resourceVersion as string;

const answers = [
  { name: 'a create of a new Secret is a create success', write: async (s: CountedSecretStore) => s.create(secret(12)), answer: 'created', counted: { 'action=create,result=success': 1 } },
  {
    name: 'a create that finds the name taken is a create conflict',
    prepare: (inner: InMemorySecretStore) => inner.create(secret(3)),
    write: async (s: CountedSecretStore) => s.create(secret(12)),
    answer: 'exists',
    counted: { 'action=create,result=conflict': 1 },
  },
  {
    name: 'a replace at the stored version is an update success',
    prepare: (inner: InMemorySecretStore) => inner.create(secret(3)),
    write: async (s: CountedSecretStore, inner: InMemorySecretStore) => s.replace(secret(12), await version(inner)),
    answer: 'replaced',
    counted: { 'action=update,result=success': 1 },
  },
  {
    name: 'a replace at a stale version is an update conflict',
    prepare: (inner: InMemorySecretStore) => inner.create(secret(3)),
    write: async (s: CountedSecretStore) => s.replace(secret(12), 'stale'),
    answer: 'conflict',
    counted: { 'action=update,result=conflict': 1 },
  },
  {
    name: 'a delete at the stored version is a delete success',
    prepare: (inner: InMemorySecretStore) => inner.create(secret(3)),
    write: async (s: CountedSecretStore, inner: InMemorySecretStore) => s.delete('shop', NAME, await version(inner)),
    answer: 'deleted',
    counted: { 'action=delete,result=success': 1 },
  },
  {
    name: 'a delete at a stale version is a delete conflict',
    prepare: (inner: InMemorySecretStore) => inner.create(secret(3)),
    write: async (s: CountedSecretStore) => s.delete('shop', NAME, 'stale'),
    answer: 'conflict',
    counted: { 'action=delete,result=conflict': 1 },
  },
];

for (const c of answers) {
  t.test(`${c.name}, and the store's answer is passed on`, async (t) => {
    const { inner, store, writes } = setup();
    await c.prepare?.(inner);
    t.equal(await c.write(store, inner), c.answer);
    t.same(await writes(), c.counted);
  });
}

t.test('a write the API server refuses is a failure of its action, and the error is passed on', async (t) => {
  const metrics = createMetrics();
  const store = new CountedSecretStore(refusingStore(), metrics);
  await t.rejects(store.create(secret(12)), { message: 'HTTP 500 from the API server' });
  await t.rejects(store.replace(secret(12), '1'));
  await t.rejects(store.delete('shop', NAME, '1'));
  t.same(await seriesValues(metrics.pullSecretWrites), { 'action=create,result=failure': 1, 'action=update,result=failure': 1, 'action=delete,result=failure': 1 });
});

t.test('reads and lists pass through and are not counted as writes', async (t) => {
  const { inner, store, writes } = setup();
  await inner.create(secret(12));
  t.equal((await store.read('shop', NAME, true))?.name, NAME);
  t.equal((await store.listManaged()).length, 1);
  t.same(await writes(), {});
});

t.test("the writer's create and the reconciler's renewal and deletion are each counted once", async (t) => {
  const { inner, store, writes } = setup();
  const writer = new PullSecretWriter(store, () => testSealer);
  const ensured = await writer.ensure({ spec, now: new Date(NOW), freshUntil: new Date(NOW + 15 * 60_000), token: async () => token(1) });
  t.equal(ensured, 'created', 'a Secret expiring within the hour, for the reconciler to renew');
  inner.put(buildPullSecret({ ...spec, namespace: 'left', tenant: 'departed' }, token(12), testSealer));
  const namespaces = new InMemoryNamespaceDirectory({ shop: { 'ecr-tenant-webhook.io/tenant': 'payments' }, left: {} });
  const reconciler = new Reconciler(reconcilerOptions(store, namespaces, { get: async () => token(12) }, { writer, now: () => NOW }));
  t.match(await reconciler.runOnce(), { completed: true, renewed: 1, deleted: 1, failed: 0, kept: 0 });
  t.same(await writes(), { 'action=create,result=success': 1, 'action=update,result=success': 1, 'action=delete,result=success': 1 });
});
