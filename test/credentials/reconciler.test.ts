import t from 'tap';
import { credentialDigest } from '../../src/credentials/provenance.ts';
import { buildPullSecret, projectSecret, type StoredPullSecret } from '../../src/credentials/pull-secret.ts';
import { tokenRequest } from '../../src/credentials/pull-secret-provisioner.ts';
import { planSecret, Reconciler, type PlanContext, type ReconcilerOptions, type RoundReport } from '../../src/credentials/reconciler.ts';
import type { RegistryToken, TokenRequest } from '../../src/credentials/registry-token.ts';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import type { CompiledPolicy, CompiledTenant } from '../../src/policy/compile.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { logSink, testPolicy } from '../admission/harness.ts';
import { reconcilerOptions } from '../support/reconciler-options.ts';
import { otherSealer, testSealer } from '../support/test-sealer.ts';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3600_000;
const SESSION = 3600;
const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const FIPS = '111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com';
const TOOLS = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const SECRET = 'ecr-pull-111111111111-eu-west-1';
const TENANT = 'ecr-tenant-webhook.io/tenant';
const payments = testPolicy.tenants.get('payments') as CompiledTenant;
const paymentsCredential = credentialDigest(tokenRequest(payments, 'arn:aws:iam::111111111111:role/ecr-pull-payments', { account: '111111111111', region: 'eu-west-1' }, SESSION));
const token = (h: number): RegistryToken => ({ username: 'AWS', password: `pw-${h}`, expiresAt: new Date(NOW + h * HOUR) });

/** A Secret as the webhook writes it for `tenant` (sealed), or as anybody could (another key). */
function sealed(namespace: string, tenant: string, hours: number, options: { name?: string; hosts?: string[]; credential?: string; sealer?: typeof testSealer } = {}) {
  const { name = SECRET, hosts = [HOST], credential = paymentsCredential, sealer = testSealer } = options;
  return buildPullSecret({ name, namespace, tenant, credential, hosts }, token(hours), sealer);
}

function setup(options: { get?: (request: TokenRequest) => Promise<RegistryToken>; leader?: boolean; overrides?: Partial<ReconcilerOptions>; namespaces?: Record<string, Record<string, string>> } = {}) {
  const store = new InMemorySecretStore();
  const namespaces = new InMemoryNamespaceDirectory(options.namespaces ?? { shop: { [TENANT]: 'payments' }, lab: { [TENANT]: 'analytics' }, plain: {} });
  const requests: TokenRequest[] = [];
  const sink = logSink();
  const reports: RoundReport[] = [];
  let now = NOW;
  const get = options.get ?? (async () => token(12));
  const reconciler = new Reconciler(
    reconcilerOptions(store, namespaces, { get: (request) => (requests.push(request), get(request)) }, {
      isLeader: () => options.leader ?? true,
      deletionGraceMs: 10 * 60_000,
      now: () => now,
      log: sink.log,
      report: (round) => reports.push(round),
      ...options.overrides,
    }),
  );
  const data = (namespace: string, name = SECRET) => store.secrets.get(`${namespace}/${name}`);
  const origin = (namespace: string, name = SECRET) => {
    const held = data(namespace, name);
    return held === undefined ? undefined : testSealer.originOf(projectSecret(held) as StoredPullSecret);
  };
  return { store, namespaces, reconciler, requests, logs: sink.lines, reports, data, origin, advance: (ms: number) => (now += ms) };
}

const counts = (round: RoundReport) => ({ renewed: round.renewed, rewritten: round.rewritten, deleted: round.deleted, failed: round.failed, kept: round.kept, unverified: round.unverified, pendingDeletions: round.pendingDeletions });
const none = { renewed: 0, rewritten: 0, deleted: 0, failed: 0, kept: 0, unverified: 0, pendingDeletions: 0 };

/** How log lines name payments' credential for SECRET's registry. */
const PAYMENTS_CREDENTIAL = { tenant: 'payments', role: 'arn:aws:iam::111111111111:role/ecr-pull-payments', registry: { account: '111111111111', region: 'eu-west-1' } };

