import { CoreV1Api, KubeConfig, type RequestContext } from '@kubernetes/client-node';
import t from 'tap';
import { Provenance } from '../../src/credentials/provenance.ts';
import { FixedProvenanceKeyStore, KubeProvenanceKeyStore, PROVENANCE_KEY_SECRET } from '../../src/kube/provenance-key.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { silentServer } from '../support/silent-server.ts';

/** The provenance key Secret against a real kube-apiserver: created once, shared, and refused loudly when unusable. */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const admin = new KubeConfig();
admin.loadFromFile(cp.adminKubeconfig);
const api = admin.makeApiClient(CoreV1Api);
const DEADLINE_MS = 5000;

let namespaces = 0;
/** A fresh namespace for each test, so none sees another's key. */
async function namespace(): Promise<string> {
  const name = `keys-${++namespaces}`;
  await api.createNamespace({ body: { metadata: { name } } });
  return name;
}

const keyIn = async (ns: string) => Buffer.from((await api.readNamespacedSecret({ namespace: ns, name: PROVENANCE_KEY_SECRET })).data?.['key'] as string, 'base64');

t.test('a missing key is created: 32 random bytes in an Opaque Secret without the managed-by label', async (t) => {
  const ns = await namespace();
  const key = await new KubeProvenanceKeyStore(admin, ns, DEADLINE_MS).load();
  t.equal(key.length, 32);
  t.not(key.toString('hex'), Buffer.alloc(32).toString('hex'));
  const secret = await api.readNamespacedSecret({ namespace: ns, name: PROVENANCE_KEY_SECRET });
  t.equal(secret.type, 'Opaque');
  t.equal(secret.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined, 'never mistaken for a pull Secret');
  t.same(await keyIn(ns), key);
  t.doesNotThrow(() => new Provenance(key), 'a key the sealer accepts');
});

t.test('a second load, by this store or another replica’s, returns the same key', async (t) => {
  const ns = await namespace();
  const first = await new KubeProvenanceKeyStore(admin, ns, DEADLINE_MS).load();
  const store = new KubeProvenanceKeyStore(admin, ns, DEADLINE_MS);
  t.same(await store.load(), first);
  t.same(await store.load(), first);
});

t.test('two replicas loading at once agree on one key', async (t) => {
  for (let round = 0; round < 3; round++) {
    const ns = await namespace();
    const keys = await Promise.all(Array.from({ length: 4 }, () => new KubeProvenanceKeyStore(admin, ns, DEADLINE_MS).load()));
    t.ok(keys.every((key) => key.equals(keys[0] as Buffer)), `round ${round}: every replica has the key that was stored`);
    t.same(await keyIn(ns), keys[0]);
  }
});

/** The admin kubeconfig, with `before` run ahead of each request of the given method. */
function intercepting(before: (method: string, url: string) => Promise<void>) {
  class Intercepting extends KubeConfig {
    override async applySecurityAuthentication(context: RequestContext): Promise<void> {
      await before(context.getHttpMethod(), context.getUrl());
      return super.applySecurityAuthentication(context);
    }
  }
  const config = new Intercepting();
  config.loadFromFile(cp.adminKubeconfig);
  return config;
}

t.test('a replica whose create loses to another’s reads and uses the winner’s key', async (t) => {
  const ns = await namespace();
  const winner = Buffer.alloc(32, 5);
  const methods: string[] = [];
  const config = intercepting(async (method) => {
    methods.push(method);
    if (method === 'POST') await api.createNamespacedSecret({ namespace: ns, body: { metadata: { name: PROVENANCE_KEY_SECRET }, data: { key: winner.toString('base64') } } });
  });
  t.same(await new KubeProvenanceKeyStore(config, ns, DEADLINE_MS).load(), winner);
  t.same(methods, ['GET', 'POST', 'GET'], 'read, create (taken), read again');
});

t.test('a key Secret deleted between the lost create and the second read is reported, not looped on', async (t) => {
  const ns = await namespace();
  let gets = 0;
  const config = intercepting(async (method) => {
    if (method === 'POST') await api.createNamespacedSecret({ namespace: ns, body: { metadata: { name: PROVENANCE_KEY_SECRET }, data: { key: Buffer.alloc(32, 5).toString('base64') } } });
    if (method === 'GET' && ++gets === 2) await api.deleteNamespacedSecret({ namespace: ns, name: PROVENANCE_KEY_SECRET });
  });
  await t.rejects(new KubeProvenanceKeyStore(config, ns, DEADLINE_MS).load(), { message: `the provenance key in Secret ${ns}/${PROVENANCE_KEY_SECRET} cannot be had: Secret ${ns}/${PROVENANCE_KEY_SECRET} holds no "key" of at least 32 bytes; delete it and the webhook makes a new one` });
});

