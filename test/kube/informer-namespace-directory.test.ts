import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { errorMessage } from '../../src/kube/api-error.ts';
import { InformerNamespaceDirectory, labelsOfNamespace, projectNamespace, type InformerNamespaceDirectoryOptions } from '../../src/kube/informer-namespace-directory.ts';
import { loadKubeConfig } from '../../src/kube/kube-config.ts';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { createMetrics } from '../../src/metrics.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { logSink } from '../admission/harness.ts';
import { waitUntil } from '../e2e/support/serve-process.ts';
import { seriesValue } from '../support/metric-values.ts';

/** The informer-backed namespace directory against a real kube-apiserver. */
t.setTimeout(180_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const TENANT = 'ecr-tenant-webhook.io/tenant';

async function namespace(name: string, labels: Record<string, string> = {}) {
  const result = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }) });
  if (result.code !== 0) throw new Error(result.stderr);
}

function directory(overrides: Partial<InformerNamespaceDirectoryOptions> = {}) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cp.adminKubeconfig);
  const sink = logSink();
  const metrics = createMetrics();
  const dir = new InformerNamespaceDirectory({
    kubeConfig,
    log: sink.log,
    metrics,
    missTimeoutMs: 2000,
    maxConcurrentMisses: 4,
    listPageSize: 2,
    restartBackoff: { initialMs: 100, maxMs: 1000 },
    ...overrides,
  });
  return { dir, logs: sink.lines, metrics };
}

const lookups = async (metrics: ReturnType<typeof createMetrics>) => (await metrics.registry.getSingleMetricAsString('ecr_tenant_webhook_namespace_lookups_total')).split('\n').filter((l) => !l.startsWith('#'));

await namespace('listed-a', { [TENANT]: 'payments' });
await namespace('listed-b');
await namespace('listed-c', { [TENANT]: 'analytics', team: 'x' });

t.test('the directory is ready only after the first complete list, read in pages', async (t) => {
  const { dir, logs } = directory();
  t.teardown(() => dir.stop());
  t.notOk(dir.ready(), 'not ready before starting');
  await dir.start();
  await waitUntil(() => dir.ready(), 'the first list');
  t.match(logs.find((l) => l.msg === 'namespace directory ready'), { namespaces: Number });
  t.ok((logs.find((l) => l.msg === 'namespace directory ready')?.namespaces as number) >= 7, 'every namespace across pages of 2');
  t.same(await dir.labelsOf('listed-c'), { [TENANT]: 'analytics' }, 'only the webhook’s own labels are kept');
  t.same(await dir.labelsOf('listed-b'), {});
});

t.test('snapshot() is undefined before the first list, then every namespace with its labels, following the watch', async (t) => {
  const { dir } = directory();
  t.teardown(() => dir.stop());
  t.equal(dir.snapshot(), undefined, 'no partial view before the first list: it would look like namespaces that lost their tenant');
  await dir.start();
  await waitUntil(() => dir.ready(), 'the first list');
  const snapshot = dir.snapshot()!;
  t.same(snapshot.get('listed-a'), { [TENANT]: 'payments' });
  t.same(snapshot.get('listed-b'), {});
  t.same(snapshot.get('listed-c'), { [TENANT]: 'analytics' });
  t.ok(snapshot.has('default') && snapshot.has('kube-system'), 'every namespace, across pages of 2');
  await namespace('snapshotted', { [TENANT]: 'payments' });
  await waitUntil(() => dir.snapshot()?.get('snapshotted')?.[TENANT] === 'payments', 'the watch to bring the new namespace');
  t.equal(snapshot.get('snapshotted'), undefined, 'a snapshot taken earlier does not change under its reader');
});

t.test('the in-memory directory’s snapshot is every namespace it holds', async (t) => {
  const memory = new InMemoryNamespaceDirectory({ shop: { [TENANT]: 'payments' }, plain: {} });
  t.same([...memory.snapshot()], [['shop', { [TENANT]: 'payments' }], ['plain', {}]]);
  memory.delete('plain');
  t.same([...memory.snapshot().keys()], ['shop']);
});

