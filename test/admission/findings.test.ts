import t from 'tap';
import type { Finding } from '../../src/events/finding-reporter.ts';
import { onePod, podReview, testApp } from './harness.ts';

/** Dry-run would-be denials are handed to the finding reporter, on the pod's owner; nothing else is. */
const GRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.2';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/x:1';
const REPLICA_SET = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', uid: 'rs-uid', controller: true, blockOwnerDeletion: true };

function review(namespace: string, image: string, options: { dryRun?: boolean; owners?: unknown[] } = {}) {
  const pod = onePod(image, { generateName: 'api-7f9c-', ownerReferences: options.owners });
  return podReview(namespace, pod, { dryRun: options.dryRun ?? false });
}

async function findingsOf(body: object) {
  const reported: Finding[] = [];
  const { app } = testApp({}, undefined, { findings: { report: (finding) => reported.push(finding) } });
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: body });
  return { reported, response: res.json().response };
}

t.test('a dry-run pod that enforcement would deny is reported on its ReplicaSet, without the pod name', async (t) => {
  const { reported, response } = await findingsOf(review('shop-canary', UNGRANTED, { owners: [REPLICA_SET] }));
  t.equal(response.allowed, true, 'dry-run still admits');
  t.equal(reported.length, 1);
  t.match(reported[0], {
    namespace: 'shop-canary',
    regarding: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop-canary', uid: 'rs-uid' },
    reason: 'WouldDeny',
    message: /^dry-run: enforcement would deny this pod: container "app" image ".*paymentsevil\/x:1" is not granted/,
  });
  t.notMatch(reported[0]?.message, 'api-7f9c-', 'the message is the same for every pod of the ReplicaSet');
});

t.test('a bare dry-run pod is reported on its namespace, by name', async (t) => {
  const { reported } = await findingsOf(review('shop-canary', UNGRANTED));
  t.same(reported[0]?.regarding, { apiVersion: 'v1', kind: 'Namespace', name: 'shop-canary', namespace: 'shop-canary' });
  t.match(reported[0]?.message, /^dry-run: enforcement would deny pod "api-7f9c-\*": container "app" image/, 'the pod is named, since the namespace says nothing of it');
});

const silent = [
  { name: 'a dryRun request (kubectl --dry-run=server) reports nothing', body: review('shop-canary', UNGRANTED, { dryRun: true, owners: [REPLICA_SET] }) },
  { name: 'an enforced denial reports nothing: the controller sees the denial itself', body: review('shop', UNGRANTED, { owners: [REPLICA_SET] }) },
  { name: 'a dry-run pod that enforcement would admit reports nothing', body: review('shop-canary', GRANTED, { owners: [REPLICA_SET] }) },
  { name: 'a pod outside tenant namespaces reports nothing', body: review('plain', UNGRANTED, { owners: [REPLICA_SET] }) },
];
for (const c of silent) {
  t.test(c.name, async (t) => {
    const { reported } = await findingsOf(c.body);
    t.same(reported, []);
  });
}

t.test('without a reporter a dry-run denial is still answered', async (t) => {
  const { app } = testApp();
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review('shop-canary', UNGRANTED, { owners: [REPLICA_SET] }) });
  t.equal(res.json().response.allowed, true);
});
