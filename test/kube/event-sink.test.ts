import { ApiException, KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { eventBody, InMemoryEventSink, KubeEventSink, refusal } from '../../src/kube/event-sink.ts';

const event = {
  namespace: 'shop',
  regarding: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop', uid: 'uid-1' },
  reason: 'WouldDeny',
  message: 'dry-run: enforcement would deny this pod: image x is not granted',
  count: 3,
  firstSeen: new Date('2026-12-02T10:00:00Z'),
  lastSeen: new Date('2026-12-02T10:05:00Z'),
};

t.test('the Event is a Warning on the owner in its namespace, with the count and first and last times', async (t) => {
  t.same(eventBody(event, 'webhook-0'), {
    metadata: { generateName: 'api-7f9c.', namespace: 'shop' },
    involvedObject: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop', uid: 'uid-1' },
    reason: 'WouldDeny',
    message: event.message,
    type: 'Warning',
    count: 3,
    firstTimestamp: event.firstSeen,
    lastTimestamp: event.lastSeen,
    source: { component: 'ecr-tenant-webhook' },
    reportingComponent: 'ecr-tenant-webhook',
    reportingInstance: 'webhook-0',
  });
});

t.test('a long owner name and a long message are cut to what the API server takes', async (t) => {
  const body = eventBody({ ...event, regarding: { ...event.regarding, name: 'a'.repeat(253) }, message: 'm'.repeat(5000) }, 'webhook-0');
  t.equal(body.metadata?.generateName, `${'a'.repeat(200)}.`);
  t.equal(body.message?.length, 1024);
});

const refusals = [
  { name: 'a Status body gives its message with the HTTP code', error: new ApiException(404, 'not found', JSON.stringify({ kind: 'Status', message: 'namespaces "gone" not found' }), {}), want: 'HTTP 404: namespaces "gone" not found' },
  { name: 'a Status already parsed gives its message too', error: new ApiException(403, 'forbidden', { kind: 'Status', message: 'events is forbidden' }, {}), want: 'HTTP 403: events is forbidden' },
  { name: 'a body that is not JSON gives the HTTP code alone', error: new ApiException(502, 'bad gateway', '<html>bad gateway</html>', {}), want: 'HTTP 502 from the API server' },
  { name: 'a JSON body without a message gives the HTTP code alone', error: new ApiException(500, 'error', '{"kind":"Status"}', {}), want: 'HTTP 500 from the API server' },
  { name: 'an error that never reached the API server gives its own message', error: new Error('connect ECONNREFUSED 127.0.0.1:6443'), want: 'connect ECONNREFUSED 127.0.0.1:6443' },
];
for (const c of refusals) t.test(c.name, async (t) => t.equal(refusal(c.error), c.want));

t.test('the in-memory sink keeps what it is given and can be made to refuse', async (t) => {
  const sink = new InMemoryEventSink();
  await sink.create(event);
  t.same(sink.events, [event]);
  sink.failWith = new Error('refused');
  await t.rejects(sink.create(event), { message: 'refused' });
});

t.test('an Event that cannot reach the API server rejects naming the reason, kind, namespace and object', async (t) => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'http://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  const sink = new KubeEventSink(kubeConfig, 'webhook-0');
  await t.rejects(sink.create(event), { message: /^creating a WouldDeny Event for ReplicaSet shop\/api-7f9c failed: .*ECONNREFUSED/ });
});
