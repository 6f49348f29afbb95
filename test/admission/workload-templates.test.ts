import t from 'tap';
import type { NamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { seriesValue } from '../support/metric-values.ts';
import { testApp } from './harness.ts';

/** POST /validate/workloads: pod templates judged at apply time, never mutated. */
const GRANTED = '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1.2';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/x:1';
const TOOLS = '222222222222.dkr.ecr.us-west-2.amazonaws.com/tools/jq:1';

const KINDS = [
  { group: 'apps', kind: 'Deployment', wrap: (spec: object) => ({ spec: { template: { spec } } }), path: 'spec.template.spec' },
  { group: 'apps', kind: 'StatefulSet', wrap: (spec: object) => ({ spec: { template: { spec } } }), path: 'spec.template.spec' },
  { group: 'apps', kind: 'DaemonSet', wrap: (spec: object) => ({ spec: { template: { spec } } }), path: 'spec.template.spec' },
  { group: 'apps', kind: 'ReplicaSet', wrap: (spec: object) => ({ spec: { template: { spec } } }), path: 'spec.template.spec' },
  { group: 'batch', kind: 'Job', wrap: (spec: object) => ({ spec: { template: { spec } } }), path: 'spec.template.spec' },
  { group: 'batch', kind: 'CronJob', wrap: (spec: object) => ({ spec: { jobTemplate: { spec: { template: { spec } } } } }), path: 'spec.jobTemplate.spec.template.spec' },
];

function workload(kind: (typeof KINDS)[number], image: string, extra: Record<string, unknown> = {}) {
  const object = { apiVersion: `${kind.group}/v1`, kind: kind.kind, metadata: { name: 'web' }, ...kind.wrap({ containers: [{ name: 'app', image }] }) };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'w-1', kind: { group: kind.group, version: 'v1', kind: kind.kind }, operation: 'CREATE', namespace: 'shop', name: 'web', object, ...extra },
  };
}

async function validate(body: unknown, namespaces?: NamespaceDirectory) {
  const { app, logs, metrics } = testApp({}, namespaces);
  const res = await app.inject({ method: 'POST', url: '/validate/workloads', payload: body as object });
  return { status: res.statusCode, response: res.json().response, logs, metrics };
}

for (const kind of KINDS) {
  t.test(`a ${kind.kind} whose template names an ungranted image is refused at apply time with the pod's denial message`, async (t) => {
    const { response } = await validate(workload(kind, UNGRANTED));
    t.equal(response.allowed, false);
    t.equal(response.status.code, 403);
    t.match(response.status.message, `container "app" image "${UNGRANTED}" is not granted`);
    t.match(response.status.message, `(tenant "payments", namespace "shop")`);
  });
  t.test(`a ${kind.kind} whose template is granted is allowed and not mutated`, async (t) => {
    const { response } = await validate(workload(kind, GRANTED));
    t.same(response, { uid: 'w-1', allowed: true });
  });
}

t.test('a judged template is logged with its kind, name (from metadata when the request has none), tenant and verdict', async (t) => {
  const { logs } = await validate(workload(KINDS[5]!, UNGRANTED, { name: '' }));
  t.match(logs.find((l) => l.msg === 'workload template decision'), { uid: 'w-1', namespace: 'shop', kind: 'CronJob', name: 'web', tenant: 'payments', mode: 'enforce', decision: 'deny' });
});

t.test('in a dry-run namespace an ungranted template is allowed and the client gets the warnings', async (t) => {
  const { response } = await validate(workload(KINDS[0]!, UNGRANTED, { namespace: 'shop-canary' }));
  t.equal(response.allowed, true);
  t.same(response.warnings, ['dry-run: would deny: container "app": paymentsevil/x not granted']);
  t.equal(response.patch, undefined);
});

t.test('in an unlabelled namespace any template is allowed without a word', async (t) => {
  const { response, metrics } = await validate(workload(KINDS[0]!, UNGRANTED, { namespace: 'plain' }));
  t.same(response, { uid: 'w-1', allowed: true });
  t.equal(await seriesValue(metrics.decisions, { resource: 'workloads', decision: 'untouched', tenant: '', mode: '' }), 1);
});

t.test('an update that leaves the images alone is allowed even when the grant has gone, so finalizers can still be removed', async (t) => {
  const old = workload(KINDS[0]!, UNGRANTED).request.object;
  const { response } = await validate(workload(KINDS[0]!, UNGRANTED, { operation: 'UPDATE', oldObject: old }));
  t.equal(response.allowed, true);
});

t.test('an update to a template image that needs a new pull secret is allowed: its pods get the secret when created', async (t) => {
  const old = workload(KINDS[0]!, GRANTED).request.object;
  const { response } = await validate(workload(KINDS[0]!, TOOLS, { operation: 'UPDATE', oldObject: old }));
  t.same(response, { uid: 'w-1', allowed: true });
});

t.test('an update that brings in an ungranted image is refused', async (t) => {
  const old = workload(KINDS[0]!, GRANTED).request.object;
  const { response } = await validate(workload(KINDS[0]!, UNGRANTED, { operation: 'UPDATE', oldObject: old }));
  t.equal(response.allowed, false);
});

const untouched = [
  { name: 'a delete is not judged', extra: { operation: 'DELETE' } },
  { name: 'a scale subresource update is not judged', extra: { operation: 'UPDATE', subResource: 'scale', object: { kind: 'Scale' } } },
];
for (const c of untouched) {
  t.test(c.name, async (t) => t.same((await validate(workload(KINDS[0]!, UNGRANTED, c.extra))).response, { uid: 'w-1', allowed: true }));
}

const refused = [
  { name: 'a kind without a checked template is refused with a hint to check the rules', extra: { kind: { group: '', version: 'v1', kind: 'Pod' } }, message: /checks the pod templates of apps and batch workloads, not core\/v1 Pod/ },
  { name: 'a kind of the wrong group is refused', extra: { kind: { group: 'example.com', version: 'v1', kind: 'Deployment' } }, message: /not example.com\/v1 Deployment/ },
  { name: 'a workload without a namespace is refused', extra: { namespace: '' }, message: /^request.namespace is empty; a Deployment is namespaced$/ },
  { name: 'a template that is not a map is refused, naming the path', extra: { object: { kind: 'Deployment', spec: { template: { spec: 'x' } } } }, message: /^Deployment spec.template.spec: must be a map$/ },
  { name: 'a malformed old object on update is refused', extra: { operation: 'UPDATE', oldObject: { spec: [] } }, message: /^oldObject spec: must be a map$/ },
];
for (const c of refused) {
  t.test(c.name, async (t) => {
    const { response } = await validate(workload(KINDS[0]!, GRANTED, c.extra));
    t.equal(response.allowed, false);
    t.equal(response.status.code, 400);
    t.match(response.status.message, c.message);
  });
}

t.test('when namespace labels cannot be read the template is let through with a warning: its pods are still checked', async (t) => {
  const failing: NamespaceDirectory = { labelsOf: async () => Promise.reject(new Error('API server unreachable')), ready: () => true, snapshot: () => undefined, fresh: async () => Promise.reject(new Error('API server unreachable')) };
  const { response, logs } = await validate(workload(KINDS[0]!, UNGRANTED), failing);
  t.equal(response.allowed, true);
  t.same(response.warnings, ['template not checked (namespace labels unavailable); its pods are checked when created']);
  t.match(logs.find((l) => l.msg === 'namespace labels unavailable'), { err: 'API server unreachable' });
});

t.test('a body that is not an AdmissionReview is a 400', async (t) => {
  const { status } = await validate({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview' });
  t.equal(status, 400);
});
