import t from 'tap';
import { credentialIdentity, sessionNameFor, tokenKey, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { parseEcrHost, type EcrRegistry } from '../../src/image/ecr-host.ts';

const sessionNames = [
  { name: 'a tenant name is prefixed with the webhook name', tenant: 'payments', want: 'ecr-tenant-webhook-payments' },
  { name: 'dots, dashes and underscores (all a label value may hold) are kept', tenant: 'team_a.b-c', want: 'ecr-tenant-webhook-team_a.b-c' },
  { name: 'a character STS refuses is replaced rather than sent', tenant: 'a/b c', want: 'ecr-tenant-webhook-a_b_c' },
  { name: 'a 63-character tenant is cut to the 64 characters STS allows', tenant: 'x'.repeat(63), want: `ecr-tenant-webhook-${'x'.repeat(45)}` },
];

for (const c of sessionNames) {
  t.test(c.name, async (t) => {
    const name = sessionNameFor(c.tenant);
    t.equal(name, c.want);
    t.match(name, /^[\w+=,.@-]{2,64}$/);
  });
}

t.test('tokens are keyed by the credential, never by tenant', async (t) => {
  const registry = parseEcrHost('111111111111.dkr.ecr.eu-west-1.amazonaws.com') as EcrRegistry;
  const fips = parseEcrHost('111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com') as EcrRegistry;
  const base: TokenRequest = { tenant: 'a', roleArn: 'arn:aws:iam::111111111111:role/r', externalId: undefined, sessionTags: undefined, registry };
  t.equal(tokenKey(base), tokenKey({ ...base, tenant: 'b' }), 'two tenants sharing a role share the token');
  t.equal(tokenKey(base), tokenKey({ ...base, registry: fips }), 'one token serves every host form of the same registry');
  t.not(tokenKey(base), tokenKey({ ...base, externalId: 'x' }));
  t.not(tokenKey(base), tokenKey({ ...base, roleArn: 'arn:aws:iam::111111111111:role/other' }));
});

const REGISTRY = parseEcrHost('111111111111.dkr.ecr.eu-west-1.amazonaws.com') as EcrRegistry;
const BASE: TokenRequest = { tenant: 'a', roleArn: 'arn:aws:iam::111111111111:role/r', externalId: 'ext-1', sessionTags: undefined, registry: REGISTRY };

interface IdentityCase {
  name: string;
  a: Partial<TokenRequest>;
  b: Partial<TokenRequest>;
  same: boolean;
}

const identities: IdentityCase[] = [
  { name: 'the same tags written in another order are the same credential', a: { sessionTags: { team: 'a', env: 'prod' } }, b: { sessionTags: { env: 'prod', team: 'a' } }, same: true },
  { name: 'a different tag value is a different credential', a: { sessionTags: { team: 'a' } }, b: { sessionTags: { team: 'b' } }, same: false },
  { name: 'a different tag key with the same value is a different credential', a: { sessionTags: { team: 'a' } }, b: { sessionTags: { group: 'a' } }, same: false },
  { name: 'one tag more is a different credential', a: { sessionTags: { team: 'a' } }, b: { sessionTags: { team: 'a', env: 'prod' } }, same: false },
  { name: 'tags and no tags are different credentials', a: { sessionTags: { team: 'a' } }, b: { sessionTags: undefined }, same: false },
  { name: 'no tags and an empty tag set are the same credential: AssumeRole sends no Tags for either', a: { sessionTags: {} }, b: { sessionTags: undefined }, same: true },
  {
    name: 'a tag value holding separators and quotes cannot pass for two tags',
    a: { sessionTags: { a: 'x","b":"y' } },
    b: { sessionTags: { a: 'x', b: 'y' } },
    same: false,
  },
  { name: 'a tag value holding the JSON of an entry cannot pass for two tags', a: { sessionTags: { a: 'x"],["b","y' } }, b: { sessionTags: { a: 'x', b: 'y' } }, same: false },
  { name: 'a tag key and value split at another point are a different credential', a: { sessionTags: { 'a|b': 'c' } }, b: { sessionTags: { a: 'b|c' } }, same: false },
  { name: 'a duration and none are different credentials', a: { durationSeconds: 3600 }, b: { durationSeconds: undefined }, same: false },
  { name: 'two durations are different credentials', a: { durationSeconds: 900 }, b: { durationSeconds: 3600 }, same: false },
  { name: 'the same duration is the same credential', a: { durationSeconds: 900 }, b: { durationSeconds: 900 }, same: true },
  { name: 'an external id and none are different credentials', a: { externalId: 'ext-1' }, b: { externalId: undefined }, same: false },
  { name: 'two external ids are different credentials', a: { externalId: 'ext-1' }, b: { externalId: 'ext-2' }, same: false },
  { name: 'an external id cannot pass for the role ARN it was cut from', a: { roleArn: 'arn:aws:iam::111111111111:role/r', externalId: 'x' }, b: { roleArn: 'arn:aws:iam::111111111111:role/r","x', externalId: undefined }, same: false },
  { name: 'two tenants are the same credential: the tenant shapes no credential', a: { tenant: 'a' }, b: { tenant: 'b' }, same: true },
  { name: 'another region of the same account is a different credential', a: {}, b: { registry: parseEcrHost('111111111111.dkr.ecr.eu-central-1.amazonaws.com') as EcrRegistry }, same: false },
  { name: 'the FIPS host of the same account and region is the same credential', a: {}, b: { registry: parseEcrHost('111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com') as EcrRegistry }, same: true },
];

for (const c of identities) {
  t.test(c.name, async (t) => {
    const a = credentialIdentity({ ...BASE, ...c.a });
    const b = credentialIdentity({ ...BASE, ...c.b });
    if (c.same) t.equal(a, b);
    else t.not(a, b);
    t.equal(tokenKey({ ...BASE, ...c.a }), a, 'the cache key is the credential identity');
  });
}

t.test('the credential identity is JSON of role, external id, sorted tag entries, duration, account and region', async (t) => {
  t.equal(
    credentialIdentity({ ...BASE, sessionTags: { team: 'a', env: 'prod' }, durationSeconds: 900 }),
    '["arn:aws:iam::111111111111:role/r","ext-1",[["env","prod"],["team","a"]],900,"111111111111","eu-west-1"]',
  );
  t.equal(credentialIdentity({ ...BASE, externalId: undefined }), '["arn:aws:iam::111111111111:role/r",null,[],null,"111111111111","eu-west-1"]', 'null for what is not set');
});

t.test('tags are sorted by key in code-unit order, not by locale', async (t) => {
  const identity = JSON.parse(credentialIdentity({ ...BASE, sessionTags: { b: '1', B: '2', a: '3', Z: '4' } })) as unknown[];
  t.same(identity[2], [['B', '2'], ['Z', '4'], ['a', '3'], ['b', '1']]);
});
