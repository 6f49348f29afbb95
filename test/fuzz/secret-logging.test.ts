import t from 'tap';
import type { Logger } from 'pino';
import { DOCKER_CONFIG_KEY } from '../../src/credentials/pull-secret.ts';
import { PullSecretProvisioner } from '../../src/credentials/pull-secret-provisioner.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import { CredentialError, type RegistryToken, type RegistryTokenSource, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { TokenCache } from '../../src/credentials/token-cache.ts';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import { TENANT_LABEL } from '../../src/labels.ts';
import { createMetrics } from '../../src/metrics.ts';
import { reportTokenEvent, TOKEN_CACHE } from '../../src/aws/credential-chain.ts';
import { PULL_SECRET_FRESH_FOR_MS } from '../../src/server.ts';
import { testApp } from '../admission/harness.ts';
import { NAMESPACES } from '../admission/namespaces.ts';
import { replyProblem, send } from './admission-check.ts';
import { ADMISSION_ROUTES, VALID_REVIEW, type AdmissionInput } from './admission-inputs.ts';
import { GRANTED_IMAGES, hostileImage, REWRITTEN_IMAGES } from './images.ts';
import { brief, Failures, fuzzSeed, junkValue, mutateTree, Random, randomMap, SECRET_KEYS, serialize, setOwn } from './random.ts';
import { testSealer } from '../support/test-sealer.ts';

/**
 * No credential ever reaches a log line. The app runs with the real pull-secret chain (token cache, provisioner,
 * writer) over in-memory adapters, so ECR tokens are really minted and Secrets really written while valid and
 * fuzzed reviews arrive, some carrying password, token, auth and authorization fields of their own. Every line
 * logged is then searched for every minted password, its base64 forms, any base64 "AWS:" auth string, and every
 * secret value the fuzz planted. The lines about a credential must still say which one, readably: tenant, role,
 * registry and expiry, with nothing of theirs redacted.
 */
const seed = fuzzSeed();
t.comment(`fuzz seed ${seed} (FUZZ_SEED=${seed} reproduces this run)`);

const HOUR = 60 * 60 * 1000;
/** Half of them valid pods needing pull Secrets, half fuzzed reviews. */
const REVIEWS = 2000;
/** Every minted password and every planted value starts with these, so a leak of any part of one is found. */
const PASSWORD_PREFIX = 'FzPassword';
const PLANTED_PREFIX = 'FzPlanted';
const b64 = (text: string) => Buffer.from(text).toString('base64');
/**
 * Markers of a leak whatever the alignment: the prefixes in plain text, base64 of "AWS:" (every docker auth
 * string starts with it: "QVdTO"), base64 of '{"auths"' (a whole dockerconfigjson), and base64 of the prefixes.
 */
const LEAK_MARKERS = [PASSWORD_PREFIX, PLANTED_PREFIX, 'QVdTO', b64('{"auths"').slice(0, 10), b64(PASSWORD_PREFIX).slice(0, 12), b64(PLANTED_PREFIX).slice(0, 10), b64(`AWS:${PASSWORD_PREFIX}`).slice(0, 16)];

/** Tenant, role, account and region of a credential, as one comparable string. */
const credentialOf = (tenant: unknown, role: unknown, registry: { account?: unknown; region?: unknown } | undefined) => JSON.stringify([tenant, role, registry?.account, registry?.region]);

/** A token source that mints distinctive passwords, sometimes fails, and sometimes claims an implausible expiry. */
class FakeTokenSource implements RegistryTokenSource {
  readonly passwords: string[] = [];
  /** Every credential asked for (see credentialOf). */
  readonly requested = new Set<string>();
  readonly #clock: { now: number };
  readonly #random: Random;
  calls = 0;

  constructor(clock: { now: number }, random: Random) {
    this.#clock = clock;
    this.#random = random;
  }

  async mint(request: TokenRequest): Promise<RegistryToken> {
    this.calls++;
    this.requested.add(credentialOf(request.tenant, request.roleArn, request.registry));
    if (this.#random.chance(0.1)) throw new CredentialError('GetAuthorizationToken', request.roleArn, 'ThrottlingException', 'Rate exceeded');
    const password = `${PASSWORD_PREFIX}${this.calls}x${this.#random.chars('ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789', 24)}`;
    this.passwords.push(password);
    const life = this.#random.chance(0.1) ? 30 * 24 * HOUR : 12 * HOUR;
    return { username: 'AWS', password, expiresAt: new Date(this.#clock.now + life) };
  }
}

/** Twenty namespaces of the enforcing tenant on top of the usual ones, so that many Secrets get written. */
function namespaces() {
  const extra = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`shop-${i}`, { [TENANT_LABEL]: 'payments' }]));
  return new InMemoryNamespaceDirectory({ ...NAMESPACES, ...extra });
}

