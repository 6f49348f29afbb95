import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { buildPullSecret, expiryOf, hostsOf } from '../../src/credentials/pull-secret.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { KubeSecretStore } from '../../src/kube/secret-store.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';

/** Secrets against a real kube-apiserver: conflicts, stale versions and two writers racing. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const created = await cp.kubectl(['create', 'namespace', 'shop']);
if (created.code !== 0) throw new Error(created.stderr);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(cp.adminKubeconfig);
const store = new KubeSecretStore(kubeConfig);

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const spec = (name: string) => ({ name, namespace: 'shop', tenant: 'payments', hosts: [HOST] });
const hours = (h: number) => new Date(Date.now() + h * 3600_000);
const token = (h: number) => ({ username: 'AWS', password: `pw-${h}`, expiresAt: hours(h) });

t.test('create, read back, and a second create finds the name taken', async (t) => {
  const secret = buildPullSecret(spec('a'), token(12));
  t.equal(await store.create(secret), 'created');
  t.equal(await store.create(secret), 'exists');
  const read = await store.read('shop', 'a');
  t.equal(read?.type, 'kubernetes.io/dockerconfigjson');
  t.same(hostsOf(read!), [HOST]);
  t.equal(await store.read('shop', 'missing'), undefined);
});

t.test('a replace at the read version succeeds; at a stale version it is a conflict', async (t) => {
  await store.create(buildPullSecret(spec('b'), token(3)));
  const read = await store.read('shop', 'b');
  const version = read?.metadata?.resourceVersion as string;
  const winner = buildPullSecret(spec('b'), token(12));
  t.equal(await store.replace(winner, version), 'replaced');
  t.equal(await store.replace(buildPullSecret(spec('b'), token(11)), version), 'conflict');
  t.same(expiryOf((await store.read('shop', 'b'))!), expiryOf(winner), 'the first replace stays');
});

t.test('ten writers racing for one missing Secret: exactly one creates it, the rest keep it', async (t) => {
  const writer = new PullSecretWriter(store);
  const outcomes = await Promise.all(Array.from({ length: 10 }, () => writer.ensure({ spec: spec('c'), now: new Date(), freshUntil: hours(6), token: async () => token(12) })));
  t.equal(outcomes.filter((o) => o === 'created').length, 1);
  t.equal(outcomes.filter((o) => o === 'kept').length, 9);
});

t.test('the stored Secret decodes to the registry credentials a kubelet would use', async (t) => {
  const read = await cp.kubectl(['-n', 'shop', 'get', 'secret', 'c', '-o', 'jsonpath={.data.\\.dockerconfigjson}']);
  const config = JSON.parse(Buffer.from(read.stdout, 'base64').toString());
  t.same(config.auths[HOST], { username: 'AWS', password: 'pw-12', auth: Buffer.from('AWS:pw-12').toString('base64') });
});

t.test('listing finds only the managed Secrets of every namespace, and delete honours the version read', async (t) => {
  await cp.kubectl(['create', 'namespace', 'other']);
  await store.create(buildPullSecret({ ...spec('e'), namespace: 'other' }, token(12)));
  await cp.kubectl(['-n', 'shop', 'create', 'secret', 'generic', 'not-ours', '--from-literal=a=b']);
  const managed = await store.listManaged();
  t.same(managed.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`).sort(), ['other/e', 'shop/a', 'shop/b', 'shop/c']);
  const e = managed.find((s) => s.metadata?.name === 'e')!;
  t.equal(await store.delete('other', 'e', '1'), 'conflict', 'a stale version deletes nothing');
  t.equal(await store.delete('other', 'e', e.metadata?.resourceVersion as string), 'deleted');
  t.equal(await store.read('other', 'e'), undefined);
  t.equal(await store.delete('other', 'e', e.metadata?.resourceVersion as string), 'deleted', 'already gone counts as deleted');
});

t.test('an identity without RBAC on Secrets gets a message naming the Secret and the HTTP code', async (t) => {
  const denied = new KubeConfig();
  denied.loadFromFile(await cp.serviceAccountKubeconfig('default', 'no-secrets'));
  const weak = new KubeSecretStore(denied);
  await t.rejects(weak.read('shop', 'a'), { message: 'reading Secret shop/a failed: HTTP 403 from the API server' });
  await t.rejects(weak.create(buildPullSecret(spec('d'), token(1))), { message: 'creating Secret shop/d failed: HTTP 403 from the API server' });
  await t.rejects(weak.replace(buildPullSecret(spec('a'), token(1)), '1'), { message: 'replacing Secret shop/a failed: HTTP 403 from the API server' });
  await t.rejects(weak.listManaged(), { message: 'listing managed Secret */* failed: HTTP 403 from the API server' });
  await t.rejects(weak.delete('shop', 'a', '1'), { message: 'deleting Secret shop/a failed: HTTP 403 from the API server' });
});

t.test('an unreachable API server is reported as such, not as a missing Secret', async (t) => {
  const offline = new KubeConfig();
  offline.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u', token: 'x' });
  await t.rejects(new KubeSecretStore(offline).read('shop', 'a'), { message: /^reading Secret shop\/a failed: / });
});
