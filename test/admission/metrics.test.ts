import t from 'tap';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { TENANT_LABEL } from '../../src/labels.ts';
import type { PolicySource } from '../../src/policy/policy-source.ts';
import { seriesValue, seriesValues } from '../support/metric-values.ts';
import { onePod, podReview, testApp } from './harness.ts';
import { NAMESPACES } from './namespaces.ts';

/** The admission metrics: decisions by tenant and mode, and latency by operation and decision, per endpoint. */
const GRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/x:1';
const ADMIN = { username: 'platform-admin', groups: ['system:authenticated'] };
const TENANT_ADMIN = { username: 'tenant-admin', groups: ['system:authenticated'] };

function envelope(request: Record<string, unknown>) {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'm-1', operation: 'CREATE', ...request } };
}

function podObject(namespace: string, image: string) {
  return onePod(image, { name: 'p', namespace });
}

function pod(namespace: string, image: string, extra: Record<string, unknown> = {}) {
  return podReview(namespace, podObject(namespace, image), extra);
}

function deployment(namespace: string, image: string) {
  const object = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: { spec: { containers: [{ name: 'app', image }] } } } };
  return envelope({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace, name: 'web', object });
}

function namespaceChange(before: Record<string, string>, after: Record<string, string>, userInfo: object) {
  const object = (labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels } });
  return envelope({ kind: { group: '', version: 'v1', kind: 'Namespace' }, operation: 'UPDATE', name: 'shop', userInfo, object: object(after), oldObject: object(before) });
}

const unreadable = () => {
  const directory = new InMemoryNamespaceDirectory(NAMESPACES);
  // Not in the cache, and reading it fails.
  directory.cached = () => undefined;
  directory.labelsOf = async () => Promise.reject(new Error('watch cache not synced'));
  return directory;
};

const decisions = [
  { name: 'a granted pod in an enforcing tenant namespace', url: '/mutate', body: pod('shop', GRANTED), labels: { resource: 'pods', decision: 'allow', tenant: 'payments', mode: 'enforce' } },
  { name: 'an ungranted pod in an enforcing tenant namespace', url: '/mutate', body: pod('shop', UNGRANTED), labels: { resource: 'pods', decision: 'deny', tenant: 'payments', mode: 'enforce' } },
  { name: 'an ungranted pod in a dry-run namespace', url: '/mutate', body: pod('shop-canary', UNGRANTED), labels: { resource: 'pods', decision: 'dry-run:would-deny', tenant: 'payments', mode: 'dry-run' } },
  { name: 'a pod in a namespace without a tenant', url: '/mutate', body: pod('plain', UNGRANTED), labels: { resource: 'pods', decision: 'untouched', tenant: '', mode: '' } },
  { name: 'a pod whose namespace labels cannot be read', url: '/mutate', body: pod('shop', GRANTED), namespaces: unreadable(), labels: { resource: 'pods', decision: 'unavailable', tenant: '', mode: '' } },
  { name: 'a body that is not an AdmissionReview', url: '/mutate', body: { kind: 'Pod' }, labels: { resource: 'pods', decision: 'invalid', tenant: '', mode: '' } },
  { name: 'an ungranted workload template', url: '/validate/workloads', body: deployment('shop', UNGRANTED), labels: { resource: 'workloads', decision: 'deny', tenant: 'payments', mode: 'enforce' } },
  { name: 'a granted workload template', url: '/validate/workloads', body: deployment('shop', GRANTED), labels: { resource: 'workloads', decision: 'allow', tenant: 'payments', mode: 'enforce' } },
  {
    name: 'a label admin moving a namespace to another tenant (the tenant after the change)',
    url: '/validate/namespaces',
    body: namespaceChange({ [TENANT_LABEL]: 'payments' }, { [TENANT_LABEL]: 'analytics' }, ADMIN),
    labels: { resource: 'namespaces', decision: 'allow', tenant: 'analytics', mode: '' },
  },
  {
    name: 'a tenant admin refused moving a namespace to another tenant (the tenant it keeps)',
    url: '/validate/namespaces',
    body: namespaceChange({ [TENANT_LABEL]: 'payments' }, { [TENANT_LABEL]: 'analytics' }, TENANT_ADMIN),
    labels: { resource: 'namespaces', decision: 'deny', tenant: 'payments', mode: '' },
  },
  {
    name: 'a change to other labels of a tenant namespace',
    url: '/validate/namespaces',
    body: namespaceChange({ [TENANT_LABEL]: 'payments', team: 'a' }, { [TENANT_LABEL]: 'payments', team: 'b' }, TENANT_ADMIN),
    labels: { resource: 'namespaces', decision: 'untouched', tenant: 'payments', mode: '' },
  },
  { name: 'a label change to a namespace without a tenant', url: '/validate/namespaces', body: namespaceChange({}, { team: 'b' }, TENANT_ADMIN), labels: { resource: 'namespaces', decision: 'untouched', tenant: '', mode: '' } },
];

