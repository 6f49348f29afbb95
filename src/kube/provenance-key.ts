import { randomBytes } from 'node:crypto';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.ts';
import { Provenance, PROVENANCE_KEY_BYTES } from '../credentials/provenance.ts';
import type { Origin, SealedFields, Sealer, StoredPullSecret } from '../credentials/pull-secret.ts';
import { withDeadline } from '../deadline.ts';

/**
 * The key that seals pull Secrets (credentials/provenance.ts), kept in a Secret of the webhook's own namespace:
 * read if it exists, else created with fresh random bytes; when two replicas create it at once the loser reads the
 * winner's. Every replica therefore seals with one key, and a restart keeps it. The Secret carries no managed-by
 * label, so it is never mistaken for a pull Secret. Deleting it makes every seal unverifiable: each pull Secret is
 * then rewritten once, at its next admission or refresh round.
 */
export const PROVENANCE_KEY_SECRET = 'ecr-tenant-webhook-provenance';
const DATA_KEY = 'key';

export interface ProvenanceKeyStore {
  /** The key, created when missing; rejects with a message naming the Secret when it cannot be had. */
  load(): Promise<Buffer>;
}

function usable(data: Readonly<Record<string, string>> | undefined): Buffer | undefined {
  const encoded = data?.[DATA_KEY];
  const key = encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
  return key !== undefined && key.length >= PROVENANCE_KEY_BYTES ? key : undefined;
}

function codeOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

export class KubeProvenanceKeyStore implements ProvenanceKeyStore {
  readonly #api: CoreV1Api;
  readonly #namespace: string;
  readonly #deadlineMs: number;

  constructor(kubeConfig: KubeConfig, namespace: string, deadlineMs: number) {
    this.#api = kubeConfig.makeApiClient(CoreV1Api);
    this.#namespace = namespace;
    this.#deadlineMs = deadlineMs;
  }

  async load(): Promise<Buffer> {
    const where = `Secret ${this.#namespace}/${PROVENANCE_KEY_SECRET}`;
    try {
      return (await this.#read(where)) ?? (await this.#create(where)) ?? (await this.#read(where)) ?? this.#unusable(where);
    } catch (error) {
      const code = codeOf(error);
      throw new Error(`the provenance key in ${where} cannot be had: ${code === undefined ? (error as Error).message : `HTTP ${code} from the API server`}`);
    }
  }

  async #read(where: string): Promise<Buffer | undefined> {
    try {
      const secret = await withDeadline(this.#api.readNamespacedSecret({ namespace: this.#namespace, name: PROVENANCE_KEY_SECRET }), this.#deadlineMs, `reading ${where}`);
      return usable(secret.data) ?? this.#unusable(where);
    } catch (error) {
      if (codeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Undefined when another replica created it first. */
  async #create(where: string): Promise<Buffer | undefined> {
    const key = randomBytes(PROVENANCE_KEY_BYTES);
    const body = { metadata: { name: PROVENANCE_KEY_SECRET, namespace: this.#namespace }, type: 'Opaque', data: { [DATA_KEY]: key.toString('base64') } };
    try {
      await withDeadline(this.#api.createNamespacedSecret({ namespace: this.#namespace, body }), this.#deadlineMs, `creating ${where}`);
      return key;
    } catch (error) {
      if (codeOf(error) === 409) return undefined;
      throw error;
    }
  }

  #unusable(where: string): never {
    throw new Error(`${where} holds no "${DATA_KEY}" of at least ${PROVENANCE_KEY_BYTES} bytes; delete it and the webhook makes a new one`);
  }
}

/** A fixed key, for unit tests and the offline paths. */
export class FixedProvenanceKeyStore implements ProvenanceKeyStore {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    this.#key = key;
  }
  async load(): Promise<Buffer> {
    return this.#key;
  }
}

export interface ProvenanceKeyringOptions {
  readonly store: ProvenanceKeyStore;
  readonly log: Logger;
  /** How often the key is read again once loaded. */
  readonly refreshMs: number;
  /** Retries before the first load succeeds. */
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
}

/**
 * The sealer in force for `serve`: loads the key, trying again with backoff until the API server gives it, then
 * reads it again every `refreshMs`. When it changed (deleted and made anew by a replica that restarted), this
 * replica seals with the new key and still verifies what the old one sealed, so replicas agree again within that
 * time instead of rewriting each other's Secrets. A failed re-read keeps the key in use.
 */
export class ProvenanceKeyring implements Sealer {
  readonly #options: ProvenanceKeyringOptions;
  readonly #backoff: Backoff;
  #sealer: Provenance | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ProvenanceKeyringOptions) {
    this.#options = options;
    this.#backoff = new Backoff(options.backoff);
  }

  /** Undefined until the key has been loaded once. */
  sealer(): Provenance | undefined {
    return this.#sealer;
  }

  /** Until the key is loaded nothing is proven (and readiness waits for it). */
  originOf(stored: StoredPullSecret): Origin | undefined {
    return this.#sealer?.originOf(stored);
  }

  seal(fields: SealedFields): string {
    if (this.#sealer === undefined) throw new Error('the provenance key is not loaded yet');
    return this.#sealer.seal(fields);
  }

  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One read of the key (and the next one scheduled); never throws. */
  async refresh(): Promise<void> {
    const { store, log, refreshMs } = this.#options;
    let retryInMs = refreshMs;
    try {
      const key = await store.load();
      const current = this.#sealer;
      if (current === undefined) log.info('provenance key loaded');
      else if (!current.sealsWith(key)) log.warn('provenance key changed; sealing with the new one, still verifying the old one');
      this.#sealer = current === undefined ? new Provenance(key) : current.sealsWith(key) ? current : current.rotatedTo(key);
      this.#backoff.reset();
    } catch (error) {
      const loaded = this.#sealer !== undefined;
      retryInMs = loaded ? refreshMs : this.#backoff.next();
      log.warn({ err: (error as Error).message, retryInMs }, loaded ? 'provenance key not read again; the one loaded stays in use' : 'provenance key not loaded; pull secrets wait for it');
    }
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.refresh(), retryInMs);
    this.#timer.unref();
  }
}
