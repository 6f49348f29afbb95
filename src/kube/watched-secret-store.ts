import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { projectSecret, type StoredPullSecret, type WritableSecret } from '../credentials/pull-secret.ts';
import { acceptOptions, METADATA_LIST_ACCEPT, metadataOnlyWatchConfig } from './metadata-only.ts';
import { ProjectedInformer } from './projected-informer.ts';
import { MANAGED_SELECTOR, type ManagedSecretStore } from './secret-store.ts';

/**
 * The Secrets labelled managed-by the webhook, watched (list + watch with that label selector, metadata only) in
 * front of the API store: a read that the cache can answer costs no API call, so admitting a pod whose Secret is
 * fresh touches neither AWS nor the API server, and the reconciler's round lists nothing.
 *
 * Anybody who may create a Secret can add the label, so what the cache keeps is the compact projection
 * (pull-secret.ts): a few bounded fields from the metadata, never data. A thousand forged 1 MiB Secrets cost what
 * a thousand names do, and their data never crosses the wire.
 *
 * A Secret the cache does not hold (not yet seen, or without the label) is read from the API server, and so is
 * every re-read after a lost write race (`fresh`), so the cache is never trusted where it could be stale in a way
 * that matters. Writes go to the API server; the watch brings them back.
 */
export class WatchedSecretStore implements ManagedSecretStore {
  readonly #inner: ManagedSecretStore;
  readonly #informer: ProjectedInformer<StoredPullSecret>;

  constructor(inner: ManagedSecretStore, kubeConfig: KubeConfig, log: Logger, restartBackoff = { initialMs: 1000, maxMs: 30_000 }) {
    this.#inner = inner;
    const api = kubeConfig.makeApiClient(CoreV1Api);
    this.#informer = new ProjectedInformer<StoredPullSecret>({
      what: 'pull secret',
      path: '/api/v1/secrets',
      watchConfig: metadataOnlyWatchConfig(kubeConfig),
      labelSelector: MANAGED_SELECTOR,
      listPage: async (next) => {
        const page = await api.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR, limit: 500, _continue: next }, acceptOptions(METADATA_LIST_ACCEPT));
        return { items: page.items ?? [], continueToken: page.metadata?._continue || undefined, resourceVersion: page.metadata?.resourceVersion };
      },
      project: (object) => projectSecret(object as Parameters<typeof projectSecret>[0]),
      log,
      restartBackoff,
    });
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }

  /** Secrets in the cache (for the memory figures and tests). */
  size(): number {
    return this.#informer.size();
  }

  async read(namespace: string, name: string, fresh = false): Promise<StoredPullSecret | undefined> {
    return (fresh ? undefined : this.cached(namespace, name)) ?? this.#inner.read(namespace, name);
  }

  cached(namespace: string, name: string): StoredPullSecret | undefined {
    return this.#informer.current() ? this.#informer.get(name, namespace) : undefined;
  }

  create(secret: WritableSecret): Promise<'created' | 'exists'> {
    return this.#inner.create(secret);
  }

  replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'> {
    return this.#inner.replace(secret, resourceVersion);
  }

  /** From the cache while it is current; otherwise rejected: a round must not act on a partial or stale view. */
  async listManaged(): Promise<StoredPullSecret[]> {
    if (!this.#informer.current()) throw new Error('the pull secret watch is not running (not listed yet, or restarting)');
    return this.#informer.list();
  }

  delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'> {
    return this.#inner.delete(namespace, name, resourceVersion);
  }
}
