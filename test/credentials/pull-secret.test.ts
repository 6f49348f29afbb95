import t from 'tap';
import { buildPullSecret, hostsOfRegistry, isImprovement, judgeExisting, projectSecret, registryOfName, usableAsIs, type PullSecretSpec, type StoredPullSecret, type WritableSecret } from '../../src/credentials/pull-secret.ts';
import { otherSealer, testSealer } from '../support/test-sealer.ts';

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const FIPS = '111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com';
const spec: PullSecretSpec = { name: 'ecr-pull-111111111111-eu-west-1', namespace: 'shop', tenant: 'payments', credential: 'cred-a', hosts: [HOST] };
const token = (iso: string) => ({ username: 'AWS', password: 'pw-secret', expiresAt: new Date(iso) });
const written = (iso: string, hosts = [HOST], over: Partial<PullSecretSpec> = {}, sealer = testSealer) => buildPullSecret({ ...spec, ...over, hosts }, token(iso), sealer);
const stored = (secret: WritableSecret, resourceVersion = '7') => projectSecret({ ...secret, metadata: { ...secret.metadata, resourceVersion } }) as StoredPullSecret;
const at = (iso: string, hosts = [HOST], over: Partial<PullSecretSpec> = {}, sealer = testSealer) => stored(written(iso, hosts, over, sealer));

t.test('the Secret is a dockerconfigjson for every host with user AWS, labelled, annotated and sealed', async (t) => {
  const secret = written('2026-11-23T12:00:00.000Z', [HOST, FIPS]);
  t.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  t.match(secret.metadata, {
    name: spec.name,
    namespace: 'shop',
    labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', 'ecr-tenant-webhook.io/tenant': 'payments' },
    annotations: { 'ecr-tenant-webhook.io/expires-at': '2026-11-23T12:00:00.000Z', 'ecr-tenant-webhook.io/hosts': [FIPS, HOST].sort().join(','), 'ecr-tenant-webhook.io/provenance': /^v1\.cred-a\.[\w-]{43}$/ },
  });
  const config = JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] as string, 'base64').toString());
  t.same(Object.keys(config.auths), [FIPS, HOST].sort());
  t.same(config.auths[HOST], { username: 'AWS', password: 'pw-secret', auth: Buffer.from('AWS:pw-secret').toString('base64') });
  t.same(stored(secret), {
    namespace: 'shop',
    name: spec.name,
    resourceVersion: '7',
    managed: true,
    tenantLabel: 'payments',
    expiresAt: Date.parse('2026-11-23T12:00:00.000Z'),
    hosts: [FIPS, HOST].sort(),
    seal: secret.metadata.annotations?.['ecr-tenant-webhook.io/provenance'],
  });
  t.same(testSealer.originOf(stored(secret)), { tenant: 'payments', credential: 'cred-a' });
});