t.test('relabelling a namespace reaches the directory through the watch', async (t) => {
  const { dir, metrics } = directory();
  t.teardown(() => dir.stop());
  await dir.start();
  await waitUntil(() => dir.ready(), 'the first list');
  await namespace('relabelled', { [TENANT]: 'payments' });
  await waitUntil(async () => (await dir.labelsOf('relabelled'))?.[TENANT] === 'payments', 'the new namespace');
  await namespace('relabelled', { [TENANT]: 'analytics' });
  await waitUntil(async () => (await dir.labelsOf('relabelled'))?.[TENANT] === 'analytics', 'the relabel');
  await namespace('relabelled', {});
  await waitUntil(async () => (await dir.labelsOf('relabelled'))?.[TENANT] === undefined, 'the label removal');
  t.match(await lookups(metrics), [/source="cache"/]);
});

t.test('the cache size is read at each scrape: every namespace listed, then each one the watch brings', async (t) => {
  const { dir, logs, metrics } = directory();
  t.teardown(() => dir.stop());
  const size = () => seriesValue(metrics.namespaceCacheSize, {});
  t.equal(await size(), 0, 'nothing cached before the first list');
  await dir.start();
  await waitUntil(() => dir.ready(), 'the first list');
  const listed = logs.find((l) => l.msg === 'namespace directory ready')?.namespaces as number;
  t.equal(await size(), listed);
  await namespace('counted');
  await waitUntil(async () => (await size()) === listed + 1, 'the new namespace counted');
  t.match(await metrics.registry.getSingleMetricAsString('ecr_tenant_webhook_namespace_cache_size'), `ecr_tenant_webhook_namespace_cache_size ${listed + 1}`);
});

t.test('a namespace the cache has not seen yet is read directly, and one that does not exist is unlabelled', async (t) => {
  // Never started: every lookup is a miss, as for a namespace created a moment before its pod.
  const { dir, metrics } = directory();
  t.same(await dir.labelsOf('listed-a'), { [TENANT]: 'payments' });
  t.equal(await dir.labelsOf('no-such-namespace'), undefined);
  const [same1, same2] = await Promise.all([dir.labelsOf('listed-c'), dir.labelsOf('listed-c')]);
  t.same(same1, same2, 'concurrent misses for one namespace share one read');
  t.match(await lookups(metrics), [/source="api"} 2/, /source="missing"} 1/]);
});

t.test('fresh() asks the API server even for a namespace the cache holds, so a relabel the watch has not brought yet is seen', async (t) => {
  const { dir, metrics } = directory();
  t.teardown(() => dir.stop());
  await dir.start();
  await waitUntil(() => dir.ready(), 'the first list');
  await namespace('fresh-read', { [TENANT]: 'payments' });
  await waitUntil(async () => (await dir.labelsOf('fresh-read'))?.[TENANT] === 'payments', 'the namespace in the cache');
  const before = (await lookups(metrics)).join();
  t.same(await dir.fresh('fresh-read'), { [TENANT]: 'payments' });
  t.not((await lookups(metrics)).join(), before, 'a read from the API server, counted as such');
  t.ok((await lookups(metrics)).some((line) => /source="api"} 1$/.test(line)), 'exactly one read from the API server');
  t.equal(await dir.fresh('never-created'), undefined);
});

t.test('misses beyond the concurrency bound are refused at once rather than queued', async (t) => {
  const { dir } = directory({ maxConcurrentMisses: 1 });
  const results = await Promise.allSettled([dir.labelsOf('listed-a'), dir.labelsOf('listed-b')]);
  t.equal(results[0]?.status, 'fulfilled');
  t.match(results[1], { status: 'rejected', reason: { message: 'namespace listed-b is not in the cache and 1 direct reads are already running' } });
});

t.test('a direct read that outlives its deadline fails with a message naming the namespace', async (t) => {
  const { dir } = directory({ missTimeoutMs: 0 });
  await t.rejects(dir.labelsOf('listed-a'), { message: 'namespace listed-a is not in the cache and reading it failed: reading namespace listed-a took longer than 0 ms' });
});

