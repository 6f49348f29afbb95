import t from 'tap';
import { Budget } from '../../src/deadline.ts';
import { buildPullSecret } from '../../src/credentials/pull-secret.ts';
import { credentialDigest } from '../../src/credentials/provenance.ts';
import { PullSecretProvisioner, tokenRequest, type ProvisionerOptions } from '../../src/credentials/pull-secret-provisioner.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { CredentialError, type RegistryToken, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import type { CompiledTenant } from '../../src/policy/compile.ts';
import type { PullSecretNeed } from '../../src/policy/decide.ts';
import { testSealer } from '../support/test-sealer.ts';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3600_000;
const SESSION_SECONDS = 3600;
const tenant = { name: 'payments', externalId: 'ext', sessionTags: { team: 'payments' } } as unknown as CompiledTenant;
const need = (account: string): PullSecretNeed => ({ name: `ecr-pull-${account}-eu-west-1`, account, region: 'eu-west-1', hosts: [`${account}.dkr.ecr.eu-west-1.amazonaws.com`], roleArn: `arn:aws:iam::${account}:role/pull` });

function setup(get: (request: TokenRequest) => Promise<RegistryToken>, deadlineMs = 1000, more: Partial<ProvisionerOptions> = {}) {
  const store = new InMemorySecretStore();
  const requests: TokenRequest[] = [];
  const provisioner = new PullSecretProvisioner({
    writer: new PullSecretWriter(store, () => testSealer),
    tokens: { get: (request) => (requests.push(request), get(request)) },
    freshForMs: HOUR,
    deadlineMs,
    sessionSeconds: SESSION_SECONDS,
    now: () => NOW,
    ...more,
  });
  return { store, provisioner, requests };
}
const lasting = async (): Promise<RegistryToken> => ({ username: 'AWS', password: 'pw', expiresAt: new Date(NOW + 12 * HOUR) });

