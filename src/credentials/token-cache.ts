import { LRUCache } from 'lru-cache';
import { CredentialError, tokenKey, type RegistryToken, type TokenRequest } from './registry-token.ts';

/**
 * ECR tokens by (role, external id, session tags, duration, registry account, region), bounded, refreshed ahead of expiry.
 * The same cache, under the same key, keeps the tenants' STS sessions that ECR is read with at admission (anything
 * with an expiry that a request mints): one mechanism for both.
 *
 * - Fresh (before the refresh point, by default half the token's trusted life, as the kubelet's ECR credential
 *   provider does): answered from memory, no AWS call.
 * - Past the refresh point but still valid: answered from memory at once while one refresh runs behind it.
 * - Missing or expired: minted; concurrent callers for one key share a single mint (one AssumeRole, one
 *   GetAuthorizationToken however many admissions arrive together).
 * - A token whose expiry is already past, or further away than ECR ever grants, is trusted for `suspectTrustMs`
 *   only, so a wrong clock or an emulator's fixed date can neither serve a dead token for long nor cause a loop
 *   of AWS calls.
 * - A failed mint keeps a still-valid token in use, and blocks new mints for that key for a jittered, growing
 *   backoff, so failing or throttled AWS sees one call per key per backoff, not one per admission.
 */
export interface TokenCacheOptions<V extends Expiring = RegistryToken> {
  readonly source: { mint(request: TokenRequest, signal: AbortSignal): Promise<V> };
  readonly maxEntries: number;
  /** Fraction of the trusted lifetime after which a token is refreshed (0 < f ≤ 1). */
  readonly refreshFraction: number;
  /** How long a token with an implausible expiry is trusted. */
  readonly suspectTrustMs: number;
  /** Deadline of one mint (AssumeRole + GetAuthorizationToken), well under the webhook's timeout. */
  readonly mintDeadlineMs: number;
  readonly failureBackoff: { readonly initialMs: number; readonly maxMs: number };
  readonly now: () => number;
  /**
   * Called for every lookup and every mint, for a token whose expiry was not believed, and for every failed mint
   * (for logs and metrics). Mint events carry the request that caused them, so a log line can name tenant, role and
   * registry; the tenant is the one whose request minted the token, which tenants with the same credential share.
   */
  readonly onEvent?: (event: TokenCacheEvent) => void;
}

/**
 * How a lookup was answered: `hit` from memory, `refresh` from memory while a refresh runs behind it (or waits out
 * a failure's backoff), `miss` by a mint the caller waits for (or shares, or is refused during a backoff).
 */
export type LookupResult = 'hit' | 'refresh' | 'miss';

export type TokenCacheEvent =
  | { readonly kind: 'lookup'; readonly key: string; readonly result: LookupResult }
  | { readonly kind: 'minted'; readonly key: string; readonly request: TokenRequest; readonly expiresAt: Date }
  | { readonly kind: 'suspect-expiry'; readonly key: string; readonly request: TokenRequest; readonly claimed: Date; readonly trustedUntil: Date }
  | { readonly kind: 'mint-failed'; readonly key: string; readonly request: TokenRequest; readonly error: CredentialError; readonly retryInMs: number };

/** What the cache keeps: anything that stops working at a known time. */
export interface Expiring {
  readonly expiresAt: Date;
}

export type Cached<V extends Expiring> = V & {
  readonly mintedAt: number;
  readonly refreshAt: number;
};

export type CachedToken = Cached<RegistryToken>;

/** ECR tokens live 12 hours, and STS sessions at most 12 (DurationSeconds ≤ 43,200); anything claiming much more is not believed. */
const LONGEST_PLAUSIBLE_MS = 12 * 60 * 60 * 1000 + 5 * 60 * 1000;

interface Failure {
  readonly error: CredentialError;
  readonly until: number;
  readonly backoffMs: number;
}

export class TokenCache<V extends Expiring = RegistryToken> {
  readonly #options: TokenCacheOptions<V>;
  readonly #tokens: LRUCache<string, Cached<V>>;
  readonly #failures: LRUCache<string, Failure>;
  readonly #minting = new Map<string, Promise<Cached<V>>>();

