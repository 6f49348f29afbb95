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
