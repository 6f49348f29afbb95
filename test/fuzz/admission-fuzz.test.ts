import t from 'tap';
import { testApp } from '../admission/harness.ts';
import { replyProblem, send } from './admission-check.ts';
import {
  ADMISSION_ROUTES,
  crossedReview,
  deepReview,
  malformedJson,
  mutatedReview,
  hostileReview,
  oversizedReview,
  validReview,
  wrongEnvelope,
  type AdmissionInput,
  type AdmissionRoute,
} from './admission-inputs.ts';
import { liveHeap, MIB } from './memory.ts';
import { brief, Failures, fuzzSeed, Random } from './random.ts';

/**
 * Fuzzes POST /mutate, /validate/namespaces and /validate/workloads through app.inject. Every input, however
 * broken, must get a 400 Status with a message or a 200 AdmissionReview answering its uid (with a message when
 * denied): never a 5xx, a 404, a wrong uid or an exception. Inputs are generated from a fixed seed.
 */
const seed = fuzzSeed();
t.comment(`fuzz seed ${seed} (FUZZ_SEED=${seed} reproduces this run)`);

/** Small enough that oversized bodies stay cheap to build; big enough for every ordinary review. */
const SMALL_LIMIT = 4096;

interface Family {
  readonly name: string;
  readonly count: number;
  readonly make: (random: Random, route: AdmissionRoute) => AdmissionInput;
  /** Sent to the app with the small body limit, where every input is over it and must be refused. */
  readonly small?: boolean;
}

const FAMILIES: readonly Family[] = [
  { name: 'structurally valid review', count: 300, make: validReview },
  { name: 'malformed JSON', count: 250, make: malformedJson },
  { name: 'wrong envelope field', count: 250, make: wrongEnvelope },
  { name: 'hostile images, names and labels', count: 250, make: hostileReview },
  { name: 'mutated valid review', count: 900, make: mutatedReview },
  { name: 'deeply nested value', count: 100, make: deepReview },
  { name: 'review meant for another endpoint', count: 100, make: (random) => crossedReview(random) },
  { name: 'body over the limit', count: 40, make: (random, route) => oversizedReview(random, route, SMALL_LIMIT), small: true },
];

const apps = { normal: testApp(), small: testApp({ bodyLimitBytes: SMALL_LIMIT }) };
const counts = new Map<string, number>();
let total = 0;

/** Sends `count` inputs of one family to one route; every problem is recorded with what reproduces it. */
async function fuzz(route: AdmissionRoute, family: Family, first = 0, count = family.count): Promise<Failures> {
  const failures = new Failures();
  const { app, logs } = family.small === true ? apps.small : apps.normal;
  const category = `${route} ${family.name}`;
  for (let index = first; index < first + count; index++) {
    const input = family.make(Random.forInput(seed, category, index), route);
    const reply = await send(app, route, input);
    // The lines logged while answering, taken out so that the log does not grow over the run.
    const logged = logs.splice(0);
    const problem = replyProblem(input, reply, logged) ?? (family.small === true ? oversizeProblem(input, reply) : undefined);
    if (problem !== undefined) failures.record(problem, `seed ${seed}, ${category} #${index}: ${brief(input.what, 400)}`);
  }
  counts.set(category, (counts.get(category) ?? 0) + count);
  total += count;
  return failures;
}

/** A body over the limit must be refused, whatever else is right or wrong with it. */
function oversizeProblem(input: AdmissionInput, reply: Awaited<ReturnType<typeof send>>): string | undefined {
  if (Buffer.byteLength(input.payload) <= SMALL_LIMIT) return 'the generator made a body under the limit';
  return 'status' in reply && reply.status === 400 ? undefined : 'a body over the limit was not refused with 400';
}

let heapAfterWarmUp = 0;

t.test('a warm-up batch of every family is answered properly before the heap is measured', async (t) => {
  for (const route of ADMISSION_ROUTES) {
    for (const family of FAMILIES) {
      const failures = await fuzz(route, family, 0, Math.min(10, family.count));
      t.same(failures.examples, [], `${route}, ${family.name}: warm-up inputs answered properly`, { problems: failures.problems });
    }
  }
  heapAfterWarmUp = await liveHeap();
});

for (const route of ADMISSION_ROUTES) {
  t.test(`every generated ${route} input gets a 400 Status or a 200 review answering its uid`, async (t) => {
    for (const family of FAMILIES) {
      const started = performance.now();
      const warmedUp = Math.min(10, family.count);
      const failures = await fuzz(route, family, warmedUp, family.count - warmedUp);
      const ms = Math.round(performance.now() - started);
      t.same(failures.examples, [], `${family.name}: ${failures.count} of ${family.count - warmedUp} inputs answered wrongly (${ms} ms)`, { problems: failures.problems });
    }
  });
}

t.test('the fuzz sent at least 6,000 admission inputs and the heap stayed flat', async (t) => {
  for (const [category, count] of counts) t.comment(`${category}: ${count} inputs`);
  t.comment(`admission inputs in total: ${total}`);
  t.ok(total >= 6_000, `${total} admission inputs were sent`);
  const growth = (await liveHeap()) - heapAfterWarmUp;
  t.comment(`heap growth after warm-up: ${(growth / MIB).toFixed(1)} MiB`);
  t.ok(growth < 64 * MIB, `live heap grew by ${(growth / MIB).toFixed(1)} MiB after the warm-up, under 64 MiB`);
});
