import t from 'tap';
import { credentialDigest, Provenance } from '../../src/credentials/provenance.ts';
import { buildPullSecret, projectSecret, type StoredPullSecret } from '../../src/credentials/pull-secret.ts';
import type { TokenRequest } from '../../src/credentials/registry-token.ts';
import { otherSealer, testSealer } from '../support/test-sealer.ts';

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const sealed = projectSecret(buildPullSecret({ name: 'ecr-pull-111111111111-eu-west-1', namespace: 'shop', tenant: 'payments', credential: 'c1', hosts: [HOST] }, { username: 'AWS', password: 'pw', expiresAt: new Date('2026-11-23T12:00:00Z') }, testSealer)) as StoredPullSecret;

t.test('a seal proves tenant and credential only under the key that made it, and only for what it covers', async (t) => {
  t.same(testSealer.originOf(sealed), { tenant: 'payments', credential: 'c1' });
  t.equal(otherSealer.originOf(sealed), undefined, 'another key proves nothing');
  const moved = [
    { name: 'another namespace', stored: { ...sealed, namespace: 'other' } },
    { name: 'another name', stored: { ...sealed, name: 'ecr-pull-222222222222-eu-west-1' } },
    { name: 'another tenant label', stored: { ...sealed, tenantLabel: 'analytics' } },
    { name: 'no tenant label', stored: { ...sealed, tenantLabel: undefined } },
    { name: 'a later expiry', stored: { ...sealed, expiresAt: (sealed.expiresAt as number) + 1000 } },
    { name: 'no expiry', stored: { ...sealed, expiresAt: undefined } },
    { name: 'another host', stored: { ...sealed, hosts: ['evil.example.com'] } },
    { name: 'another credential digest in clear', stored: { ...sealed, seal: (sealed.seal as string).replace('.c1.', '.c2.') } },
    { name: 'no seal', stored: { ...sealed, seal: undefined } },
    { name: 'another version', stored: { ...sealed, seal: (sealed.seal as string).replace(/^v1/, 'v2') } },
    { name: 'extra parts', stored: { ...sealed, seal: `${sealed.seal}.x` } },
    { name: 'a truncated MAC', stored: { ...sealed, seal: (sealed.seal as string).slice(0, -2) } },
    { name: 'no MAC', stored: { ...sealed, seal: 'v1.c1' } },
  ];
  for (const c of moved) t.equal(testSealer.originOf(c.stored), undefined, c.name);
});

t.test('a key shorter than 32 bytes is refused', async (t) => {
  t.throws(() => new Provenance(Buffer.alloc(16)), { message: 'a provenance key needs at least 32 bytes, got 16' });
});

t.test('the credential digest changes with anything that shapes the credential, and only with that', async (t) => {
  const base: TokenRequest = { tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/r', externalId: 'x', sessionTags: { team: 'a' }, durationSeconds: 3600, registry: { account: '111111111111', region: 'eu-west-1' } };
  const digest = credentialDigest(base);
  t.match(digest, /^[\w-]{22}$/);
  t.equal(credentialDigest({ ...base, tenant: 'other' }), digest, 'the tenant name alone does not change the credential');
  for (const change of [{ roleArn: 'arn:aws:iam::111111111111:role/s' }, { externalId: 'y' }, { sessionTags: { team: 'b' } }, { durationSeconds: 900 }, { registry: { account: '111111111111', region: 'us-east-1' } }]) {
    t.not(credentialDigest({ ...base, ...change }), digest, Object.keys(change).join());
  }
});

t.test('a verdict is remembered per frozen projection, and never for an object that could change', async (t) => {
  const sealer = new Provenance(Buffer.alloc(32, 7));
  t.ok(Object.isFrozen(sealed), 'projections are frozen');
  t.same(sealer.originOf(sealed), { tenant: 'payments', credential: 'c1' });
  t.equal(sealer.originOf(sealed), sealer.originOf(sealed), 'the same answer object: remembered');
  const forged = Object.freeze({ ...sealed, seal: 'v1.c1.x' });
  t.equal(sealer.originOf(forged), undefined);
  t.equal(sealer.originOf(forged), undefined, 'a failed verdict is remembered as well');
  const mutable = { ...sealed };
  t.same(sealer.originOf(mutable), { tenant: 'payments', credential: 'c1' });
  mutable.tenantLabel = 'analytics';
  t.equal(sealer.originOf(mutable), undefined, 'a mutable object is checked each time');
});
