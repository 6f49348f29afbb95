import t from 'tap';
import { createMetrics } from '../src/metrics.ts';
import { seriesValue } from './support/metric-values.ts';

const EXPECTED = [
  'admission_decisions_total',
  'admission_duration_seconds',
  'aws_errors_total',
  'aws_requests_total',
  'finding_events_total',
  'namespace_cache_size',
  'namespace_lookups_total',
  'namespace_watch_restarts_total',
  'orphaned_namespaces',
  'policy_loaded_timestamp_seconds',
  'policy_reload_healthy',
  'policy_reloads_total',
  'pull_secret_earliest_expiry_timestamp_seconds',
  'pull_secret_writes_total',
  'pull_secrets_pending_deletion',
  'pull_secrets_unverified',
  'refresher_last_success_timestamp_seconds',
  'refresher_renewal_failures_total',
  'refresher_round_duration_seconds',
  'refresher_secrets_total',
  'registry_lookups_total',
  'tls_reloads_total',
  'token_cache_lookups_total',
];

t.test('the webhook exports its metrics under the common prefix, every counter ending in _total', async (t) => {
  const metrics = createMetrics();
  // Read from the text Prometheus scrapes: its TYPE lines name every metric and its kind.
  const types = [...(await metrics.registry.metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name: name as string, type }));
  t.same(types.map(({ name }) => name.replace(/^ecr_tenant_webhook_/, '')).sort(), EXPECTED);
  for (const { name, type } of types) if (type === 'counter') t.match(name, /_total$/, `${name} is a counter`);
});

t.test('namespace_cache_size is 0 until the cache owner says how to measure it, then is read at every scrape', async (t) => {
  const metrics = createMetrics();
  t.equal(await seriesValue(metrics.namespaceCacheSize, {}), 0);
  let cached = 3;
  metrics.measureNamespaceCache(() => cached);
  t.equal(await seriesValue(metrics.namespaceCacheSize, {}), 3);
  cached = 5;
  t.match(await metrics.registry.metrics(), /^ecr_tenant_webhook_namespace_cache_size 5$/m);
});

t.test('orphaned_namespaces is 0 until serve says how to count, then is read at every scrape', async (t) => {
  const metrics = createMetrics();
  t.equal(await seriesValue(metrics.orphanedNamespaces, {}), 0);
  let orphaned = 2;
  metrics.measureOrphanedNamespaces(() => orphaned);
  t.equal(await seriesValue(metrics.orphanedNamespaces, {}), 2);
  orphaned = 0;
  t.match(await metrics.registry.metrics(), /^ecr_tenant_webhook_orphaned_namespaces 0$/m);
});
