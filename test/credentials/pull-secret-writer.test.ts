import t from 'tap';
import { buildPullSecret, type PullSecretSpec, type Sealer, type WritableSecret } from '../../src/credentials/pull-secret.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { InMemorySecretStore, type SecretStore } from '../../src/kube/secret-store.ts';
import { otherSealer, testSealer } from '../support/test-sealer.ts';

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const spec: PullSecretSpec = { name: 'ecr-pull-111111111111-eu-west-1', namespace: 'shop', tenant: 'payments', credential: 'cred-a', hosts: [HOST] };
const NOW = Date.parse('2026-11-23T00:00:00Z');
const hours = (h: number) => new Date(NOW + h * 3600_000);
const token = (h: number) => ({ username: 'AWS', password: `pw-${h}`, expiresAt: hours(h) });
const sealed = (s: PullSecretSpec, h: number, sealer = testSealer) => buildPullSecret(s, token(h), sealer);
const writer = (store: SecretStore) => new PullSecretWriter(store, () => testSealer);
const expiryIn = async (store: SecretStore) => (await store.read('shop', spec.name))?.expiresAt;

/** The Secret with its seal taken off: what a webhook before seals wrote, or anybody copying its labels. */
function unsealed(secret: WritableSecret): WritableSecret {
  const annotations = { ...secret.metadata.annotations };
  delete annotations['ecr-tenant-webhook.io/provenance'];
  return { ...secret, metadata: { ...secret.metadata, annotations } };
}

function counting(h: number) {
  const calls = { n: 0 };
  return { calls, token: async () => (calls.n++, token(h)) };
}

t.test('no Secret yet: one token is minted and the Secret created, sealed for the tenant and credential', async (t) => {
  const store = new InMemorySecretStore();
  const mint = counting(12);
  t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'created');
  t.equal(mint.calls.n, 1);
  const stored = await store.read('shop', spec.name);
  t.equal(stored?.expiresAt, hours(12).getTime());
  t.same(testSealer.originOf(stored!), { tenant: 'payments', credential: 'cred-a' });
});

t.test('a fresh Secret is kept without minting anything', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed(spec, 12));
  const mint = counting(12);
  t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'kept');
  t.equal(mint.calls.n, 0);
});

t.test('a Secret expiring too soon is replaced with a longer-lived one', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed(spec, 3));
  t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'updated');
  t.equal(await expiryIn(store), hours(12).getTime());
});

t.test('a token that would expire earlier than the stored Secret never replaces it', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed(spec, 5));
  const before = await store.read('shop', spec.name);
  t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(4).token }), 'kept');
  t.same(await store.read('shop', spec.name), before, 'the stored Secret is untouched');
});

const unproven = [
  { name: 'sealed for another tenant', secret: () => sealed({ ...spec, tenant: 'analytics' }, 24) },
  { name: 'sealed for another credential', secret: () => sealed({ ...spec, credential: 'cred-b' }, 24) },
  { name: 'sealed with another key (a forgery)', secret: () => sealed(spec, 24, otherSealer) },
  { name: 'not sealed at all', secret: () => unsealed(sealed(spec, 24)) },
];
for (const c of unproven) {
  t.test(`a managed Secret ${c.name} is replaced for this tenant even though it expires later`, async (t) => {
    const store = new InMemorySecretStore();
    store.put(c.secret());
    const mint = counting(12);
    t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'updated');
    t.equal(mint.calls.n, 1);
    const stored = await store.read('shop', spec.name);
    t.equal(stored?.expiresAt, hours(12).getTime(), 'the earlier-expiring token replaced the later one');
    t.equal(stored?.tenantLabel, 'payments');
    t.same(testSealer.originOf(stored!), { tenant: 'payments', credential: 'cred-a' });
    const data = JSON.parse(Buffer.from(store.secrets.get(`shop/${spec.name}`)?.data?.['.dockerconfigjson'] as string, 'base64').toString());
    t.equal(data.auths[HOST].password, 'pw-12', 'the data is this tenant’s token');
  });

  t.test(`when no token can be had, a still-valid managed Secret ${c.name} is not kept: the failure propagates`, async (t) => {
    const store = new InMemorySecretStore();
    store.put(c.secret());
    const before = await store.read('shop', spec.name);
    await t.rejects(writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: async () => Promise.reject(new Error('AccessDenied')) }), { message: 'AccessDenied' });
    t.same(await store.read('shop', spec.name), before, 'nothing was written');
  });
}