function realPullSecretChain() {
  const clock = { now: Date.UTC(2026, 10, 23) };
  const source = new FakeTokenSource(clock, Random.forInput(seed, 'token source', 0));
  const logger: { log?: Logger } = {};
  const metrics = createMetrics();
  // serve's settings, over fakes.
  const tokens = new TokenCache({
    source,
    ...TOKEN_CACHE,
    refreshFraction: 0.5,
    mintDeadlineMs: 2000,
    now: () => clock.now,
    onEvent: (event) => logger.log && reportTokenEvent(event, logger.log, metrics),
  });
  const store = new InMemorySecretStore();
  const provisioner = new PullSecretProvisioner({ writer: new PullSecretWriter(store, () => testSealer), tokens, freshForMs: PULL_SECRET_FRESH_FOR_MS, deadlineMs: 2000, sessionSeconds: 3600, now: () => clock.now });
  const { app, logs } = testApp({}, namespaces(), { pullSecrets: provisioner });
  logger.log = app.log as unknown as Logger;
  return { app, logs, clock, source, store };
}

/** An enforce-mode pod whose images all need a pull Secret (granted, or rewritten into a granted registry). */
function podNeedingSecrets(random: Random): Record<string, unknown> & { request: Record<string, unknown> } {
  const namespace = random.chance(0.8) ? `shop-${random.int(20)}` : 'shop';
  const containers = Array.from({ length: random.between(1, 3) }, (_, i) => ({ name: `c${i}`, image: random.pick([...GRANTED_IMAGES, ...REWRITTEN_IMAGES]) }));
  const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${random.int(1000)}`, namespace }, spec: { containers } };
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `uid-${random.int(1e9)}`, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace, object } };
}

/** Plants password, token, auth and authorization fields with distinctive values in random maps of the review. */
function plantSecrets(random: Random, review: Record<string, unknown>, planted: Set<string>): void {
  for (let i = random.between(1, 4); i > 0; i--) {
    const value = `${PLANTED_PREFIX}${random.chars('abcdefghijkmnopqrstuvwxyz0123456789', 20)}`;
    planted.add(value);
    setOwn(randomMap(random, review), random.pick(SECRET_KEYS), random.chance(0.8) ? value : { [random.pick(SECRET_KEYS)]: value });
  }
}

function fuzzedReview(random: Random): Record<string, unknown> & { request: Record<string, unknown> } {
  const review = random.chance(0.5) ? podNeedingSecrets(random) : VALID_REVIEW[random.pick(ADMISSION_ROUTES)](random);
  if (random.chance(0.7)) mutateTree(random, review, (r) => (r.chance(0.3) ? hostileImage(r) : junkValue(r)));
  return review;
}

/**
 * Where any credential shows up in one log line, or undefined when it is clean. Planted values need no exact
 * search: each holds PLANTED_PREFIX, a marker.
 */
function leakIn(line: string, exact: readonly string[]): string | undefined {
  return LEAK_MARKERS.find((marker) => line.includes(marker)) ?? exact.find((needle) => line.includes(needle));
}

/** The minted passwords in every form they could leak in: plain, base64, and as a base64 docker auth string. */
function passwordForms(passwords: readonly string[]): string[] {
  return passwords.flatMap((password) => [password, b64(password), b64(`AWS:${password}`)]);
}

const chain = realPullSecretChain();
const failures = new Failures();
const planted = new Set<string>();
/** Every line logged during the run, as JSON text, with its message and the input it was logged for. */
const logged: { readonly line: string; readonly msg: unknown; readonly where: string }[] = [];
let sent = 0;

/** Sends one review, checks its answer as the admission fuzz does, and keeps what was logged meanwhile. */
async function sendOne(route: string, review: Record<string, unknown>, where: string): Promise<void> {
  const input: AdmissionInput = { what: where, payload: serialize(review), contentType: 'application/json' };
  const reply = await send(chain.app, route, input);
  const lines = chain.logs.splice(0);
  sent++;
  const problem = replyProblem(input, reply, lines);
  if (problem !== undefined) failures.record(problem, where);
  for (const line of lines) logged.push({ line: JSON.stringify(line), msg: line.msg, where });
}

t.test('fuzzed reviews arrive while the real pull-secret chain mints tokens and writes Secrets', async (t) => {
  for (let index = 0; index < REVIEWS; index++) {
    const random = Random.forInput(seed, 'secret logging', index);
    // Time passes so that tokens reach their refresh point, Secrets expire, and failures back off and retry.
    if (index % 25 === 0) chain.clock.now += random.between(0, 5) * HOUR;
    const valid = index % 2 === 0;
    const review = valid ? podNeedingSecrets(random) : fuzzedReview(random);
    plantSecrets(random, review, planted);
    const route = valid ? '/mutate' : random.pick([...ADMISSION_ROUTES, '/mutate', '/mutate']);
    await sendOne(route, review, `seed ${seed}, secret logging #${index} (${valid ? 'pod needing pull secrets' : 'fuzzed review'} to ${route})`);
  }
  t.same(failures.examples, [], `${failures.count} of ${sent} reviews answered wrongly`, { problems: failures.problems });
});

