import { CoreV1Api, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SecretObject, WritableSecret } from '../credentials/pull-secret.ts';
import { MANAGED_SELECTOR, type ManagedSecretStore } from './secret-store.ts';

/**
 * The managed pull Secrets, watched (list + watch with the managed-by label selector), in front of the API store:
 * a read that the cache can answer costs no API call, so admitting a pod whose Secret is fresh touches neither AWS
 * nor the API server. A Secret the cache does not hold (not yet seen, or not managed by the webhook, which the
 * selector hides) is read from the API server, and so is every re-read after a lost write race (`fresh`), so the
 * cache is never trusted where it could be stale in a way that matters. Writes go to the API server; the watch
 * brings them back. A failed watch is restarted after a pause, and reads fall back to the API server meanwhile.
 */
export class WatchedSecretStore implements ManagedSecretStore {
  readonly #inner: ManagedSecretStore;
  readonly #informer: ListWatch<V1Secret>;
  readonly #log: Logger;
  readonly #restartMs: number;
  #synced = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(inner: ManagedSecretStore, kubeConfig: KubeConfig, log: Logger, restartMs = 5000) {
    this.#inner = inner;
    this.#log = log;
    this.#restartMs = restartMs;
    const api = kubeConfig.makeApiClient(CoreV1Api);
    const list = async (): Promise<KubernetesListObject<V1Secret>> => {
      const answer = await api.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR });
      setImmediate(() => (this.#synced = true));
      return answer;
    };
    this.#informer = new ListWatch<V1Secret>('/api/v1/secrets', new Watch(kubeConfig), list, false, MANAGED_SELECTOR);
    this.#informer.on('error', (error: unknown) => this.#restart(error));
  }

  async start(): Promise<void> {
    try {
      await this.#informer.start();
    } catch (error) {
      this.#restart(error);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#informer.stop();
  }

  async read(namespace: string, name: string, fresh = false): Promise<SecretObject | undefined> {
    const cached = fresh || !this.#synced ? undefined : this.#informer.get(name, namespace);
    return cached === undefined ? this.#inner.read(namespace, name) : (cached as SecretObject);
  }

  create(secret: WritableSecret): Promise<'created' | 'exists'> {
    return this.#inner.create(secret);
  }

  replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'> {
    return this.#inner.replace(secret, resourceVersion);
  }

  listManaged(): Promise<SecretObject[]> {
    return this.#inner.listManaged();
  }

  delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'> {
    return this.#inner.delete(namespace, name, resourceVersion);
  }

  #restart(error: unknown): void {
    if (this.#stopped) return;
    this.#synced = false;
    this.#log.warn({ err: (error as Error).message, retryInMs: this.#restartMs }, 'pull secret watch failed; reading from the API server until it is back');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.start(), this.#restartMs);
    this.#timer.unref();
  }
}
