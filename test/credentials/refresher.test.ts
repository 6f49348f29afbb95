import t from 'tap';
import { buildPullSecret, expiryOf } from '../../src/credentials/pull-secret.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { ownerOf, Refresher } from '../../src/credentials/refresher.ts';
import type { RegistryToken, TokenRequest } from '../../src/credentials/registry-token.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { logSink, testPolicy } from '../admission/harness.ts';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3600_000;
const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const TOOLS = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const token = (h: number): RegistryToken => ({ username: 'AWS', password: `pw-${h}`, expiresAt: new Date(NOW + h * HOUR) });
const secret = (name: string, tenant: string, hours: number, hosts = [HOST]) => buildPullSecret({ name, namespace: 'shop', tenant, hosts }, token(hours));

function setup(get: (request: TokenRequest) => Promise<RegistryToken> = async () => token(12), leader = true) {
  const store = new InMemorySecretStore();
  const requests: TokenRequest[] = [];
  const sink = logSink();
  const refresher = new Refresher({
    store,
    writer: new PullSecretWriter(store),
    tokens: { get: (request) => (requests.push(request), get(request)) },
    policy: fixedPolicy(testPolicy),
    isLeader: () => leader,
    everyMs: 20,
    renewWithinMs: 2 * HOUR,
    now: () => NOW,
    log: sink.log,
  });
  return { store, refresher, requests, logs: sink.lines };
}

