import type { z } from 'zod';
import { formatPath } from '../text.ts';

/** Turns schema issues into `path: problem` lines a person can act on. */
function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a map';
  if (typeof input === 'string') return `the string ${JSON.stringify(input.length > 60 ? `${input.slice(0, 59)}…` : input)}`;
  if (input === undefined) return 'nothing';
  return `${typeof input} ${String(input)}`;
}

function describeExpected(expected: string): string {
  const names: Record<string, string> = { object: 'a map', array: 'a list', record: 'a map' };
  return names[expected] ?? `a ${expected}`;
}

export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'is required' : `must be ${describeExpected(issue.expected)}, not ${describeInput(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_value':
      return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, not ${describeInput(issue.input)}`;
    case 'invalid_key':
      return `${JSON.stringify(String(issue.input))}: ${issue.issues[0]?.message ?? issue.message}`;
    case 'too_small':
      return issue.origin === 'array' ? `must list at least ${String(issue.minimum)} item` : issue.message;
    default:
      return issue.message;
  }
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    // An invalid map key is reported on the key itself; name the map it sits in.
    const path = issue.code === 'invalid_key' ? issue.path.slice(0, -1) : issue.path;
    return `${formatPath(path)}: ${describeIssue(issue)}`;
  });
}
