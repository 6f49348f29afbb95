import t from 'tap';
import { buildPullSecret, expiryOf } from '../../src/credentials/pull-secret.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { InMemorySecretStore, type SecretStore } from '../../src/kube/secret-store.ts';

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const spec = { name: 'ecr-pull-111111111111-eu-west-1', namespace: 'shop', tenant: 'payments', hosts: [HOST] };
const NOW = Date.parse('2026-11-23T00:00:00Z');
const hours = (h: number) => new Date(NOW + h * 3600_000);
const token = (h: number) => ({ username: 'AWS', password: `pw-${h}`, expiresAt: hours(h) });

function counting(h: number) {
  const calls = { n: 0 };
  return { calls, token: async () => (calls.n++, token(h)) };
}

t.test('no Secret yet: one token is minted and the Secret created', async (t) => {
  const store = new InMemorySecretStore();
  const mint = counting(12);
  t.equal(await new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'created');
  t.equal(mint.calls.n, 1);
  t.same(expiryOf((await store.read('shop', spec.name))!), hours(12));
});

t.test('a fresh Secret is kept without minting anything', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(buildPullSecret(spec, token(12)));
  const mint = counting(12);
  t.equal(await new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'kept');
  t.equal(mint.calls.n, 0);
});

t.test('a Secret expiring too soon is replaced with a longer-lived one', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(buildPullSecret(spec, token(3)));
  t.equal(await new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'updated');
  t.same(expiryOf((await store.read('shop', spec.name))!), hours(12));
});

t.test('a token that would expire earlier than the stored Secret never replaces it', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(buildPullSecret(spec, token(5)));
  const before = await store.read('shop', spec.name);
  t.equal(await new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(4).token }), 'kept');
  t.equal(await store.read('shop', spec.name), before, 'the stored Secret is untouched');
});

t.test('a Secret of that name that is not the webhook’s is reported as a conflict and left alone', async (t) => {
  const store = new InMemorySecretStore();
  await store.create({ metadata: { name: spec.name, namespace: 'shop' }, data: { x: 'eQ==' } });
  const mint = counting(12);
  t.equal(await new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: mint.token }), 'conflict');
  t.equal(mint.calls.n, 0);
});

t.test('a create that loses to another replica reads again and keeps the winner’s fresh Secret', async (t) => {
  const store = new InMemorySecretStore();
  const racing: SecretStore = {
    read: (ns, name) => store.read(ns, name),
    replace: (s, rv) => store.replace(s, rv),
    create: async (secret) => {
      await store.create(buildPullSecret(spec, token(12)));
      return store.create(secret);
    },
  };
  t.equal(await new PullSecretWriter(racing).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'kept');
});

t.test('a replace whose version moved reads again; after a few lost rounds the other writer’s Secret stands', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(buildPullSecret(spec, token(3)));
  let replaces = 0;
  const contended: SecretStore = { read: (ns, name) => store.read(ns, name), create: (s) => store.create(s), replace: async () => (replaces++, 'conflict') };
  t.equal(await new PullSecretWriter(contended).ensure({ spec, now: hours(0), freshUntil: hours(6), token: counting(12).token }), 'kept');
  t.equal(replaces, 4, 'bounded: four rounds, then give way');
});

t.test('a failed mint rejects and writes nothing', async (t) => {
  const store = new InMemorySecretStore();
  await t.rejects(new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: async () => Promise.reject(new Error('AssumeRole failed')) }), { message: 'AssumeRole failed' });
  t.equal(store.secrets.size, 0);
});

t.test('the in-memory store keeps the API server’s contract: a replace of a missing Secret is a conflict', async (t) => {
  const store = new InMemorySecretStore();
  t.equal(await store.replace(buildPullSecret(spec, token(1)), '1'), 'conflict');
  t.equal(await store.create(buildPullSecret(spec, token(1))), 'created');
  t.equal(await store.replace(buildPullSecret(spec, token(2)), '1'), 'replaced');
  t.equal(await store.replace(buildPullSecret(spec, token(3)), '1'), 'conflict', 'the version moved to 2');
});

t.test('when no token can be had, a stored Secret that still works is kept in use and never replaced', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(buildPullSecret(spec, token(2)));
  const before = await store.read('shop', spec.name);
  const failing = async () => Promise.reject(new Error('Throttling'));
  t.equal(await new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: failing }), 'kept-after-failure');
  t.equal(await store.read('shop', spec.name), before);
});

const notUsable = [
  { name: 'an expired stored Secret is not used when no token can be had', stored: () => buildPullSecret(spec, token(-1)) },
  { name: 'a stored Secret lacking the pod’s host is not used when no token can be had', stored: () => buildPullSecret({ ...spec, hosts: ['111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com'] }, token(5)) },
];
for (const c of notUsable) {
  t.test(c.name, async (t) => {
    const store = new InMemorySecretStore();
    await store.create(c.stored());
    await t.rejects(new PullSecretWriter(store).ensure({ spec, now: hours(0), freshUntil: hours(6), token: async () => Promise.reject(new Error('AccessDenied')) }), { message: 'AccessDenied' });
  });
}

t.test('the in-memory store deletes only at the version read, and a missing Secret counts as deleted', async (t) => {
  const store = new InMemorySecretStore();
  await store.create(buildPullSecret(spec, token(1)));
  t.equal(await store.delete('shop', spec.name, '9'), 'conflict');
  t.equal(await store.delete('shop', spec.name, '1'), 'deleted');
  t.equal(await store.delete('shop', spec.name, '1'), 'deleted');
  t.same(await store.listManaged(), []);
});
