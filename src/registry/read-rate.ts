import { LRUCache } from 'lru-cache';

/**
 * How many ECR reads each credential identity may start: a token bucket per identity, `perSecond` refilled
 * continuously up to ten seconds' worth. One tenant creating pods with thousands of distinct tags then spends its own
 * bucket, not the account's ECR quota that tenants reading with roles of one account share, and what the webhook
 * has read for others stays in the cache instead of being pushed out by the flood.
 *
 * A bucket is two numbers, and at most `maxIdentities` are kept (least recently used first out): an identity
 * forgotten starts full again, which only ever lets a quiet identity read.
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
