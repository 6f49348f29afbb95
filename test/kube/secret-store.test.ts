import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { buildPullSecret, type PullSecretSpec } from '../../src/credentials/pull-secret.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { KubeSecretStore } from '../../src/kube/secret-store.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { proxiedKubeConfig } from '../support/tcp-proxy.ts';
import { otherSealer, testSealer } from '../support/test-sealer.ts';

/** Secrets against a real kube-apiserver: conflicts, stale versions, two writers racing, and data never read. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const created = await cp.kubectl(['create', 'namespace', 'shop']);
if (created.code !== 0) throw new Error(created.stderr);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(cp.adminKubeconfig);
const store = new KubeSecretStore(kubeConfig);

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const MANAGED = { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' };
const spec = (name: string): PullSecretSpec => ({ name, namespace: 'shop', tenant: 'payments', credential: 'cred-a', hosts: [HOST] });
const hours = (h: number) => new Date(Date.now() + h * 3600_000);
const token = (h: number) => ({ username: 'AWS', password: `pw-${h}`, expiresAt: hours(h) });
const sealed = (s: PullSecretSpec, h: number) => buildPullSecret(s, token(h), testSealer);


// The API server answers a metadata-only list with nothing in it with `"items": null` (PartialObjectMetadataList),
// which KubeSecretStore.listManaged does not expect yet: a cluster without a single pull Secret cannot be listed.
t.test('a cluster without a managed Secret lists as empty', async (t) => {
  const listed = await store.listManaged().catch((error: Error) => error.message);
  t.same(listed, [], 'an empty list');
});

t.test('create, read back as a projection, and a second create finds the name taken', async (t) => {
  const secret = sealed(spec('a'), 12);
  t.equal(await store.create(secret), 'created');
  t.equal(await store.create(secret), 'exists');
  const read = await store.read('shop', 'a');
  t.match(read, { namespace: 'shop', name: 'a', resourceVersion: /^\d+$/, managed: true, tenantLabel: 'payments', hosts: [HOST], seal: secret.metadata.annotations?.['ecr-tenant-webhook.io/provenance'] });
  t.equal(read?.expiresAt, Date.parse(secret.metadata.annotations?.['ecr-tenant-webhook.io/expires-at'] as string));
  t.same(testSealer.originOf(read!), { tenant: 'payments', credential: 'cred-a' }, 'the seal survives the round trip through the API server');
  t.equal(otherSealer.originOf(read!), undefined);
  t.notOk('data' in read! || 'type' in read!, 'no data and no type in what is read');
  t.equal(await store.read('shop', 'missing'), undefined);
});

t.test('a replace at the read version succeeds; at a stale version it is a conflict', async (t) => {
  await store.create(sealed(spec('b'), 3));
  const read = await store.read('shop', 'b');
  const version = read?.resourceVersion as string;
  const winner = sealed(spec('b'), 12);
  t.equal(await store.replace(winner, version), 'replaced');
  t.equal(await store.replace(sealed(spec('b'), 11), version), 'conflict');
  t.equal((await store.read('shop', 'b'))?.expiresAt, Date.parse(winner.metadata.annotations?.['ecr-tenant-webhook.io/expires-at'] as string), 'the first replace stays');
});

t.test('ten writers racing for one missing Secret: exactly one creates it, the rest keep it', async (t) => {
  const writer = new PullSecretWriter(store, () => testSealer);
  const outcomes = await Promise.all(Array.from({ length: 10 }, () => writer.ensure({ spec: spec('c'), now: new Date(), freshUntil: hours(6), token: async () => token(12) })));
  t.equal(outcomes.filter((o) => o === 'created').length, 1);
  t.equal(outcomes.filter((o) => o === 'kept').length, 9);
});

t.test('the stored Secret decodes to the registry credentials a kubelet would use', async (t) => {
  const read = await cp.kubectl(['-n', 'shop', 'get', 'secret', 'c', '-o', 'jsonpath={.data.\\.dockerconfigjson}']);
  const config = JSON.parse(Buffer.from(read.stdout, 'base64').toString());
  t.same(config.auths[HOST], { username: 'AWS', password: 'pw-12', auth: Buffer.from('AWS:pw-12').toString('base64') });
  const type = await cp.kubectl(['-n', 'shop', 'get', 'secret', 'c', '-o', 'jsonpath={.type}']);
  t.equal(type.stdout, 'kubernetes.io/dockerconfigjson', 'the type is written even though it is never read back');
});

t.test('a managed-labelled Secret forged with another key is read as what it is: unproven', async (t) => {
  const forged = buildPullSecret(spec('forged'), token(48), otherSealer);
  t.equal(await store.create(forged), 'created');
  const read = await store.read('shop', 'forged');
  t.equal(read?.managed, true, 'the label selects it');
  t.equal(testSealer.originOf(read!), undefined, 'the seal proves nothing');
  const writer = new PullSecretWriter(store, () => testSealer);
  t.equal(await writer.ensure({ spec: spec('forged'), now: new Date(), freshUntil: hours(6), token: async () => token(12) }), 'updated');
  t.same(testSealer.originOf((await store.read('shop', 'forged'))!), { tenant: 'payments', credential: 'cred-a' });
});

t.test('a managed-labelled Secret with 1 MiB of data is read, listed and written without its data crossing the wire', async (t) => {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  // A dockerconfigjson (its type cannot change on replace) padded with random text (the API server gzips large
  // answers, so anything compressible would cross the wire small either way) to just under the 1 MiB limit.
  const big = Buffer.from(JSON.stringify({ auths: {}, pad: randomBytes(786_000).toString('base64') })).toString('base64');
  const hosts = Array.from({ length: Math.ceil(100_000 / (HOST.length + 1)) }, () => HOST).join(',');
  const bulky = { type: 'kubernetes.io/dockerconfigjson', metadata: { name: 'bulky', namespace: 'shop', labels: MANAGED, annotations: { 'ecr-tenant-webhook.io/hosts': hosts } }, data: { '.dockerconfigjson': big } };
  t.ok(Buffer.from(big, 'base64').length > 1_000_000 && hosts.length >= 100_000);
  await api.createNamespacedSecret({ namespace: 'shop', body: bulky });
  const forwarder = await proxiedKubeConfig(cp.adminKubeconfig);
  t.teardown(forwarder.proxy.close);
  const counted = new KubeSecretStore(forwarder.config);
  await counted.read('shop', 'a');
  forwarder.proxy.received = 0;
  const read = await counted.read('shop', 'bulky');
  t.ok(forwarder.proxy.received < 150_000, `a read received ${forwarder.proxy.received} bytes: the annotations, not the data`);
  t.same(read, { namespace: 'shop', name: 'bulky', resourceVersion: read?.resourceVersion, managed: true, tenantLabel: undefined, expiresAt: undefined, hosts: [], seal: undefined }, 'a 100 kB hosts annotation projects to no hosts');
  t.ok(JSON.stringify(read).length < 1000, 'the projection is small');
  forwarder.proxy.received = 0;
  await forwarder.config.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: 'shop', name: 'bulky' });
  t.ok(forwarder.proxy.received > 1_000_000, `an ordinary GET of the same Secret receives ${forwarder.proxy.received} bytes (the counter counts)`);

  forwarder.proxy.received = 0;
  const listed = await counted.listManaged();
  t.ok(forwarder.proxy.received < 150_000, `a list received ${forwarder.proxy.received} bytes`);
  const listedBulky = listed.find((s) => s.name === 'bulky');
  t.same(listedBulky, read);
  t.ok(JSON.stringify(listed).length < 1000 * listed.length);

  forwarder.proxy.received = 0;
  t.equal(await counted.replace(sealed(spec('bulky'), 12), read?.resourceVersion as string), 'replaced', 'a replace answers with metadata only');
  t.equal(await counted.create(sealed(spec('bulky-2'), 12)), 'created');
  t.ok(forwarder.proxy.received < 50_000, `the writes received ${forwarder.proxy.received} bytes`);
  t.same(testSealer.originOf((await store.read('shop', 'bulky'))!), { tenant: 'payments', credential: 'cred-a' });
  await store.delete('shop', 'bulky', (await store.read('shop', 'bulky'))?.resourceVersion as string);
  await store.delete('shop', 'bulky-2', (await store.read('shop', 'bulky-2'))?.resourceVersion as string);
});

t.test('listing finds only the managed Secrets of every namespace, and delete honours the version read', async (t) => {
  await cp.kubectl(['create', 'namespace', 'other']);
  await store.create(sealed({ ...spec('e'), namespace: 'other' }, 12));
  await cp.kubectl(['-n', 'shop', 'create', 'secret', 'generic', 'not-ours', '--from-literal=a=b']);
  const managed = await store.listManaged();
  t.same(managed.map((s) => `${s.namespace}/${s.name}`).sort(), ['other/e', 'shop/a', 'shop/b', 'shop/c', 'shop/forged']);
  const e = managed.find((s) => s.name === 'e')!;
  t.equal(await store.delete('other', 'e', '1'), 'conflict', 'a stale version deletes nothing');
  t.equal(await store.delete('other', 'e', e.resourceVersion), 'deleted');
  t.equal(await store.read('other', 'e'), undefined);
  t.equal(await store.delete('other', 'e', e.resourceVersion), 'deleted', 'already gone counts as deleted');
});

t.test('listing pages through more managed Secrets than one page holds', async (t) => {
  await cp.kubectl(['create', 'namespace', 'many']);
  const api = kubeConfig.makeApiClient(CoreV1Api);
  for (let i = 0; i < 510; i += 30) {
    await Promise.all(Array.from({ length: Math.min(30, 510 - i) }, (_, j) => api.createNamespacedSecret({ namespace: 'many', body: { metadata: { name: `s-${i + j}`, namespace: 'many', labels: MANAGED } } })));
  }
  const managed = await store.listManaged();
  t.equal(managed.filter((s) => s.namespace === 'many').length, 510);
});

t.test('an identity without RBAC on Secrets gets a message naming the Secret and the HTTP code', async (t) => {
  const denied = new KubeConfig();
  denied.loadFromFile(await cp.serviceAccountKubeconfig('default', 'no-secrets'));
  const weak = new KubeSecretStore(denied);
  await t.rejects(weak.read('shop', 'a'), { message: 'reading Secret shop/a failed: HTTP 403 from the API server' });
  await t.rejects(weak.create(sealed(spec('d'), 1)), { message: 'creating Secret shop/d failed: HTTP 403 from the API server' });
  await t.rejects(weak.replace(sealed(spec('a'), 1), '1'), { message: 'replacing Secret shop/a failed: HTTP 403 from the API server' });
  await t.rejects(weak.listManaged(), { message: 'listing managed Secret */* failed: HTTP 403 from the API server' });
  await t.rejects(weak.delete('shop', 'a', '1'), { message: 'deleting Secret shop/a failed: HTTP 403 from the API server' });
});

t.test('an unreachable API server is reported as such, not as a missing Secret', async (t) => {
  const offline = new KubeConfig();
  offline.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u', token: 'x' });
  await t.rejects(new KubeSecretStore(offline).read('shop', 'a'), { message: /^reading Secret shop\/a failed: / });
});
