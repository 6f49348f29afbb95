import t from 'tap';
import { buildPullSecret } from '../../src/credentials/pull-secret.ts';
import { PullSecretProvisioner } from '../../src/credentials/pull-secret-provisioner.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { CredentialError, type RegistryToken, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import type { CompiledTenant } from '../../src/policy/compile.ts';
import type { PullSecretNeed } from '../../src/policy/decide.ts';

const NOW = Date.parse('2026-11-23T00:00:00Z');
const HOUR = 3600_000;
const tenant = { name: 'payments', externalId: 'ext', sessionTags: { team: 'payments' } } as unknown as CompiledTenant;
const need = (account: string): PullSecretNeed => ({ name: `ecr-pull-${account}-eu-west-1`, account, region: 'eu-west-1', hosts: [`${account}.dkr.ecr.eu-west-1.amazonaws.com`], roleArn: `arn:aws:iam::${account}:role/pull` });

function setup(get: (request: TokenRequest) => Promise<RegistryToken>, deadlineMs = 1000) {
  const store = new InMemorySecretStore();
  const requests: TokenRequest[] = [];
  const provisioner = new PullSecretProvisioner({
    writer: new PullSecretWriter(store),
    tokens: { get: (request) => (requests.push(request), get(request)) },
    freshForMs: HOUR,
    deadlineMs,
    now: () => NOW,
  });
  return { store, provisioner, requests };
}
const lasting = async (): Promise<RegistryToken> => ({ username: 'AWS', password: 'pw', expiresAt: new Date(NOW + 12 * HOUR) });

t.test('every needed Secret is written, each from a token asked for with the tenant’s role, external id and tags', async (t) => {
  const { store, provisioner, requests } = setup(lasting);
  const result = await provisioner.provision('shop', tenant, [need('111111111111'), need('222222222222')]);
  t.same(result, { outcomes: { 'ecr-pull-111111111111-eu-west-1': 'created', 'ecr-pull-222222222222-eu-west-1': 'created' }, failures: [] });
  t.equal(store.secrets.size, 2);
  t.match(requests[0], { tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/pull', externalId: 'ext', sessionTags: { team: 'payments' }, registry: { account: '111111111111', region: 'eu-west-1' } });
});

t.test('a fresh Secret costs no token and no write', async (t) => {
  const { store, provisioner, requests } = setup(lasting);
  await store.create(buildPullSecret({ name: need('111111111111').name, namespace: 'shop', tenant: 'payments', hosts: need('111111111111').hosts }, await lasting()));
  const result = await provisioner.provision('shop', tenant, [need('111111111111')]);
  t.same(result.outcomes, { 'ecr-pull-111111111111-eu-west-1': 'kept' });
  t.equal(requests.length, 0);
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
  t.ok(results.every((r) => r.failures.length === 0 && r.outcomes['ecr-pull-111111111111-eu-west-1'] === 'created'));
  t.same({ tokens: requests.length, ...calls }, { tokens: 1, read: 1, create: 1 });
  await Promise.all([provisioner.provision('shop', tenant, [need('111111111111')]), provisioner.provision('other', tenant, [need('111111111111')])]);
  t.same({ tokens: requests.length, ...calls }, { tokens: 2, read: 3, create: 2 }, 'once settled the next admission reads again, and another namespace is never joined');
});
