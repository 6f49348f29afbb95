import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { FileWatcher, readAll } from '../files/file-watcher.ts';
import type { Metrics } from '../metrics.ts';

/**
 * The serving certificate and key, reloaded when cert-manager or the kubelet rotates them. New connections get
 * the new pair; open connections keep theirs, so nothing is dropped. A pair that does not load (a key that does
 * not match its certificate, say, between the two files' updates) is not installed: the old pair keeps serving
 * and the next change is tried again.
 */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export const TLS_MIN_VERSION = 'TLSv1.2';

export class TlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsError';
  }
}

/** Checks that the key matches the certificate and both parse, naming the files when they do not. */
export function validateTlsPair(pair: TlsPair, certPath: string, keyPath: string): TlsPair {
  try {
    createSecureContext({ cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION });
  } catch (error) {
    throw new TlsError(`TLS certificate ${certPath} and key ${keyPath} do not load together: ${(error as Error).message}`);
  }
  return pair;
}

export async function readTlsPair(certPath: string, keyPath: string): Promise<TlsPair> {
  let contents: Buffer[];
  try {
    contents = await readAll([certPath, keyPath]);
  } catch (error) {
    throw new TlsError(`cannot read the TLS certificate or key: ${(error as Error).message}`);
  }
  return validateTlsPair({ cert: contents[0] as Buffer, key: contents[1] as Buffer }, certPath, keyPath);
}

export interface TlsReloaderOptions {
  readonly certPath: string;
  readonly keyPath: string;
  /** Installs a validated pair on the server (https.Server#setSecureContext). */
  readonly install: (pair: TlsPair) => void;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly pollMs: number;
  readonly debounceMs: number;
}

export function watchTlsPair(initial: TlsPair, options: TlsReloaderOptions): FileWatcher {
  const { certPath, keyPath, log, metrics } = options;
  const watcher = new FileWatcher([certPath, keyPath], {
    pollMs: options.pollMs,
    debounceMs: options.debounceMs,
    onChange: ([cert, key]) => {
      options.install(validateTlsPair({ cert: cert as Buffer, key: key as Buffer }, certPath, keyPath));
      metrics.tlsReloads.inc({ result: 'success' });
      log.info({ cert: certPath }, 'TLS certificate reloaded');
    },
    onError: (error) => {
      metrics.tlsReloads.inc({ result: 'failure' });
      log.error({ cert: certPath, key: keyPath, err: error.message }, 'TLS certificate change not installed; the previous certificate keeps serving');
    },
  });
  watcher.start([initial.cert, initial.key]);
  return watcher;
}