t.test('no log line holds a minted password, a docker auth string or a planted secret value', async (t) => {
  // Scanned once the run is over, so that a line is checked against passwords minted after it was written too.
  const exact = passwordForms(chain.source.passwords);
  const leaks = new Failures();
  for (const { line, msg, where } of logged) {
    const leak = leakIn(line, exact);
    if (leak !== undefined) leaks.record(`log line ${JSON.stringify(msg)} holds ${brief(leak, 40)}`, `${where}: ${brief(line, 300)}`);
  }
  t.same(leaks.examples, [], `${leaks.count} leaks in ${logged.length} log lines`, { problems: leaks.problems });
  t.comment(`${sent} reviews sent, ${logged.length} log lines scanned, ${chain.source.passwords.length} passwords minted, ${chain.store.secrets.size} Secrets stored, ${planted.size} values planted`);
});

/** The lines about one credential, with the fields of each that hold an expiry. */
const CREDENTIAL_LINES: Readonly<Record<string, readonly string[]>> = {
  'ECR token minted': ['expiresAt'],
  'ECR token expiry not believed; trusted briefly': ['expiresAt', 'claimedExpiresAt'],
  'ECR token mint failed': [],
};
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** What a credential's log line fails to say readably, or undefined when it names tenant, role, registry and expiry. */
function unreadable(line: string, expiries: readonly string[], requested: ReadonlySet<string>): string | undefined {
  if (line.includes('[redacted]')) return 'something redacted';
  const fields = JSON.parse(line) as Record<string, unknown>;
  const credential = credentialOf(fields.tenant, fields.role, fields.registry as { account?: unknown; region?: unknown } | undefined);
  if (!requested.has(credential)) return `tenant, role and registry ${credential}, which no mint was asked for`;
  return expiries.filter((field) => typeof fields[field] !== 'string' || !ISO_8601.test(fields[field] as string)).map((field) => `${field} ${JSON.stringify(fields[field])}`)[0];
}

t.test('the lines about a credential name tenant, role, registry and expiry readably, redacting none of them', async (t) => {
  const problems = new Failures();
  const seen: Record<string, number> = {};
  for (const { line, msg, where } of logged) {
    if (typeof msg !== 'string' || !Object.hasOwn(CREDENTIAL_LINES, msg)) continue;
    const expiries = CREDENTIAL_LINES[msg] as readonly string[];
    seen[msg] = (seen[msg] ?? 0) + 1;
    const problem = unreadable(line, expiries, chain.source.requested);
    if (problem !== undefined) problems.record(`log line ${JSON.stringify(msg)}: ${problem}`, `${where}: ${brief(line, 300)}`);
  }
  t.same(problems.examples, [], `${problems.count} credential lines unreadable`, { problems: problems.problems });
  t.ok((seen['ECR token minted'] ?? 0) >= 10, 'mints were logged and checked');
  t.ok(unreadable(JSON.stringify({ msg: 'ECR token minted', token: '[redacted]', expiresAt: {} }), ['expiresAt'], chain.source.requested) !== undefined, 'a line naming its credential by a redacted cache key would be found');
  t.comment(`credential lines checked: ${JSON.stringify(seen)}`);
});

t.test('the leak check had something to find: lines were logged, tokens minted, Secrets written with them', async (t) => {
  t.ok(sent >= REVIEWS, `${sent} reviews were sent`);
  t.ok(logged.length >= 1000, `${logged.length} log lines were scanned`);
  t.ok(logged.some(({ line }) => line.includes('ECR token minted')), 'token mints were logged');
  t.ok(chain.source.passwords.length >= 10, `${chain.source.passwords.length} passwords were minted`);
  t.ok(chain.store.secrets.size >= 10, `${chain.store.secrets.size} pull Secrets were written`);
  const stored = [...chain.store.secrets.values()].map((secret) => Buffer.from(secret.data?.[DOCKER_CONFIG_KEY] ?? '', 'base64').toString('utf8'));
  t.ok(stored.some((config) => chain.source.passwords.some((password) => config.includes(password))), 'a stored Secret holds a minted password');
  // The scanner itself must see a leak when there is one: a Secret as it would look if it were logged.
  const secret = [...chain.store.secrets.values()][0];
  t.ok(leakIn(JSON.stringify({ msg: 'x', secret }), []) !== undefined, 'a logged Secret would be found');
  t.ok(leakIn(JSON.stringify({ msg: 'x', password: chain.source.passwords[0] }), []) !== undefined, 'a logged password would be found');
  t.ok(leakIn(JSON.stringify({ msg: 'x', value: [...planted][0] }), []) !== undefined, 'a logged planted value would be found');
});
