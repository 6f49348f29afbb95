import { ApiException, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { isManaged, MANAGED_BY, MANAGED_BY_LABEL, type SecretObject, type WritableSecret } from '../credentials/pull-secret.ts';

/**
 * Reading and writing Secrets, with the API server's optimistic concurrency made explicit: a create that finds
 * the name taken and a replace whose resourceVersion is stale are answers, not errors, so the writer can re-read
 * and decide again. Any other failure rejects with the API server's code in the message.
 */
export interface SecretStore {
  /** `fresh`: the caller lost a write race and needs what the API server holds now, not a cached copy. */
  read(namespace: string, name: string, fresh?: boolean): Promise<SecretObject | undefined>;
  create(secret: WritableSecret): Promise<'created' | 'exists'>;
  /** Replaces the Secret only if it is still at `resourceVersion`. */
  replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'>;
}

/** What the refresher needs on top: finding every managed Secret, and removing one. */
export interface ManagedSecretStore extends SecretStore {
  /** Every Secret the webhook manages, in all namespaces (selected by the managed-by label). */
  listManaged(): Promise<SecretObject[]>;
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

export class KubeSecretStore implements ManagedSecretStore {
  readonly #api: CoreV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.#api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(namespace: string, name: string): Promise<SecretObject | undefined> {
    try {
      return (await this.#api.readNamespacedSecret({ namespace, name })) as SecretObject;
    } catch (error) {
      if (codeOf(error) === 404) return undefined;
      throw failure('reading', { namespace, name }, error);
    }
  }

  async create(secret: WritableSecret): Promise<'created' | 'exists'> {
    try {
      await this.#api.createNamespacedSecret({ namespace: secret.metadata.namespace, body: secret as V1Secret });
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
      await this.#api.replaceNamespacedSecret({ namespace, name, body });
      return 'replaced';
    } catch (error) {
      if (codeOf(error) === 409) return 'conflict';
      throw failure('replacing', secret.metadata, error);
    }
  }

  async listManaged(): Promise<SecretObject[]> {
    const items: SecretObject[] = [];
    let next: string | undefined;
    do {
      const page = await this.#api.listSecretForAllNamespaces({ labelSelector: MANAGED_SELECTOR, limit: 500, _continue: next }).catch((error: unknown) => {
        throw failure('listing managed', { namespace: '*', name: '*' }, error);
      });
      items.push(...(page.items as SecretObject[]));
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

/** The same contract in memory, for unit tests of what sits on top. */
export class InMemorySecretStore implements ManagedSecretStore {
  readonly secrets = new Map<string, WritableSecret & { readonly metadata: { readonly resourceVersion: string } }>();
  #version = 0;

  async read(namespace: string, name: string): Promise<SecretObject | undefined> {
    return this.secrets.get(`${namespace}/${name}`);
  }

  async create(secret: WritableSecret): Promise<'created' | 'exists'> {
    const key = `${secret.metadata.namespace}/${secret.metadata.name}`;
    if (this.secrets.has(key)) return 'exists';
    this.#store(key, secret);
    return 'created';
  }

  async replace(secret: WritableSecret, resourceVersion: string): Promise<'replaced' | 'conflict'> {
    const key = `${secret.metadata.namespace}/${secret.metadata.name}`;
    if (this.secrets.get(key)?.metadata.resourceVersion !== resourceVersion) return 'conflict';
    this.#store(key, secret);
    return 'replaced';
  }

  async listManaged(): Promise<SecretObject[]> {
    return [...this.secrets.values()].filter(isManaged);
  }

  async delete(namespace: string, name: string, resourceVersion: string): Promise<'deleted' | 'conflict'> {
    const stored = this.secrets.get(`${namespace}/${name}`);
    if (stored === undefined) return 'deleted';
    if (stored.metadata.resourceVersion !== resourceVersion) return 'conflict';
    this.secrets.delete(`${namespace}/${name}`);
    return 'deleted';
  }

  #store(key: string, secret: WritableSecret): void {
    this.secrets.set(key, { ...secret, metadata: { ...secret.metadata, resourceVersion: String(++this.#version) } });
  }
}
