import { KubeConfig } from '@kubernetes/client-node';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import t from 'tap';
import { silentServer } from '../support/silent-server.ts';
import { eventBody, InMemoryEventSink, KubeEventSink } from '../../src/kube/event-sink.ts';

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

t.test('the in-memory sink keeps what it is given and can be made to refuse', async (t) => {
  const sink = new InMemoryEventSink();
  await sink.create(event);
  t.same(sink.events, [event]);
  sink.failWith = new Error('refused');
  await t.rejects(sink.create(event), { message: 'refused' });
});

function kubeConfigFor(server: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kubeConfig;
}

t.test('an Event the API server never answers rejects after the deadline, so the sender can go on', async (t) => {
  const stalled = await silentServer();
  t.teardown(stalled.close);
  const sink = new KubeEventSink(kubeConfigFor(stalled.url), 'webhook-0', 200);
  await t.rejects(sink.create(event), { message: 'creating a WouldDeny Event for ReplicaSet shop/api-7f9c failed: the request took longer than 200 ms' });
});

t.test('an Event that cannot reach the API server rejects naming the reason, kind, namespace and object', async (t) => {
  // A port just freed: nothing listens there (fetch refuses well-known ports such as 1 or 9 itself).
  const listener = createServer().listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as AddressInfo).port;
  await new Promise((resolve) => listener.close(resolve));
  const sink = new KubeEventSink(kubeConfigFor(`http://127.0.0.1:${port}`), 'webhook-0');
  await t.rejects(sink.create(event), { message: /^creating a WouldDeny Event for ReplicaSet shop\/api-7f9c failed: cannot reach the API server at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/ });
});
