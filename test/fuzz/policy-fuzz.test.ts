import t from 'tap';
import { parsePolicy, PolicyError } from '../../src/policy/load.ts';
import { editedPolicyText, hostilePolicyText, mutatedPolicy, randomPolicy, render } from './policy-inputs.ts';
import { brief, Failures, fuzzSeed, Random } from './random.ts';

/**
 * Fuzzes parsePolicy: whatever the text, it returns a compiled policy or throws a PolicyError whose message names
 * the file and whose every problem line starts with it. Any other throw (TypeError, RangeError, a YAML library
 * error) is a crash: the policy reloader only catches PolicyError, so it would take the webhook down.
 */
const seed = fuzzSeed();
t.comment(`fuzz seed ${seed} (FUZZ_SEED=${seed} reproduces this run)`);

interface Family {
  readonly name: string;
  readonly count: number;
  readonly make: (random: Random) => { what: string; text: string };
}

const FAMILIES: readonly Family[] = [
  { name: 'random policy of the documented shape', count: 250, make: (random) => ({ what: 'random policy', text: render(random, randomPolicy(random)) }) },
  { name: 'policy with fields replaced by junk', count: 600, make: mutatedPolicy },
  { name: 'policy text with random edits', count: 600, make: editedPolicyText },
  { name: 'hostile YAML', count: 80, make: hostilePolicyText },
];

function isCompiledPolicy(value: unknown): boolean {
  const policy = value as { tenants?: unknown; warnings?: unknown; document?: unknown };
  return typeof policy === 'object' && policy !== null && policy.tenants instanceof Map && Array.isArray(policy.warnings) && typeof policy.document === 'object';
}

type Outcome = { readonly loaded: boolean; readonly problem?: string };

/** What parsePolicy did with a text: loaded it, refused it properly, or broke its contract (the problem). */
function outcomeOf(text: string, source: string): Outcome {
  let result: unknown;
  try {
    result = parsePolicy(text, source);
  } catch (error) {
    return { loaded: false, problem: refusalProblem(error, source) };
  }
  return isCompiledPolicy(result) ? { loaded: true } : { loaded: true, problem: 'returned something that is not a compiled policy' };
}

function refusalProblem(error: unknown, source: string): string | undefined {
  if (!(error instanceof PolicyError)) return `threw ${(error as Error)?.name ?? typeof error}: ${String((error as Error)?.message).slice(0, 100)}`;
  if (error.message === '' || !error.message.includes(source)) return 'a PolicyError whose message does not name the file';
  if (error.problems.length === 0 || !error.problems.every((line) => line.startsWith(`${source}: `) && line.length > source.length + 2)) {
    return 'a PolicyError with a problem line that does not start with the file name';
  }
  return undefined;
}

let total = 0;
let loaded = 0;

for (const family of FAMILIES) {
  t.test(`every ${family.name} loads or is refused with a PolicyError naming the file`, async (t) => {
    const failures = new Failures();
    const started = performance.now();
    for (let index = 0; index < family.count; index++) {
      const { what, text } = family.make(Random.forInput(seed, family.name, index));
      const source = `policies/fuzz-${index}.yaml`;
      const { loaded: ok, problem } = outcomeOf(text, source);
      if (problem !== undefined) failures.record(problem, `seed ${seed}, ${family.name} #${index}: ${what}: ${brief(JSON.stringify(text), 160)}`);
      if (ok) loaded++;
    }
    total += family.count;
    const ms = Math.round(performance.now() - started);
    t.same(failures.examples, [], `${failures.count} of ${family.count} policies handled wrongly (${ms} ms)`, { problems: failures.problems });
  });
}

t.test('the fuzz parsed at least 1,500 policy texts, some of them valid', async (t) => {
  t.comment(`policy texts in total: ${total}, of which ${loaded} loaded`);
  t.ok(total >= 1_500, `${total} policy texts were parsed`);
  // If no generated policy ever loaded, the generators would only be testing the error path.
  t.ok(loaded >= 100, `${loaded} generated policies were valid and compiled`);
});
