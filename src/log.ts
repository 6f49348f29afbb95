import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * JSON logs. Anything that can carry a credential is censored by key wherever it sits, so a token never reaches
 * a log line even when an error object drags one along. Only secret material is censored: what names a credential
 * (tenant, role, registry, expiry) is logged under other keys and stays readable.
 */
export const REDACTED_KEYS = [
  'password',
  'auth',
  'token',
  'authorizationToken',
  'secretAccessKey',
  'sessionToken',
  'SecretAccessKey',
  'SessionToken',
  '.dockerconfigjson',
  'authorization',
  'Authorization',
];

const REDACTED = new Set(REDACTED_KEYS);
const CENSOR = '[redacted]';
/** Deeper than any log line nests; a value below it is dropped rather than walked, so a hostile one costs nothing. */
const MAX_DEPTH = 10;

function holdsRedactedKey(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= MAX_DEPTH) return true;
  for (const key of Object.keys(value)) {
    if (REDACTED.has(key) || holdsRedactedKey((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/**
 * A copy with every redacted key censored; error objects become plain objects that keep their message and stack,
 * and dates become what JSON.stringify would have made of them (an ISO-8601 string; null for an invalid date)
 * rather than the `{}` a copy of their own keys would be.
 */
function censored(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Date) return value.toJSON();
  if (depth >= MAX_DEPTH) return CENSOR;
  if (Array.isArray(value)) return value.map((item) => censored(item, depth + 1));
  const copy: Record<string, unknown> = value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : {};
  for (const [key, item] of Object.entries(value)) copy[key] = REDACTED.has(key) ? CENSOR : censored(item, depth + 1);
  return copy;
}

/**
 * Redaction by one walk over each logged object, copying only when a credential key is there. pino's own
 * path-based redaction needs a wildcard path per key and depth, and cost a third of an admission's CPU time.
 */
export function redact(object: Record<string, unknown>): Record<string, unknown> {
  if ((object as { [FLAT]?: true })[FLAT] === true) return object;
  return holdsRedactedKey(object, 0) ? (censored(object, 0) as Record<string, unknown>) : object;
}

/** The brand of flatFields; a symbol, so it is never written to the line. */
const FLAT = Symbol('flat log fields');

/**
 * Fields whose values are all strings, numbers, booleans or lists of strings hold no key a credential could hide
 * under, so the line needs no redaction walk (the decision line, written for every admission). The types say so.
 */
export function flatFields<T extends Record<string, string | number | boolean | readonly string[] | undefined>>(fields: T): T {
  return Object.assign(fields, { [FLAT]: true });
}

/** Lines waiting while stdout is blocked (a stalled log pipe); past this they are dropped rather than held. */
const MAX_PENDING_LOG_BYTES = 16 * 1024 * 1024;

/**
 * Where serve's log lines go: stdout (or a file), written asynchronously. Lines logged while a write is in flight
 * are written together with the next one, so a busy webhook makes one write per batch instead of one blocking
 * write per admission (about a tenth of an admission's CPU time), while a quiet one still writes each line at once.
 * pino flushes what is pending when the process exits.
 */
export function logDestination(dest: number | string = 1): DestinationStream {
  return pino.destination({ dest, sync: false, maxLength: MAX_PENDING_LOG_BYTES });
}

let stampedAt = Number.NaN;
let stamp = '';

/** pino's ISO-8601 time, formatted once per millisecond: a busy webhook writes several lines in one. */
export function isoTime(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { name: 'ecr-tenant-webhook' },
      timestamp: isoTime,
      formatters: { log: redact },
    },
    options.destination ?? logDestination(),
  );
}
