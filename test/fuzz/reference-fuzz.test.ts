import t from 'tap';
import { classifyRegistryHost, looksLikeEcrHost } from '../../src/image/ecr-host.ts';
import { checkPath, formatReference, hostAsWritten, parseImageReference, registryOf, splitHostPort, type ParsedReference } from '../../src/image/reference.ts';
import { assembledReference, editedReference, hostileImage } from './images.ts';
import { brief, Failures, fuzzSeed, junkValue, Random } from './random.ts';

/**
 * Fuzzes the image reference parser and its helpers: they take strings straight from pods, so whatever the input
 * they answer (a reference or a reason) and never throw; and what they accept is well-formed enough to be
 * written back and read again unchanged.
 */
const seed = fuzzSeed();
t.comment(`fuzz seed ${seed} (FUZZ_SEED=${seed} reproduces this run)`);

/** Characters no accepted reference may hold: the ones the kubelet or a log line would mangle. */
const UNPRINTABLE = /[\u0000-\u0020\u007f-\u009f\u00a0\u2000-\u200f\u2028-\u202f\u205f-\u206f\ufeff]/u;

function acceptedProblem(input: string, parsed: ParsedReference & { ok: true }): string | undefined {
  const { ref } = parsed;
  if (ref.original !== input) return 'original differs from the input';
  if (input.length > 1024 || UNPRINTABLE.test(input)) return 'accepted an over-long reference or one with a control character';
  if (ref.hostname !== ref.hostname.toLowerCase() || ref.path === '') return 'accepted with an upper-case hostname or an empty path';
  if (typeof registryOf(ref) !== 'string') return 'registryOf gave no string';
  // What admission does with the registry: an ECR host only as the image writes it, in lower case; nothing shaped
  // like ECR taken for another registry.
  const host = classifyRegistryHost(hostAsWritten(ref.domain));
  if (host.kind === 'ecr' && (host.registry.host !== ref.hostname || ref.domain !== ref.domain.toLowerCase())) return 'an ECR host taken other than as written in lower case';
  if (host.kind === 'not-ecr' && looksLikeEcrHost(ref.hostname)) return 'a host shaped like ECR taken for another registry';
  if (host.kind === 'refused' && host.problem === '') return 'an ECR host refused without a reason';
  const again = parseImageReference(formatReference(ref.domain, ref.path, ref.tag, ref.digest));
  if (!again.ok) return `written back, it no longer parses: ${again.reason}`;
  const same = again.ref.domain === ref.domain && again.ref.path === ref.path && again.ref.tag === ref.tag && again.ref.digest === ref.digest;
  return same ? undefined : 'written back and read again, its parts changed';
}

type Outcome = { readonly accepted: boolean; readonly problem?: string | undefined };

/** Whether the parser accepted one input, and the problem with what it and its helpers did, if any. */
function outcomeOf(input: unknown): Outcome {
  let parsed: ParsedReference;
  try {
    parsed = parseImageReference(input);
    if (typeof input === 'string') {
      splitHostPort(input);
      checkPath(input);
    }
  } catch (error) {
    return { accepted: false, problem: `threw ${(error as Error)?.name}: ${(error as Error)?.message}` };
  }
  if (!parsed.ok) return { accepted: false, problem: typeof parsed.reason === 'string' && parsed.reason !== '' ? undefined : 'refused without a reason' };
  if (typeof input !== 'string') return { accepted: true, problem: 'accepted a value that is not a string' };
  try {
    return { accepted: true, problem: acceptedProblem(input, parsed) };
  } catch (error) {
    return { accepted: true, problem: `threw on an accepted reference: ${(error as Error)?.name}: ${(error as Error)?.message}` };
  }
}

/** Values that are not strings, including ones that throw when touched. */
function nonString(random: Random): unknown {
  return random.oneOf<unknown>([
    junkValue,
    (r) => r.pick([undefined, null, 0, 1n, Symbol('image'), () => 'nginx', new String('nginx'), ['nginx'], { toString: () => 'nginx' }]),
    () => ({
      toString() {
        throw new Error('touched');
      },
    }),
    () => new Proxy({}, { get: () => { throw new Error('touched'); }, has: () => { throw new Error('touched'); }, ownKeys: () => { throw new Error('touched'); } }),
  ]);
}

interface Family {
  readonly name: string;
  readonly count: number;
  readonly make: (random: Random) => unknown;
}

const FAMILIES: readonly Family[] = [
  { name: 'reference assembled from random parts', count: 10_000, make: assembledReference },
  { name: 'known image with characters edited', count: 8000, make: editedReference },
  { name: 'hostile image string', count: 8000, make: hostileImage },
  { name: 'value that is not a string', count: 1000, make: nonString },
];

let total = 0;
let accepted = 0;

for (const family of FAMILIES) {
  t.test(`every ${family.name} is answered with a reference or a reason, never a throw`, async (t) => {
    const failures = new Failures();
    const started = performance.now();
    for (let index = 0; index < family.count; index++) {
      const input = family.make(Random.forInput(seed, family.name, index));
      const { accepted: ok, problem } = outcomeOf(input);
      if (problem !== undefined) failures.record(problem, `seed ${seed}, ${family.name} #${index}: ${brief(typeof input === 'string' ? JSON.stringify(input) : typeof input)}`);
      if (ok) accepted++;
    }
    total += family.count;
    const ms = Math.round(performance.now() - started);
    t.same(failures.examples, [], `${failures.count} of ${family.count} inputs handled wrongly (${ms} ms)`, { problems: failures.problems });
  });
}

t.test('the fuzz parsed at least 20,000 references, both accepted and refused ones', async (t) => {
  t.comment(`references in total: ${total}, of which ${accepted} accepted`);
  t.ok(total >= 20_000, `${total} inputs were parsed`);
  // Both outcomes must be common, or the generators would exercise only one side of the parser.
  t.ok(accepted >= 1_000 && total - accepted >= 1_000, `${accepted} accepted and ${total - accepted} refused`);
});
