import { KubeConfig } from '@kubernetes/client-node';
import t, { type Test } from 'tap';
import { LeaseElector, microTime, type LeaseElectorOptions } from '../../src/kube/lease-elector.ts';
import { logSink } from '../admission/harness.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { processesMentioning } from '../e2e/support/processes.ts';
import { waitUntil } from '../e2e/support/serve-process.ts';

/** Leader election with a real Lease on a real kube-apiserver. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
await cp.kubectl(['create', 'namespace', 'webhook']);

/** `server` replaces the kubeconfig's server URL, to reach the API server through a proxy. */
type Extra = { server?: string } & Partial<Pick<LeaseElectorOptions, 'callDeadlineMs' | 'healthy' | 'now'>>;

function elector(identity: string, kubeconfig = cp.adminKubeconfig, name = 'refresher', extra: Extra = {}) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const { server, ...more } = extra;
  if (server !== undefined) {
    kubeConfig.loadFromOptions({ clusters: kubeConfig.clusters.map((cluster) => ({ ...cluster, server })), users: kubeConfig.users, contexts: kubeConfig.contexts, currentContext: kubeConfig.currentContext });
  }
  const sink = logSink();
  return { elector: new LeaseElector({ kubeConfig, namespace: 'webhook', name, identity, leaseDurationMs: 3000, renewEveryMs: 500, log: sink.log, now: Date.now, ...more }), logs: sink.lines };
}

/** A proxy in front of the control plane's API server, and the server URL that goes through it. */
async function proxy(t: Test) {
  const { hostname, port } = new URL(cp.url);
  const started = await startTcpProxy({ host: hostname, port: Number(port) });
  t.teardown(() => started.close());
  return { ...started, server: `https://${started.address}` };
}

async function holder(name = 'refresher'): Promise<string> {
  const result = await cp.kubectl(['-n', 'webhook', 'get', 'lease', name, '-o', 'jsonpath={.spec.holderIdentity}']);
  return result.stdout;
}

t.test('of two candidates exactly one leads, and the Lease names it', async (t) => {
  const a = elector('replica-a');
  const b = elector('replica-b');
  await a.elector.tick();
  await b.elector.tick();
  t.ok(a.elector.isLeader());
  t.notOk(b.elector.isLeader());
  t.equal(await holder(), 'replica-a');
  t.match(a.logs, [{ msg: 'became the refresher leader', identity: 'replica-a' }]);
  await a.elector.stop();
});

t.test('a leader that stops releases the Lease and the other takes over at its next round', async (t) => {
  const a = elector('replica-a', cp.adminKubeconfig, 'handover');
  const b = elector('replica-b', cp.adminKubeconfig, 'handover');
  await a.elector.tick();
  await b.elector.tick();
  await a.elector.stop();
  t.notOk(a.elector.isLeader());
  await b.elector.tick();
  t.ok(b.elector.isLeader(), 'no waiting for the lease to run out');
  t.equal(await holder('handover'), 'replica-b');
  t.match(a.logs.at(-1), { msg: 'released the refresher lease' });
  await b.elector.stop();
});

t.test('a leader that dies without releasing is replaced once its Lease expires', async (t) => {
  const a = elector('replica-a', cp.adminKubeconfig, 'failover');
  const b = elector('replica-b', cp.adminKubeconfig, 'failover');
  await a.elector.tick();
  b.elector.start();
  t.teardown(() => b.elector.stop());
  const died = Date.now();
  await waitUntil(() => b.elector.isLeader(), 'the takeover', 10_000);
  t.ok(Date.now() - died >= 2000, `taken over after ${Date.now() - died} ms, not before the 3 s lease ran out`);
  t.equal(await holder('failover'), 'replica-b');
});

