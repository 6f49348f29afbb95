import t from 'tap';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { TENANT_LABEL } from '../../src/labels.ts';
import { seriesValue } from '../support/metric-values.ts';
import { testApp } from './harness.ts';

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop' }, spec: { containers: [{ name: 'a', image: 'nginx' }] } };
const podKind = { group: '', version: 'v1', kind: 'Pod' };
function review(request: Record<string, unknown>, envelope: Record<string, unknown> = {}) {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', kind: podKind, operation: 'CREATE', namespace: 'shop', object: pod, ...request }, ...envelope };
}

const badBodies: { name: string; payload: string; contentType?: string; message: RegExp }[] = [
  { name: 'a body that is not JSON is a bad request', payload: '{"apiVersion":', message: /not valid JSON/ },
  { name: 'an empty body is a bad request', payload: '', message: /empty/ },
  { name: 'a body of another content type is a bad request', payload: 'apiVersion: v1', contentType: 'application/yaml', message: /content-type must be application\/json/ },
  { name: 'a JSON array is not an AdmissionReview', payload: '[]', message: /must be a JSON object/ },
  { name: 'a v1beta1 review is refused with a hint to register v1', payload: JSON.stringify(review({}, { apiVersion: 'admission.k8s.io/v1beta1' })), message: /admissionReviewVersions: \[v1\]/ },
  { name: 'a body of another kind is refused', payload: JSON.stringify(review({}, { kind: 'TokenReview' })), message: /kind must be "AdmissionReview", not "TokenReview"/ },
  { name: 'a review without a request is refused', payload: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), message: /request is missing/ },
  { name: 'a review without a uid is refused', payload: JSON.stringify(review({ uid: undefined })), message: /request\.uid must be a non-empty string/ },
  { name: 'a review with a 300-character uid is refused', payload: JSON.stringify(review({ uid: 'u'.repeat(300) })), message: /longer than 256/ },
  { name: 'a review without request.kind is refused', payload: JSON.stringify(review({ kind: 'Pod' })), message: /request\.kind must be an object/ },
  { name: 'a review with an unknown operation is refused', payload: JSON.stringify(review({ operation: 'PATCH' })), message: /request\.operation must be/ },
  { name: 'a review whose namespace is not a string is refused', payload: JSON.stringify(review({ namespace: 7 })), message: /must be strings when set/ },
  { name: 'a review whose dryRun is not a boolean is refused', payload: JSON.stringify(review({ dryRun: 'yes' })), message: /dryRun must be a boolean/ },
  { name: 'a body with a __proto__ key is refused', payload: '{"__proto__":{"polluted":true},"kind":"AdmissionReview"}', message: /not valid JSON/ },
];

for (const c of badBodies) {
  t.test(c.name, async (t) => {
    const { app } = testApp();
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: c.payload, headers: { 'content-type': c.contentType ?? 'application/json' } });
    t.equal(res.statusCode, 400);
    t.match(res.json(), { kind: 'Status', status: 'Failure', code: 400, reason: 'BadRequest' });
    t.match(res.json().message, c.message);
    t.notMatch(res.body, /at .*\.ts:\d+/, 'no stack trace reaches the caller');
  });
}

t.test('a body over the size limit is a bad request naming the limit', async (t) => {
  const { app } = testApp({ bodyLimitBytes: 2048 });
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review({ object: { ...pod, metadata: { name: 'x'.repeat(4096) } } }) });
  t.equal(res.statusCode, 400);
  t.match(res.json().message, /larger than the 2048-byte limit/);
});

const refusals: { name: string; request: Record<string, unknown>; code: number; message: RegExp }[] = [
  { name: 'a pod whose containers are not a list is refused with the path', request: { object: { ...pod, spec: { containers: 'nginx' } } }, code: 400, message: /pod spec\.containers: must be a list/ },
  { name: 'a pod without a spec is refused', request: { object: { kind: 'Pod' } }, code: 400, message: /pod spec: is missing/ },
  { name: 'an update whose old object is malformed is refused', request: { operation: 'UPDATE', oldObject: { spec: { containers: [1] } } }, code: 400, message: /oldObject spec\.containers\[0\]: must be a map/ },
  { name: 'a pod review without a namespace is refused', request: { namespace: undefined }, code: 400, message: /request\.namespace is empty/ },
];

for (const c of refusals) {
  t.test(c.name, async (t) => {
    const { app } = testApp();
    const res = await app.inject({ method: 'POST', url: '/mutate', payload: review(c.request) });
    t.equal(res.statusCode, 200);
    t.match(res.json().response, { uid: 'u1', allowed: false, status: { code: c.code } });
    t.match(res.json().response.status.message, c.message);
  });
}

