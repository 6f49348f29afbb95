import type { SecretStore } from '../kube/secret-store.ts';
import { buildPullSecret, expiryOf, hostsOf, isImprovement, judgeExisting, type PullSecretSpec, type SecretObject } from './pull-secret.ts';
import type { RegistryToken } from './registry-token.ts';

/**
 * Makes sure a namespace holds a good pull Secret for one registry: read, judge, mint only when a write is due,
 * then create or replace with the read resourceVersion. When another replica wrote in between (create finds the
 * name taken, replace finds the version moved) the Secret is read and judged again; a write never replaces a
 * Secret with one that expires earlier (isImprovement). Bounded: after a few lost races the winner's Secret stands.
 */
/** `kept-after-failure`: no new token could be had, but the stored Secret is still valid and stays in use. */
export type EnsureOutcome = 'kept' | 'created' | 'updated' | 'conflict' | 'kept-after-failure';

export interface EnsureRequest {
  readonly spec: PullSecretSpec;
  /** A Secret expiring before this is renewed. */
  readonly freshUntil: Date;
  /** Now: a stored Secret expiring after this still works, and is used when no new token can be had. */
  readonly now: Date;
  /** Gives a token when a write is due (the token cache); its rejection rejects ensure. */
  readonly token: () => Promise<RegistryToken>;
}

const MAX_ROUNDS = 4;

/** The stored Secret still works for this pod: ours (never a user's), not expired, holding every host it pulls from. */
function usableAsIs(existing: SecretObject | undefined, spec: PullSecretSpec, now: Date): boolean {
  if (existing === undefined) return false;
  const expiry = expiryOf(existing);
  const held = hostsOf(existing);
  return expiry !== undefined && expiry > now && spec.hosts.every((host) => held.includes(host));
}

export class PullSecretWriter {
  readonly #store: SecretStore;

  constructor(store: SecretStore) {
    this.#store = store;
  }

  async ensure(request: EnsureRequest): Promise<EnsureOutcome> {
    const { spec } = request;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const existing = await this.#store.read(spec.namespace, spec.name, round > 0);
      const verdict = judgeExisting(existing, spec, request.freshUntil);
      if (verdict.action === 'keep' || verdict.action === 'conflict') return verdict.action === 'keep' ? 'kept' : 'conflict';
      const hosts = verdict.action === 'update' ? verdict.hosts : spec.hosts;
      let token: RegistryToken;
      try {
        token = await request.token();
      } catch (error) {
        if (usableAsIs(existing, spec, request.now)) return 'kept-after-failure';
        throw error;
      }
      const candidate = buildPullSecret({ ...spec, hosts }, token);
      if (existing === undefined) {
        if ((await this.#store.create(candidate)) === 'created') return 'created';
        continue;
      }
      if (!isImprovement(existing, candidate)) return 'kept';
      // Anything read back from a store carries the resourceVersion the replace must match.
      const { resourceVersion } = existing.metadata as { resourceVersion: string };
      if ((await this.#store.replace(candidate, resourceVersion)) === 'replaced') return 'updated';
    }
    return 'kept';
  }
}