t.test('the projection keeps bounded fields from the metadata and never the data', async (t) => {
  const huge = { metadata: { name: 'x', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', 'ecr-tenant-webhook.io/tenant': 'p'.repeat(64) }, annotations: { 'ecr-tenant-webhook.io/hosts': `${HOST},`.repeat(300), 'ecr-tenant-webhook.io/expires-at': '9'.repeat(41), 'ecr-tenant-webhook.io/provenance': 'v'.repeat(129) } }, data: { '.dockerconfigjson': 'A'.repeat(1 << 20) } };
  const projection = projectSecret(huge) as StoredPullSecret;
  t.same(projection, { namespace: 'shop', name: 'x', resourceVersion: '', managed: true, tenantLabel: undefined, expiresAt: undefined, hosts: [], seal: undefined });
  t.ok(JSON.stringify(projection).length < 200, 'a 1 MiB Secret projects to a few bytes');
  t.same(projectSecret({ metadata: { name: 'x', namespace: 'shop', annotations: { 'ecr-tenant-webhook.io/hosts': Array.from({ length: 33 }, () => HOST).join(',') } } })?.hosts, [], 'more than 32 hosts is not a Secret the webhook wrote');
  t.same(projectSecret({ metadata: { name: 'x', namespace: 'shop', annotations: { 'ecr-tenant-webhook.io/hosts': '', 'ecr-tenant-webhook.io/expires-at': 'soon' } } }), { namespace: 'shop', name: 'x', resourceVersion: '', managed: false, tenantLabel: undefined, expiresAt: undefined, hosts: [], seal: undefined });
  t.equal(projectSecret({ metadata: { name: 'x' } }), undefined, 'a Secret without a namespace is not kept');
  t.equal(projectSecret({}), undefined);
  t.equal(projectSecret({ metadata: { name: 'x', namespace: 'shop', labels: { 'ecr-tenant-webhook.io/tenant': 7 as unknown as string } } })?.tenantLabel, undefined, 'a value that is not a string is not kept');
});

t.test('names and hosts: only the webhook’s names, and only host forms of that one registry', async (t) => {
  t.same(registryOfName('ecr-pull-111111111111-eu-west-1'), { account: '111111111111', region: 'eu-west-1' });
  for (const name of ['ecr-pull-odd', 'ecr-pull-11111111111-eu-west-1', 'x-ecr-pull-111111111111-eu-west-1', `ecr-pull-111111111111-${'a'.repeat(41)}`, `ecr-pull-111111111111-${'a'.repeat(300)}`]) t.equal(registryOfName(name), undefined, name.slice(0, 60));
  const registry = { account: '111111111111', region: 'eu-west-1' };
  t.same(hostsOfRegistry([HOST, FIPS, '111111111111.dkr-ecr.eu-west-1.on.aws', '222222222222.dkr.ecr.eu-west-1.amazonaws.com', '111111111111.dkr.ecr.us-east-1.amazonaws.com', 'evil.example.com', HOST.toUpperCase()], registry), [HOST, FIPS, '111111111111.dkr-ecr.eu-west-1.on.aws']);
  t.same(hostsOfRegistry([`${HOST}:443`, `${HOST}:65535`, `${HOST}:65536`, `${HOST}:`, `${HOST}:44a`, `${HOST}:443:1`, 'evil.example.com:443', `${HOST}:123456`], registry), [`${HOST}:443`, `${HOST}:65535`], 'a port, as images name one, is kept; anything else after a colon is not');
});

const fresh = new Date('2026-11-23T06:00:00.000Z');
const userSecret = stored({ metadata: { name: spec.name, namespace: 'shop', labels: {} }, data: {} } as WritableSecret);
const verdicts = [
  { name: 'no Secret yet is created', existing: undefined, want: { action: 'create' } },
  { name: 'a Secret of that name without the managed-by label is never touched', existing: userSecret, want: { action: 'conflict' } },
  { name: 'a sealed Secret valid past the freshness bound with every host is kept', existing: at('2026-11-23T09:00:00Z'), want: { action: 'keep' } },
  { name: 'a sealed Secret expiring before the bound is renewed', existing: at('2026-11-23T05:00:00Z'), want: { action: 'update', hosts: [HOST], why: 'expires too soon' } },
  { name: 'a Secret without a readable expiry is renewed', existing: { ...at('2026-11-23T09:00:00Z'), expiresAt: undefined }, want: { action: 'update', why: 'not proven to be written for this tenant and credential' } },
  { name: 'a Secret missing a host is rewritten with the union of hosts', existing: at('2026-11-23T09:00:00Z', [FIPS]), want: { action: 'update', hosts: [FIPS, HOST].sort(), why: 'a host is missing' } },
  { name: 'a fresh Secret sealed for another tenant is rewritten for this one', existing: at('2026-11-23T09:00:00Z', [HOST], { tenant: 'analytics' }), want: { action: 'update', hosts: [HOST], why: 'not proven to be written for this tenant and credential' } },
  { name: 'a fresh Secret sealed with another credential of this tenant is rewritten', existing: at('2026-11-23T09:00:00Z', [HOST], { credential: 'cred-b' }), want: { action: 'update', why: 'not proven to be written for this tenant and credential' } },
  { name: 'a forged Secret (labels copied, sealed with another key) is rewritten', existing: at('2026-11-23T09:00:00Z', [HOST], {}, otherSealer), want: { action: 'update', why: 'not proven to be written for this tenant and credential' } },
  { name: 'a Secret whose hosts were edited no longer verifies', existing: { ...at('2026-11-23T09:00:00Z'), hosts: [HOST, 'evil.example.com'] }, want: { action: 'update', hosts: [HOST], why: 'not proven to be written for this tenant and credential' } },
  { name: 'a Secret whose tenant label was edited no longer verifies', existing: { ...at('2026-11-23T09:00:00Z', [HOST], { tenant: 'analytics' }), tenantLabel: 'payments' }, want: { action: 'update', why: 'not proven to be written for this tenant and credential' } },
];

t.test('judgeExisting', async (t) => {
  for (const c of verdicts) t.match(judgeExisting(c.existing, spec, fresh, testSealer), c.want, c.name);
});

t.test('isImprovement: never an older or emptier Secret over a proven one, always anything over an unproven one', async (t) => {
  const candidate = (iso: string, hosts = [HOST]) => ({ spec: { ...spec, hosts }, expiresAt: new Date(iso) });
  const cases = [
    { name: 'later expiry', stored: at('2026-11-23T09:00:00Z'), candidate: candidate('2026-11-23T12:00:00Z'), want: true },
    { name: 'earlier expiry', stored: at('2026-11-23T09:00:00Z'), candidate: candidate('2026-11-23T08:00:00Z'), want: false },
    { name: 'same expiry, a new host', stored: at('2026-11-23T09:00:00Z'), candidate: candidate('2026-11-23T09:00:00Z', [HOST, FIPS]), want: true },
    { name: 'same expiry, same hosts', stored: at('2026-11-23T09:00:00Z'), candidate: candidate('2026-11-23T09:00:00Z'), want: false },
    { name: 'a user’s Secret', stored: userSecret, candidate: candidate('2026-11-23T12:00:00Z'), want: false },
    { name: 'earlier expiry over another tenant’s Secret', stored: at('2026-11-23T12:00:00Z', [HOST], { tenant: 'analytics' }), candidate: candidate('2026-11-23T08:00:00Z'), want: true },
    { name: 'earlier expiry over a forgery', stored: at('2026-11-23T12:00:00Z', [HOST], {}, otherSealer), candidate: candidate('2026-11-23T08:00:00Z'), want: true },
    { name: 'a stored Secret without expiry', stored: { ...at('2026-11-23T09:00:00Z'), expiresAt: undefined, seal: undefined }, candidate: candidate('2026-11-23T08:00:00Z'), want: true },
  ];
  for (const c of cases) t.equal(isImprovement(c.stored, c.candidate, testSealer), c.want, c.name);
});

t.test('usableAsIs: only a proven, unexpired Secret of this tenant holding every host is used when no token can be had', async (t) => {
  const now = new Date('2026-11-23T06:00:00Z');
  t.equal(usableAsIs(at('2026-11-23T07:00:00Z'), spec, now, testSealer), true);
  t.equal(usableAsIs(undefined, spec, now, testSealer), false);
  t.equal(usableAsIs(userSecret, spec, now, testSealer), false);
  t.equal(usableAsIs(at('2026-11-23T05:00:00Z'), spec, now, testSealer), false, 'expired');
  t.equal(usableAsIs(at('2026-11-23T07:00:00Z', [FIPS]), spec, now, testSealer), false, 'a host missing');
  t.equal(usableAsIs(at('2026-11-23T07:00:00Z', [HOST], { tenant: 'analytics' }), spec, now, testSealer), false, 'another tenant’s');
  t.equal(usableAsIs({ ...at('2026-11-23T07:00:00Z'), expiresAt: undefined }, spec, now, testSealer), false, 'no expiry');
});

t.test('a Secret needing more host forms than a projection keeps is refused rather than written unverifiable', async (t) => {
  const ports = Array.from({ length: 33 }, (_, i) => `${HOST}:${1000 + i}`);
  t.throws(() => written('2026-11-23T12:00:00.000Z', ports), { message: 'a pull Secret holds at most 32 host forms of one registry; shop/ecr-pull-111111111111-eu-west-1 would need 33' });
  const most = at('2026-11-23T12:00:00.000Z', ports.slice(0, 32));
  t.equal(most.hosts.length, 32);
  t.same(testSealer.originOf(most), { tenant: 'payments', credential: 'cred-a' }, 'the most it writes it can verify');
});