t.test('an identity without RBAC for namespaces is told apart from a missing namespace, and the watch keeps retrying', async (t) => {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(await cp.serviceAccountKubeconfig('default', 'nobody'));
  const { dir, logs, metrics } = directory({ kubeConfig } as Partial<InformerNamespaceDirectoryOptions>);
  t.teardown(() => dir.stop());
  await t.rejects(dir.labelsOf('listed-a'), { message: 'namespace listed-a is not in the cache and reading it failed: HTTP 403 from the API server' });
  await dir.start();
  await waitUntil(async () => logs.filter((l) => l.msg === 'namespace watch failed; restarting').length >= 2, 'two restarts');
  t.notOk(dir.ready(), 'never ready without a list');
  t.match(await metrics.registry.getSingleMetricAsString('ecr_tenant_webhook_namespace_watch_restarts_total'), /total [2-9]/);
});

t.test('after the API server restarts the watch resumes, and relabels made afterwards are seen', async (t) => {
  const { dir, logs } = directory();
  t.teardown(() => dir.stop());
  await dir.start();
  await waitUntil(() => dir.ready(), 'the first list');
  await namespace('survivor', { [TENANT]: 'payments' });
  await waitUntil(async () => (await dir.labelsOf('survivor'))?.[TENANT] === 'payments', 'the namespace');
  await cp.restartApiServer();
  await namespace('survivor', { [TENANT]: 'analytics' });
  await waitUntil(async () => (await dir.labelsOf('survivor'))?.[TENANT] === 'analytics', 'the relabel after the restart', 60_000);
  t.ok(dir.ready(), 'ready throughout');
  t.ok(logs.some((l) => l.msg === 'namespace watch failed; restarting'), 'the broken watch was restarted');
});

t.test('objects without metadata or labels, and errors that are not Errors, are handled without guessing', async (t) => {
  t.equal(projectNamespace({}), undefined, 'an object without a name is not kept');
  t.same(projectNamespace({ metadata: { name: 'a' } }), { name: 'a', labels: {} });
  t.same(projectNamespace({ metadata: { name: 'a', labels: { [TENANT]: 't', 'ecr-tenant-webhook.io/mode': 'dry-run', team: 'x'.repeat(63), 'example.com/other': 'y' } } }), { name: 'a', labels: { [TENANT]: 't', 'ecr-tenant-webhook.io/mode': 'dry-run' } }, 'labels tenant admins may add are not kept');
  t.same(labelsOfNamespace({ metadata: { name: 'old' } }), {});
  t.equal(errorMessage('socket hang up'), 'socket hang up');
  t.equal(errorMessage(new Error('ECONNREFUSED')), 'ECONNREFUSED');
});

t.test('credentials that cannot be read (no service-account token mounted) are retried and reported, never a crash', async (t) => {
  const port = new URL(cp.url).port;
  const { dir, logs } = directory({ kubeConfig: loadKubeConfig({ inCluster: { host: '127.0.0.1', port } }) });
  t.teardown(() => dir.stop());
  await dir.start();
  await waitUntil(() => logs.filter((l) => l.msg === 'namespace watch failed; restarting').length >= 2, 'two restarts');
  t.match(logs.find((l) => l.msg === 'namespace watch failed; restarting'), { err: /ENOENT|no such file/ });
  await t.rejects(dir.labelsOf('listed-a'), { message: /^namespace listed-a is not in the cache and reading it failed: .*(ENOENT|no such file)/ });
  t.notOk(dir.ready());
});

t.test('an error thrown while opening the watch (after a good list) is retried like any other', async (t) => {
  // The real KubeConfig, failing once as the first watch is opened: the list passes, opening the watch throws.
  class ExpiringKubeConfig extends KubeConfig {
    watches = 0;
    override async applySecurityAuthentication(context: Parameters<KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
      if (context.getUrl().includes('watch=true') && ++this.watches === 1) throw new Error('credentials expired while opening the watch');
      return super.applySecurityAuthentication(context);
    }
  }
  const kubeConfig = new ExpiringKubeConfig();
  kubeConfig.loadFromFile(cp.adminKubeconfig);
  const { dir, logs } = directory({ kubeConfig });
  t.teardown(() => dir.stop());
  await dir.start();
  t.match(logs.find((l) => l.msg === 'namespace watch failed; restarting'), { err: 'credentials expired while opening the watch' });
  await namespace('after-expiry', { [TENANT]: 'payments' });
  await waitUntil(async () => kubeConfig.watches > 1 && (await dir.labelsOf('after-expiry'))?.[TENANT] === 'payments', 'the restarted watch');
  t.ok(dir.ready());
});
