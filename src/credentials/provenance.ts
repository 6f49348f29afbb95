import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Origin, SealedFields, Sealer, StoredPullSecret } from './pull-secret.ts';
import { credentialIdentity, type TokenRequest } from './registry-token.ts';

/**
 * Provenance seals for pull Secrets: HMAC-SHA256 under a key that lives in a Secret of the webhook's own namespace,
 * which tenants cannot read. Anybody who may write a Secret can copy the webhook's labels and annotations, but not
 * make a seal: so a Secret's seal, not its labels, says which tenant and which credential it was written for.
 *
 * The seal is `v1.<credential digest>.<mac>`: the digest travels in clear so that a Secret can be placed (written for
 * tenant A with credential C) even after the policy has forgotten A; the MAC covers it together with the namespace,
 * the name, the tenant label, the expiry and the hosts, so none of them can be changed or moved to another Secret.
 */
const VERSION = 'v1';
export const PROVENANCE_KEY_BYTES = 32;

/** Short, stable digest of everything that shapes a credential (role, external id, session tags, duration, registry). */
export function credentialDigest(request: TokenRequest): string {
  return createHash('sha256').update(credentialIdentity(request)).digest('base64url').slice(0, 22);
}

export class Provenance implements Sealer {
  readonly #key: Buffer;
  /**
   * The key, then those a seal may also have been made with (the one in force before a key change, for verifying
   * only), as KeyObjects made once: createHmac given a Buffer prepares a new key object on every call.
   */
  readonly #macKeys: readonly KeyObject[];
  /**
   * Verdicts by projection: a projection is immutable and the watch hands out the same one until the Secret changes,
   * so every admission for a namespace does not compute the MAC of its Secret again.
   */
  readonly #verdicts = new WeakMap<StoredPullSecret, Origin | null>();

  constructor(key: Buffer, older: readonly Buffer[] = []) {
    for (const candidate of [key, ...older]) {
      if (candidate.length < PROVENANCE_KEY_BYTES) throw new Error(`a provenance key needs at least ${PROVENANCE_KEY_BYTES} bytes, got ${candidate.length}`);
    }
    this.#key = key;
    this.#macKeys = [key, ...older].map((candidate) => createSecretKey(candidate));
  }

  /** True when this sealer seals with `key` (so a key read again that has not changed needs no new sealer). */
  sealsWith(key: Buffer): boolean {
    return this.#key.equals(key);
  }

  /** A sealer for a new key that still verifies what this one sealed. */
  rotatedTo(key: Buffer): Provenance {
    return new Provenance(key, [this.#key]);
  }

  #mac(key: KeyObject, fields: SealedFields): string {
    const text = [VERSION, fields.namespace, fields.name, fields.tenant, fields.credential, fields.expiresAt, [...fields.hosts].sort().join(',')].join('\n');
    return createHmac('sha256', key).update(text).digest('base64url');
  }

  seal(fields: SealedFields): string {
    return `${VERSION}.${fields.credential}.${this.#mac(this.#macKeys[0]!, fields)}`;
  }

  originOf(stored: StoredPullSecret): Origin | undefined {
    const known = this.#verdicts.get(stored);
    if (known !== undefined) return known ?? undefined;
    const origin = this.#verify(stored);
    if (Object.isFrozen(stored)) this.#verdicts.set(stored, origin ?? null);
    return origin;
  }

  #verify(stored: StoredPullSecret): Origin | undefined {
    const [version, credential, mac, ...rest] = (stored.seal ?? '').split('.');
    if (version !== VERSION || credential === undefined || mac === undefined || rest.length > 0) return undefined;
    const { tenantLabel, expiresAt } = stored;
    if (tenantLabel === undefined || expiresAt === undefined) return undefined;
    const fields = { namespace: stored.namespace, name: stored.name, tenant: tenantLabel, credential, expiresAt: new Date(expiresAt).toISOString(), hosts: stored.hosts };
    const given = Buffer.from(mac);
    for (const key of this.#macKeys) {
      const wanted = Buffer.from(this.#mac(key, fields));
      if (given.length === wanted.length && timingSafeEqual(given, wanted)) return { tenant: tenantLabel, credential };
    }
    return undefined;
  }
}
