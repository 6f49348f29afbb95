import t from 'tap';
import type { z } from 'zod';
import { describeIssue, formatIssues } from '../../src/policy/issues.ts';
import { formatPath } from '../../src/text.ts';

/**
 * The wording of schema problems. Most of it is reached through parsePolicy (load.test.ts); these cases pin the
 * paths and the fallbacks that real zod issues from the policy schema never take.
 */
interface PathCase {
  name: string;
  path: PropertyKey[];
  want: string;
}

const pathCases: PathCase[] = [
  { name: 'an empty path is the top level', path: [], want: '(top level)' },
  { name: 'identifiers are joined with dots', path: ['spec', 'tenants', 'payments'], want: 'spec.tenants.payments' },
  { name: 'list indexes are bracketed', path: ['spec', 'rewrites', 0, 'from'], want: 'spec.rewrites[0].from' },
  { name: 'a key with a dot is bracket-quoted', path: ['spec', 'tenants', 'team.a', 'grants', 1], want: 'spec.tenants["team.a"].grants[1]' },
  { name: 'a key starting with a digit is bracket-quoted', path: ['spec', 'tenants', '9lives'], want: 'spec.tenants["9lives"]' },
  { name: 'a key with dashes and underscores stays an identifier', path: ['a_b', 'c-d'], want: 'a_b.c-d' },
  { name: 'a first key that is not an identifier is bracket-quoted without a leading dot', path: ['a b', 'c'], want: '["a b"].c' },
  { name: 'a quote inside a key is escaped', path: ['x', 'say "hi"'], want: 'x["say \\"hi\\""]' },
  { name: 'a symbol key is written as its description', path: ['x', Symbol('s')], want: 'x["Symbol(s)"]' },
];

for (const c of pathCases) {
  t.test(c.name, async (t) => t.equal(formatPath(c.path), c.want));
}

/** Builds an issue of the shape zod reports; only the fields describeIssue reads matter. */
function issue(fields: Record<string, unknown>): z.core.$ZodIssue {
  return { path: [], message: 'zod says so', ...fields } as unknown as z.core.$ZodIssue;
}

interface IssueCase {
  name: string;
  issue: z.core.$ZodIssue;
  want: string;
}

const issueCases: IssueCase[] = [
  { name: 'a missing value is required', issue: issue({ code: 'invalid_type', expected: 'string', input: undefined }), want: 'is required' },
  { name: 'a wrong type names both types', issue: issue({ code: 'invalid_type', expected: 'array', input: {} }), want: 'must be a list, not a map' },
  { name: 'a record is described as a map', issue: issue({ code: 'invalid_type', expected: 'record', input: 'x' }), want: 'must be a map, not the string "x"' },
  { name: 'an unnamed expected type is written with an article', issue: issue({ code: 'invalid_type', expected: 'string', input: 5 }), want: 'must be a string, not number 5' },
  { name: 'a null input is called null', issue: issue({ code: 'invalid_type', expected: 'object', input: null }), want: 'must be a map, not null' },
  { name: 'a bigint input is named with its type', issue: issue({ code: 'invalid_type', expected: 'string', input: 10n }), want: 'must be a string, not bigint 10' },
  { name: 'one unknown key is singular', issue: issue({ code: 'unrecognized_keys', keys: ['x'] }), want: 'unknown field "x"' },
  { name: 'several unknown keys are plural', issue: issue({ code: 'unrecognized_keys', keys: ['x', 'y'] }), want: 'unknown fields "x", "y"' },
  { name: 'an invalid value lists the allowed ones', issue: issue({ code: 'invalid_value', values: ['a', 'b'], input: 'c' }), want: 'must be "a" or "b", not the string "c"' },
  { name: 'an invalid value that is missing says nothing was given', issue: issue({ code: 'invalid_value', values: ['a'], input: undefined }), want: 'must be "a", not nothing' },
  {
    name: 'an invalid key uses the message of the check that refused it',
    issue: issue({ code: 'invalid_key', input: 'bad key', issues: [{ message: 'must be lower case' }] }),
    want: '"bad key": must be lower case',
  },
  {
    name: 'an invalid key without an inner problem falls back to its own message',
    issue: issue({ code: 'invalid_key', input: 'bad key', issues: [] }),
    want: '"bad key": zod says so',
  },
  { name: 'too few items in a list is worded for lists', issue: issue({ code: 'too_small', origin: 'array', minimum: 1 }), want: 'must list at least 1 item' },
  { name: 'too short a string keeps the message of the schema', issue: issue({ code: 'too_small', origin: 'string', minimum: 1 }), want: 'zod says so' },
  { name: 'a custom problem is its own message', issue: issue({ code: 'custom' }), want: 'zod says so' },
];

for (const c of issueCases) {
  t.test(c.name, async (t) => t.equal(describeIssue(c.issue), c.want));
}

t.test('formatIssues prefixes each problem with its path, and reports an invalid key on the map that holds it', async (t) => {
  t.same(
    formatIssues([
      issue({ code: 'custom', path: ['spec', 'tenants', 'a', 'externalId'], message: 'too short' }),
      issue({ code: 'invalid_key', path: ['spec', 'tenants', '-bad'], input: '-bad', issues: [{ message: 'not a label value' }] }),
    ]),
    ['spec.tenants.a.externalId: too short', 'spec.tenants: "-bad": not a label value'],
  );
});