t.test('every needed Secret is written, each from a token asked for with the tenant’s role, external id, tags and session duration', async (t) => {
  const { store, provisioner, requests } = setup(lasting);
  const result = await provisioner.provision('shop', tenant, [need('111111111111'), need('222222222222')]);
  t.same({ ...result, outcomes: Object.fromEntries(result.outcomes) }, { outcomes: { 'ecr-pull-111111111111-eu-west-1': 'created', 'ecr-pull-222222222222-eu-west-1': 'created' }, failures: [] });
  t.equal(store.secrets.size, 2);
  const first = requests.find((request) => request.registry.account === '111111111111');
  t.same(first, { tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/pull', externalId: 'ext', sessionTags: { team: 'payments' }, durationSeconds: SESSION_SECONDS, registry: { account: '111111111111', region: 'eu-west-1' } });
  const stored = await store.read('shop', 'ecr-pull-111111111111-eu-west-1');
  t.same(testSealer.originOf(stored!), { tenant: 'payments', credential: credentialDigest(first!) }, 'sealed with the digest of the credential the token was minted with');
});

t.test('tokenRequest puts a credential together from tenant, grant, registry and session duration', async (t) => {
  const registry = { account: '111111111111', region: 'eu-west-1', host: 'ignored' };
  t.same(tokenRequest(tenant, 'arn:aws:iam::111111111111:role/pull', registry, 900), { tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/pull', externalId: 'ext', sessionTags: { team: 'payments' }, durationSeconds: 900, registry: { account: '111111111111', region: 'eu-west-1' } });
  t.not(credentialDigest(tokenRequest(tenant, 'r', registry, 900)), credentialDigest(tokenRequest(tenant, 'r', registry, 3600)), 'another session duration is another credential');
});

t.test('a Secret sealed for a credential of another session duration is rewritten', async (t) => {
  const { store, provisioner, requests } = setup(lasting);
  const n = need('111111111111');
  const other = credentialDigest(tokenRequest(tenant, n.roleArn, n, 900));
  await store.create(buildPullSecret({ name: n.name, namespace: 'shop', tenant: 'payments', credential: other, hosts: n.hosts }, await lasting(), testSealer));
  const result = await provisioner.provision('shop', tenant, [n]);
  t.same(Object.fromEntries(result.outcomes), { [n.name]: 'updated' });
  t.equal(requests.length, 1);
  t.equal(testSealer.originOf((await store.read('shop', n.name))!)?.credential, credentialDigest(tokenRequest(tenant, n.roleArn, n, SESSION_SECONDS)));
});

t.test('ready() is true by default and otherwise follows the option', async (t) => {
  t.equal(setup(lasting).provisioner.ready(), true);
  let loaded = false;
  const { provisioner } = setup(lasting, 1000, { ready: () => loaded });
  t.equal(provisioner.ready(), false);
  loaded = true;
  t.equal(provisioner.ready(), true);
  t.equal(setup(lasting, 1000, { ready: undefined }).provisioner.ready(), true);
});

t.test('a fresh Secret costs no token and no write', async (t) => {
  const { store, provisioner, requests } = setup(lasting);
  const n = need('111111111111');
  const credential = credentialDigest(tokenRequest(tenant, n.roleArn, n, SESSION_SECONDS));
  await store.create(buildPullSecret({ name: n.name, namespace: 'shop', tenant: 'payments', credential, hosts: n.hosts }, await lasting(), testSealer));
  const result = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.same(Object.fromEntries(result.outcomes), { 'ecr-pull-111111111111-eu-west-1': 'kept' });
  t.equal(requests.length, 0);
});

t.test('a fresh Secret the store already holds is kept without a read; a store that cannot say at once is read', async (t) => {
  const store = new InMemorySecretStore();
  const n = need('111111111111');
  const credential = credentialDigest(tokenRequest(tenant, n.roleArn, n, SESSION_SECONDS));
  await store.create(buildPullSecret({ name: n.name, namespace: 'shop', tenant: 'payments', credential, hosts: n.hosts }, await lasting(), testSealer));
  let reads = 0;
  const reading = { read: (namespace: string, name: string) => (reads++, store.read(namespace, name)), create: store.create.bind(store), replace: store.replace.bind(store) };
  const options = { tokens: { get: lasting }, freshForMs: HOUR, deadlineMs: 1000, sessionSeconds: SESSION_SECONDS, now: () => NOW };
  const holding = new PullSecretProvisioner({ ...options, writer: new PullSecretWriter({ ...reading, cached: store.cached.bind(store) }, () => testSealer) });
  t.same(Object.fromEntries((await holding.provision('shop', tenant, [n])).outcomes), { [n.name]: 'kept' });
  t.equal(reads, 0, 'kept from what the store holds');
  const asking = new PullSecretProvisioner({ ...options, writer: new PullSecretWriter(reading, () => testSealer) });
  t.same(Object.fromEntries((await asking.provision('shop', tenant, [n])).outcomes), { [n.name]: 'kept' });
  t.equal(reads, 1, 'read when the store cannot say at once');
  const stale = new PullSecretProvisioner({ ...options, freshForMs: 24 * HOUR, writer: new PullSecretWriter({ ...reading, cached: store.cached.bind(store) }, () => testSealer) });
  t.same(Object.fromEntries((await stale.provision('shop', tenant, [n])).outcomes), { [n.name]: 'kept' }, 'no better token was to be had');
  t.equal(reads, 2, 'a held Secret expiring too soon goes the whole way: read, and a token asked for');
});

t.test('an AWS failure is reported with tenant, role and AWS error code', async (t) => {
  const { provisioner } = setup(async (request) => Promise.reject(new CredentialError('AssumeRole', request.roleArn, 'AccessDenied', 'not authorized to perform sts:AssumeRole')));
  const result = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.same(result.failures, [{ secret: 'ecr-pull-111111111111-eu-west-1', code: 'AccessDenied', message: 'no ECR credentials for tenant "payments" with role arn:aws:iam::111111111111:role/pull (AccessDenied): AssumeRole for role arn:aws:iam::111111111111:role/pull failed: AccessDenied: not authorized to perform sts:AssumeRole' }]);
});

t.test('provisioning that outlives its deadline is reported as a Timeout', async (t) => {
  const { provisioner } = setup(() => new Promise(() => undefined), 50);
  const started = Date.now();
  const result = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.match(result.failures, [{ code: 'Timeout', message: /pull secret took longer than 50 ms/ }]);
  t.ok(Date.now() - started < 500);
});

t.test('what is left of the admission’s budget shortens the deadline, and the message says the budget ran out', async (t) => {
  const { provisioner } = setup(() => new Promise(() => undefined), 5000);
  const started = Date.now();
  const result = await provisioner.provision('shop', tenant, [need('111111111111')], new Budget(60));
  t.match(result.failures, [{ code: 'Timeout', message: /pull secret did not finish within the 60 ms one admission may wait/ }]);
  t.ok(Date.now() - started < 1000, 'not the 5 s credential deadline');
});

t.test('a write that never answers holds later admissions for that Secret only until the deadline, not until it answers', async (t) => {
  const { provisioner, store } = setup(lasting, 50);
  const create = store.create.bind(store);
  let creates = 0;
  store.create = (secret) => (++creates === 1 ? new Promise(() => undefined) : create(secret));
  const first = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.match(first.failures, [{ code: 'Timeout' }], 'the admission during the hang times out');
  const later = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.same(later.failures, [], 'the next admission writes the Secret instead of joining the hung write');
  t.equal(creates, 2);
});

t.test('a failure that is not AWS’s (the API server refusing a write) is named as such', async (t) => {
  const { provisioner, store } = setup(lasting);
  store.create = async () => Promise.reject(new Error('creating Secret shop/x failed: HTTP 403 from the API server'));
  const result = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.match(result.failures, [{ code: 'KubernetesError', message: /HTTP 403 from the API server/ }]);
});

t.test('a thousand pods admitted at once for one namespace share one read, one token and one write', async (t) => {
  const { store, provisioner, requests } = setup(lasting);
  const calls = { read: 0, create: 0 };
  const read = store.read.bind(store);
  const create = store.create.bind(store);
  store.read = (namespace: string, name: string) => (calls.read++, read(namespace, name));
  store.create = (secret) => (calls.create++, create(secret));
  const results = await Promise.all(Array.from({ length: 1000 }, () => provisioner.provision('shop', tenant, [need('111111111111')])));
  t.ok(results.every((r) => r.failures.length === 0 && r.outcomes.get('ecr-pull-111111111111-eu-west-1') === 'created'));
  t.same({ tokens: requests.length, ...calls }, { tokens: 1, read: 1, create: 1 });
  await Promise.all([provisioner.provision('shop', tenant, [need('111111111111')]), provisioner.provision('other', tenant, [need('111111111111')])]);
  t.same({ tokens: requests.length, ...calls }, { tokens: 2, read: 2, create: 2 }, 'once settled the next admission finds the Secret held (no read), and another namespace is never joined');
});
