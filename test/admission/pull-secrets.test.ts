import { readFileSync } from 'node:fs';
import t from 'tap';
import type { PullSecretProvisioning } from '../../src/admission/mutate-handler.ts';
import type { Budget } from '../../src/deadline.ts';
import type { ProvisionResult } from '../../src/credentials/pull-secret-provisioner.ts';
import type { CompiledTenant } from '../../src/policy/compile.ts';
import type { PullSecretNeed } from '../../src/policy/decide.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { InMemoryNamespaceDirectory, type NamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { onePod, podReview, TEST_POLICY_PATH, testApp } from './harness.ts';
import { NAMESPACES } from './namespaces.ts';

/** Pull Secrets at admission: written before an enforced admission is answered, and onCredentialError on failure. */
const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1.2';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/x:1';

function review(namespace: string, image: string, extra: Record<string, unknown> = {}) {
  return podReview(namespace, onePod(image), extra);
}

function recording(result: ProvisionResult, ready = () => true) {
  const calls: { namespace: string; tenant: string; needs: readonly PullSecretNeed[]; withinMs: number }[] = [];
  const provisioning: PullSecretProvisioning = {
    ready,
    provision: async (namespace: string, tenant: CompiledTenant, needs: readonly PullSecretNeed[], budget: Budget) => (calls.push({ namespace, tenant: tenant.name, needs, withinMs: budget.remainingMs() }), result),
  };
  return { calls, provisioning };
}

const OK: ProvisionResult = { outcomes: new Map([['ecr-pull-111111111111-eu-west-1', 'created']]), failures: [] };
const FAILED: ProvisionResult = {
  outcomes: new Map(),
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

/** The harness's namespaces, each answered only after `delayMs`: a namespace-cache miss on a slow API server. */
function slowNamespaces(delayMs: number): NamespaceDirectory {
  const directory = new InMemoryNamespaceDirectory(NAMESPACES);
  const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), delayMs));
  return { labelsOf: async (ns) => later(await directory.labelsOf(ns)), fresh: (ns) => directory.fresh(ns), ready: () => true, snapshot: () => directory.snapshot() };
}

t.test('the namespace lookup and the pull secrets share one budget: what the lookup spent, the pull secrets do not get', async (t) => {
  const { provisioning, calls } = recording(OK);
  const { app } = testApp({ admissionDeadlineMs: 1000 }, slowNamespaces(300), { pullSecrets: provisioning });
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review('shop', SOURCE) });
  t.equal(res.json().response.allowed, true);
  const withinMs = calls[0]?.withinMs ?? Number.NaN;
  t.ok(withinMs <= 700 && withinMs > 300, `the pull secrets got ${withinMs} ms of the 1000 ms budget after a 300 ms lookup`);
});

t.test('a lookup that outlasts the budget is refused with the webhook’s own message, and no pull secret is tried', async (t) => {
  const { provisioning, calls } = recording(OK);
  const { app } = testApp({ admissionDeadlineMs: 100 }, slowNamespaces(400), { pullSecrets: provisioning });
  const started = performance.now();
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review('shop', SOURCE) });
  const response = res.json().response;
  t.ok(performance.now() - started < 350, 'answered at the end of the budget, not when the lookup finished');
  t.equal(response.allowed, false);
  t.equal(response.status.code, 503);
  t.equal(response.status.message, 'cannot read the labels of namespace "shop": reading namespace shop did not finish within the 100 ms one admission may wait');
  t.same(calls, []);
});

t.test('a workload’s template is let through with a warning when its namespace lookup outlasts the deadline', async (t) => {
  const { app } = testApp({ admissionDeadlineMs: 50 }, slowNamespaces(300));
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'shop' }, spec: { template: { spec: { containers: [{ name: 'app', image: UNGRANTED }] } } } };
  const body = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'w-1', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, operation: 'CREATE', namespace: 'shop', name: 'api', object: deployment, userInfo: { username: 'dev', groups: [] } } };
  const res = await app.inject({ method: 'POST', url: '/validate/workloads', payload: body });
  const response = res.json().response;
  t.equal(response.allowed, true);
  t.same(response.warnings, ['template not checked (namespace labels unavailable); its pods are checked when created']);
});