t.test('a Secret expiring within the window is renewed with a token from its grant’s role', async (t) => {
  const { store, refresher, requests } = setup();
  await store.create(secret('ecr-pull-111111111111-eu-west-1', 'payments', 1));
  t.same(await refresher.runOnce(), { renewed: 1, deleted: 0, failed: 0, kept: 0 });
  t.same(expiryOf((await store.read('shop', 'ecr-pull-111111111111-eu-west-1'))!), new Date(NOW + 12 * HOUR));
  t.match(requests, [{ tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-payments', externalId: 'payments-7f3a', registry: { account: '111111111111', region: 'eu-west-1' } }]);
});

t.test('a grant’s own role is the one used to renew its registry’s Secret', async (t) => {
  const { store, refresher, requests } = setup();
  await store.create(secret('ecr-pull-222222222222-us-west-2', 'payments', 1, [TOOLS]));
  await refresher.runOnce();
  t.equal(requests[0]?.roleArn, 'arn:aws:iam::222222222222:role/ecr-pull-payments-tools');
});

t.test('a Secret valid beyond the window costs nothing', async (t) => {
  const { store, refresher, requests } = setup();
  await store.create(secret('ecr-pull-111111111111-eu-west-1', 'payments', 6));
  t.same(await refresher.runOnce(), { renewed: 0, deleted: 0, failed: 0, kept: 1 });
  t.same(requests, []);
});

const gone = [
  { name: 'a Secret whose tenant left the policy is deleted', tenant: 'departed', secretName: 'ecr-pull-111111111111-eu-west-1', why: 'tenant "departed" is not in the policy' },
  { name: 'a Secret for a registry its tenant no longer has a grant for is deleted', tenant: 'payments', secretName: 'ecr-pull-999999999999-eu-west-1', why: 'tenant "payments" has no grant for 999999999999 in eu-west-1' },
  { name: 'a Secret whose name is not one the webhook makes is deleted', tenant: 'payments', secretName: 'ecr-pull-odd', why: 'tenant "payments" has no grant for ? in ?' },
];

for (const c of gone) {
  t.test(c.name, async (t) => {
    const { store, refresher, logs } = setup();
    await store.create(secret(c.secretName, c.tenant, 6));
    t.same(await refresher.runOnce(), { renewed: 0, deleted: 1, failed: 0, kept: 0 });
    t.equal(store.secrets.size, 0);
    t.match(logs.find((l) => l.msg === 'pull secret deleted'), { why: c.why });
  });
}

t.test('a Secret that cannot be renewed stays as it is and counts as failed', async (t) => {
  const { store, refresher, logs } = setup(async () => Promise.reject(new Error('Throttling')));
  await store.create(secret('ecr-pull-111111111111-eu-west-1', 'payments', 1));
  const before = await store.read('shop', 'ecr-pull-111111111111-eu-west-1');
  t.same(await refresher.runOnce(), { renewed: 0, deleted: 0, failed: 1, kept: 0 });
  t.equal(await store.read('shop', 'ecr-pull-111111111111-eu-west-1'), before);
  t.match(logs.find((l) => l.msg === 'pull secret not renewed; kept as it is'), { err: 'no new token could be had' });
});

t.test('an expired Secret that cannot be renewed is left for the next round, not deleted', async (t) => {
  const { store, refresher } = setup(async () => Promise.reject(new Error('AccessDenied')));
  await store.create(secret('ecr-pull-111111111111-eu-west-1', 'payments', -1));
  t.same(await refresher.runOnce(), { renewed: 0, deleted: 0, failed: 1, kept: 0 });
  t.equal(store.secrets.size, 1);
});

t.test('Secrets the webhook does not manage are never visited', async (t) => {
  const { store, refresher } = setup();
  await store.create({ metadata: { name: 'ecr-pull-111111111111-eu-west-1', namespace: 'other' }, data: {} });
  t.same(await refresher.runOnce(), { renewed: 0, deleted: 0, failed: 0, kept: 0 });
  t.equal(store.secrets.size, 1);
});

t.test('a listing that fails is one failed round, logged, not a crash', async (t) => {
  const sink = logSink();
  const store = new InMemorySecretStore();
  store.listManaged = async () => Promise.reject(new Error('listing managed Secret */* failed: HTTP 403 from the API server'));
  const broken = new Refresher({
    store,
    writer: new PullSecretWriter(store),
    tokens: { get: async () => token(12) },
    policy: fixedPolicy(testPolicy),
    isLeader: () => true,
    everyMs: 20,
    renewWithinMs: HOUR,
    now: () => NOW,
    log: sink.log,
  });
  t.same(await broken.runOnce(), { renewed: 0, deleted: 0, failed: 1, kept: 0 });
  t.match(sink.lines.at(-1), { msg: 'refresher could not list the pull secrets', err: /HTTP 403/ });
});

t.test('the loop runs rounds only while this replica leads', async (t) => {
  for (const leader of [true, false]) {
    const { store, refresher } = setup(async () => token(12), leader);
    await store.create(secret('ecr-pull-111111111111-eu-west-1', 'payments', 1));
    refresher.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    refresher.stop();
    const expiry = expiryOf((await store.read('shop', 'ecr-pull-111111111111-eu-west-1'))!);
    t.same(expiry, new Date(NOW + (leader ? 12 : 1) * HOUR), leader ? 'the leader renewed it' : 'a follower left it alone');
  }
});

t.test('ownerOf names the role of the grant that covers the Secret’s registry', async (t) => {
  t.match(ownerOf(secret('ecr-pull-111111111111-eu-west-1', 'payments', 1), testPolicy), { roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-payments', tenant: { name: 'payments' } });
  t.same(ownerOf({ metadata: { name: 'ecr-pull-111111111111-eu-west-1' } }, testPolicy), { gone: 'tenant "" is not in the policy' });
});


t.test('a Secret without a readable expiry is renewed', async (t) => {
  const { store, refresher } = setup();
  const unreadable = secret('ecr-pull-111111111111-eu-west-1', 'payments', 6);
  await store.create({ ...unreadable, metadata: { ...unreadable.metadata, annotations: {} } });
  t.same(await refresher.runOnce(), { renewed: 1, deleted: 0, failed: 0, kept: 0 });
});

t.test('a token no better than the stored Secret leaves it in place for the next round', async (t) => {
  const { store, refresher } = setup(async () => token(1));
  await store.create(secret('ecr-pull-111111111111-eu-west-1', 'payments', 1));
  t.same(await refresher.runOnce(), { renewed: 0, deleted: 0, failed: 0, kept: 1 });
});

t.test('a managed Secret without metadata is treated as belonging to no tenant', async (t) => {
  t.same(ownerOf({}, testPolicy), { gone: 'tenant "" is not in the policy' });
});

t.test('a managed Secret without a name has no grant', async (t) => {
  t.same(ownerOf({ metadata: { labels: { 'ecr-tenant-webhook.io/tenant': 'payments' } } }, testPolicy), { gone: 'tenant "payments" has no grant for ? in ?' });
});