t.test('a replica that cannot reach the Lease never calls itself leader', async (t) => {
  const weak = elector('replica-weak', await cp.serviceAccountKubeconfig('webhook', 'nobody'), 'forbidden');
  await weak.elector.tick();
  t.notOk(weak.elector.isLeader());
  t.match(weak.logs.at(-1), { msg: 'refresher lease round failed', err: /HTTP-Code: 403|Forbidden|403/ });
  await weak.elector.stop();
});

t.test('an empty Lease someone left behind is taken at once', async (t) => {
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'empty', namespace: 'webhook' }, spec: {} }) });
  const a = elector('replica-a', cp.adminKubeconfig, 'empty');
  await a.elector.tick();
  t.ok(a.elector.isLeader());
  const transitions = await cp.kubectl(['-n', 'webhook', 'get', 'lease', 'empty', '-o', 'jsonpath={.spec.leaseTransitions}']);
  t.equal(transitions.stdout, '1');
  await cp.kubectl(['-n', 'webhook', 'delete', 'lease', 'empty']);
  await a.elector.stop();
  t.match(a.logs.at(-1), { msg: 'released the refresher lease' }, 'a Lease already gone needs no release');
});

t.test('a leader that loses access before stopping says so and lets the Lease expire', async (t) => {
  const rbac = [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'leases', namespace: 'webhook' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'leases', namespace: 'webhook' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' }, subjects: [{ kind: 'ServiceAccount', name: 'elector', namespace: 'webhook' }] },
  ];
  await cp.kubectl(['apply', '-f', '-'], { input: rbac.map((o) => JSON.stringify(o)).join('\n') });
  const a = elector('replica-sa', await cp.serviceAccountKubeconfig('webhook', 'elector'), 'revoked');
  await waitUntil(async () => (await a.elector.tick(), a.elector.isLeader()), 'the RoleBinding to take effect');
  await cp.kubectl(['-n', 'webhook', 'delete', 'rolebinding', 'leases']);
  await waitUntil(async () => (await cp.kubectl(['auth', 'can-i', 'get', 'leases', '-n', 'webhook', '--as=system:serviceaccount:webhook:elector'])).stdout.trim() === 'no', 'the revocation');
  await a.elector.stop();
  t.match(a.logs.at(-1), { msg: 'could not release the refresher lease; it expires by itself' });
});

t.test('a leader whose API server hangs stops within the Lease duration instead of waiting for it', async (t) => {
  const a = elector('replica-hung', cp.adminKubeconfig, 'hung');
  await a.elector.tick();
  t.ok(a.elector.isLeader());
  const apiServer = processesMentioning(cp.dir).find((p) => p.commandLine.includes('kube-apiserver'));
  if (apiServer === undefined) throw new Error('the control plane’s kube-apiserver process was not found');
  // A stopped process still accepts connections (the kernel's backlog) but never answers: a hung API server.
  process.kill(apiServer.pid, 'SIGSTOP');
  t.teardown(() => process.kill(apiServer.pid, 'SIGCONT'));
  const started = Date.now();
  await a.elector.stop();
  const took = Date.now() - started;
  process.kill(apiServer.pid, 'SIGCONT');
  t.ok(took < 4500, `stop returned after ${took} ms (lease 3000 ms)`);
  t.match(a.logs.at(-1), { msg: 'could not release the refresher lease; it expires by itself', err: 'reading the lease took longer than 500 ms' });
});

t.test('a leader that stalled past its Lease finds another holder and steps down', async (t) => {
  const a = elector('replica-a', cp.adminKubeconfig, 'stalled');
  const b = elector('replica-b', cp.adminKubeconfig, 'stalled');
  await a.elector.tick();
  await new Promise((resolve) => setTimeout(resolve, 3200));
  await b.elector.tick();
  t.ok(b.elector.isLeader(), 'b took the expired Lease');
  await a.elector.tick();
  t.notOk(a.elector.isLeader());
  t.match(a.logs.at(-1), { msg: 'no longer the refresher leader', identity: 'replica-a' });
  await b.elector.stop();
});

