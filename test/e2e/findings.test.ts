import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { parseExposition, sumOf } from '../support/metric-values.ts';
import { waitUntil } from './support/serve-process.ts';
import { startWebhookStack, type KubeObject } from './support/webhook-stack.ts';

/**
 * Dry-run findings reach people as Events through the real API server. The test control plane runs no
 * controller-manager, so the test creates pods the way the ReplicaSet controller does: from the template, with
 * generateName and a controller ownerReference to the ReplicaSet.
 */
t.setTimeout(240_000);

const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const UNGRANTED = `${TARGET}/paymentsevil/shell:1`;
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';
/** Longer than serve takes to send a queued Event here (milliseconds), so an Event that should not exist would have. */
const SETTLE_MS = 3000;

const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults: { mode: enforce, nonEcrImages: allow }
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${TARGET}
          repositories: ["payments/*"]
`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());
await stack.namespace('shop', { [TENANT]: 'payments' });
await stack.namespace('shop-canary', { [TENANT]: 'payments', [MODE]: 'dry-run' });

interface EventObject {
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: string;
  count: number;
  source?: { component?: string };
  reportingComponent?: string;
}

async function eventsIn(namespace: string): Promise<EventObject[]> {
  const list = JSON.parse(await stack.kubectlOk(['get', 'events', '-n', namespace, '-o', 'json'])) as { items: EventObject[] };
  return list.items.filter((e) => e.reason === 'WouldDeny');
}

async function replicaSet(namespace: string, name: string, image: string): Promise<KubeObject & { metadata: { uid: string } }> {
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
  await stack.kubectlOk(['apply', '-f', '-'], JSON.stringify(manifest));
  return JSON.parse(await stack.kubectlOk(['get', 'replicaset', '-n', namespace, name, '-o', 'json']));
}

/** A pod as the ReplicaSet controller makes one: its template, generateName, and a controller ownerReference. */
function controllerPod(owner: KubeObject & { metadata: { uid: string } }, image: string): string {
  const { name, namespace, uid } = owner.metadata;
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${name}-`,
      namespace,
      labels: { app: name },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { containers: [{ name: 'app', image }] },
  });
}

async function findingMetrics(): Promise<Record<string, number>> {
  const response = await fetch(`http://127.0.0.1:${stack.serve.metricsPort}/metrics`);
  const samples = parseExposition(await response.text());
  const count = (result: string) => sumOf(samples, 'ecr_tenant_webhook_finding_events_total', { result });
  return { emitted: count('emitted'), deduplicated: count('deduplicated'), dropped: count('dropped'), failed: count('failed') };
}

t.test('three pods of a dry-run ReplicaSet that enforcement would deny give one WouldDeny Event on the ReplicaSet', async (t) => {
  const owner = await replicaSet('shop-canary', 'api', UNGRANTED);
  for (let i = 0; i < 3; i++) {
    const created = await stack.kubectl(['create', '-f', '-'], controllerPod(owner, UNGRANTED));
    t.equal(created.code, 0, `pod ${i + 1} is admitted: dry-run`);
    t.match(created.stderr, /Warning: dry-run: would deny/);
  }
  await waitUntil(async () => (await eventsIn('shop-canary')).length > 0, 'the WouldDeny Event');
  await sleep(SETTLE_MS);
  const events = await eventsIn('shop-canary');
  t.equal(events.length, 1, 'one Event for the three pods');
  t.match(events[0], {
    involvedObject: { kind: 'ReplicaSet', name: 'api', namespace: 'shop-canary', uid: owner.metadata.uid },
    type: 'Warning',
    count: 1,
    source: { component: 'ecr-tenant-webhook' },
    reportingComponent: 'ecr-tenant-webhook',
  });
  t.match(events[0]?.message, /^dry-run: enforcement would deny this pod: container "app" image ".*paymentsevil\/shell:1" is not granted/);
  const described = await stack.kubectlOk(['describe', 'replicaset', '-n', 'shop-canary', 'api']);
  t.match(described, /Warning\s+WouldDeny\s+.*ecr-tenant-webhook\s+dry-run: enforcement would deny this pod/, 'kubectl describe shows it on the ReplicaSet');
  t.same(await findingMetrics(), { emitted: 1, deduplicated: 2, dropped: 0, failed: 0 });
});

t.test('a bare dry-run pod that enforcement would deny gives an Event on its namespace', async (t) => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug', namespace: 'shop-canary' }, spec: { containers: [{ name: 'shell', image: UNGRANTED }] } };
  await stack.kubectlOk(['create', '-f', '-'], JSON.stringify(pod));
  await waitUntil(async () => (await eventsIn('shop-canary')).some((e) => e.involvedObject.kind === 'Namespace'), 'the Event on the namespace');
  const onNamespace = (await eventsIn('shop-canary')).filter((e) => e.involvedObject.kind === 'Namespace');
  t.equal(onNamespace.length, 1);
  t.match(onNamespace[0]?.involvedObject, { kind: 'Namespace', name: 'shop-canary' });
  t.match(onNamespace[0]?.message, /^dry-run: enforcement would deny pod "debug": container "shell" image/);
});

t.test('server-side dry runs, enforced denials and admissible pods give no Event', async (t) => {
  const before = await findingMetrics();
  const quiet = await replicaSet('shop-canary', 'quiet', UNGRANTED);
  const dryRun = await stack.kubectl(['create', '--dry-run=server', '-f', '-'], controllerPod(quiet, UNGRANTED));
  t.equal(dryRun.code, 0, 'kubectl --dry-run=server is answered');
  const fine = await stack.kubectl(['create', '-f', '-'], controllerPod(quiet, `${TARGET}/payments/api:1`));
  t.equal(fine.code, 0);
  const enforced = await replicaSet('shop', 'api', `${TARGET}/payments/api:1`);
  const denied = await stack.kubectl(['create', '-f', '-'], controllerPod(enforced, UNGRANTED));
  t.not(denied.code, 0, 'the enforced pod is denied');
  await sleep(SETTLE_MS);
  t.same((await eventsIn('shop-canary')).filter((e) => e.involvedObject.name === 'quiet'), []);
  t.same(await eventsIn('shop'), []);
  t.same(await findingMetrics(), before, 'no finding was even counted');
});
