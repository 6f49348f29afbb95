import t from 'tap';
import { Provenance } from '../../src/credentials/provenance.ts';
import { PROVENANCE_ANNOTATION, projectSecret, type StoredPullSecret } from '../../src/credentials/pull-secret.ts';
import { startServe, waitUntil } from './support/serve-process.ts';
import { startWebhookStack } from './support/webhook-stack.ts';

/**
 * Pull Secrets between admissions, through a real API server and moto: the elected replica renews and cleans up,
 * a second replica takes over when the leader dies, and an AWS outage loses no Secret.
 */
t.setTimeout(240_000);

const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const SECRET = 'ecr-pull-111111111111-eu-west-1';
const EXPIRES = 'ecr-tenant-webhook.io/expires-at';
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${TARGET}
          repositories: ["payments/*"]
    newcomer:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-newcomer
      grants:
        - registry: ${TARGET}
          repositories: ["newcomer/*"]
`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());
await stack.namespace('shop', { 'ecr-tenant-webhook.io/tenant': 'payments' });

const pod = (namespace: string, image: string, name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'app', image }] } });
const holder = async () => (await stack.kubectl(['-n', 'ecr-tenant-webhook', 'get', 'lease', 'ecr-tenant-webhook-refresher', '-o', 'jsonpath={.spec.holderIdentity}'])).stdout;
const expiry = async (namespace = 'shop') => {
  const read = await stack.kubectl(['-n', namespace, 'get', 'secret', SECRET, '-o', 'json']);
  return read.code === 0 ? Date.parse(JSON.parse(read.stdout).metadata.annotations[EXPIRES]) : undefined;
};
/**
 * Makes the stored Secret look about to expire, as it would hours after it was written: the expiry moved to a minute
 * from now and sealed again with the webhook's own key (read from its namespace), so it is still proven the
 * webhook's and takes the ordinary renewal path.
 */
const ageSecret = async () => {
  const key = JSON.parse(await stack.kubectlOk(['-n', 'ecr-tenant-webhook', 'get', 'secret', 'ecr-tenant-webhook-provenance', '-o', 'json'])).data.key as string;
  const stored = projectSecret(JSON.parse(await stack.kubectlOk(['-n', 'shop', 'get', 'secret', SECRET, '-o', 'json']))) as StoredPullSecret;
  const expiresAt = new Date(Date.now() + 60_000).toISOString();
  const credential = (stored.seal as string).split('.')[1] as string;
  const seal = new Provenance(Buffer.from(key, 'base64')).seal({ namespace: 'shop', name: SECRET, tenant: 'payments', credential, expiresAt, hosts: stored.hosts });
  await stack.kubectlOk(['-n', 'shop', 'annotate', 'secret', SECRET, '--overwrite', `${EXPIRES}=${expiresAt}`, `${PROVENANCE_ANNOTATION}=${seal}`]);
  // The expiry set, not one read back: the leader may renew the Secret before a read gets there.
  return Date.parse(expiresAt);
};

await stack.kubectlOk(['create', '-f', '-'], pod('shop', `${TARGET}/payments/api:1`, 'first'));

t.test('one replica holds the refresher Lease', async (t) => {
  await waitUntil(async () => (await holder()) === 'replica-a', 'replica-a to lead');
  t.ok(stack.serve.lines.some((l) => l.msg === 'became the refresher leader'));
});

t.test('the leader renews a Secret nearing expiry without any admission', async (t) => {
  const aged = await ageSecret();
  await waitUntil(async () => ((await expiry()) ?? 0) > aged, 'the renewal');
  t.ok(((await expiry()) as number) > Date.now() + 5 * 60_000, 'valid for minutes again');
  t.ok(stack.serve.lines.some((l) => l.msg === 'pull secret renewed' && l.namespace === 'shop'), 'renewed as the webhook’s own, not rewritten as a stranger’s');
});

t.test('a Secret labelled as the webhook’s but not sealed by it is left alone, and so are Secrets of others', async (t) => {
  const forged = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson', metadata: { name: 'ecr-pull-999999999999-eu-west-1', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', 'ecr-tenant-webhook.io/tenant': 'payments' } }, data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') } };
  await stack.kubectlOk(['apply', '-f', '-'], JSON.stringify(forged));
  await stack.kubectlOk(['-n', 'shop', 'create', 'secret', 'generic', 'app-config', '--from-literal=a=b']);
  const seen = () => stack.serve.lines.filter((l) => l.msg === 'pull secrets refreshed' && (l.unverified as number) >= 1).length;
  await waitUntil(() => seen() >= 2, 'two rounds that saw the unsealed Secret');
  t.equal((await stack.kubectl(['-n', 'shop', 'get', 'secret', forged.metadata.name])).code, 0, 'the unsealed Secret is not deleted');
  t.equal((await stack.kubectl(['-n', 'shop', 'get', 'secret', 'app-config'])).code, 0, 'a Secret the webhook does not manage is untouched');
  t.ok((await expiry()) !== undefined, 'the granted Secret stays');
  await stack.kubectlOk(['-n', 'shop', 'delete', 'secret', forged.metadata.name, 'app-config']);
});

t.test('a policy that drops a grant does not delete its Secrets at once: they wait for the grace period, and say so', async (t) => {
  stack.pushPolicy(POLICY.replace(`registry: ${TARGET}\n          repositories: ["payments/*"]`, 'registry: 333333333333.dkr.ecr.eu-west-1.amazonaws.com\n          repositories: ["payments/*"]'));
  const waiting = () => stack.serve.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('pull secrets the policy no longer grants wait before deletion')).length;
  await waitUntil(() => waiting() >= 2, 'two rounds holding the deletion back');
  t.ok((await expiry()) !== undefined, 'the Secret is still there');
  t.match(stack.serve.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('pull secrets the policy no longer grants')), { pending: 1, graceMs: 3_600_000 });
  stack.pushPolicy(POLICY);
  await waitUntil(() => stack.serve.lines.filter((l) => l.msg === 'pull secrets refreshed' && l.pendingDeletions === 0).length > 0 && waiting() >= 2, 'the policy put back');
});

t.test('when the leader dies a second replica takes the Lease and goes on renewing', async (t) => {
  const args = stack.serveArgs;
  const second = await startServe([...args, '--identity', 'replica-b'], { env: stack.serveEnv });
  t.teardown(() => second.stop());
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(await holder(), 'replica-a', 'a live leader keeps its Lease');
  stack.serve.child.kill('SIGKILL');
  const died = Date.now();
  await waitUntil(async () => (await holder()) === 'replica-b', 'replica-b to take over', 30_000);
  t.comment(`taken over ${Date.now() - died} ms after the leader died (lease 3 s)`);
  const aged = await ageSecret();
  await waitUntil(async () => ((await expiry()) ?? 0) > aged, 'the renewal by the new leader');
  t.pass('replica-b renewed the Secret');

  // From here on replica-b alone answers admissions: point the webhook configuration at it.
  await stack.retarget(second.port);

  t.test('with AWS gone, existing Secrets survive and a new tenant gets the configured failure behaviour', async (t) => {
    await stack.moto.stopEmulator();
    const kept = await stack.kubectl(['create', '-f', '-'], pod('shop', `${TARGET}/payments/api:2`, 'during-outage'));
    t.equal(kept.code, 0, `a namespace whose Secret still works keeps admitting: ${kept.stderr}`);
    await stack.namespace('fresh', { 'ecr-tenant-webhook.io/tenant': 'newcomer' });
    const refused = await stack.kubectl(['create', '-f', '-'], pod('fresh', `${TARGET}/newcomer/api:1`, 'first'));
    t.equal(refused.code, 1);
    t.match(refused.stderr, 'no ECR credentials for tenant "newcomer" with role arn:aws:iam::111111111111:role/ecr-pull-newcomer');
    const aged = await ageSecret();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await expiry();
    t.ok(after !== undefined && after >= aged, 'refresh rounds during the outage delete nothing and never shorten a Secret (the token still cached may renew it)');
  });
});