t.test('a leader renewing keeps its acquire time and does not count a transition', async (t) => {
  const a = elector('replica-a', cp.adminKubeconfig, 'renewed');
  await a.elector.tick();
  const read = async () => JSON.parse((await cp.kubectl(['-n', 'webhook', 'get', 'lease', 'renewed', '-o', 'json'])).stdout).spec;
  const first = await read();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await a.elector.tick();
  const second = await read();
  t.equal(second.acquireTime, first.acquireTime);
  t.equal(second.leaseTransitions, 1);
  t.not(second.renewTime, first.renewTime);
  await a.elector.stop();
});

t.test('a round whose API server accepts the connection and never answers ends at the call deadline', async (t) => {
  const silent = await proxy(t);
  silent.blackHole();
  const a = elector('replica-silent', cp.adminKubeconfig, 'silent', { server: silent.server, callDeadlineMs: 300 });
  const started = Date.now();
  await a.elector.tick();
  const took = Date.now() - started;
  t.ok(took >= 300 && took < 1500, `the round ended after ${took} ms (deadline 300 ms)`);
  t.notOk(a.elector.isLeader());
  t.match(a.logs.at(-1), { msg: 'refresher lease round failed', err: 'reading the lease took longer than 300 ms' });
});

t.test('without a call deadline of its own a round gives up after one renew interval', async (t) => {
  const silent = await proxy(t);
  silent.blackHole();
  const a = elector('replica-silent', cp.adminKubeconfig, 'silent', { server: silent.server });
  await a.elector.tick();
  t.match(a.logs.at(-1), { msg: 'refresher lease round failed', err: 'reading the lease took longer than 500 ms' });
});

t.test('a leader cut off from its API server steps down within its Lease, and its loop leads again once the server answers', async (t) => {
  const network = await proxy(t);
  const a = elector('replica-cut', cp.adminKubeconfig, 'cut', { server: network.server, callDeadlineMs: 300 });
  a.elector.start();
  t.teardown(() => a.elector.stop());
  await waitUntil(() => a.elector.isLeader(), 'replica-cut to lead');
  network.blackHole();
  const cut = Date.now();
  await waitUntil(() => a.logs.some((l) => l.msg === 'no longer the refresher leader'), 'replica-cut to step down', 8000);
  const took = Date.now() - cut;
  // Renewed at most one round before the cut, it stops claiming 2.5 s after that renewal; the round that notices
  // ends a deadline later. Waiting on the HTTP client instead would take 10 s (its connect timeout).
  t.ok(took < 3000 + 500 + 300, `said so ${took} ms after the cut (Lease 3000 ms, rounds every 500 ms, deadline 300 ms)`);
  t.notOk(a.elector.isLeader());
  const failed = a.logs.filter((l) => l.msg === 'refresher lease round failed');
  t.ok(failed.length >= 2, `the loop went on: ${failed.length} rounds failed`);
  t.ok(failed.every((l) => /^(reading|replacing) the lease took longer than 300 ms$/.test(l.err as string)), 'each at its deadline');
  network.forward();
  await waitUntil(() => a.elector.isLeader(), 'replica-cut to lead again', 5000);
  t.equal(await holder('cut'), 'replica-cut');
  t.equal(a.logs.filter((l) => l.msg === 'became the refresher leader').length, 2);
  await a.elector.stop();
});

