import t from 'tap';
import { MODE_LABEL, TENANT_LABEL } from '../../src/labels.ts';
import { seriesValue } from '../support/metric-values.ts';
import { testApp } from './harness.ts';

/** POST /validate/namespaces: only the policy's labelAdmins may add, change or remove the tenant and mode labels. */
const ADMIN = { username: 'platform-admin', groups: ['system:authenticated'] };
const TENANT_ADMIN = { username: 'tenant-admin', groups: ['system:authenticated'] };
const GITOPS = { username: 'system:serviceaccount:argocd:argocd-application-controller', groups: ['system:serviceaccounts'] };

function namespace(labels: Record<string, unknown> | undefined, name = 'shop') {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labels === undefined ? {} : { labels }) } };
}

function review(request: Record<string, unknown>) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'ns-1', kind: { group: '', version: 'v1', kind: 'Namespace' }, operation: 'UPDATE', name: 'shop', userInfo: TENANT_ADMIN, ...request },
  };
}

async function guard(body: unknown) {
  const { app, logs, metrics } = testApp();
  const res = await app.inject({ method: 'POST', url: '/validate/namespaces', payload: body as object });
  return { status: res.statusCode, body: res.json(), logs, metrics };
}

const cases = [
  {
    name: 'a tenant admin adding the tenant label to a namespace is refused, naming who may',
    request: { object: namespace({ [TENANT_LABEL]: 'payments' }), oldObject: namespace({}) },
    allowed: false,
    message: /^"tenant-admin" may not add ecr-tenant-webhook.io\/tenant="payments" on namespace "shop": only the policy's spec.labelAdmins may set .*\(users: platform-admin; groups: system:masters, platform-team; serviceAccounts: argocd\/argocd-application-controller\)$/,
  },
  {
    name: 'a tenant admin switching their namespace to dry-run is refused',
    request: { object: namespace({ [TENANT_LABEL]: 'payments', [MODE_LABEL]: 'dry-run' }), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) },
    allowed: false,
    message: /may not add ecr-tenant-webhook.io\/mode="dry-run"/,
  },
  {
    name: 'a tenant admin removing the tenant label (to escape the policy) is refused',
    request: { object: namespace({}), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) },
    allowed: false,
    message: /may not remove ecr-tenant-webhook.io\/tenant \(was "payments"\)/,
  },
  {
    name: 'a tenant admin creating a namespace already labelled for a tenant is refused',
    request: { operation: 'CREATE', object: namespace({ [TENANT_LABEL]: 'payments' }), oldObject: null },
    allowed: false,
    message: /may not add ecr-tenant-webhook.io\/tenant="payments"/,
  },
  {
    name: 'a tenant admin changing other labels of a tenant namespace is allowed',
    request: { object: namespace({ [TENANT_LABEL]: 'payments', team: 'b' }), oldObject: namespace({ [TENANT_LABEL]: 'payments', team: 'a' }) },
    allowed: true,
  },
  { name: 'a listed user may onboard a namespace', request: { userInfo: ADMIN, object: namespace({ [TENANT_LABEL]: 'payments' }), oldObject: namespace(undefined) }, allowed: true },
  {
    name: 'a member of system:masters may change the tenant',
    request: { userInfo: { username: 'kubernetes-admin', groups: ['system:masters'] }, object: namespace({ [TENANT_LABEL]: 'analytics' }), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) },
    allowed: true,
  },
  { name: 'the listed GitOps controller service account may onboard a namespace', request: { userInfo: GITOPS, operation: 'CREATE', object: namespace({ [TENANT_LABEL]: 'payments' }) }, allowed: true },
  { name: 'a namespace delete is not judged', request: { operation: 'DELETE', object: null, oldObject: namespace({ [TENANT_LABEL]: 'payments' }) }, allowed: true },
  {
    name: 'a tenant label removed through the status subresource is refused like any other way',
    request: { subResource: 'status', object: namespace({}), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) },
    allowed: false,
    message: /may not remove ecr-tenant-webhook.io\/tenant \(was "payments"\)/,
  },
  {
    name: 'a tenant label changed through the finalize subresource is refused',
    request: { subResource: 'finalize', object: namespace({ [TENANT_LABEL]: 'beta' }), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) },
    allowed: false,
    message: /may not change ecr-tenant-webhook.io\/tenant from "payments" to "beta"/,
  },
  { name: 'a status update that leaves the guarded labels alone is allowed', request: { subResource: 'status', object: namespace({ [TENANT_LABEL]: 'payments' }), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) }, allowed: true },
  { name: 'a listed user may relabel through the status subresource', request: { userInfo: ADMIN, subResource: 'status', object: namespace({ [TENANT_LABEL]: 'beta' }), oldObject: namespace({ [TENANT_LABEL]: 'payments' }) }, allowed: true },
  {
    name: 'a request routed here for another kind is refused with a hint to check the rules',
    request: { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: {} },
    allowed: false,
    message: /guards core\/v1 Namespaces only, not apps\/v1 Deployment; check the webhook's rules/,
  },
  {
    name: 'a label value that is not a string is refused, naming the label',
    request: { object: namespace({ [TENANT_LABEL]: 7 }), oldObject: namespace({}) },
    allowed: false,
    message: /^object.metadata.labels\["ecr-tenant-webhook.io\/tenant"\]: must be a string$/,
  },
  { name: 'a namespace object without metadata has no labels to guard', request: { object: { kind: 'Namespace', metadata: null }, oldObject: null }, allowed: true },
  {
    name: 'a core kind other than Namespace is refused too',
    request: { kind: { group: '', version: 'v1', kind: 'Pod' }, object: {} },
    allowed: false,
    message: /not core\/v1 Pod/,
  },
  { name: 'labels that are not a map are refused', request: { object: namespace({}), oldObject: { metadata: { labels: [] } } }, allowed: false, message: /^oldObject.metadata.labels: must be a map$/ },
  { name: 'metadata that is not a map is refused', request: { object: { metadata: 'x' }, oldObject: namespace({}) }, allowed: false, message: /^object.metadata: must be a map$/ },
  {
    name: 'a guarded change without userInfo is refused, because who asks is unknown',
    request: { userInfo: undefined, name: '', object: namespace({ [TENANT_LABEL]: 'payments' }, 'lab'), oldObject: namespace({}) },
    allowed: false,
    message: /^request.userInfo is missing, so who changes the labels of namespace "lab" is unknown$/,
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { status, body } = await guard(review(c.request));
    t.equal(status, 200);
    t.equal(body.response.uid, 'ns-1');
    t.equal(body.response.allowed, c.allowed);
    if (c.message !== undefined) t.match(body.response.status.message, c.message);
  });
}

