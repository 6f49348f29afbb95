import { readFileSync } from 'node:fs';
import t from 'tap';
import type { PullSecretProvisioning } from '../../src/admission/mutate-handler.ts';
import type { ProvisionResult } from '../../src/credentials/pull-secret-provisioner.ts';
import type { CompiledTenant } from '../../src/policy/compile.ts';
import type { PullSecretNeed } from '../../src/policy/decide.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { onePod, podReview, TEST_POLICY_PATH, testApp } from './harness.ts';

/** Pull Secrets at admission: written before an enforced admission is answered, and onCredentialError on failure. */
const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1.2';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/x:1';

function review(namespace: string, image: string, extra: Record<string, unknown> = {}) {
  return podReview(namespace, onePod(image), extra);
}

function recording(result: ProvisionResult, ready = () => true) {
  const calls: { namespace: string; tenant: string; needs: readonly PullSecretNeed[] }[] = [];
  const provisioning: PullSecretProvisioning = {
    ready,
    provision: async (namespace: string, tenant: CompiledTenant, needs: readonly PullSecretNeed[]) => (calls.push({ namespace, tenant: tenant.name, needs }), result),
  };
  return { calls, provisioning };
}

const OK: ProvisionResult = { outcomes: { 'ecr-pull-111111111111-eu-west-1': 'created' }, failures: [] };
const FAILED: ProvisionResult = {
  outcomes: {},
  failures: [{ secret: 'ecr-pull-111111111111-eu-west-1', code: 'AccessDenied', message: 'no ECR credentials for tenant "payments" with role arn:aws:iam::111111111111:role/ecr-pull-payments (AccessDenied): AssumeRole failed' }],
};

async function admit(body: unknown, result: ProvisionResult, policyText?: string) {
  const { provisioning, calls } = recording(result);
  const extra = { pullSecrets: provisioning, ...(policyText === undefined ? {} : { policy: fixedPolicy(parsePolicy(policyText, 'policy.yaml')) }) };
  const { app } = testApp({}, undefined, extra);
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: body as object });
  return { response: res.json().response, calls };
}

t.test('an enforced admission writes the pod’s pull Secrets before answering, with the tenant and its needs', async (t) => {
  const { response, calls } = await admit(review('shop', SOURCE), OK);
  t.equal(response.allowed, true);
  t.ok(response.patch, 'the rewrite and the imagePullSecrets reference are still patched in');
  t.same(calls.map((c) => [c.namespace, c.tenant, c.needs.map((n) => n.name)]), [['shop', 'payments', ['ecr-pull-111111111111-eu-west-1']]]);
  t.same(calls[0]?.needs[0]?.hosts, ['111111111111.dkr.ecr.eu-west-1.amazonaws.com']);
});

const untouchedCases = [
  { name: 'a dryRun request writes no Secret (sideEffects: NoneOnDryRun)', body: review('shop', SOURCE, { dryRun: true }) },
  { name: 'a namespace in dry-run mode writes no Secret', body: review('shop-canary', SOURCE) },
  { name: 'a denied pod writes no Secret', body: review('shop', UNGRANTED) },
  { name: 'a pod in an unlabelled namespace writes no Secret', body: review('plain', SOURCE) },
  { name: 'a pod with only non-ECR images writes no Secret', body: review('shop', 'nginx:1.27') },
];

for (const c of untouchedCases) {
  t.test(c.name, async (t) => {
    const { calls } = await admit(c.body, OK);
    t.same(calls, []);
  });
}

t.test('with no working credential the pod is denied by default, the message naming tenant, role and AWS code', async (t) => {
  const { response } = await admit(review('shop', SOURCE), FAILED);
  t.equal(response.allowed, false);
  t.equal(response.status.code, 403);
  t.match(response.status.message, 'no ECR credentials for tenant "payments" with role arn:aws:iam::111111111111:role/ecr-pull-payments (AccessDenied)');
  t.equal(response.patch, undefined);
  t.equal(response.auditAnnotations.decision, 'deny');
});

t.test('with onCredentialError: allow the pod is admitted and patched, with a warning naming the Secret and the code', async (t) => {
  const lenient = readFileSync(TEST_POLICY_PATH, 'utf8').replace('    payments:\n', '    payments:\n      onCredentialError: allow\n');
  const { response } = await admit(review('shop', SOURCE), FAILED, lenient);
  t.equal(response.allowed, true);
  t.ok(response.patch);
  t.same(response.warnings, ['pull secret ecr-pull-111111111111-eu-west-1 not ready (AccessDenied); admitted by onCredentialError: allow']);
});

t.test('readiness waits for the provenance key: 503 until the provisioning can judge Secrets, then 200', async (t) => {
  let loaded = false;
  const { provisioning } = recording(OK, () => loaded);
  const { app } = testApp({}, undefined, { pullSecrets: provisioning });
  const waiting = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(waiting.statusCode, 503);
  t.same(waiting.json(), { status: 'waiting for the provenance key' });
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive meanwhile: nothing to restart');
  loaded = true;
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ready' });
});

t.test('the namespace directory is waited for first, and shutting down wins over both', async (t) => {
  const { provisioning } = recording(OK, () => false);
  const { app, namespaces, lifecycle } = testApp({}, undefined, { pullSecrets: provisioning });
  namespaces.ready = () => false;
  t.same((await app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'waiting for the namespace directory' });
  lifecycle.draining = true;
  t.same((await app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'shutting down' });
});

t.test('without pull secret provisioning (no AWS chain) readiness does not wait for a key', async (t) => {
  const { app } = testApp();
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
});
