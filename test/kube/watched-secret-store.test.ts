import { randomBytes } from 'node:crypto';
import { CoreV1Api, HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import t from 'tap';
import { buildPullSecret, type PullSecretSpec } from '../../src/credentials/pull-secret.ts';
import { METADATA_ONLY_ACCEPT, metadataOnlyWatchConfig } from '../../src/kube/metadata-only.ts';
import { KubeSecretStore, type ManagedSecretStore } from '../../src/kube/secret-store.ts';
import { WatchedSecretStore } from '../../src/kube/watched-secret-store.ts';
import { logSink } from '../admission/harness.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { waitUntil } from '../e2e/support/serve-process.ts';
import { proxiedKubeConfig } from '../support/tcp-proxy.ts';
import { testSealer } from '../support/test-sealer.ts';

/** Reads of managed Secrets answered from a metadata-only watch of the real API server; everything else goes to the API server. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
await cp.kubectl(['create', 'namespace', 'shop']);

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const MANAGED = { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' };
const FAILED = 'pull secret watch failed; restarting';
const NOT_RUNNING = 'the pull secret watch is not running (not listed yet, or restarting)';
const spec = (name: string): PullSecretSpec => ({ name, namespace: 'shop', tenant: 'payments', credential: 'cred-a', hosts: [HOST] });
const token = (h: number) => ({ username: 'AWS', password: `pw-${h}`, expiresAt: new Date(Date.now() + h * 3600_000) });
const sealed = (name: string, h: number) => buildPullSecret(spec(name), token(h), testSealer);

function kubeConfig(path = cp.adminKubeconfig) {
  const config = new KubeConfig();
  config.loadFromFile(path);
  return config;
}

/** The API store, counting the reads that reach it. */
function counted(inner: ManagedSecretStore) {
  const reads: string[] = [];
  const store: ManagedSecretStore = {
    read: (namespace, name) => (reads.push(`${namespace}/${name}`), inner.read(namespace, name)),
    create: (secret) => inner.create(secret),
    replace: (secret, version) => inner.replace(secret, version),
    listManaged: () => inner.listManaged(),
    delete: (namespace, name, version) => inner.delete(namespace, name, version),
  };
  return { store, reads };
}

/** A proxy in front of the API server (it counts what the server sends, and can reset or silence the network). */
async function forwarder() {
  const { proxy, config } = await proxiedKubeConfig(cp.adminKubeconfig);
  return Object.assign(proxy, { config });
}

// First, while no managed Secret exists: the API server answers that metadata-only list with `"items": null`.
t.test('the watch lists a cluster without a managed Secret as empty, and is then current', async (t) => {
  const sink = logSink();
  const watched = new WatchedSecretStore(new KubeSecretStore(kubeConfig()), kubeConfig(), sink.log, { initialMs: 50, maxMs: 100 });
  t.teardown(() => watched.stop());
  await watched.start();
  await waitUntil(async () => (await watched.listManaged().catch(() => undefined)) !== undefined || sink.lines.length > 0, 'the first list, or its failure', 5000);
  t.same(sink.lines.map((l) => l.err), [], 'the list did not fail');
  t.same(await watched.listManaged().catch((error: Error) => error.message), [], 'current, and empty');
});

t.test('the watch config asks for metadata only and is the kubeconfig in every other respect', async (t) => {
  const config = kubeConfig();
  const watchConfig = metadataOnlyWatchConfig(config);
  const context = new RequestContext(`${cp.url}/api/v1/secrets?watch=true`, HttpMethod.GET);
  await watchConfig.applySecurityAuthentication(context);
  t.equal(context.getHeaders()['Accept'], METADATA_ONLY_ACCEPT);
  t.match(context.getHeaders()['Authorization'], /^Bearer /, 'still authenticated as the kubeconfig says');
  t.equal(watchConfig.getCurrentCluster()?.server, cp.url);
  const plain = new RequestContext(`${cp.url}/api/v1/secrets`, HttpMethod.GET);
  await config.applySecurityAuthentication(plain);
  t.equal(plain.getHeaders()['Accept'], undefined, 'the kubeconfig itself is left as it was');
});

t.test('a managed Secret is read from the watch, with no API call; unmanaged, missing and fresh reads go to the API server', async (t) => {
  const api = new KubeSecretStore(kubeConfig());
  const { store, reads } = counted(api);
  const sink = logSink();
  const watched = new WatchedSecretStore(store, kubeConfig(), sink.log);
  t.teardown(() => watched.stop());
  t.equal(await watched.create(sealed('ecr-pull-111111111111-eu-west-1', 12)), 'created');
  await cp.kubectl(['-n', 'shop', 'create', 'secret', 'generic', 'ecr-pull-222222222222-eu-west-1', '--from-literal=a=b']);
  await watched.start();
  await waitUntil(async () => (reads.length = 0, await watched.read('shop', 'ecr-pull-111111111111-eu-west-1'), reads.length === 0), 'the watch to sync');
  const cached = await watched.read('shop', 'ecr-pull-111111111111-eu-west-1');
  t.same(testSealer.originOf(cached!), { tenant: 'payments', credential: 'cred-a' }, 'a managed Secret, from memory, with its seal');
  t.same(reads, []);
  t.ok(await watched.read('shop', 'ecr-pull-222222222222-eu-west-1'), 'an unmanaged Secret is found through the API server');
  t.equal(await watched.read('shop', 'missing'), undefined);
  await watched.read('shop', 'ecr-pull-111111111111-eu-west-1', true);
  t.same(reads, ['shop/ecr-pull-222222222222-eu-west-1', 'shop/missing', 'shop/ecr-pull-111111111111-eu-west-1']);

  const stored = await api.read('shop', 'ecr-pull-111111111111-eu-west-1');
  t.equal(await watched.replace(sealed('ecr-pull-111111111111-eu-west-1', 13), stored?.resourceVersion as string), 'replaced');
  await waitUntil(async () => (await watched.read('shop', 'ecr-pull-111111111111-eu-west-1'))?.resourceVersion !== stored?.resourceVersion, 'the watch to bring the write back');
  t.same((await watched.listManaged()).map((s) => s.name), ['ecr-pull-111111111111-eu-west-1']);
  t.equal(watched.size(), 1);
  t.equal(await watched.delete('shop', 'ecr-pull-111111111111-eu-west-1', '1'), 'conflict');
  t.equal(await watched.delete('shop', 'ecr-pull-111111111111-eu-west-1', (await api.read('shop', 'ecr-pull-111111111111-eu-west-1'))?.resourceVersion as string), 'deleted');
  await waitUntil(() => watched.size() === 0, 'the watch to bring the deletion back');
});

t.test('before the first list the cache answers nothing: listManaged rejects and reads go to the API server', async (t) => {
  const { store, reads } = counted(new KubeSecretStore(kubeConfig()));
  await store.create(sealed('ecr-pull-333333333333-eu-west-1', 12));
  const watched = new WatchedSecretStore(store, kubeConfig(), logSink().log);
  t.teardown(() => watched.stop());
  await t.rejects(watched.listManaged(), { message: NOT_RUNNING });
  t.ok(await watched.read('shop', 'ecr-pull-333333333333-eu-west-1'));
  t.same(reads, ['shop/ecr-pull-333333333333-eu-west-1']);
  await watched.start();
  await waitUntil(async () => (await watched.listManaged().catch(() => [])).some((s) => s.name === 'ecr-pull-333333333333-eu-west-1'), 'the first list');
  await watched.read('shop', 'ecr-pull-333333333333-eu-west-1');
  t.same(reads, ['shop/ecr-pull-333333333333-eu-west-1'], 'once listed, from the cache');
});

t.test('after the watch fails the cache is not current: listManaged rejects and reads go to the API server, until the watch is back', async (t) => {
  const proxy = await forwarder();
  t.teardown(proxy.close);
  const { store, reads } = counted(new KubeSecretStore(kubeConfig()));
  const sink = logSink();
  const watched = new WatchedSecretStore(store, proxy.config, sink.log, { initialMs: 1500, maxMs: 1500 });
  t.teardown(() => watched.stop());
  await watched.start();
  await waitUntil(async () => (await watched.listManaged().catch(() => undefined)) !== undefined, 'the first list');
  await waitUntil(async () => (reads.length = 0, await watched.read('shop', 'ecr-pull-333333333333-eu-west-1'), reads.length === 0), 'the cache to answer');
  proxy.cut();
  await waitUntil(() => sink.lines.some((l) => l.msg === FAILED), 'the watch to fail');
  await t.rejects(watched.listManaged(), { message: NOT_RUNNING }, 'a round must not act on a cache that may have missed changes');
  t.ok(await watched.read('shop', 'ecr-pull-333333333333-eu-west-1'));
  t.same(reads, ['shop/ecr-pull-333333333333-eu-west-1'], 'the read went to the API server');
  await waitUntil(async () => (await watched.listManaged().catch(() => undefined)) !== undefined, 'the watch to be restarted');
  reads.length = 0;
  await watched.read('shop', 'ecr-pull-333333333333-eu-west-1');
  t.same(reads, [], 'from the cache again');
});

t.test('a watch that cannot be opened again (the API server unreachable) is not current while it tries', async (t) => {
  const proxy = await forwarder();
  t.teardown(proxy.close);
  const sink = logSink();
  const watched = new WatchedSecretStore(new KubeSecretStore(kubeConfig()), proxy.config, sink.log, { initialMs: 100, maxMs: 100 });
  t.teardown(() => watched.stop());
  await watched.start();
  await waitUntil(async () => (await watched.listManaged().catch(() => undefined)) !== undefined, 'the first list');
  proxy.blackHole();
  proxy.cut();
  await waitUntil(() => sink.lines.some((l) => l.msg === FAILED), 'the watch to fail');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const answer = await watched.listManaged().then(() => 'answered from the cache', (error: Error) => error.message);
  t.equal(answer, NOT_RUNNING, 'restarts that never got an answer do not make the cache current');
});

t.test('a managed Secret with 1 MiB of data is listed and watched as a small projection; its data never crosses the wire', async (t) => {
  const api = kubeConfig().makeApiClient(CoreV1Api);
  // Random, so that it would cost its size on the wire even gzipped (the API server compresses large answers).
  const data = { blob: randomBytes((1 << 20) - 64).toString('base64') };
  const hosts = Array.from({ length: Math.ceil(100_000 / (HOST.length + 1)) }, () => HOST).join(',');
  const bulky = (name: string) => ({ metadata: { name, namespace: 'shop', labels: MANAGED, annotations: { 'ecr-tenant-webhook.io/hosts': hosts } }, data });
  await api.createNamespacedSecret({ namespace: 'shop', body: bulky('bulky-listed') });
  const proxy = await forwarder();
  t.teardown(proxy.close);
  const { store } = counted(new KubeSecretStore(kubeConfig()));
  const watched = new WatchedSecretStore(store, proxy.config, logSink().log);
  t.teardown(() => watched.stop());
  await watched.start();
  await waitUntil(async () => (await watched.listManaged().catch(() => [])).some((s) => s.name === 'bulky-listed'), 'the first list');
  t.ok(proxy.received < 200_000, `the list received ${proxy.received} bytes for a 1 MiB Secret`);

  proxy.received = 0;
  await api.createNamespacedSecret({ namespace: 'shop', body: bulky('bulky-watched') });
  await waitUntil(async () => (await watched.listManaged()).some((s) => s.name === 'bulky-watched'), 'the watch to bring it');
  t.ok(proxy.received < 200_000, `the watch event received ${proxy.received} bytes for a 1 MiB Secret`);
  proxy.received = 0;
  await proxy.config.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: 'shop', name: 'bulky-watched' });
  t.ok(proxy.received > 1_000_000, `an ordinary GET of it receives ${proxy.received} bytes (the counter counts)`);

  for (const name of ['bulky-listed', 'bulky-watched']) {
    const projection = (await watched.listManaged()).find((s) => s.name === name);
    t.same(projection, { namespace: 'shop', name, resourceVersion: projection?.resourceVersion, managed: true, tenantLabel: undefined, expiresAt: undefined, hosts: [], seal: undefined }, `${name}: no data, and a 100 kB hosts annotation projects to no hosts`);
    t.ok(JSON.stringify(projection).length < 1000, `${name}: the projection is small`);
    t.same(await watched.read('shop', name), projection, `${name}: read from the cache`);
  }
});