t.test('onboarding to a tenant the policy does not name, or with a mode that is no mode, is allowed with warnings', async (t) => {
  const { body } = await guard(review({ userInfo: ADMIN, object: namespace({ [TENANT_LABEL]: 'ghost', [MODE_LABEL]: 'audit' }), oldObject: namespace({}) }));
  t.equal(body.response.allowed, true);
  t.same(body.response.warnings, ['tenant "ghost" is not in the policy: pods in this namespace will be denied', `${MODE_LABEL}="audit" is not enforce or dry-run: pods will be enforced`]);
});

t.test('every guarded change is logged with who made it and the verdict, and counted', async (t) => {
  const { logs, metrics } = await guard(review({ object: namespace({ [TENANT_LABEL]: 'payments' }), oldObject: namespace({}) }));
  t.match(logs.find((l) => l.msg === 'namespace label decision'), { uid: 'ns-1', namespace: 'shop', user: 'tenant-admin', changes: [`add ${TENANT_LABEL}="payments"`], decision: 'deny' });
  t.equal(await seriesValue(metrics.decisions, { resource: 'namespaces', decision: 'deny', tenant: '', mode: '' }), 1, 'the refused tenant label is not the namespace\'s tenant');
});

t.test('a body that is not an AdmissionReview is a 400 naming the problem', async (t) => {
  const { status, body } = await guard({ kind: 'Namespace' });
  t.equal(status, 400);
  t.match(body.message, 'invalid AdmissionReview: kind must be "AdmissionReview"');
});
