/** Helpers that keep strings from outside safe and short inside messages, warnings and logs. */

/** Cuts a string to at most `max` characters, marking the cut with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * Quotes a value taken from a request or a file: JSON string escaping makes control characters visible
 * (`\u0007`, `\n`), and long values are clipped so one hostile field cannot flood a message.
 */
export function quote(value: string, max = 160): string {
  return JSON.stringify(clip(value, max));
}

/** A field path as people write it: spec.tenants.payments.grants[1].registry, with odd keys bracket-quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][\w-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/**
 * A value from outside, shown in a message without trusting it: strings quoted and clipped, scalars as written,
 * lists and maps by their kind only (converting them could throw, or be megabytes long).
 */
export function describeValue(value: unknown, max = 100): string {
  if (typeof value === 'string') return quote(value, max);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : typeof value;
}

/**
 * Whether a parsed JSON value nests deeper than `limit` lists and maps. Iterative, because the point is to refuse
 * bodies that would overflow the stack of recursive code later (the patch diff, JSON.stringify, the logger).
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  // Two parallel stacks, lists walked as they are and maps through Object.values: every admission walks its body,
  // and this is about 2 µs for a pod where a stack of pairs took 3 and for-in 13.
  const items: object[] = [];
  const depths: number[] = [];
  if (typeof value === 'object' && value !== null) {
    items.push(value);
    depths.push(0);
  }
  while (items.length > 0) {
    const item = items.pop() as object;
    const depth = depths.pop() as number;
    if (depth >= limit) return true;
    const children: readonly unknown[] = Array.isArray(item) ? item : Object.values(item);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        items.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