t.test('without a working watch every read goes to the API server, and the watch keeps being retried', async (t) => {
  const weak = kubeConfig(await cp.serviceAccountKubeconfig('shop', 'no-watch'));
  const { store, reads } = counted(new KubeSecretStore(kubeConfig()));
  const sink = logSink();
  const watched = new WatchedSecretStore(store, weak, sink.log, { initialMs: 50, maxMs: 100 });
  t.teardown(() => watched.stop());
  await watched.start();
  await waitUntil(() => sink.lines.filter((l) => l.msg === FAILED).length >= 2, 'two retries');
  await t.rejects(watched.listManaged(), { message: NOT_RUNNING });
  await watched.read('shop', 'ecr-pull-111111111111-eu-west-1');
  t.same(reads, ['shop/ecr-pull-111111111111-eu-west-1']);
});

t.test('an error thrown while opening the watch after a good list is retried like any other', async (t) => {
  class ExpiringKubeConfig extends KubeConfig {
    watches = 0;
    override async applySecurityAuthentication(context: Parameters<KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
      if (context.getUrl().includes('watch=true') && ++this.watches === 1) throw new Error('credentials expired while opening the watch');
      return super.applySecurityAuthentication(context);
    }
  }
  const expiring = new ExpiringKubeConfig();
  expiring.loadFromFile(cp.adminKubeconfig);
  const sink = logSink();
  const watched = new WatchedSecretStore(new KubeSecretStore(kubeConfig()), expiring, sink.log, { initialMs: 50, maxMs: 100 });
  t.teardown(() => watched.stop());
  await watched.start();
  t.match(sink.lines.find((l) => l.msg === FAILED), { err: 'credentials expired while opening the watch' });
  await waitUntil(() => expiring.watches > 1, 'the watch to be opened again');
});