for (const c of decisions) {
  t.test(`the decision on ${c.name} is counted once, by resource, decision, tenant and mode`, async (t) => {
    const { app, metrics } = testApp({}, c.namespaces);
    await app.inject({ method: 'POST', url: c.url, payload: c.body });
    const key = Object.entries(c.labels).map(([name, value]) => `${name}=${value}`).sort().join(',');
    t.same(await seriesValues(metrics.decisions), { [key]: 1 });
  });
}

const brokenPolicy: PolicySource = {
  current: () => {
    throw new Error('policy unreadable');
  },
};

const latencies = [
  { name: 'an admitted pod', url: '/mutate', payload: pod('shop', GRANTED), labels: { resource: 'pods', operation: 'CREATE', decision: 'allow' } },
  { name: 'a pod update in dry-run', url: '/mutate', payload: pod('shop-canary', UNGRANTED, { operation: 'UPDATE', oldObject: podObject('shop-canary', GRANTED) }), labels: { resource: 'pods', operation: 'UPDATE', decision: 'dry-run:would-deny' } },
  { name: 'a pod deletion', url: '/mutate', payload: pod('shop', GRANTED, { operation: 'DELETE' }), labels: { resource: 'pods', operation: 'DELETE', decision: 'untouched' } },
  { name: 'a workload exec (CONNECT)', url: '/validate/workloads', payload: envelope({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, operation: 'CONNECT', namespace: 'shop' }), labels: { resource: 'workloads', operation: 'CONNECT', decision: 'untouched' } },
  { name: 'a namespace relabel', url: '/validate/namespaces', payload: namespaceChange({}, { [TENANT_LABEL]: 'payments' }, TENANT_ADMIN), labels: { resource: 'namespaces', operation: 'UPDATE', decision: 'deny' } },
  { name: 'a readable body that is not an AdmissionReview', url: '/mutate', payload: { kind: 'Pod' }, labels: { resource: 'pods', operation: 'unknown', decision: 'invalid' } },
  { name: 'a body that is not JSON, refused before the handler', url: '/mutate', payload: '{"apiVersion":', labels: { resource: 'pods', operation: 'unknown', decision: 'invalid' } },
  { name: 'a body over the size limit, refused before the handler', url: '/validate/workloads', payload: { pad: 'x'.repeat(2048) }, labels: { resource: 'workloads', operation: 'unknown', decision: 'invalid' } },
  { name: 'a review the handler failed on (500)', url: '/validate/namespaces', payload: namespaceChange({}, { [TENANT_LABEL]: 'payments' }, ADMIN), policy: brokenPolicy, labels: { resource: 'namespaces', operation: 'unknown', decision: 'error' } },
];

for (const c of latencies) {
  t.test(`the time to answer ${c.name} is observed by resource, operation and decision`, async (t) => {
    const { app, metrics } = testApp({ bodyLimitBytes: 1024 }, undefined, c.policy === undefined ? {} : { policy: c.policy });
    await app.inject({ method: 'POST', url: c.url, payload: c.payload, headers: { 'content-type': 'application/json' } });
    t.equal(await seriesValue(metrics.admissionSeconds, c.labels, 'count'), 1);
    const observed = (await metrics.admissionSeconds.get()).values.filter((v) => v.metricName?.endsWith('_count'));
    t.equal(observed.length, 1, 'one series, holding the one request');
  });
}
