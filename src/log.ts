import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * JSON logs. Anything that can carry a credential is censored by key wherever it sits, so a token never reaches
 * a log line even when an error object drags one along.
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
];

export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => {
    const k = /^[A-Za-z_]\w*$/.test(key) ? key : `["${key}"]`;
    const dot = k.startsWith('[') ? '' : '.';
    return [k, `*${dot}${k}`, `*.*${dot}${k}`, `*.*.*${dot}${k}`, `*.*.*.*${dot}${k}`];
  });
  return pino(
    {
      level: options.level ?? 'info',
      base: { name: 'ecr-tenant-webhook' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths, censor: '[redacted]' },
    },
    options.destination,
  );
}
