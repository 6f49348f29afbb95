import t from 'tap';
import { Budget } from '../../src/deadline.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import type { ImageQuestion, RepositoryTagsQuestion } from '../../src/policy/registry-facts.ts';
import { READ_LIMIT_PER_ADMISSION, RegistryLookups, type LookupKind, type LookupResult, type RegistryReader } from '../../src/registry/registry-lookups.ts';
import { decideReadingRegistry } from '../../src/registry/decide-reading-registry.ts';
import { readPodSpec } from '../../src/workload/pod-spec.ts';
import { CredentialError } from '../../src/credentials/registry-token.ts';

/**
 * The lookup cache with an in-memory reader: what is kept for how long, single-flight, the budget, the counts.
 * The same cache against moto's ECR is in test/e2e/registry-admission.test.ts.
 */
const A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const POLICY = parsePolicy(
  `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    one:
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/one
      grants: [{ registry: ${A}, repositories: ["app/*"] }, { registry: ${A}, repositoryTags: { Team: Payments } }]
    two:
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/two
      grants: [{ registry: ${A}, repositories: ["app/*"] }]
    two-again:
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/two
      grants: [{ registry: ${A}, repositories: ["app/*"] }]
`,
  'lookups.yaml',
);
const ONE = POLICY.tenants.get('one')!;
const TWO = POLICY.tenants.get('two')!;
const TWO_AGAIN = POLICY.tenants.get('two-again')!;
const grantOf = (tenant: typeof ONE) => [...tenant.grantsByRegistry.values()].flat()[0]!;

function image(tenant: typeof ONE, repository: string, reference: string): ImageQuestion {
  return { kind: 'image', tenant, grant: grantOf(tenant), repository, reference };
}

function tags(repository: string): RepositoryTagsQuestion {
  return { kind: 'repository-tags', tenant: ONE, grant: grantOf(ONE), repository };
}

/** A registry in memory: digests by repository:reference, tags by repository; every read counted; a gate to hold reads. */
function memoryRegistry() {
  const images = new Map<string, string>();
  const repositoryTags = new Map<string, Record<string, string>>();
  const reads: string[] = [];
  let failWith: Error | undefined;
  let gate: Promise<void> = Promise.resolve();
  const reader: RegistryReader = {
    async imageDigest(request, _registry, repository, reference) {
      reads.push(`image ${request.roleArn} ${repository}:${reference}`);
      await gate;
      if (failWith !== undefined) throw failWith;
      return images.get(`${repository}:${reference}`);
    },
    async repositoryTags(request, _registry, repository) {
      reads.push(`tags ${request.roleArn} ${repository}`);
      await gate;
      if (failWith !== undefined) throw failWith;
      return repositoryTags.get(repository);
    },
  };
  return {
    reader,
    images,
    repositoryTags,
    reads,
    fail(error: Error | undefined) {
      failWith = error;
    },
    hold(): () => void {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      return () => open();
    },
  };
}

function setup(deadlineMs = 1000, readsPerSecond = 1000) {
  const registry = memoryRegistry();
  let now = 1_000_000;
  const counts: string[] = [];
  const lookups = new RegistryLookups({
    reader: registry.reader,
    sessionSeconds: 3600,
    maxEntries: 100,
    digestTtlMs: 86_400_000,
    mutableTtlMs: 60_000,
    missingTtlMs: 10_000,
    errorTtlMs: 1000,
    deadlineMs,
    readsPerSecond,
    now: () => now,
    onLookup: (kind: LookupKind, result: LookupResult) => counts.push(`${kind}:${result}`),
  });
  return { registry, lookups, counts, advance: (ms: number) => (now += ms) };
}

async function ask(lookups: RegistryLookups, question: ImageQuestion | RepositoryTagsQuestion) {
  const facts = lookups.forAdmission();
  const before = question.kind === 'image' ? facts.image(question) : facts.repositoryTags(question);
  await facts.fetch([question], new Budget(5000));
  return { before, after: question.kind === 'image' ? facts.image(question) : facts.repositoryTags(question) };
}