const broken: { name: string; data: Record<string, string> | undefined }[] = [
  { name: 'no data', data: undefined },
  { name: 'another data key', data: { secret: Buffer.alloc(32, 1).toString('base64') } },
  { name: 'a key of 16 bytes', data: { key: Buffer.alloc(16, 1).toString('base64') } },
  { name: 'an empty key', data: { key: '' } },
];
for (const c of broken) {
  t.test(`an existing key Secret with ${c.name} is refused with a message naming the Secret, and left as it is`, async (t) => {
    const ns = await namespace();
    await api.createNamespacedSecret({ namespace: ns, body: { metadata: { name: PROVENANCE_KEY_SECRET }, ...(c.data === undefined ? {} : { data: c.data }) } });
    const before = await api.readNamespacedSecret({ namespace: ns, name: PROVENANCE_KEY_SECRET });
    const where = `Secret ${ns}/${PROVENANCE_KEY_SECRET}`;
    await t.rejects(new KubeProvenanceKeyStore(admin, ns, DEADLINE_MS).load(), { message: `the provenance key in ${where} cannot be had: ${where} holds no "key" of at least 32 bytes; delete it and the webhook makes a new one` });
    t.equal((await api.readNamespacedSecret({ namespace: ns, name: PROVENANCE_KEY_SECRET })).metadata?.resourceVersion, before.metadata?.resourceVersion, 'never overwritten: every seal made with it would be lost');
  });
}

t.test('an identity without RBAC on Secrets is told the HTTP code, reading and creating', async (t) => {
  const ns = await namespace();
  const denied = new KubeConfig();
  denied.loadFromFile(await cp.serviceAccountKubeconfig(ns, 'no-secrets'));
  const where = `Secret ${ns}/${PROVENANCE_KEY_SECRET}`;
  await t.rejects(new KubeProvenanceKeyStore(denied, ns, DEADLINE_MS).load(), { message: `the provenance key in ${where} cannot be had: HTTP 403 from the API server` });

  // May read Secrets but not create them: the create's refusal is reported the same way.
  const reader = `${ns}-reader`;
  await cp.kubectl(['-n', ns, 'create', 'role', reader, '--verb=get', '--resource=secrets']);
  await cp.kubectl(['-n', ns, 'create', 'rolebinding', reader, `--role=${reader}`, `--serviceaccount=${ns}:no-secrets`]);
  await t.rejects(new KubeProvenanceKeyStore(denied, ns, DEADLINE_MS).load(), { message: `the provenance key in ${where} cannot be had: HTTP 403 from the API server` });
  await t.rejects(api.readNamespacedSecret({ namespace: ns, name: PROVENANCE_KEY_SECRET }), { code: 404 }, 'nothing was created');
});

t.test('a token the API server does not know is told the HTTP code', async (t) => {
  const stranger = new KubeConfig();
  stranger.loadFromClusterAndUser({ name: 'c', server: cp.url, caData: Buffer.from(cp.caPem).toString('base64'), skipTLSVerify: false }, { name: 'u', token: 'not-a-token' });
  await t.rejects(new KubeProvenanceKeyStore(stranger, 'anywhere', DEADLINE_MS).load(), { message: `the provenance key in Secret anywhere/${PROVENANCE_KEY_SECRET} cannot be had: HTTP 401 from the API server` });
});

t.test('an API server that never answers fails the load at the deadline instead of hanging it', async (t) => {
  const stalled = await silentServer();
  t.teardown(stalled.close);
  const silent = new KubeConfig();
  silent.loadFromClusterAndUser({ name: 'c', server: stalled.url, skipTLSVerify: true }, { name: 'u', token: 'x' });
  const started = Date.now();
  await t.rejects(new KubeProvenanceKeyStore(silent, 'webhook', 200).load(), { message: `the provenance key in Secret webhook/${PROVENANCE_KEY_SECRET} cannot be had: reading Secret webhook/${PROVENANCE_KEY_SECRET} took longer than 200 ms` });
  t.ok(Date.now() - started < 2000);
});

t.test('a create that never answers fails at the deadline too', async (t) => {
  const ns = await namespace();
  const config = intercepting(async (method) => {
    if (method === 'POST') await new Promise((resolve) => setTimeout(resolve, 1000));
  });
  await t.rejects(new KubeProvenanceKeyStore(config, ns, 200).load(), { message: `the provenance key in Secret ${ns}/${PROVENANCE_KEY_SECRET} cannot be had: creating Secret ${ns}/${PROVENANCE_KEY_SECRET} took longer than 200 ms` });
});

t.test('the fixed key store gives its key', async (t) => {
  const key = Buffer.alloc(32, 3);
  t.equal(await new FixedProvenanceKeyStore(key).load(), key);
});