t.test('a sealed Secret expiring within the window is renewed with a token of the namespace’s tenant', async (t) => {
  const { store, reconciler, requests, data, logs } = setup();
  store.put(sealed('shop', 'payments', 1));
  const round = await reconciler.runOnce();
  t.same(counts(round), { ...none, renewed: 1 });
  t.equal(projectSecret(data('shop')!)?.expiresAt, NOW + 12 * HOUR);
  t.match(requests, [{ tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-payments', externalId: 'payments-7f3a', durationSeconds: SESSION, registry: { account: '111111111111', region: 'eu-west-1' } }]);
  t.ok(round.completed);
  t.same([...round.earliestExpiryByTenant], [['payments', NOW + HOUR]], 'as the round found it');
  t.same([...(await reconciler.runOnce()).earliestExpiryByTenant], [['payments', NOW + 12 * HOUR]], 'the next round sees the renewal');
  t.match(logs.find((l) => l.msg === 'pull secret renewed'), { namespace: 'shop', secret: SECRET, ...PAYMENTS_CREDENTIAL }, 'the line names tenant, role and registry');
});

t.test('a grant’s own role renews its registry’s Secret, and a fresh Secret costs nothing', async (t) => {
  const { store, reconciler, requests } = setup();
  const tools = credentialDigest(tokenRequest(payments, 'arn:aws:iam::222222222222:role/ecr-pull-payments-tools', { account: '222222222222', region: 'us-west-2' }, SESSION));
  store.put(sealed('shop', 'payments', 1, { name: 'ecr-pull-222222222222-us-west-2', hosts: [TOOLS], credential: tools }));
  store.put(sealed('shop', 'payments', 6));
  t.same(counts(await reconciler.runOnce()), { ...none, renewed: 1, kept: 1 });
  t.same(requests.map((r) => r.roleArn), ['arn:aws:iam::222222222222:role/ecr-pull-payments-tools']);
});

t.test('forged Secrets never receive a token, whatever their labels say', async (t) => {
  const { store, reconciler, requests, data } = setup();
  // Labelled managed-by and naming the victim, in a namespace with no tenant and in another tenant's namespace.
  const forged = [
    { metadata: { name: SECRET, namespace: 'plain', labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', [TENANT]: 'payments' }, annotations: { 'ecr-tenant-webhook.io/expires-at': new Date(NOW).toISOString() } }, data: {} },
    { metadata: { name: SECRET, namespace: 'lab', labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', [TENANT]: 'payments' } }, data: {} },
    sealed('lab', 'payments', 1, { sealer: otherSealer }),
  ];
  for (const secret of forged) {
    store.secrets.clear();
    store.put(secret);
    t.same(counts(await reconciler.runOnce()), { ...none, unverified: 1 });
    t.same(requests, [], 'no token asked for');
    t.same(data(secret.metadata.namespace)?.data, secret.data, 'nothing written');
  }
});

t.test('relabelling a namespace moves its Secret to the new tenant, or removes it when that tenant has no grant', async (t) => {
  const { store, namespaces, reconciler, requests, origin } = setup();
  store.put(sealed('shop', 'payments', 10));
  namespaces.set('shop', { [TENANT]: 'analytics' });
  t.same(counts(await reconciler.runOnce()), { ...none, deleted: 1 }, 'analytics has no grant for 111111111111 in eu-west-1');
  t.equal(store.secrets.size, 0);
  t.same(requests, []);

  // Moved to a tenant sharing the registry: rewritten with its own credentials at once, though far from expiry.
  const shared = setup({ namespaces: { shop: { [TENANT]: 'payments' } } });
  shared.store.put(sealed('shop', 'payments', 10, { hosts: [HOST, FIPS] }));
  const policy = { ...testPolicy, tenants: new Map([...testPolicy.tenants, ['twin', { ...payments, name: 'twin', externalId: 'twin-9' }]]) };
  const twin = new Reconciler({ ...optionsOf(shared), policy: fixedPolicy(policy) });
  shared.namespaces.set('shop', { [TENANT]: 'twin' });
  t.same(counts(await twin.runOnce()), { ...none, rewritten: 1 });
  t.match(shared.requests, [{ tenant: 'twin', externalId: 'twin-9' }]);
  t.equal(shared.origin('shop')?.tenant, 'twin');
  t.same(projectSecret(shared.data('shop')!)?.hosts, [FIPS, HOST].sort(), 'the host forms its pods used are kept');
  t.equal(origin('shop'), undefined);
});

/** The options a setup's reconciler was built with (but no grace period), to build another over the same store. */
function optionsOf(s: ReturnType<typeof setup>): ReconcilerOptions {
  return reconcilerOptions(s.store, s.namespaces, { get: async (request) => (s.requests.push(request), token(12)) });
}

t.test('unlabelling a namespace removes the credentials written for its former tenant at once', async (t) => {
  const { store, namespaces, reconciler, logs } = setup();
  store.put(sealed('shop', 'payments', 10));
  namespaces.set('shop', {});
  t.same(counts(await reconciler.runOnce()), { ...none, deleted: 1 });
  t.match(logs.find((l) => l.msg === 'pull secret deleted'), { why: 'namespace has no tenant any more (written for "payments")' });
});

t.test('new credentials for the same tenant (a changed role, external id or tags) are written at once', async (t) => {
  const { store, reconciler, origin } = setup();
  store.put(sealed('shop', 'payments', 10, { credential: 'from-an-older-policy' }));
  t.same(counts(await reconciler.runOnce()), { ...none, rewritten: 1 });
  t.same(origin('shop'), { tenant: 'payments', credential: paymentsCredential });
});

t.test('a Secret written before seals existed is sealed for the namespace’s tenant when its label agrees, else left alone', async (t) => {
  const { store, reconciler, origin } = setup();
  const legacy = sealed('shop', 'payments', 10);
  store.put({ ...legacy, metadata: { ...legacy.metadata, annotations: { 'ecr-tenant-webhook.io/expires-at': new Date(NOW + 10 * HOUR).toISOString() } } });
  t.same(counts(await reconciler.runOnce()), { ...none, rewritten: 1 });
  t.equal(origin('shop')?.tenant, 'payments');
});

t.test('deletions the policy causes wait for the grace period, then go, a bounded number per round', async (t) => {
  const departed = { a: { [TENANT]: 'departed' }, b: { [TENANT]: 'departed' }, c: { [TENANT]: 'departed' } };
  const { store, reconciler, advance, logs } = setup({ namespaces: departed, overrides: { maxDeletionsPerRound: 2 } });
  for (const namespace of ['a', 'b', 'c']) store.put(sealed(namespace, 'departed', 10));
  const waiting = await reconciler.runOnce();
  t.same(counts(waiting), { ...none, pendingDeletions: 3 });
  t.same([...waiting.earliestExpiryByTenant], [], 'Secrets waiting to be deleted are not renewed, so their expiry is not reported');
  t.match(logs.find((l) => l.msg?.toString().startsWith('pull secrets the policy no longer grants wait before deletion')), { pending: 3, graceMs: 600_000 });
  advance(9 * 60_000);
  t.same(counts(await reconciler.runOnce()), { ...none, pendingDeletions: 3 }, 'still inside the grace period');
  advance(60_000);
  t.same(counts(await reconciler.runOnce()), { ...none, deleted: 2, pendingDeletions: 1 }, 'two per round');
  t.match(logs.find((l) => l.msg === 'pull secret deletions over the per-round bound wait for the next round'), { deferred: 1, perRound: 2 });
  t.same(counts(await reconciler.runOnce()), { ...none, deleted: 1 });
  t.equal(store.secrets.size, 0);
  t.match(logs.find((l) => l.msg === 'pull secret deleted'), { why: 'tenant "departed" is not in the policy' });
});

t.test('a policy put right inside the grace period costs nothing, and the grace period starts again next time', async (t) => {
  const { store, namespaces } = setup();
  store.put(sealed('shop', 'payments', 10));
  const bare = { ...testPolicy, tenants: new Map([...testPolicy.tenants].filter(([name]) => name !== 'payments')) };
  let policy: CompiledPolicy = bare;
  let elapsed = 0;
  const flipping = new Reconciler({ ...optionsOf({ store, namespaces } as ReturnType<typeof setup>), policy: { current: () => policy }, deletionGraceMs: 60_000, now: () => NOW + elapsed });
  t.same(counts(await flipping.runOnce()), { ...none, pendingDeletions: 1 });
  policy = testPolicy;
  elapsed = 50_000;
  t.same(counts(await flipping.runOnce()), { ...none, kept: 1 });
  policy = bare;
  elapsed = 70_000;
  t.same(counts(await flipping.runOnce()), { ...none, pendingDeletions: 1 }, 'orphaned again: a new grace period');
  elapsed = 130_000;
  t.same(counts(await flipping.runOnce()), { ...none, deleted: 1 });
});

t.test('a Secret for a registry its tenant is no longer granted waits as well', async (t) => {
  const { store, reconciler } = setup();
  store.put(sealed('shop', 'payments', 10, { name: 'ecr-pull-999999999999-eu-west-1', hosts: ['999999999999.dkr.ecr.eu-west-1.amazonaws.com'] }));
  t.same(counts(await reconciler.runOnce()), { ...none, pendingDeletions: 1 });
});

t.test('Secrets in namespaces the directory does not know, or with names the webhook does not write, are ignored', async (t) => {
  const { store, reconciler } = setup();
  store.put(sealed('gone', 'payments', 1));
  store.put(sealed('shop', 'payments', 1, { name: 'ecr-pull-odd' }));
  store.put({ metadata: { name: SECRET, namespace: 'shop' }, data: {} });
  t.same(counts(await reconciler.runOnce()), none);
  t.equal(store.secrets.size, 3);
});

t.test('a Secret that cannot be renewed stays as it is, counts as failed, and is charged to its tenant', async (t) => {
  const { store, reconciler, logs, data } = setup({ get: async () => Promise.reject(new Error('Throttling')), namespaces: { shop: { [TENANT]: 'payments' }, shop2: { [TENANT]: 'payments' } } });
  store.put(sealed('shop', 'payments', 1));
  store.put(sealed('shop2', 'payments', 1));
  store.put(sealed('old', 'payments', -1));
  const before = data('shop');
  const round = await reconciler.runOnce();
  t.same(counts(round), { ...none, failed: 2 }, 'the one in a namespace the directory does not know is ignored');
  t.equal(data('shop'), before);
  t.same([...round.failuresByTenant], [['payments', 2]]);
  t.match(logs.find((l) => l.msg === 'pull secret not renewed; kept as it is'), { namespace: 'shop', secret: SECRET, ...PAYMENTS_CREDENTIAL, err: 'no new token could be had' });
});

t.test('an expired Secret that cannot be renewed is left for the next round, not deleted', async (t) => {
  const { store, reconciler } = setup({ get: async () => Promise.reject(new Error('AccessDenied')) });
  store.put(sealed('shop', 'payments', -1));
  t.same(counts(await reconciler.runOnce()), { ...none, failed: 1 });
  t.equal(store.secrets.size, 1);
});

t.test('a token no better than the stored Secret leaves it in place for the next round', async (t) => {
  const { store, reconciler } = setup({ get: async () => token(1) });
  store.put(sealed('shop', 'payments', 1));
  t.same(counts(await reconciler.runOnce()), { ...none, kept: 1 });
});

t.test('a call that never answers fails at its deadline and the round still completes', async (t) => {
  const { store, reconciler, logs } = setup({ get: () => new Promise(() => undefined), overrides: { operationDeadlineMs: 50 } });
  store.put(sealed('shop', 'payments', 1));
  store.put(sealed('shop2', 'payments', 6));
  const round = await reconciler.runOnce();
  t.ok(round.completed);
  t.same(counts(round), { ...none, failed: 1 });
  t.match(logs.find((l) => l.msg === 'pull secret not renewed; kept as it is'), { err: 'renewing Secret shop/ecr-pull-111111111111-eu-west-1 took longer than 50 ms' });
  const hung = setup({ overrides: { operationDeadlineMs: 50 } });
  hung.store.put(sealed('shop', 'payments', 10));
  hung.namespaces.set('shop', {});
  hung.store.delete = () => new Promise(() => undefined);
  t.same(counts(await hung.reconciler.runOnce()), { ...none, failed: 1 });
  const deletion = hung.logs.find((l) => l.msg === 'pull secret not renewed; kept as it is');
  t.match(deletion, { secret: SECRET, err: /deleting Secret shop\/ecr-pull-111111111111-eu-west-1 took longer than 50 ms/ });
  t.notOk(deletion !== undefined && 'role' in deletion, 'a deletion names no credential: none was to be written');
});

t.test('a round starts no work after its budget; the most urgent goes first', async (t) => {
  let clock = NOW;
  const order: string[] = [];
  const { store, reconciler, logs } = setup({
    get: async (request) => (order.push(request.tenant), (clock += 1000), token(12)),
    overrides: { roundBudgetMs: 1500, concurrency: 1, now: () => clock },
    namespaces: { shop: { [TENANT]: 'payments' }, soon: { [TENANT]: 'payments' }, later: { [TENANT]: 'payments' } },
  });
  store.put(sealed('later', 'payments', 1.5));
  store.put(sealed('soon', 'payments', 0.5));
  store.put(sealed('shop', 'payments', 1));
  const round = await reconciler.runOnce();
  t.same(counts(round), { ...none, renewed: 2 });
  t.match(logs.find((l) => l.msg === 'pull secret round ran out of time; the rest waits for the next round'), { unstarted: 1 });
  t.equal(projectSecret(store.secrets.get('later/' + SECRET)!)?.expiresAt, NOW + 1.5 * HOUR, 'the least urgent waits');
  t.equal(order.length, 2);
  t.equal(projectSecret(store.secrets.get('soon/' + SECRET)!)?.expiresAt, NOW + 12 * HOUR, 'the most urgent went first');
});

t.test('a Secret to be rewritten for new credentials goes before every renewal', async (t) => {
  let clock = NOW;
  const { store, reconciler } = setup({
    get: async () => ((clock += 1000), token(12)),
    overrides: { roundBudgetMs: 1500, concurrency: 1, now: () => clock },
    namespaces: { shop: { [TENANT]: 'payments' }, soon: { [TENANT]: 'payments' }, moved: { [TENANT]: 'payments' } },
  });
  store.put(sealed('soon', 'payments', 0.5));
  store.put(sealed('shop', 'payments', 1));
  store.put(sealed('moved', 'payments', 10, { credential: 'from-an-older-policy' }));
  t.same(counts(await reconciler.runOnce()), { ...none, renewed: 1, rewritten: 1 }, 'the rewrite, then the most urgent renewal');
  t.equal(projectSecret(store.secrets.get('shop/' + SECRET)!)?.expiresAt, NOW + HOUR, 'the least urgent waits');
});

t.test('no round runs before the provenance key and the namespace directory are there, or when listing fails', async (t) => {
  const noKey = setup({ overrides: { seals: () => undefined } });
  const round = await noKey.reconciler.runOnce();
  t.notOk(round.completed);
  t.match(noKey.logs.at(-1), { msg: 'pull secret round skipped', why: 'the provenance key is not loaded yet' });
  const sink = logSink();
  const notReady = new Reconciler({ ...optionsOf(setup()), namespaces: { labelsOf: async () => undefined, fresh: async () => undefined, ready: () => false, snapshot: () => undefined }, log: sink.log });
  t.notOk((await notReady.runOnce()).completed);
  t.match(sink.lines.at(-1), { why: 'the namespace directory is not ready' });
  const broken = setup();
  broken.store.listManaged = async () => Promise.reject(new Error('the pull secret watch is not running (not listed yet, or restarting)'));
  t.notOk((await broken.reconciler.runOnce()).completed);
  t.match(broken.logs.at(-1), { msg: 'pull secret round skipped', why: /not running/ });
  t.equal(broken.reports.length, 1, 'a skipped round is reported too');
});

t.test('the loop runs rounds only while this replica leads', async (t) => {
  for (const leader of [true, false]) {
    const { store, reconciler, data } = setup({ leader });
    store.put(sealed('shop', 'payments', 1));
    reconciler.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    reconciler.stop();
    t.equal(projectSecret(data('shop')!)?.expiresAt, NOW + (leader ? 12 : 1) * HOUR, leader ? 'the leader renewed it' : 'a follower left it alone');
  }
});

t.test('healthy() turns false when rounds stop completing, and a follower is always healthy', async (t) => {
  const stuck = setup({ overrides: { seals: () => undefined, roundBudgetMs: 100, operationDeadlineMs: 100 } });
  t.ok(stuck.reconciler.healthy());
  stuck.advance(3 * 20 + 100 + 100);
  t.ok(stuck.reconciler.healthy(), 'at the bound');
  stuck.advance(1);
  t.notOk(stuck.reconciler.healthy(), 'past three intervals, a budget and a deadline without a completed round');
  await stuck.reconciler.runOnce();
  t.notOk(stuck.reconciler.healthy(), 'a skipped round is not a completed one');
  const working = setup({ overrides: { roundBudgetMs: 100, operationDeadlineMs: 100 } });
  working.advance(1000);
  await working.reconciler.runOnce();
  t.ok(working.reconciler.healthy());
  let followed = 0;
  const follower = setup({ leader: false, overrides: { roundBudgetMs: 100, operationDeadlineMs: 100, following: () => followed++ } });
  follower.advance(1000);
  follower.reconciler.start();
  await new Promise((resolve) => setTimeout(resolve, 60));
  follower.reconciler.stop();
  t.ok(follower.reconciler.healthy());
  t.ok(followed > 0, 'a replica that does not lead is told so on each tick (serve clears the leader-only figures)');
});

t.test('planSecret explains every outcome', async (t) => {
  const context: PlanContext = { namespaces: new Map<string, Record<string, string>>([['shop', { [TENANT]: 'payments' }], ['plain', {}]]), policy: testPolicy, seals: testSealer, now: NOW, renewWithinMs: HOUR, sessionSeconds: SESSION };
  const plan = (secret: ReturnType<typeof sealed>) => planSecret(projectSecret(secret) as StoredPullSecret, context);
  t.match(plan(sealed('shop', 'payments', 10)), { action: 'keep' });
  t.match(plan(sealed('shop', 'payments', 0.5)), { action: 'write', kind: 'renew', why: 'expires within the renewal window' });
  t.match(plan(sealed('shop', 'analytics', 10)), { action: 'write', kind: 'rewrite', why: 'namespace moved from tenant "analytics" to "payments"' });
  t.match(plan(sealed('plain', 'payments', 10)), { action: 'delete', cause: 'namespace' });
  t.match(plan(sealed('plain', 'payments', 10, { sealer: otherSealer })), { action: 'unverified' });
  t.match(plan(sealed('nowhere', 'payments', 10)), { action: 'ignore', why: 'namespace not in the directory' });
});

t.test('a namespace-caused deletion is checked against the API server first: a cache behind a label costs no Secret', async (t) => {
  const { store } = setup();
  store.put(sealed('shop', 'payments', 10));
  const lagging = { labelsOf: async () => undefined, ready: () => true, snapshot: () => new Map([['shop', {}]]), fresh: async () => ({ [TENANT]: 'payments' }) };
  const sink = logSink();
  const reconciler = new Reconciler({ ...optionsOf(setup()), store, namespaces: lagging, log: sink.log });
  t.same(counts(await reconciler.runOnce()), { ...none, kept: 1 });
  t.equal(store.secrets.size, 1, 'kept: the namespace still belongs to the tenant it was written for');
  const unreadable = new Reconciler({ ...optionsOf(setup()), store, namespaces: { ...lagging, fresh: async () => Promise.reject(new Error('HTTP 503 from the API server')) }, log: sink.log });
  t.same(counts(await unreadable.runOnce()), { ...none, failed: 1 }, 'a namespace that cannot be read is not a reason to delete');
  t.equal(store.secrets.size, 1);
});
