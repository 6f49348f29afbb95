import t from 'tap';
import { CredentialError, type RegistryToken, type RegistryTokenSource, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { TokenCache, type TokenCacheEvent, type TokenCacheOptions } from '../../src/credentials/token-cache.ts';
import { parseEcrHost, type EcrRegistry } from '../../src/image/ecr-host.ts';
import { createMetrics } from '../../src/metrics.ts';
import { reportTokenEvent } from '../../src/aws/credential-chain.ts';
import { logSink } from '../admission/harness.ts';
import { seriesValues } from '../support/metric-values.ts';

const HOUR = 60 * 60 * 1000;
const registry = parseEcrHost('111111111111.dkr.ecr.eu-west-1.amazonaws.com') as EcrRegistry;
const request: TokenRequest = { tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/r', externalId: undefined, sessionTags: undefined, registry };
const other = (n: number): TokenRequest => ({ ...request, roleArn: `arn:aws:iam::111111111111:role/r${n}` });

/** An in-memory token source: answers from a script, counts mints, and can hold a mint open. */
class ScriptedSource implements RegistryTokenSource {
  mints = 0;
  next: (now: number) => RegistryToken | CredentialError;
  gate: Promise<void> | undefined;
  readonly clock: { now: number };
  constructor(next: (now: number) => RegistryToken | CredentialError, clock: { now: number }) {
    this.next = next;
    this.clock = clock;
  }
  async mint(): Promise<RegistryToken> {
    this.mints++;
    const answer = this.next(this.clock.now);
    await this.gate;
    if (answer instanceof CredentialError) throw answer;
    return answer;
  }
}

const lasting = (ms: number) => (now: number): RegistryToken => ({ username: 'AWS', password: `pw-${now}`, expiresAt: new Date(now + ms) });
const denied = () => new CredentialError('AssumeRole', request.roleArn, 'AccessDenied', 'not authorized');

function setup(next: (now: number) => RegistryToken | CredentialError, overrides: Partial<TokenCacheOptions> = {}) {
  const clock = { now: Date.UTC(2026, 10, 23) };
  const source = new ScriptedSource(next, clock);
  const events: TokenCacheEvent[] = [];
  const cache = new TokenCache({
    source,
    maxEntries: 100,
    refreshFraction: 0.5,
    suspectTrustMs: 15 * 60 * 1000,
    mintDeadlineMs: 2000,
    failureBackoff: { initialMs: 1000, maxMs: 60_000 },
    now: () => clock.now,
    onEvent: (event) => events.push(event),
    ...overrides,
  });
  return { cache, source, clock, events };
}

/** The results of the lookups reported, in order. */
const lookups = (events: readonly TokenCacheEvent[]) => events.flatMap((e) => (e.kind === 'lookup' ? [e.result] : []));
/** The latest failed mint reported (lookups are reported around it). */
const lastFailure = (events: readonly TokenCacheEvent[]) => events.findLast((e) => e.kind === 'mint-failed') as Extract<TokenCacheEvent, { kind: 'mint-failed' }>;

t.test('a fresh token is answered from memory without another mint', async (t) => {
  const { cache, source, clock } = setup(lasting(12 * HOUR));
  const first = await cache.get(request);
  clock.now += 5 * HOUR;
  t.equal(await cache.get(request), first);
  t.equal(await cache.get({ ...request, tenant: 'another tenant with the same role' }), first);
  t.equal(source.mints, 1);
  t.equal(first.refreshAt, first.mintedAt + 6 * HOUR, 'refreshed at half its life, as the kubelet does');
});

t.test('two tenants sharing a role with different session tags get a token each, never the other one\'s', async (t) => {
  const { cache, source } = setup(lasting(12 * HOUR));
  const a = await cache.get({ ...request, tenant: 'a', sessionTags: { team: 'a' } });
  const b = await cache.get({ ...request, tenant: 'b', sessionTags: { team: 'b' } });
  t.equal(source.mints, 2);
  t.not(b, a);
  t.equal(await cache.get({ ...request, tenant: 'a', sessionTags: { team: 'a' } }), a, 'each is then answered from memory');
  t.equal(await cache.get({ ...request, tenant: 'b', sessionTags: { team: 'b' } }), b);
  t.equal(source.mints, 2);
});

t.test('requests with the same session tags, in any order, share one mint', async (t) => {
  const { cache, source } = setup(lasting(12 * HOUR));
  const first = await cache.get({ ...request, tenant: 'a', sessionTags: { team: 'x', env: 'prod' } });
  t.equal(await cache.get({ ...request, tenant: 'b', sessionTags: { env: 'prod', team: 'x' } }), first);
  t.equal(source.mints, 1);
});

t.test('requests differing only in session duration get a token each', async (t) => {
  const { cache, source } = setup(lasting(12 * HOUR));
  const short = await cache.get({ ...request, durationSeconds: 900 });
  t.not(await cache.get({ ...request, durationSeconds: 3600 }), short);
  t.equal(await cache.get({ ...request, durationSeconds: 900 }), short);
  t.equal(source.mints, 2);
});

t.test('twenty concurrent cold requests for one key make exactly one mint', async (t) => {
  const { cache, source } = setup(lasting(12 * HOUR));
  let open!: () => void;
  source.gate = new Promise((resolve) => (open = resolve));
  const all = Promise.all(Array.from({ length: 20 }, () => cache.get(request)));
  open();
  const tokens = await all;
  t.equal(source.mints, 1);
  t.ok(tokens.every((token) => token === tokens[0]));
});

t.test('past the refresh point a valid token is answered at once while one refresh runs behind it', async (t) => {
  const { cache, source, clock } = setup(lasting(12 * HOUR));
  const first = await cache.get(request);
  clock.now += 7 * HOUR;
  let open!: () => void;
  source.gate = new Promise((resolve) => (open = resolve));
  t.equal(await cache.get(request), first, 'no waiting for AWS on the admission path');
  t.equal(await cache.get(request), first);
  t.equal(source.mints, 2, 'one refresh however many requests saw the old token');
  open();
  await new Promise((resolve) => setImmediate(resolve));
  t.not(await cache.get(request), first, 'the refreshed token is used once it arrives');
});

t.test('each lookup is reported: a miss mints, a hit is fresh, a refresh is served while a new token is minted', async (t) => {
  const { cache, clock, events } = setup(lasting(12 * HOUR));
  await cache.get(request);
  await cache.get(request);
  clock.now += 7 * HOUR;
  await cache.get(request);
  await new Promise((resolve) => setImmediate(resolve));
  await cache.get(request);
  t.same(lookups(events), ['miss', 'hit', 'refresh', 'hit']);
  t.match(events[0], { kind: 'lookup', key: String, result: 'miss' });
});

t.test('a lookup that finds only an expired token, or a key in backoff, is a miss', async (t) => {
  const { cache, source, clock, events } = setup(lasting(HOUR));
  await cache.get(request);
  clock.now += HOUR;
  source.next = denied;
  await t.rejects(cache.get(request));
  await t.rejects(cache.get(request));
  t.same(lookups(events), ['miss', 'miss', 'miss']);
});

t.test('the server counts token lookups by result and logs none of them', async (t) => {
  const metrics = createMetrics();
  const sink = logSink();
  const { cache, clock } = setup(lasting(12 * HOUR), { onEvent: (event) => reportTokenEvent(event, sink.log, metrics) });
  for (let i = 0; i < 3; i++) await cache.get(request);
  clock.now += 7 * HOUR;
  await cache.get(request);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(await seriesValues(metrics.tokenLookups), { 'result=miss': 1, 'result=hit': 2, 'result=refresh': 1 });
  t.same(sink.lines.map((l) => l.msg), ['ECR token minted', 'ECR token minted'], 'the two mints, no lookup');
});

t.test('the server logs mints, unbelieved expiries and failures naming tenant, role, registry and expiry, redacting nothing', async (t) => {
  const metrics = createMetrics();
  const sink = logSink();
  const { cache, source, clock } = setup(lasting(12 * HOUR), { onEvent: (event) => reportTokenEvent(event, sink.log, metrics) });
  const credential = { tenant: 'payments', role: 'arn:aws:iam::111111111111:role/r', registry: { account: '111111111111', region: 'eu-west-1' } };
  await cache.get(request);
  source.next = (now) => ({ username: 'AWS', password: 'pw', expiresAt: new Date(now + 365 * 24 * HOUR) });
  clock.now += 13 * HOUR;
  await cache.get({ ...request, tenant: 'shared' });
  source.next = denied;
  clock.now += HOUR;
  await t.rejects(cache.get(request));
  t.match(sink.lines, [
    { level: 30, msg: 'ECR token minted', ...credential, expiresAt: '2026-11-23T12:00:00.000Z' },
    { level: 40, msg: 'ECR token expiry not believed; trusted briefly', ...credential, tenant: 'shared', claimedExpiresAt: '2027-11-23T13:00:00.000Z', expiresAt: '2026-11-23T13:15:00.000Z' },
    { level: 30, msg: 'ECR token minted', ...credential, tenant: 'shared', expiresAt: '2026-11-23T13:15:00.000Z' },
    { level: 40, msg: 'ECR token mint failed', ...credential, code: 'AccessDenied', err: /AssumeRole for role arn:aws:iam::111111111111:role\/r failed/, retryInMs: Number },
  ]);
  for (const line of sink.lines) t.notOk(JSON.stringify(line).includes('[redacted]'), `nothing redacted in "${line.msg}"`);
});

t.test('an expired token is never answered: the caller waits for a new one', async (t) => {
  const { cache, source, clock } = setup(lasting(HOUR));
  const first = await cache.get(request);
  clock.now += HOUR;
  const second = await cache.get(request);
  t.not(second, first);
  t.equal(source.mints, 2);
});

const suspect = [
  { name: "a token whose expiry is already past (moto's 2015) is trusted only briefly", claimed: () => new Date(Date.UTC(2015, 0, 1)) },
  { name: 'a token claiming a year of life is trusted only briefly', claimed: (now: number) => new Date(now + 365 * 24 * HOUR) },
];

for (const c of suspect) {
  t.test(c.name, async (t) => {
    const { cache, source, clock, events } = setup((now) => ({ username: 'AWS', password: 'pw', expiresAt: c.claimed(now) }));
    const token = await cache.get(request);
    t.equal(token.expiresAt.getTime(), clock.now + 15 * 60 * 1000);
    t.match(events.find((e) => e.kind === 'suspect-expiry'), { claimed: c.claimed(clock.now) });
    for (let i = 0; i < 50; i++) await cache.get(request);
    t.equal(source.mints, 1, 'no loop of AWS calls');
    clock.now += 8 * 60 * 1000;
    await cache.get(request);
    t.equal(source.mints, 2, 'refreshed at half the short trust');
  });
}

t.test('a failed refresh keeps the still-valid token in use', async (t) => {
  const { cache, source, clock, events } = setup(lasting(12 * HOUR));
  const first = await cache.get(request);
  source.next = denied;
  clock.now += 7 * HOUR;
  t.equal(await cache.get(request), first);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(await cache.get(request), first, 'still the good token after the failure');
  t.match(lastFailure(events), { kind: 'mint-failed', error: { code: 'AccessDenied' } });
});

t.test('after a failure with no token to fall back on, callers are refused at once until a jittered, growing backoff passes', async (t) => {
  const { cache, source, clock, events } = setup(denied);
  await t.rejects(cache.get(request), { name: 'CredentialError', code: 'AccessDenied' });
  for (let i = 0; i < 20; i++) await t.rejects(cache.get(request), { code: 'AccessDenied' });
  t.equal(source.mints, 1, 'one AWS call, not twenty-one');
  const firstWait = lastFailure(events).retryInMs;
  t.ok(firstWait >= 500 && firstWait <= 1000, `first backoff ${firstWait} ms within [500, 1000]`);
  clock.now += 1000;
  await t.rejects(cache.get(request));
  t.equal(source.mints, 2);
  const secondWait = lastFailure(events).retryInMs;
  t.ok(secondWait >= 1000 && secondWait <= 2000, `second backoff ${secondWait} ms within [1000, 2000]`);
  source.next = lasting(HOUR);
  clock.now += 2000;
  t.equal((await cache.get(request)).password, `pw-${clock.now}`, 'AWS back: the next attempt succeeds');
});

t.test('backoff stops growing at its maximum', async (t) => {
  const { cache, clock, events } = setup(denied, { failureBackoff: { initialMs: 1000, maxMs: 4000 } });
  for (let i = 0; i < 6; i++) {
    await t.rejects(cache.get(request));
    clock.now += 5000;
  }
  const waits = events.filter((e) => e.kind === 'mint-failed').map((e) => (e as { retryInMs: number }).retryInMs);
  t.ok(waits.slice(3).every((ms) => ms >= 2000 && ms <= 4000), `late waits ${waits.join(', ')} stay within [2000, 4000]`);
});

t.test('the cache is bounded: the least recently used key is dropped first', async (t) => {
  const { cache, source } = setup(lasting(12 * HOUR), { maxEntries: 2 });
  await cache.get(other(1));
  await cache.get(other(2));
  await cache.get(other(3));
  t.equal(cache.peek(other(1)), undefined);
  t.ok(cache.peek(other(3)));
  t.equal(source.mints, 3);
});

t.test('each mint gets the configured deadline as an abort signal', async (t) => {
  const clock = { now: 0 };
  let seen: AbortSignal | undefined;
  const cache = new TokenCache({
    source: { mint: async (_request, signal) => ((seen = signal), { username: 'AWS', password: 'x', expiresAt: new Date(HOUR) }) },
    maxEntries: 1,
    refreshFraction: 0.5,
    suspectTrustMs: 1000,
    mintDeadlineMs: 50,
    failureBackoff: { initialMs: 1, maxMs: 1 },
    now: () => clock.now,
  });
  await cache.get(request);
  t.notOk(seen?.aborted);
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.ok(seen?.aborted, 'aborted once the deadline passed');
});

t.test('put keeps what was minted elsewhere: the next get answers it without a mint, and a failure backoff is cleared', async (t) => {
  const { cache, source, clock } = setup(denied);
  await t.rejects(cache.get(request), { code: 'AccessDenied' });
  t.equal(source.mints, 1);
  cache.put(request, { username: 'AWS', password: 'from-elsewhere', expiresAt: new Date(clock.now + HOUR) });
  const kept = await cache.get(request);
  t.equal(kept.password, 'from-elsewhere');
  t.equal(kept.refreshAt, clock.now + HOUR / 2, 'refreshed at the same fraction as a mint of its own');
  t.equal(source.mints, 1);
});

t.test('the cache keeps anything with an expiry, whole: a session with its credentials', async (t) => {
  const clock = { now: Date.UTC(2026, 10, 23) };
  let assumed = 0;
  const sessions = new TokenCache<{ credentials: { accessKeyId: string }; expiresAt: Date }>({
    source: { mint: async () => ({ credentials: { accessKeyId: `AKIA${++assumed}` }, expiresAt: new Date(clock.now + HOUR) }) },
    maxEntries: 10,
    refreshFraction: 0.5,
    suspectTrustMs: 15 * 60 * 1000,
    mintDeadlineMs: 2000,
    failureBackoff: { initialMs: 1000, maxMs: 60_000 },
    now: () => clock.now,
  });
  t.same((await sessions.get(request)).credentials, { accessKeyId: 'AKIA1' });
  t.same((await sessions.get(request)).credentials, { accessKeyId: 'AKIA1' });
  t.equal(assumed, 1);
});
