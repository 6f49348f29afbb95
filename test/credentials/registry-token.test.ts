import t from 'tap';
import { sessionNameFor, tokenKey, type TokenRequest } from '../../src/credentials/registry-token.ts';
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

t.test('tokens are keyed by role, external id, account and region, not by tenant', async (t) => {
  const registry = parseEcrHost('111111111111.dkr.ecr.eu-west-1.amazonaws.com') as EcrRegistry;
  const fips = parseEcrHost('111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com') as EcrRegistry;
  const base: TokenRequest = { tenant: 'a', roleArn: 'arn:aws:iam::111111111111:role/r', externalId: undefined, sessionTags: undefined, registry };
  t.equal(tokenKey(base), tokenKey({ ...base, tenant: 'b' }), 'two tenants sharing a role share the token');
  t.equal(tokenKey(base), tokenKey({ ...base, registry: fips }), 'one token serves every host form of the same registry');
  t.not(tokenKey(base), tokenKey({ ...base, externalId: 'x' }));
  t.not(tokenKey(base), tokenKey({ ...base, roleArn: 'arn:aws:iam::111111111111:role/other' }));
});
