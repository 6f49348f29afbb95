import t from 'tap';
import { Provenance } from '../../src/credentials/provenance.ts';
import { projectSecret, type SecretObject, type StoredPullSecret } from '../../src/credentials/pull-secret.ts';
import { waitUntil } from './support/serve-process.ts';
import { startWebhookStack } from './support/webhook-stack.ts';

/**
 * Pull Secrets belong to the namespace's current tenant, through the real API server and moto: forged Secrets get
 * no token, a relabelled namespace's credentials move to its new tenant (at admission and within a refresh round),
 * and tenants sharing a role with different session tags get a session each.
 */
t.setTimeout(240_000);

const REGISTRY = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const SHARED_REGISTRY = '222222222222.dkr.ecr.us-east-1.amazonaws.com';
const SECRET = 'ecr-pull-111111111111-eu-west-1';
const TENANT = 'ecr-tenant-webhook.io/tenant';
const ROLE = (name: string) => `arn:aws:iam::111111111111:role/${name}`;
const SHARED_ROLE = 'arn:aws:iam::222222222222:role/shared';
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    alpha:
      roleArn: ${ROLE('alpha')}
      grants: [{ registry: ${REGISTRY}, repositories: ["alpha/*"] }]
    beta:
      roleArn: ${ROLE('beta')}
      grants: [{ registry: ${REGISTRY}, repositories: ["beta/*"] }]
    victim:
      roleArn: ${ROLE('victim')}
      grants: [{ registry: ${REGISTRY}, repositories: ["victim/*"] }]
    loner:
      roleArn: arn:aws:iam::333333333333:role/loner
      grants: [{ registry: 333333333333.dkr.ecr.eu-west-1.amazonaws.com, repositories: ["loner/*"] }]
    one:
      roleArn: ${SHARED_ROLE}
      sessionTags: { team: one }
      grants: [{ registry: ${SHARED_REGISTRY}, repositories: ["one/*"] }]
    two:
      roleArn: ${SHARED_ROLE}
      sessionTags: { team: two }
      grants: [{ registry: ${SHARED_REGISTRY}, repositories: ["two/*"] }]
