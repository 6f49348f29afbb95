import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { buildPullSecret, expiryOf } from '../../src/credentials/pull-secret.ts';
import { KubeSecretStore, type ManagedSecretStore } from '../../src/kube/secret-store.ts';
import { WatchedSecretStore } from '../../src/kube/watched-secret-store.ts';
import { logSink } from '../admission/harness.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { waitUntil } from '../e2e/support/serve-process.ts';

/** Reads of managed Secrets answered from a watch of the real API server; everything else goes to the API server. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
await cp.kubectl(['create', 'namespace', 'shop']);

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const spec = (name: string) => ({ name, namespace: 'shop', tenant: 'payments', hosts: [HOST] });
const token = (h: number) => ({ username: 'AWS', password: `pw-${h}`, expiresAt: new Date(Date.now() + h * 3600_000) });

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

t.test('a managed Secret is read from the watch, with no API call; unmanaged, missing and fresh reads go to the API server', async (t) => {
  const api = new KubeSecretStore(kubeConfig());
  const { store, reads } = counted(api);
  const sink = logSink();
  const watched = new WatchedSecretStore(store, kubeConfig(), sink.log);
  t.teardown(() => watched.stop());
  t.equal(await watched.create(buildPullSecret(spec('ecr-pull-111111111111-eu-west-1'), token(12))), 'created');
  await cp.kubectl(['-n', 'shop', 'create', 'secret', 'generic', 'ecr-pull-222222222222-eu-west-1', '--from-literal=a=b']);
  await watched.start();
  await waitUntil(async () => (reads.length = 0, await watched.read('shop', 'ecr-pull-111111111111-eu-west-1'), reads.length === 0), 'the watch to sync');
  t.ok(expiryOf((await watched.read('shop', 'ecr-pull-111111111111-eu-west-1'))!), 'a managed Secret, from memory');
  t.same(reads, []);
  t.ok(await watched.read('shop', 'ecr-pull-222222222222-eu-west-1'), 'an unmanaged Secret is found through the API server');
  t.equal(await watched.read('shop', 'missing'), undefined);
  await watched.read('shop', 'ecr-pull-111111111111-eu-west-1', true);
  t.same(reads, ['shop/ecr-pull-222222222222-eu-west-1', 'shop/missing', 'shop/ecr-pull-111111111111-eu-west-1']);

  const stored = await api.read('shop', 'ecr-pull-111111111111-eu-west-1');
  t.equal(await watched.replace(buildPullSecret(spec('ecr-pull-111111111111-eu-west-1'), token(13)), stored?.metadata?.resourceVersion as string), 'replaced');
  await waitUntil(async () => (await watched.read('shop', 'ecr-pull-111111111111-eu-west-1'))?.metadata?.resourceVersion !== stored?.metadata?.resourceVersion, 'the watch to bring the write back');
  t.same((await watched.listManaged()).map((s) => s.metadata?.name), ['ecr-pull-111111111111-eu-west-1']);
  t.equal(await watched.delete('shop', 'ecr-pull-111111111111-eu-west-1', '1'), 'conflict');
});

t.test('without a working watch every read goes to the API server, and the watch keeps being retried', async (t) => {
  const weak = kubeConfig(await cp.serviceAccountKubeconfig('shop', 'no-watch'));
  const { store, reads } = counted(new KubeSecretStore(kubeConfig()));
  const sink = logSink();
  const watched = new WatchedSecretStore(store, weak, sink.log, 50);
  t.teardown(() => watched.stop());
  await watched.start();
  await waitUntil(() => sink.lines.filter((l) => l.msg === 'pull secret watch failed; reading from the API server until it is back').length >= 2, 'two retries');
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
  const watched = new WatchedSecretStore(new KubeSecretStore(kubeConfig()), expiring, sink.log, 50);
  t.teardown(() => watched.stop());
  await watched.start();
  t.match(sink.lines.find((l) => l.msg === 'pull secret watch failed; reading from the API server until it is back'), { err: 'credentials expired while opening the watch' });
  await waitUntil(() => expiring.watches > 1, 'the watch to be opened again');
});