t.test('a tag found is kept for the mutable time, and its digest for long', async (t) => {
  const { registry, lookups, counts, advance } = setup();
  registry.images.set('app/web:1', D1);
  const first = await ask(lookups, image(ONE, 'app/web', '1'));
  t.same(first.before, { state: 'unknown' });
  t.same(first.after, { state: 'found', value: D1 });
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', '1')), { state: 'found', value: D1 }, 'from memory');
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', D1)), { state: 'found', value: D1 }, 'the digest is known too');
  advance(60_000);
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', '1')), { state: 'unknown' }, 'the tag is read again after the mutable time');
  advance(86_400_000 - 60_000 - 1);
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', D1)), { state: 'found', value: D1 }, 'the digest lasts a day');
  advance(1);
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', D1)), { state: 'unknown' });
  t.same(registry.reads, ['image arn:aws:iam::111111111111:role/one app/web:1']);
  t.same(counts, ['image:found', 'image:hit', 'image:hit', 'image:hit']);
});

t.test('an image found by digest is kept for long', async (t) => {
  const { registry, lookups, advance } = setup();
  registry.images.set(`app/web:${D2}`, D2);
  await ask(lookups, image(ONE, 'app/web', D2));
  advance(3_600_000);
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', D2)), { state: 'found', value: D2 });
});

t.test('not found is kept briefly, so a replica that catches up is seen within seconds', async (t) => {
  const { registry, lookups, counts, advance } = setup();
  t.same((await ask(lookups, image(ONE, 'app/web', '2'))).after, { state: 'missing' });
  registry.images.set('app/web:2', D2);
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', '2')), { state: 'missing' });
  advance(10_000);
  t.same((await ask(lookups, image(ONE, 'app/web', '2'))).after, { state: 'found', value: D2 });
  t.same(counts, ['image:missing', 'image:hit', 'image:found']);
});

t.test('an error is kept a second, with the code the reader failed with', async (t) => {
  const { registry, lookups, counts, advance } = setup();
  registry.fail(new CredentialError('DescribeImages', 'arn:aws:iam::111111111111:role/one', 'AccessDeniedException', 'not authorized'));
  const { after } = await ask(lookups, image(ONE, 'app/web', '1'));
  t.same(after, { state: 'error', code: 'AccessDeniedException', message: 'DescribeImages for role arn:aws:iam::111111111111:role/one failed: AccessDeniedException: not authorized' });
  t.equal(lookups.forAdmission().image(image(ONE, 'app/web', '1')).state, 'error');
  advance(1000);
  registry.fail(new Error('no code'));
  t.same((await ask(lookups, image(ONE, 'app/web', '1'))).after, { state: 'error', code: 'Error', message: 'no code' });
  t.same(counts, ['image:error', 'image:hit', 'image:error']);
});

t.test('a read past its deadline is a Timeout error', async (t) => {
  const { registry, lookups } = setup(20);
  const release = registry.hold();
  const { after } = await ask(lookups, image(ONE, 'app/web', '1'));
  t.same(after, { state: 'error', code: 'Timeout', message: 'reading ECR took longer than 20 ms' });
  release();
});

t.test("a read cut short by the admission's budget answers Timeout, and its answer still fills the cache", async (t) => {
  const { registry, lookups } = setup(5000);
  registry.images.set('app/web:1', D1);
  const release = registry.hold();
  const facts = lookups.forAdmission();
  await facts.fetch([image(ONE, 'app/web', '1')], new Budget(10));
  t.same(facts.image(image(ONE, 'app/web', '1')), { state: 'error', code: 'Timeout', message: 'reading ECR did not finish within the 10 ms one admission may wait' });
  release();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(lookups.forAdmission().image(image(ONE, 'app/web', '1')), { state: 'found', value: D1 });
});