t.test('a Secret of that name that is not the webhook’s is reported as a conflict and left alone', async (t) => {
  const store = new InMemorySecretStore();
  await store.create({ metadata: { name: spec.name, namespace: 'shop' }, data: { x: 'eQ==' } });
  const mint = counting(12);
  t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'conflict');
  t.equal(mint.calls.n, 0);
});

t.test('a create that loses to another replica reads again and keeps the winner’s fresh Secret', async (t) => {
  const store = new InMemorySecretStore();
  const fresh: boolean[] = [];
  const racing: SecretStore = {
    read: (ns, name, isFresh) => (fresh.push(isFresh ?? false), store.read(ns, name)),
    replace: (s, rv) => store.replace(s, rv),
    create: async (secret) => {
      await store.create(sealed(spec, 12));
      return store.create(secret);
    },
  };
  t.equal(await writer(racing).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'kept');
  t.same(fresh, [false, true], 'the re-read after the lost race asks for a fresh read');
});

t.test('a replace whose version moved reads again; after a few lost rounds the other writer’s Secret stands', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed(spec, 3));
  let replaces = 0;
  const contended: SecretStore = { read: (ns, name) => store.read(ns, name), create: (s) => store.create(s), replace: async () => (replaces++, 'conflict') };
  t.equal(await writer(contended).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'kept');
  t.equal(replaces, 4, 'bounded: four rounds, then give way');
});

t.test('the sealer in force is asked for at each ensure', async (t) => {
  const store = new InMemorySecretStore();
  let sealer = otherSealer;
  const switching = new PullSecretWriter(store, () => sealer);
  t.equal(await switching.ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'created');
  sealer = testSealer;
  t.equal(await switching.ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(13).token }), 'updated', 'a key change makes the Secret unproven, so it is rewritten once');
  t.equal(await switching.ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(14).token }), 'kept');
  t.same(testSealer.originOf((await store.read('shop', spec.name))!), { tenant: 'payments', credential: 'cred-a' });
});

t.test('a Secret proven ours whose expiry cannot be read counts as expired: renewed, and any token improves on it', async (t) => {
  // A checker whose proof does not cover the expiry (the real seal does): the writer must not rely on it doing so.
  const lenient: Sealer = { seal: (fields) => testSealer.seal(fields), originOf: () => ({ tenant: 'payments', credential: 'cred-a' }) };
  const store = new InMemorySecretStore();
  const secret = sealed(spec, 24);
  store.put({ ...secret, metadata: { ...secret.metadata, annotations: { ...secret.metadata.annotations, 'ecr-tenant-webhook.io/expires-at': 'never' } } });
  t.equal((await store.read('shop', spec.name))?.expiresAt, undefined);
  t.equal(await new PullSecretWriter(store, () => lenient).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(1).token }), 'updated', 'even a token of one hour');
  t.equal(await expiryIn(store), hours(1).getTime());
});

t.test('a failed mint rejects and writes nothing', async (t) => {
  const store = new InMemorySecretStore();
  await t.rejects(writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: async () => Promise.reject(new Error('AssumeRole failed')) }), { message: 'AssumeRole failed' });
  t.equal(store.secrets.size, 0);
});

