import type { SecretStore } from '../kube/secret-store.ts';
import { buildPullSecret, isImprovement, judgeExisting, usableAsIs, type PullSecretSpec, type Sealer } from './pull-secret.ts';
import type { RegistryToken } from './registry-token.ts';

/**
 * Makes sure a namespace holds a good pull Secret for one registry and the namespace's current tenant: read, judge,
 * mint only when a write is due, then create or replace with the read resourceVersion. When another replica wrote
 * in between (create finds the name taken, replace finds the version moved) the Secret is read and judged again; a
 * write never replaces a Secret proven to serve this tenant with one that expires earlier (isImprovement). Bounded:
 * after a few lost races the winner's Secret stands.
 */
/** `kept-after-failure`: no new token could be had, but the stored Secret is proven this tenant's and still valid. */
export type EnsureOutcome = 'kept' | 'created' | 'updated' | 'conflict' | 'kept-after-failure';

export interface EnsureRequest {
  /** The tenant is the namespace's current tenant, from the namespace directory: never read from the Secret. */
  readonly spec: PullSecretSpec;
  /** A Secret expiring before this is renewed. */
  readonly freshUntil: Date;
  /** Now: a stored Secret expiring after this still works, and is used when no new token can be had. */
  readonly now: Date;
  /** Gives a token when a write is due (the token cache); its rejection rejects ensure. */
  readonly token: () => Promise<RegistryToken>;
}

const MAX_ROUNDS = 4;

/** The namespace's tenant changed between the decision and the write: nothing is written. */
export class TenantChangedError extends Error {
  override name = 'TenantChangedError';
  readonly code = 'TenantChanged';
}

/** Lost every write race without ever seeing a Secret this pod can use: nothing proven, so not a success. */
export class WriteRaceError extends Error {
  override name = 'WriteRaceError';
  readonly code = 'Conflict';
}

export class PullSecretWriter {
  readonly #store: SecretStore;
  readonly #sealer: () => Sealer;
  readonly #tenantOf: ((namespace: string) => Promise<string | undefined>) | undefined;

  /**
   * `sealer` gives the provenance sealer in force (the key is loaded once the API server answers). `tenantOf` reads
   * a namespace's current tenant from the API server, not a cache: it is asked once, right before the first write,
   * so a cache lagging a relabel cannot write one tenant's token where another tenant reads it. Without it the
   * caller's tenant is trusted (unit tests, the benchmark's in-memory stack).
   */
  constructor(store: SecretStore, sealer: () => Sealer, tenantOf?: (namespace: string) => Promise<string | undefined>) {
    this.#store = store;
    this.#sealer = sealer;
    this.#tenantOf = tenantOf;
  }

  /**
   * True when the Secret the store already holds serves the spec until `freshUntil` (ensure would keep it): an
   * admission then needs no read, token or deadline. False when it cannot tell at once; ensure then decides.
   */
  keepsAsIs(spec: PullSecretSpec, freshUntil: Date): boolean {
    const existing = this.#store.cached?.(spec.namespace, spec.name);
    return existing !== undefined && judgeExisting(existing, spec, freshUntil, this.#sealer()).action === 'keep';
  }

  async ensure(request: EnsureRequest): Promise<EnsureOutcome> {
    const { spec } = request;
    const seals = this.#sealer();
    let confirmed = false;
    let existing;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      existing = await this.#store.read(spec.namespace, spec.name, round > 0);
      const verdict = judgeExisting(existing, spec, request.freshUntil, seals);
      if (verdict.action === 'keep' || verdict.action === 'conflict') return verdict.action === 'keep' ? 'kept' : 'conflict';
      const hosts = verdict.action === 'update' ? verdict.hosts : spec.hosts;
      let token: RegistryToken;
      try {
        token = await request.token();
      } catch (error) {
        if (usableAsIs(existing, spec, request.now, seals)) return 'kept-after-failure';
        throw error;
      }
      const candidate = buildPullSecret({ ...spec, hosts }, token, seals);
      if (existing !== undefined && !isImprovement(existing, { spec: { ...spec, hosts }, expiresAt: token.expiresAt }, seals)) return 'kept';
      // Only a write that will happen costs the read (a renewal that finds nothing better costs none).
      if (!confirmed) await this.#confirmTenant(spec);
      confirmed = true;
      if (existing === undefined) {
        if ((await this.#store.create(candidate)) === 'created') return 'created';
        continue;
      }
      if ((await this.#store.replace(candidate, existing.resourceVersion)) === 'replaced') return 'updated';
    }
    if (usableAsIs(existing, spec, request.now, seals)) return 'kept';
    throw new WriteRaceError(`Secret ${spec.namespace}/${spec.name} kept changing under ${MAX_ROUNDS} writes and holds no credential proven for tenant "${spec.tenant}"`);
  }

  async #confirmTenant(spec: PullSecretSpec): Promise<void> {
    if (this.#tenantOf === undefined) return;
    const current = await this.#tenantOf(spec.namespace);
    if (current === spec.tenant) return;
    const now = current === undefined ? 'has no tenant now' : `belongs to tenant ${JSON.stringify(current)} now`;
    throw new TenantChangedError(`namespace ${spec.namespace} ${now}, not ${JSON.stringify(spec.tenant)}; nothing written`);
  }
}