t.test('the signal a reader gets aborts at the deadline, and an aborted read is a Timeout whatever it threw', async (t) => {
  const registry = memoryRegistry();
  const lookups = new RegistryLookups({
    reader: {
      ...registry.reader,
      imageDigest: (_r, _g, _repo, _ref, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted by the SDK')))),
    },
    sessionSeconds: 3600,
    maxEntries: 10,
    digestTtlMs: 1,
    mutableTtlMs: 1,
    missingTtlMs: 1,
    errorTtlMs: 1,
    deadlineMs: 20,
    readsPerSecond: 1000,
    now: Date.now,
  });
  const facts = lookups.forAdmission();
  await facts.fetch([image(ONE, 'app/web', '1')], new Budget(5000));
  t.same(facts.image(image(ONE, 'app/web', '1')), { state: 'error', code: 'Timeout', message: 'no answer within 20 ms' });
});

t.test('concurrent questions with one key share one read; each is counted once', async (t) => {
  const { registry, lookups, counts } = setup();
  registry.images.set('app/web:1', D1);
  const release = registry.hold();
  const all = Array.from({ length: 1000 }, () => ask(lookups, image(ONE, 'app/web', '1')));
  release();
  const answers = await Promise.all(all);
  t.ok(answers.every((a) => a.after.state === 'found'));
  t.equal(registry.reads.length, 1);
  t.equal(counts.filter((c) => c === 'image:found').length, 1);
  t.equal(counts.filter((c) => c === 'image:hit').length, 999);
});

t.test('two tenants with different roles never share an answer', async (t) => {
  const { registry, lookups } = setup();
  registry.images.set('app/web:1', D1);
  await ask(lookups, image(ONE, 'app/web', '1'));
  t.same(lookups.forAdmission().image(image(TWO, 'app/web', '1')), { state: 'unknown' });
  await ask(lookups, image(TWO, 'app/web', '1'));
  t.same(registry.reads, ['image arn:aws:iam::111111111111:role/one app/web:1', 'image arn:aws:iam::111111111111:role/two app/web:1']);
});

t.test("a repository's tags are kept for the mutable time; a missing repository briefly", async (t) => {
  const { registry, lookups, counts, advance } = setup();
  registry.repositoryTags.set('team/api', { Team: 'Payments' });
  t.same((await ask(lookups, tags('team/api'))).after, { state: 'found', value: { Team: 'Payments' } });
  t.same((await ask(lookups, tags('team/none'))).after, { state: 'missing' });
  advance(59_999);
  t.same(lookups.forAdmission().repositoryTags(tags('team/api')).state, 'found');
  advance(1);
  t.same(lookups.forAdmission().repositoryTags(tags('team/api')).state, 'unknown');
  t.same(counts, ['repository-tags:found', 'repository-tags:missing', 'repository-tags:hit']);
});

t.test('one admission sees one answer per question however often it decides, counted once', async (t) => {
  const { registry, lookups, counts, advance } = setup();
  registry.images.set('app/web:1', D1);
  await ask(lookups, image(ONE, 'app/web', '1'));
  const facts = lookups.forAdmission();
  t.equal(facts.image(image(ONE, 'app/web', '1')).state, 'found');
  advance(120_000);
  t.equal(facts.image(image(ONE, 'app/web', '1')).state, 'found', 'still the answer it decided with');
  t.same(counts, ['image:found', 'image:hit']);
});

t.test('the cache is bounded: the least recently used answers go first', async (t) => {
  const registry = memoryRegistry();
  const lookups = new RegistryLookups({ reader: registry.reader, sessionSeconds: 3600, maxEntries: 2, digestTtlMs: 1e9, mutableTtlMs: 1e9, missingTtlMs: 1e9, errorTtlMs: 1e9, deadlineMs: 1000, readsPerSecond: 1000, now: Date.now });
  for (const reference of ['a', 'b', 'c']) await ask(lookups, image(ONE, 'app/web', reference));
  t.equal(lookups.forAdmission().image(image(ONE, 'app/web', 'a')).state, 'unknown');
  t.equal(lookups.forAdmission().image(image(ONE, 'app/web', 'c')).state, 'missing');
});

t.test('decideReadingRegistry decides once from memory, and reads what it lacks round by round', async (t) => {
  const { registry, lookups } = setup();
  registry.repositoryTags.set('team/api', { Team: 'Payments' });
  registry.images.set('team/api:1', D1);
  const read = readPodSpec({ spec: { containers: [{ name: 'c0', image: `${A}/team/api:1` }] } }, ['spec']);
  if (!read.ok) throw new Error(read.problem);
  const input = { pod: read.view, namespace: 'ns', namespaceLabels: { 'ecr-tenant-webhook.io/tenant': 'one' }, policy: POLICY };
  const cold = await decideReadingRegistry(input, lookups, new Budget(5000));
  t.same(cold.changes.images.map((c) => c.image), [`${A}/team/api:1@${D1}`]);
  t.same(registry.reads, ['tags arn:aws:iam::111111111111:role/one team/api', 'image arn:aws:iam::111111111111:role/one team/api:1'], 'the tags first, then the digest');
  const warm = await decideReadingRegistry(input, lookups, new Budget(5000));
  t.same(warm.changes.images.map((c) => c.image), [`${A}/team/api:1@${D1}`]);
  t.equal(registry.reads.length, 2, 'warm: no read');
  const offline = await decideReadingRegistry(input, undefined, new Budget(5000));
  t.equal(offline.verdict, 'deny', 'without lookups a tag-based grant cannot be judged');
  t.equal(offline.images[0]!.unjudged, true);
});

t.test('one admission reads at most eight questions at once, and starts none once its budget is spent', async (t) => {
  const { registry, lookups } = setup(5000);
  const release = registry.hold();
  const facts = lookups.forAdmission();
  const questions = Array.from({ length: 100 }, (_, i) => image(ONE, 'app/web', `v${i}`));
  const fetching = facts.fetch(questions, new Budget(30));
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(registry.reads.length, 8, 'eight reads running, the rest waiting');
  await fetching;
  release();
  await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(registry.reads.length, 8, 'none started after the budget ended');
  t.ok(questions.every((q) => facts.image(q).state === 'error'), 'every question answered Timeout');
});

t.test('one admission reads at most 64 distinct questions; past them it answers a closed error, and a retry goes further', async (t) => {
  const { registry, lookups, counts } = setup(5000);
  for (let i = 0; i < 100; i++) registry.images.set(`app/web:v${i}`, D1);
  const questions = Array.from({ length: 100 }, (_, i) => image(ONE, 'app/web', `v${i}`));
  const first = lookups.forAdmission();
  await first.fetch(questions.slice(0, 40), new Budget(5000));
  await first.fetch(questions.slice(40), new Budget(5000));
  t.equal(registry.reads.length, READ_LIMIT_PER_ADMISSION, 'the limit counts reads over every round of the admission');
  t.same(first.image(questions[63]!), { state: 'found', value: D1 });
  t.same(first.image(questions[64]!), {
    state: 'error',
    code: 'TooManyReads',
    message: 'the pod needs more than the 64 ECR reads one admission makes; what was read is kept, so a retry goes further',
    closed: true,
  });
  t.equal(counts.filter((c) => c === 'image:found').length, 64, 'questions past the limit are not counted as lookups');
  const retry = lookups.forAdmission();
  t.equal(questions.filter((q) => retry.image(q).state === 'found').length, 64, 'the retry finds what the first attempt read');
  await retry.fetch(questions.filter((q) => retry.image(q).state === 'unknown'), new Budget(5000));
  t.equal(registry.reads.length, 100, 'and reads the rest');
  t.ok(questions.every((q) => retry.image(q).state === 'found'));
});

t.test("each tenant starts at most its reads a second, ten seconds' worth at once; a refused read is closed and not kept", async (t) => {
  const { registry, lookups, counts, advance } = setup(1000, 2);
  const facts = lookups.forAdmission();
  const questions = Array.from({ length: 21 }, (_, i) => image(TWO, 'app/web', `v${i}`));
  await facts.fetch(questions, new Budget(5000));
  t.equal(registry.reads.length, 20, 'a burst of 20 at 2 a second');
  t.same(facts.image(questions[20]!), { state: 'error', code: 'RateLimited', message: 'tenant "two" started more than 2 ECR reads a second (20 at once); try again shortly', closed: true });
  t.equal(counts.filter((c) => c === 'image:limited').length, 1);
  t.equal((await ask(lookups, image(TWO_AGAIN, 'app/web', 'other'))).after.state, 'missing', 'a tenant sharing the role and credential has a bucket of its own');
  t.equal((await ask(lookups, image(ONE, 'app/web', 'other'))).after.state, 'missing', 'and so has a tenant of another role');
  t.equal((await ask(lookups, questions[20]!)).after.state, 'error', 'still empty');
  advance(500);
  t.equal((await ask(lookups, questions[20]!)).after.state, 'missing', 'half a second refills one read, and the refusal was not kept');
  t.equal(registry.reads.length, 23);
});

t.test('a question another admission answered since this one looked is taken from memory: no read, no part of the rate', async (t) => {
  const { registry, lookups, counts } = setup(1000, 1);
  const question = image(ONE, 'app/web', 'v1');
  registry.images.set('app/web:v1', D1);
  const late = lookups.forAdmission();
  t.equal(late.image(question).state, 'unknown', 'nothing known when this admission decided');
  await ask(lookups, question);
  counts.length = 0;
  await late.fetch([question], new Budget(5000));
  t.same(late.image(question), { state: 'found', value: D1 });
  t.equal(registry.reads.length, 1, 'read once, by the other admission');
  t.same(counts, ['image:hit']);
});
