import { LRUCache } from 'lru-cache';

/**
 * How many ECR reads each key may start: a token bucket per key, `perSecond` refilled continuously up to ten seconds'
 * worth. RegistryLookups keys it by tenant and credential, so one tenant creating pods with thousands of distinct
 * tags spends its own bucket, never another tenant's, and what the webhook has read for others stays in the cache
 * instead of being pushed out by the flood.
 *
 * A bucket is two numbers, and at most `maxIdentities` are kept (least recently used first out): a key forgotten
 * starts full again, which only ever lets a quiet one read.
 */
export class ReadRate {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets: LRUCache<string, { tokens: number; at: number }>;

  constructor(perSecond: number, now: () => number, maxIdentities = 10_000) {
    this.#perMs = perSecond / 1000;
    this.#burst = perSecond * 10;
    this.#now = now;
    this.#buckets = new LRUCache({ max: maxIdentities });
  }

  /** Reads a second per identity, and the burst an idle identity may make at once. */
  get limits(): { readonly perSecond: number; readonly burst: number } {
    return { perSecond: this.#perMs * 1000, burst: this.#burst };
  }

  /** Takes one read from the identity's bucket; false when it is empty. */
  take(identity: string): boolean {
    const now = this.#now();
    const bucket = this.#buckets.get(identity) ?? { tokens: this.#burst, at: now };
    const tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
    const allowed = tokens >= 1;
    this.#buckets.set(identity, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return allowed;
  }
}