`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());

const pod = (namespace: string, image: string, name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'app', image }] } });
const readSecret = async (namespace: string, name = SECRET): Promise<SecretObject | undefined> => {
  const read = await stack.kubectl(['-n', namespace, 'get', 'secret', name, '-o', 'json']);
  return read.code === 0 ? (JSON.parse(read.stdout) as SecretObject) : undefined;
};
/** The tenant a Secret is proven to be written for, checked with the webhook's own key as it would. */
const sealer = async () => {
  const key = JSON.parse(await stack.kubectlOk(['-n', 'ecr-tenant-webhook', 'get', 'secret', 'ecr-tenant-webhook-provenance', '-o', 'json'])).data.key as string;
  return new Provenance(Buffer.from(key, 'base64'));
};
const provenTenant = async (namespace: string) => {
  const secret = await readSecret(namespace);
  return secret === undefined ? undefined : (await sealer()).originOf(projectSecret(secret) as StoredPullSecret)?.tenant;
};
const assumedRoles = () => stack.moto.bodies('AssumeRole').map((body) => new URLSearchParams(body));
const rounds = () => stack.serve.lines.filter((l) => l.msg === 'pull secrets refreshed').length;
const waitRounds = async (count: number) => {
  const start = rounds();
  await waitUntil(() => rounds() >= start + count, `${count} refresh rounds`, 30_000);
};

t.test('forged Secrets, in a namespace with no tenant and in another tenant’s namespace, never receive a token', async (t) => {
  await stack.namespace('unlabelled');
  await stack.namespace('beta-home', { [TENANT]: 'beta' });
  const forged = (namespace: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: {
      name: SECRET,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', [TENANT]: 'victim' },
      // Expired, with a seal-shaped value: everything that made the old refresher renew it.
      annotations: { 'ecr-tenant-webhook.io/expires-at': '2020-01-01T00:00:00.000Z', 'ecr-tenant-webhook.io/provenance': 'v1.AAAAAAAAAAAAAAAAAAAAAA.forged' },
    },
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [REGISTRY]: { auth: 'Zm9yZ2Vk' } } })).toString('base64') },
  });
  stack.moto.resetCalls();
  for (const namespace of ['unlabelled', 'beta-home']) await stack.kubectlOk(['apply', '-f', '-'], JSON.stringify(forged(namespace)));
  await waitRounds(3);
  for (const namespace of ['unlabelled', 'beta-home']) {
    t.same((await readSecret(namespace))?.data, forged(namespace).data, `the forged Secret in ${namespace} holds what its author wrote`);
  }
  t.same(assumedRoles().filter((params) => params.get('RoleArn') === ROLE('victim')), [], 'no AssumeRole into the victim’s role');
  t.equal(stack.moto.calls().GetAuthorizationToken ?? 0, 0, 'no token minted at all');
});

t.test('a pod admitted right after a relabel references a Secret rewritten with the new tenant’s credentials', async (t) => {
  await stack.namespace('moving', { [TENANT]: 'alpha' });
  await stack.kubectlOk(['create', '-f', '-'], pod('moving', `${REGISTRY}/alpha/api:1`, 'before'));
  t.equal(await provenTenant('moving'), 'alpha');
  stack.moto.resetCalls();
  await stack.namespace('moving', { [TENANT]: 'beta' });
  await waitUntil(async () => (await stack.kubectl(['get', 'ns', 'moving', '-o', `jsonpath={.metadata.labels.ecr-tenant-webhook\\.io/tenant}`])).stdout === 'beta', 'the relabel');
  const created = await stack.kubectl(['create', '-f', '-'], pod('moving', `${REGISTRY}/beta/api:1`, 'after'));
  t.equal(created.code, 0, created.stderr);
  t.equal(await provenTenant('moving'), 'beta', 'the Secret the pod references holds beta’s credentials');
  t.ok(assumedRoles().some((params) => params.get('RoleArn') === ROLE('beta')), 'minted with beta’s role');
  t.notOk(assumedRoles().some((params) => params.get('RoleArn') === ROLE('alpha')), 'nothing minted with alpha’s role after the relabel');
});

t.test('without any pod, the reconciler moves a relabelled namespace’s credentials within one refresh interval, and removes them when the new tenant has no grant', async (t) => {
  await stack.namespace('quiet', { [TENANT]: 'alpha' });
  await stack.kubectlOk(['create', '-f', '-'], pod('quiet', `${REGISTRY}/alpha/api:1`, 'first'));
  t.equal(await provenTenant('quiet'), 'alpha');
  await stack.namespace('quiet', { [TENANT]: 'beta' });
  const relabelled = Date.now();
  await waitUntil(async () => (await provenTenant('quiet')) === 'beta', 'the move to beta', 10_000);
  t.comment(`moved ${Date.now() - relabelled} ms after the relabel (refresh interval 1 s)`);
  await stack.namespace('quiet', { [TENANT]: 'loner' });
  await waitUntil(async () => (await readSecret('quiet')) === undefined, 'the removal', 10_000);
  t.pass('loner has no grant for that registry: the Secret is gone');

  await stack.namespace('leaving', { [TENANT]: 'alpha' });
  await stack.kubectlOk(['create', '-f', '-'], pod('leaving', `${REGISTRY}/alpha/api:1`, 'first'));
  await stack.kubectlOk(['label', 'namespace', 'leaving', `${TENANT}-`]);
  await waitUntil(async () => (await readSecret('leaving')) === undefined, 'the removal after unlabelling', 10_000);
  t.pass('an unlabelled namespace keeps no tenant’s credentials');
});

t.test('two tenants sharing a role with different session tags cause two mints, each with its own tags', async (t) => {
  await stack.namespace('team-one', { [TENANT]: 'one' });
  await stack.namespace('team-two', { [TENANT]: 'two' });
  stack.moto.resetCalls();
  await stack.kubectlOk(['create', '-f', '-'], pod('team-one', `${SHARED_REGISTRY}/one/api:1`, 'a'));
  await stack.kubectlOk(['create', '-f', '-'], pod('team-two', `${SHARED_REGISTRY}/two/api:1`, 'a'));
  const shared = assumedRoles().filter((params) => params.get('RoleArn') === SHARED_ROLE);
  t.equal(shared.length, 2, 'one AssumeRole per tag set');
  t.same(shared.map((params) => params.get('Tags.member.1.Value')).sort(), ['one', 'two']);
});