t.test('a pod subresource other than ephemeralcontainers is let through untouched', async (t) => {
  const { app } = testApp();
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review({ operation: 'UPDATE', subResource: 'status', oldObject: pod }) });
  t.same(res.json().response, { uid: 'u1', allowed: true });
});

t.test('when namespace labels cannot be read the pod is refused with code 503, never admitted unjudged', async (t) => {
  const failing = new InMemoryNamespaceDirectory();
  failing.labelsOf = async () => {
    throw new Error('watch cache not synced');
  };
  const { app, logs } = testApp({}, failing);
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review({}) });
  t.match(res.json().response, { allowed: false, status: { code: 503, message: /cannot read the labels of namespace "shop": watch cache not synced/ } });
  t.ok(logs.some((l) => l.msg === 'namespace labels unavailable'), 'the failure is logged');
});

t.test('a namespace that is not in the directory is treated as unlabelled', async (t) => {
  const { app } = testApp({}, new InMemoryNamespaceDirectory({ other: { [TENANT_LABEL]: 'payments' } }));
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review({}) });
  t.same(res.json().response, { uid: 'u1', allowed: true });
});

t.test('each decision is logged once at info with uid, namespace, tenant and decision', async (t) => {
  const { app, logs } = testApp();
  await app.inject({ method: 'POST', url: '/mutate', payload: review({ object: { ...pod, metadata: { generateName: 'web-' } } }) });
  const decisions = logs.filter((l) => l.msg === 'admission decision');
  t.equal(decisions.length, 1);
  t.match(decisions[0], { level: 30, uid: 'u1', namespace: 'shop', tenant: 'payments', decision: 'allow', mode: 'enforce', pod: 'web-*', operation: 'CREATE' });
  t.equal(logs.length, 1, 'no per-request lines besides the decision');
});

t.test('health and readiness answer, unknown routes are a 404 Status', async (t) => {
  const { app, namespaces } = testApp();
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
  namespaces.ready = () => false;
  const notReady = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(notReady.statusCode, 503);
  t.match(notReady.json(), { status: /waiting for the namespace directory/ });
  const missing = await app.inject({ method: 'GET', url: '/nope' });
  t.equal(missing.statusCode, 404);
  t.match(missing.json(), { kind: 'Status', code: 404, message: 'no route GET /nope' });
});

t.test('once shutdown begins readiness fails while health and admission still answer', async (t) => {
  const { app, lifecycle } = testApp();
  lifecycle.draining = true;
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json(), { status: 'shutting down' });
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

t.test('admission latency is recorded whatever the query string the API server adds, and health checks are not admissions', async (t) => {
  const { app, metrics } = testApp();
  await app.inject({ method: 'POST', url: '/mutate?timeout=5s', payload: '{', headers: { 'content-type': 'application/json' } });
  await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(await seriesValue(metrics.admissionSeconds, { resource: 'pods', operation: 'unknown', decision: 'invalid' }, 'count'), 1);
  const series = (await metrics.admissionSeconds.get()).values.filter((v) => v.metricName?.endsWith('_count'));
  t.equal(series.length, 1, 'health checks are not admissions');
});

t.test('a failure inside the handler is a 500 Status without internals, and is logged', async (t) => {
  const broken = new InMemoryNamespaceDirectory();
  const { app, logs } = testApp({}, broken);
  app.get('/explode', async () => {
    throw new Error('secret internal detail');
  });
  const res = await app.inject({ method: 'GET', url: '/explode' });
  t.equal(res.statusCode, 500);
  t.match(res.json(), { kind: 'Status', code: 500, message: /internal error in ecr-tenant-webhook/ });
  t.notMatch(res.body, /secret internal detail/);
  t.ok(logs.some((l) => l.msg === 'request failed' && l.level === 50));
});

t.test('a denial message lists the first ten reasons and counts the rest', async (t) => {
  const { app } = testApp();
  const containers = Array.from({ length: 12 }, (_, i) => ({ name: `c${i}`, image: `111111111111.dkr.ecr.eu-west-1.amazonaws.com/other/x${i}:1` }));
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review({ object: { ...pod, spec: { containers } } }) });
  const { message } = res.json().response.status;
  t.match(message, /container "c9"/);
  t.notMatch(message, /container "c10"/);
  t.match(message, /; and 2 more$/);
});

t.test('the logged pod name falls back to metadata.name when the request has none', async (t) => {
  const { app, logs } = testApp();
  await app.inject({ method: 'POST', url: '/mutate', payload: review({ name: undefined }) });
  t.match(logs.find((l) => l.msg === 'admission decision'), { pod: 'p' });
});

t.test('a core kind other than Pod is named as core in the refusal', async (t) => {
  const { app } = testApp();
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review({ kind: { group: '', version: 'v1', kind: 'Secret' } }) });
  t.match(res.json().response, { allowed: false, status: { code: 400, message: /not core\/v1 Secret/ } });
});
