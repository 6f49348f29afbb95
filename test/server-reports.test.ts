import t from 'tap';
import type { RoundReport } from '../src/credentials/reconciler.ts';
import { InMemoryNamespaceDirectory } from '../src/kube/namespace-directory.ts';
import { createMetrics } from '../src/metrics.ts';
import { clearLeaderFigures, orphanedNamespaces, reportRound, warnOfOrphans } from '../src/server.ts';
import { logSink, testPolicy } from './admission/harness.ts';
import { seriesValue } from './support/metric-values.ts';

/** What serve makes of the reconciler's rounds and of policy reloads: metrics and warnings. */
const TENANT = 'ecr-tenant-webhook.io/tenant';
const directory = new InMemoryNamespaceDirectory({ shop: { [TENANT]: 'payments' }, gone: { [TENANT]: 'departed' }, typo: { [TENANT]: 'paymnets' }, plain: {} });

t.test('orphaned namespaces are those labelled for a tenant the policy lacks; none while the directory is not ready', async (t) => {
  t.equal(orphanedNamespaces(directory, testPolicy), 2);
  t.equal(orphanedNamespaces({ labelsOf: async () => undefined, fresh: async () => undefined, ready: () => false, snapshot: () => undefined }, testPolicy), 0);
});

t.test('a reload that orphans labelled namespaces is a warning with the count; one that does not is silent', async (t) => {
  const sink = logSink();
  warnOfOrphans(directory, testPolicy, sink.log);
  t.match(sink.lines, [{ level: 40, orphaned: 2, msg: /^the policy now in force has no tenant for some labelled namespaces/ }]);
  warnOfOrphans(new InMemoryNamespaceDirectory({ shop: { [TENANT]: 'payments' } }), testPolicy, sink.log);
  t.equal(sink.lines.length, 1);
});

const round = (over: Partial<RoundReport> = {}): RoundReport => ({
  completed: true,
  durationMs: 1500,
  renewed: 2,
  rewritten: 1,
  deleted: 0,
  failed: 3,
  kept: 7,
  unverified: 4,
  pendingDeletions: 5,
  failuresByTenant: new Map([['payments', 3]]),
  earliestExpiryByTenant: new Map([['payments', 1_800_000_000_000]]),
  ...over,
});

t.test('a completed round sets the refresher metrics; a skipped one leaves them as they were', async (t) => {
  const metrics = createMetrics();
  reportRound(round(), metrics, 1_700_000_000_000);
  t.equal(await seriesValue(metrics.refresherLastSuccess, {}), 1_700_000_000);
  t.equal(await seriesValue(metrics.refresherSecrets, { result: 'renewed' }), 2);
  t.equal(await seriesValue(metrics.refresherSecrets, { result: 'failed' }), 3);
  t.equal(await seriesValue(metrics.refresherFailures, { tenant: 'payments' }), 3);
  t.equal(await seriesValue(metrics.pullSecretsPendingDeletion, {}), 5);
  t.equal(await seriesValue(metrics.pullSecretsUnverified, {}), 4);
  t.equal(await seriesValue(metrics.pullSecretEarliestExpiry, { tenant: 'payments' }), 1_800_000_000);
  t.match(await metrics.registry.metrics(), /ecr_tenant_webhook_refresher_round_duration_seconds_sum 1\.5/);
  t.notMatch(await metrics.registry.metrics(), /refresher_secrets_total\{result="deleted"\}/, 'nothing counted for what did not happen');

  reportRound(round({ completed: false, pendingDeletions: 0, renewed: 9 }), metrics, 1_700_000_100_000);
  t.equal(await seriesValue(metrics.refresherLastSuccess, {}), 1_700_000_000, 'a skipped round is no success');
  t.equal(await seriesValue(metrics.pullSecretsPendingDeletion, {}), 5, 'and does not reset what waits');
  t.equal(await seriesValue(metrics.refresherSecrets, { result: 'renewed' }), 2);

  reportRound(round({ earliestExpiryByTenant: new Map([['analytics', 1_900_000_000_000]]) }), metrics, 1_700_000_200_000);
  t.notMatch(await metrics.registry.metrics(), /earliest_expiry_timestamp_seconds\{tenant="payments"\}/, 'a tenant without Secrets any more drops out');
});

t.test('a replica that stops leading clears the figures only the leader keeps, so none goes stale and alerts', async (t) => {
  const metrics = createMetrics();
  reportRound(round(), metrics, 1_700_000_000_000);
  clearLeaderFigures(metrics);
  const text = await metrics.registry.metrics();
  t.notMatch(text, /earliest_expiry_timestamp_seconds\{/, 'no expiry per tenant');
  t.equal(await seriesValue(metrics.pullSecretsPendingDeletion, {}), 0);
  t.equal(await seriesValue(metrics.pullSecretsUnverified, {}), 0);
  t.equal(await seriesValue(metrics.refresherLastSuccess, {}), 1_700_000_000, 'when it last completed a round stays true');
});
