import type { Logger } from 'pino';
import { credentialFields } from '../credentials/registry-token.ts';
import { TokenCache, type TokenCacheEvent } from '../credentials/token-cache.ts';
import type { Metrics } from '../metrics.ts';
import { REGISTRY_LOOKUPS, RegistryLookups } from '../registry/registry-lookups.ts';
import { AwsTokenSource, sessionRegistryReader, type TenantSession } from './aws-token-source.ts';

/**
 * The token cache: a token for each of up to 10,000 (tenant, registry) pairs; an expiry that cannot be believed is
 * trusted 15 minutes; a failed mint is retried after 1 s, doubling up to a minute.
 */
export const TOKEN_CACHE = { maxEntries: 10_000, suspectTrustMs: 15 * 60 * 1000, failureBackoff: { initialMs: 1000, maxMs: 60_000 } };

export interface CredentialChainOptions {
  /** STS DurationSeconds for tenant roles. */
  readonly sessionSeconds: number;
  readonly refreshFraction: number;
  /** One mint (AssumeRole + GetAuthorizationToken), and one ECR read. */
  readonly deadlineMs: number;
  /** How long ECR answers that can change are trusted. */
  readonly registryCacheMs: number;
  /** ECR reads one tenant starts a second with each credential (RegistryLookups). */
  readonly registryReadsPerSecond: number;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/**
 * What reaches AWS with the tenants' roles, built one way for `serve` and for `check --aws` / `audit --aws`: STS and
 * ECR through the SDK; the tenant sessions, kept under the token cache's key (the session each token is minted with
 * is kept too, so ECR reads at admission use the very session the pull Secret's token came from); the tokens; and
 * the ECR reads.
 */
export function credentialChain(options: CredentialChainOptions) {
  const { metrics, log } = options;
  const source = new AwsTokenSource({ sessionSeconds: options.sessionSeconds, maxAttempts: 3, metrics });
  const cached = { ...TOKEN_CACHE, refreshFraction: options.refreshFraction, mintDeadlineMs: options.deadlineMs, now: Date.now };
  const sessions = new TokenCache<TenantSession>({
    ...cached,
    source: { mint: (request, signal) => source.assumeRole(request, signal) },
    onEvent: (event) => reportTokenEvent(event, log, metrics, 'STS session'),
  });
  const tokens = new TokenCache({
    ...cached,
    source: {
      // The session ECR was read with, while fresh, so a namespace's first pod costs one AssumeRole, not two; past
      // its refresh point a new one, which the reads then share. A token lives no longer than its session.
      async mint(request, signal) {
        const kept = sessions.peek(request);
        const session = kept !== undefined && Date.now() < kept.refreshAt ? kept : await source.assumeRole(request, signal);
        if (session !== kept) sessions.put(request, session);
        return source.authorizationToken(request, session, signal);
      },
    },
    onEvent: (event) => reportTokenEvent(event, log, metrics),
  });
  const registry = new RegistryLookups({
    reader: sessionRegistryReader(source, sessions),
    sessionSeconds: options.sessionSeconds,
    ...REGISTRY_LOOKUPS,
    mutableTtlMs: options.registryCacheMs,
    deadlineMs: options.deadlineMs,
    readsPerSecond: options.registryReadsPerSecond,
    now: Date.now,
    onLookup: (kind, result) => metrics.registryLookups.inc({ kind, result }),
  });
  return { source, sessions, tokens, registry, destroy: () => source.destroy() };
}

/**
 * How the token cache's events are reported: lookups are counted, not logged (one for every pull Secret written);
 * the rest is logged naming tenant, role and registry, with the expiry the cache keeps to (`expiresAt`) and AWS
 * codes, never the token. The session cache reports the same way, its lookups counted by registry_lookups_total.
 */
export function reportTokenEvent(event: TokenCacheEvent, log: Logger, metrics: Metrics, what: 'ECR token' | 'STS session' = 'ECR token'): void {
  if (event.kind === 'lookup') {
    if (what === 'ECR token') metrics.tokenLookups.inc({ result: event.result });
    return;
  }
  const credential = credentialFields(event.request);
  if (event.kind === 'minted') log.info({ ...credential, expiresAt: event.expiresAt }, `${what} minted`);
  else if (event.kind === 'suspect-expiry') log.warn({ ...credential, claimedExpiresAt: event.claimed, expiresAt: event.trustedUntil }, `${what} expiry not believed; trusted briefly`);
  else log.warn({ ...credential, code: event.error.code, err: event.error.message, retryInMs: event.retryInMs }, `${what} mint failed`);
}
