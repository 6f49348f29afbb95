import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { LeaseElector } from '../../src/kube/lease-elector.ts';
import { logSink } from '../admission/harness.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { processesMentioning } from '../e2e/support/processes.ts';
import { waitUntil } from '../e2e/support/serve-process.ts';

/** Leader election with a real Lease on a real kube-apiserver. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
await cp.kubectl(['create', 'namespace', 'webhook']);

function elector(identity: string, kubeconfig = cp.adminKubeconfig, name = 'refresher') {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const sink = logSink();
  return { elector: new LeaseElector({ kubeConfig, namespace: 'webhook', name, identity, leaseDurationMs: 3000, renewEveryMs: 500, log: sink.log, now: Date.now }), logs: sink.lines };
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
  t.match(a.logs.at(-1), { msg: 'could not release the refresher lease; it expires by itself', err: 'releasing the lease took longer than 3000 ms' });
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