t.test('a leader whose work has stopped gives the Lease up at once, and competes again a Lease duration after its work is done', async (t) => {
  let healthy = true;
  let skew = 0;
  const a = elector('replica-a', cp.adminKubeconfig, 'unhealthy', { healthy: () => healthy, now: () => Date.now() + skew });
  const b = elector('replica-b', cp.adminKubeconfig, 'unhealthy');
  await a.elector.tick();
  await b.elector.tick();
  t.ok(a.elector.isLeader());
  t.notOk(b.elector.isLeader());
  healthy = false;
  await a.elector.tick();
  t.notOk(a.elector.isLeader());
  t.equal(await holder('unhealthy'), '', 'released, not left to expire');
  t.match(a.logs.slice(-2), [
    { level: 40, msg: 'refresher rounds stopped completing; giving up the refresher lease', lease: 'unhealthy' },
    { msg: 'no longer the refresher leader', identity: 'replica-a' },
  ]);
  await b.elector.tick();
  t.ok(b.elector.isLeader(), 'the other replica took over at its next round');
  t.equal(await holder('unhealthy'), 'replica-b');
  const logged = a.logs.length;
  await a.elector.tick();
  t.equal(a.logs.length, logged, 'given up once: nothing more to release, nothing logged');
  healthy = true;
  await a.elector.tick();
  t.notOk(a.elector.isLeader(), 'healthy again, it waits for the Lease like any other replica');
  await b.elector.stop();
  await a.elector.tick();
  t.notOk(a.elector.isLeader(), 'the Lease is free, but the replica that gave it up stays out for a Lease duration');
  t.equal(await holder('unhealthy'), '');
  skew = 3000;
  await a.elector.tick();
  t.ok(a.elector.isLeader(), 'then it competes as usual');
  t.equal(await holder('unhealthy'), 'replica-a');
  await a.elector.stop();
});

t.test('a replica whose work has stopped takes neither an empty nor an expired Lease', async (t) => {
  const leases = [
    { name: 'left-empty', spec: {} },
    { name: 'left-expired', spec: { holderIdentity: 'replica-gone', leaseDurationSeconds: 1, renewTime: microTime(Date.now() - 60_000) } },
  ];
  await cp.kubectl(['apply', '-f', '-'], { input: leases.map(({ name, spec }) => JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'webhook' }, spec })).join('\n') });
  for (const { name, spec } of leases) {
    const c = elector('replica-c', cp.adminKubeconfig, name, { healthy: () => false });
    await c.elector.tick();
    t.notOk(c.elector.isLeader(), name);
    t.equal(await holder(name), (spec as { holderIdentity?: string }).holderIdentity ?? '', `${name} untouched`);
    t.same(c.logs, [], `${name}: nothing to give up, nothing logged`);
  }
});

t.test('a leader that cannot release the Lease while giving up tries again at its next round', async (t) => {
  const network = await proxy(t);
  let healthy = true;
  const a = elector('replica-retry', cp.adminKubeconfig, 'retry', { server: network.server, callDeadlineMs: 300, healthy: () => healthy });
  await a.elector.tick();
  t.ok(a.elector.isLeader());
  healthy = false;
  network.blackHole();
  await a.elector.tick();
  t.notOk(a.elector.isLeader(), 'it stops calling itself leader whether or not the release goes through');
  t.match(a.logs.slice(-3), [
    { msg: 'refresher rounds stopped completing; giving up the refresher lease' },
    { msg: 'refresher lease round failed', err: 'reading the lease took longer than 300 ms' },
    { msg: 'no longer the refresher leader' },
  ]);
  t.equal(await holder('retry'), 'replica-retry', 'the Lease still names it');
  network.forward();
  await a.elector.tick();
  t.equal(await holder('retry'), '', 'released at the next round');
  t.match(a.logs.at(-1), { msg: 'refresher rounds stopped completing; giving up the refresher lease' });
});

t.test('a replica that gives up after being taken over leaves the new holder\'s Lease alone', async (t) => {
  let healthy = true;
  const a = elector('replica-a', cp.adminKubeconfig, 'overtaken', { healthy: () => healthy });
  const b = elector('replica-b', cp.adminKubeconfig, 'overtaken');
  await a.elector.tick();
  await new Promise((resolve) => setTimeout(resolve, 3200));
  await b.elector.tick();
  t.ok(b.elector.isLeader(), 'b took the expired Lease');
  healthy = false;
  await a.elector.tick();
  t.equal(await holder('overtaken'), 'replica-b');
  await b.elector.tick();
  t.ok(b.elector.isLeader());
  await b.elector.stop();
});