  constructor(options: TokenCacheOptions<V>) {
    this.#options = options;
    this.#tokens = new LRUCache({ max: options.maxEntries });
    this.#failures = new LRUCache({ max: options.maxEntries });
  }

  /** A valid token for the request; rejects with a CredentialError when none can be had. */
  async get(request: TokenRequest): Promise<Cached<V>> {
    const key = tokenKey(request);
    const now = this.#options.now();
    const cached = this.#tokens.get(key);
    if (cached === undefined || now >= cached.expiresAt.getTime()) {
      this.#options.onEvent?.({ kind: 'lookup', key, result: 'miss' });
      return this.#mintOnce(key, request);
    }
    const fresh = now < cached.refreshAt;
    this.#options.onEvent?.({ kind: 'lookup', key, result: fresh ? 'hit' : 'refresh' });
    // Refresh behind the answer; its failure is recorded (backoff) and the valid token stays.
    if (!fresh) this.#mintOnce(key, request).catch(() => undefined);
    return cached;
  }

  /** The cached token, fresh or not, without minting (for the refresher and for status). */
  peek(request: TokenRequest): Cached<V> | undefined {
    return this.#tokens.get(tokenKey(request));
  }

  /**
   * Keeps what was minted elsewhere for this request (the session a pull-secret token was minted with), so the next
   * get needs no call of its own; it replaces what was kept and clears a failure's backoff, as a mint here would.
   */
  put(request: TokenRequest, value: V): void {
    const key = tokenKey(request);
    this.#failures.delete(key);
    this.#tokens.set(key, this.#trusted(key, request, value, this.#options.now()));
  }

  #mintOnce(key: string, request: TokenRequest): Promise<Cached<V>> {
    const running = this.#minting.get(key);
    if (running !== undefined) return running;
    const failure = this.#failures.get(key);
    if (failure !== undefined && this.#options.now() < failure.until) return Promise.reject(failure.error);
    const minting = this.#mint(key, request).finally(() => this.#minting.delete(key));
    this.#minting.set(key, minting);
    return minting;
  }

  async #mint(key: string, request: TokenRequest): Promise<Cached<V>> {
    const { source, mintDeadlineMs, now } = this.#options;
    let token: V;
    try {
      token = await source.mint(request, AbortSignal.timeout(mintDeadlineMs));
    } catch (error) {
      throw this.#failed(key, request, error as CredentialError);
    }
    this.#failures.delete(key);
    const cached = this.#trusted(key, request, token, now());
    this.#tokens.set(key, cached);
    this.#options.onEvent?.({ kind: 'minted', key, request, expiresAt: cached.expiresAt });
    return cached;
  }

  #trusted(key: string, request: TokenRequest, token: V, mintedAt: number): Cached<V> {
    const claimed = token.expiresAt.getTime();
    const plausible = claimed > mintedAt && claimed <= mintedAt + LONGEST_PLAUSIBLE_MS;
    const expiresAt = plausible ? claimed : mintedAt + this.#options.suspectTrustMs;
    if (!plausible) this.#options.onEvent?.({ kind: 'suspect-expiry', key, request, claimed: token.expiresAt, trustedUntil: new Date(expiresAt) });
    const refreshAt = mintedAt + Math.round((expiresAt - mintedAt) * this.#options.refreshFraction);
    return { ...token, expiresAt: new Date(expiresAt), mintedAt, refreshAt };
  }

  #failed(key: string, request: TokenRequest, error: CredentialError): CredentialError {
    const { initialMs, maxMs } = this.#options.failureBackoff;
    const previous = this.#failures.get(key);
    const backoffMs = previous === undefined ? initialMs : Math.min(previous.backoffMs * 2, maxMs);
    // Jitter in [backoff/2, backoff], so replicas that failed together do not retry together.
    const retryInMs = Math.round(backoffMs / 2 + (Math.random() * backoffMs) / 2);
    this.#failures.set(key, { error, until: this.#options.now() + retryInMs, backoffMs });
    this.#options.onEvent?.({ kind: 'mint-failed', key, request, error, retryInMs });
    return error;
  }
}
