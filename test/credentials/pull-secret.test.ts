import t from 'tap';
import { buildPullSecret, expiryOf, hostsOf, isImprovement, judgeExisting, type SecretObject } from '../../src/credentials/pull-secret.ts';

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const FIPS = '111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com';
const spec = { name: 'ecr-pull-111111111111-eu-west-1', namespace: 'shop', tenant: 'payments', hosts: [HOST] };
const token = (iso: string) => ({ username: 'AWS', password: 'pw-secret', expiresAt: new Date(iso) });
const at = (iso: string, hosts = [HOST]) => buildPullSecret({ ...spec, hosts }, token(iso));

t.test('the Secret is a dockerconfigjson for every host with user AWS, labelled and annotated as the webhook’s', async (t) => {
  const secret = at('2026-11-23T12:00:00.000Z', [HOST, FIPS]);
  t.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  t.match(secret.metadata, {
    name: spec.name,
    namespace: 'shop',
    labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', 'ecr-tenant-webhook.io/tenant': 'payments' },
    annotations: { 'ecr-tenant-webhook.io/expires-at': '2026-11-23T12:00:00.000Z' },
  });
  const config = JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] as string, 'base64').toString());
  t.same(Object.keys(config.auths), [FIPS, HOST].sort());
  t.same(config.auths[HOST], { username: 'AWS', password: 'pw-secret', auth: Buffer.from('AWS:pw-secret').toString('base64') });
  t.same(hostsOf(secret), [FIPS, HOST].sort());
  t.same(expiryOf(secret), new Date('2026-11-23T12:00:00.000Z'));
});

t.test('the hosts of one Secret object are decoded again when its data is changed in place', async (t) => {
  const secret = at('2026-11-23T12:00:00.000Z', [HOST]);
  t.same(hostsOf(secret), [HOST]);
  t.equal(hostsOf(secret), hostsOf(secret), 'the same object answers from what it decoded before');
  (secret as { data: Record<string, string> }).data = { '.dockerconfigjson': at('2026-11-23T12:00:00.000Z', [FIPS]).data?.['.dockerconfigjson'] as string };
  t.same(hostsOf(secret), [FIPS]);
});

const fresh = new Date('2026-11-23T06:00:00.000Z');
const userSecret: SecretObject = { metadata: { name: spec.name, labels: {} }, data: {} };
const verdicts = [
  { name: 'no Secret yet is created', existing: undefined, want: { action: 'create' } },
  { name: 'a Secret of that name the webhook does not manage is never touched', existing: userSecret, want: { action: 'conflict' } },
  { name: 'a managed Secret valid past the freshness bound with every host is kept', existing: at('2026-11-23T09:00:00Z'), want: { action: 'keep' } },
  { name: 'a managed Secret expiring before the bound is renewed', existing: at('2026-11-23T05:00:00Z'), want: { action: 'update', hosts: [HOST], why: 'expires too soon' } },
  { name: 'a managed Secret missing the pod’s host form gets the union of hosts', existing: at('2026-11-23T09:00:00Z', [FIPS]), want: { action: 'update', hosts: [FIPS, HOST].sort(), why: 'a host is missing' } },
  { name: 'a managed Secret without a readable expiry counts as expired', existing: { ...at('2026-11-23T09:00:00Z'), metadata: { ...at('2026-11-23T09:00:00Z').metadata, annotations: { 'ecr-tenant-webhook.io/expires-at': 'soon' } } }, want: { action: 'update', why: 'expires too soon' } },
  { name: 'a managed Secret whose data does not decode holds no hosts', existing: { ...at('2026-11-23T09:00:00Z'), data: { '.dockerconfigjson': 'not-json' } }, want: { action: 'update', hosts: [HOST], why: 'a host is missing' } },
  { name: 'a managed Secret whose config has no auths holds no hosts', existing: { ...at('2026-11-23T09:00:00Z'), data: { '.dockerconfigjson': Buffer.from('{}').toString('base64') } }, want: { action: 'update', hosts: [HOST] } },
  { name: 'a managed Secret without data holds no hosts', existing: { ...at('2026-11-23T09:00:00Z'), data: {} }, want: { action: 'update', why: 'a host is missing' } },
];

for (const c of verdicts) {
  t.test(c.name, async (t) => {
    t.match(judgeExisting(c.existing as SecretObject | undefined, spec, fresh), c.want);
  });
}

const improvements = [
  { name: 'a later expiry replaces an earlier one', stored: at('2026-11-23T09:00:00Z'), candidate: at('2026-11-23T10:00:00Z'), want: true },
  { name: 'an earlier expiry never replaces a later one (a slow replica, an old token)', stored: at('2026-11-23T10:00:00Z'), candidate: at('2026-11-23T09:00:00Z'), want: false },
  { name: 'the same expiry with an added host replaces it', stored: at('2026-11-23T09:00:00Z', [HOST]), candidate: at('2026-11-23T09:00:00Z', [HOST, FIPS]), want: true },
  { name: 'the same expiry and hosts changes nothing', stored: at('2026-11-23T09:00:00Z'), candidate: at('2026-11-23T09:00:00Z'), want: false },
  { name: 'anything stored that is not the webhook’s is never replaced', stored: userSecret, candidate: at('2026-11-23T10:00:00Z'), want: false },
  { name: 'a stored Secret with no expiry is replaced by one with an expiry', stored: { ...userSecret, metadata: { labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' } } }, candidate: at('2026-11-23T10:00:00Z'), want: true },
];

for (const c of improvements) {
  t.test(c.name, async (t) => {
    t.equal(isImprovement(c.stored, c.candidate), c.want);
  });
}

t.test('a candidate without an expiry never replaces a managed Secret that has one', async (t) => {
  t.equal(isImprovement(at('2026-11-23T09:00:00Z'), { metadata: {} }), false);
});
