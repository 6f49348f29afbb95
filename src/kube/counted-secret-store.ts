import type { StoredPullSecret, WritableSecret } from '../credentials/pull-secret.ts';
import type { Metrics } from '../metrics.ts';
import type { ManagedSecretStore } from './secret-store.ts';

type WriteAction = 'create' | 'update' | 'delete';

/**
 * A store that counts its writes (pull_secret_writes_total{action,result}) and passes everything through. Counting
 * here rather than in the writer and the refresher sees every API write, by its answer: `success`, `conflict`
 * (another replica wrote first: the name was taken or the resourceVersion moved) or `failure` (any other error).
 */
export class CountedSecretStore implements ManagedSecretStore {
  readonly #inner: ManagedSecretStore;
  readonly #metrics: Metrics;

  constructor(inner: ManagedSecretStore, metrics: Metrics) {
    this.#inner = inner;
    this.#metrics = metrics;
  }

  read(namespace: string, name: string, fresh?: boolean): Promise<StoredPullSecret | undefined> {
    return this.#inner.read(namespace, name, fresh);
  }

  cached(namespace: string, name: string): StoredPullSecret | undefined {
    return this.#inner.cached?.(namespace, name);
  }

  listManaged(): Promise<StoredPullSecret[]> {
    return this.#inner.listManaged();
  }

  create(secret: WritableSecret): Promise<'created' | 'exists'> {
    return this.#counted('create', this.#inner.create(secret), 'created');
  }

  replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'> {
    return this.#counted('update', this.#inner.replace(secret, resourceVersion), 'replaced');
  }

  delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'> {
    return this.#counted('delete', this.#inner.delete(namespace, name, resourceVersion), 'deleted');
  }

  /** Counts the write once it is answered: its success answer, any other answer a conflict, a rejection a failure. */
  async #counted<T extends string>(action: WriteAction, write: Promise<T>, success: T): Promise<T> {
    try {
      const answer = await write;
      this.#metrics.pullSecretWrites.inc({ action, result: answer === success ? 'success' : 'conflict' });
      return answer;
    } catch (error) {
      this.#metrics.pullSecretWrites.inc({ action, result: 'failure' });
      throw error;
    }
  }
}
