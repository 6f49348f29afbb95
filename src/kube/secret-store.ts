import { ApiException, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL, projectSecret, type StoredPullSecret, type WritableSecret } from '../credentials/pull-secret.ts';
import { acceptOptions, METADATA_LIST_ACCEPT, METADATA_ONLY_ACCEPT } from './metadata-only.ts';

/**
 * Reading and writing pull Secrets, with the API server's optimistic concurrency made explicit: a create that finds
 * the name taken and a replace or delete whose resourceVersion is stale are answers, not errors, so the caller can
 * re-read and decide again. Any other failure rejects with the API server's code in the message. Reads give the
 * compact projection (pull-secret.ts), read from metadata alone: a Secret's data is written, never read.
 */
export interface SecretStore {
  /** `fresh`: the caller lost a write race and needs what the API server holds now, not a cached copy. */
  read(namespace: string, name: string, fresh?: boolean): Promise<StoredPullSecret | undefined>;
  /**
   * What the store already holds, without waiting (a current watch cache); undefined when it holds nothing or cannot
   * say now. Lets an admission whose Secret is fresh skip the read's promise and deadline; absent, always read.
   */
  cached?(namespace: string, name: string): StoredPullSecret | undefined;
  create(secret: WritableSecret): Promise<'created' | 'exists'>;
  /** Replaces the Secret only if it is still at `resourceVersion`. */
  replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'>;
}

/** What the reconciler needs on top: every Secret carrying the managed-by label, and removing one. */
export interface ManagedSecretStore extends SecretStore {
  /** Every Secret labelled managed-by the webhook, in all namespaces (the label selects; it proves nothing). */
  listManaged(): Promise<StoredPullSecret[]>;
  /** Deletes the Secret only if it is still at `resourceVersion`; a Secret already gone counts as deleted. */
  delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'>;
}

export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

function codeOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

function failure(action: string, secret: { namespace: string; name: string }, error: unknown): Error {
  const code = codeOf(error);
  const what = code === undefined ? (error as Error).message : `HTTP ${code} from the API server`;
  return new Error(`${action} Secret ${secret.namespace}/${secret.name} failed: ${what}`);
}

function projected(items: readonly V1Secret[]): StoredPullSecret[] {
  return items.flatMap((item) => projectSecret(item) ?? []);
}

export class KubeSecretStore implements ManagedSecretStore {
  readonly #api: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.#api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(namespace: string, name: string): Promise<StoredPullSecret | undefined> {
    try {
      return projectSecret(await this.#api.readNamespacedSecret({ namespace, name }, acceptOptions(METADATA_ONLY_ACCEPT)));
    } catch (error) {
      if (codeOf(error) === 404) return undefined;
      throw failure('reading', { namespace, name }, error);
    }
  }

  async create(secret: WritableSecret): Promise<'created' | 'exists'> {
    try {
      await this.#api.createNamespacedSecret({ namespace: secret.metadata.namespace, body: secret as V1Secret }, acceptOptions(METADATA_ONLY_ACCEPT));
      return 'created';
    } catch (error) {
      if (codeOf(error) === 409) return 'exists';
      throw failure('creating', secret.metadata, error);
    }
  }

  async replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'> {
    const { namespace, name } = secret.metadata;
    const body = { ...secret, metadata: { ...secret.metadata, resourceVersion } } as V1Secret;
    try {
      await this.#api.replaceNamespacedSecret({ namespace, name, body }, acceptOptions(METADATA_ONLY_ACCEPT));
      return 'replaced';
    } catch (error) {
      if (codeOf(error) === 409) return 'conflict';
      throw failure('replacing', secret.metadata, error);
    }
  }

  /** Paged, metadata only: a cluster full of large Secrets costs what their names and annotations do. */
  async listManaged(): Promise<StoredPullSecret[]> {
    const items: StoredPullSecret[] = [];
    let next: string | undefined;
    do {
      const page = await this.#api.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR, limit: 500, _continue: next }, acceptOptions(METADATA_LIST_ACCEPT)).catch((error: unknown) => {
        throw failure('listing managed', { namespace: '*', name: '*' }, error);
      });
      // A metadata-only list with no items answers `items: null`.
      items.push(...projected(page.items ?? []));
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    return items;
  }

  async delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'> {
    try {
      await this.#api.deleteNamespacedSecret({ namespace, name, body: { preconditions: { resourceVersion } } });
      return 'deleted';
    } catch (error) {
      if (codeOf(error) === 404) return 'deleted';
      if (codeOf(error) === 409) return 'conflict';
      throw failure('deleting', { namespace, name }, error);
    }
  }
}

/** The same contract in memory, for unit tests of what sits on top; it keeps whole Secrets so tests can read data. */
export class InMemorySecretStore implements ManagedSecretStore {
  readonly secrets = new Map<string, WritableSecret & { readonly metadata: { readonly resourceVersion: string } }>();
  /**
   * One projection per stored object, as the watched store hands out the same projection until the Secret changes
   * (what the seal verdicts are remembered by); put always stores a new object.
   */
  readonly #projections = new WeakMap<object, StoredPullSecret | undefined>();
  #version = 0;

  async read(namespace: string, name: string): Promise<StoredPullSecret | undefined> {
    return this.cached(namespace, name);
  }

  cached(namespace: string, name: string): StoredPullSecret | undefined {
    const stored = this.secrets.get(`${namespace}/${name}`);
    if (stored === undefined) return undefined;
    if (!this.#projections.has(stored)) this.#projections.set(stored, projectSecret(stored));
    return this.#projections.get(stored);
  }

  async create(secret: WritableSecret): Promise<'created' | 'exists'> {
    const key = `${secret.metadata.namespace}/${secret.metadata.name}`;
    if (this.secrets.has(key)) return 'exists';
    this.put(secret);
    return 'created';
  }

  async replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'> {
    const key = `${secret.metadata.namespace}/${secret.metadata.name}`;
    if (this.secrets.get(key)?.metadata.resourceVersion !== resourceVersion) return 'conflict';
    this.put(secret);
    return 'replaced';
  }

  async listManaged(): Promise<StoredPullSecret[]> {
    return projected([...this.secrets.values()] as V1Secret[]).filter((stored) => stored.managed);
  }

  async delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'> {
    const stored = this.secrets.get(`${namespace}/${name}`);
    if (stored === undefined) return 'deleted';
    if (stored.metadata.resourceVersion !== resourceVersion) return 'conflict';
    this.secrets.delete(`${namespace}/${name}`);
    return 'deleted';
  }

  /** Stores a Secret as written by anybody (a test's forgery included), with a new resourceVersion. */
  put(secret: WritableSecret): void {
    const key = `${secret.metadata.namespace}/${secret.metadata.name}`;
    this.secrets.set(key, { ...secret, metadata: { ...secret.metadata, resourceVersion: String(++this.#version) } });
  }
}