t.test('the in-memory store keeps the API server’s contract: a replace of a missing Secret is a conflict', async (t) => {
  const store = new InMemorySecretStore();
  t.equal(await store.replace(sealed(spec, 1), '1'), 'conflict');
  t.equal(await store.create(sealed(spec, 1)), 'created');
  t.equal(await store.replace(sealed(spec, 2), '1'), 'replaced');
  t.equal(await store.replace(sealed(spec, 3), '1'), 'conflict', 'the version moved to 2');
  t.equal(await store.create(sealed(spec, 3)), 'exists');
});

t.test('when no token can be had, a stored Secret that still works is kept in use and never replaced', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed(spec, 2));
  const before = await store.read('shop', spec.name);
  const failing = async () => Promise.reject(new Error('Throttling'));
  t.equal(await writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: failing }), 'kept-after-failure');
  t.same(await store.read('shop', spec.name), before);
});

const notUsable = [
  { name: 'an expired stored Secret is not used when no token can be had', stored: () => sealed(spec, -1) },
  { name: 'a stored Secret lacking the pod’s host is not used when no token can be had', stored: () => sealed({ ...spec, hosts: ['111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com'] }, 5) },
];
for (const c of notUsable) {
  t.test(c.name, async (t) => {
    const store = new InMemorySecretStore();
    await store.create(c.stored());
    await t.rejects(writer(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: async () => Promise.reject(new Error('AccessDenied')) }), { message: 'AccessDenied' });
  });
}

t.test('the in-memory store deletes only at the version read, lists only managed Secrets, and a missing Secret counts as deleted', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed(spec, 1));
  store.put({ metadata: { name: 'theirs', namespace: 'shop' }, data: {} });
  store.put({ metadata: { name: 'nameless-namespace', namespace: undefined as unknown as string, labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' } } });
  t.same((await store.listManaged()).map((s) => s.name), [spec.name], 'what does not name itself is not projected, so not listed');
  t.equal(await store.delete('shop', spec.name, '9'), 'conflict');
  t.equal(await store.delete('shop', spec.name, '1'), 'deleted');
  t.equal(await store.delete('shop', spec.name, '1'), 'deleted');
  t.same(await store.listManaged(), []);
});

t.test('after every write race is lost, a Secret not proven for this tenant is a failure, never “kept”', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(sealed({ ...spec, tenant: 'analytics' }, 10));
  const contended: SecretStore = { read: (ns, name) => store.read(ns, name), create: (s) => store.create(s), replace: async () => 'conflict' };
  await t.rejects(writer(contended).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), {
    name: 'WriteRaceError',
    code: 'Conflict',
    message: 'Secret shop/ecr-pull-111111111111-eu-west-1 kept changing under 4 writes and holds no credential proven for tenant "payments"',
  });
});

t.test('before any token is written the namespace’s tenant is read afresh; a namespace that moved on gets nothing', async (t) => {
  const cases = [
    { now: 'analytics', message: 'namespace shop belongs to tenant "analytics" now, not "payments"; nothing written' },
    { now: undefined, message: 'namespace shop has no tenant now, not "payments"; nothing written' },
  ];
  for (const c of cases) {
    const store = new InMemorySecretStore();
    const mints = counting(12);
    const asked: string[] = [];
    const confirming = new PullSecretWriter(store, () => testSealer, async (namespace) => (asked.push(namespace), c.now));
    await t.rejects(confirming.ensure({ spec, now: hours(0), freshUntil: hours(6), token: mints.token }), { name: 'TenantChangedError', code: 'TenantChanged', message: c.message });
    t.equal(store.secrets.size, 0, 'nothing written');
    t.same(asked, ['shop']);
  }
  const store = new InMemorySecretStore();
  let asked = 0;
  const confirming = new PullSecretWriter(store, () => testSealer, async () => (asked++, 'payments'));
  t.equal(await confirming.ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'created');
  t.equal(await confirming.ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'kept');
  t.equal(asked, 1, 'asked once, for the write; a Secret kept as it is costs no read');
});
