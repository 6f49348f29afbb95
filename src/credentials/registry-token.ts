import type { EcrRegistry } from '../image/ecr-host.ts';

/**
 * What minting a pull credential takes and gives, independent of AWS: the token source behind this interface is
 * AWS STS + ECR in production and an in-memory fake in unit tests.
 */
export interface TokenRequest {
  readonly tenant: string;
  readonly roleArn: string;
  readonly externalId: string | undefined;
  readonly sessionTags: Readonly<Record<string, string>> | undefined;
  /** AssumeRole DurationSeconds; undefined leaves it to the token source's own configured session length. */
  readonly durationSeconds?: number | undefined;
  /** Tokens are per account and region, whichever host form (FIPS, dual-stack) the pods use. */
  readonly registry: Pick<EcrRegistry, 'account' | 'region'>;
}

export interface RegistryToken {
  /** ECR's docker login user name, always `AWS`. */
  readonly username: string;
  readonly password: string;
  /** When the token stops working: the earlier of the token's and the assumed-role session's expiry. */
  readonly expiresAt: Date;
}

export interface RegistryTokenSource {
  /** Mints a token; rejects with a CredentialError. `signal` aborts the AWS calls (the deadline). */
  mint(request: TokenRequest, signal: AbortSignal): Promise<RegistryToken>;
}

/** A failed mint, naming what failed where: the message reaches the pod's author when admission is denied. */
export class CredentialError extends Error {
  readonly code: string;
  readonly step: string;
  readonly roleArn: string;
  /** What AWS (or the answer) said, without the step, role and code around it. */
  readonly detail: string;
  constructor(step: string, roleArn: string, code: string, detail: string) {
    super(`${step} for role ${roleArn} failed: ${code}: ${detail}`);
    this.name = 'CredentialError';
    this.step = step;
    this.roleArn = roleArn;
    this.code = code;
    this.detail = detail;
  }
}

/**
 * Everything that shapes the credential a request mints, and nothing else (not the tenant): role, external id,
 * session tags, session duration, registry account and region. Two requests with the same identity get the very
 * same STS session, so they may share a token; any difference (two tenants sharing a role with different session
 * tags, say) must give a different identity, or one tenant's pods would pull with the other's session.
 *
 * JSON of `[roleArn, externalId, [[tagKey, tagValue]…] sorted by key, durationSeconds, account, region]`, with null
 * for an absent external id or duration: JSON quoting makes it injective whatever characters the fields hold, and
 * sorting makes it independent of the order tags were written in. No session tags and an empty set are the same
 * (AssumeRole sends no Tags for either). Hashed, it records which credential a Secret was written with.
 */
export function credentialIdentity(request: TokenRequest): string {
  // Code-unit order, not locale order, so the identity is the same on every host; keys of one object are unique.
  const tags = Object.entries(request.sessionTags ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([
    request.roleArn,
    request.externalId ?? null,
    tags,
    request.durationSeconds ?? null,
    request.registry.account,
    request.registry.region,
  ]);
}

/** The cache key: tokens are shared by every tenant and grant that would mint the very same credential. */
export function tokenKey(request: TokenRequest): string {
  return credentialIdentity(request);
}

/**
 * How log lines name a credential, in fields an operator can search for: the tenant it is for, the role it is
 * minted with and the registry's account and region. Never the external id, the session tags or anything minted;
 * nor the cache key, which is all of them at once and unreadable.
 */
export function credentialFields(request: Pick<TokenRequest, 'tenant' | 'roleArn' | 'registry'>): { tenant: string; role: string; registry: { account: string; region: string } } {
  return { tenant: request.tenant, role: request.roleArn, registry: { account: request.registry.account, region: request.registry.region } };
}

const SESSION_NAME_CHARS = /[^\w+=,.@-]/g;

/**
 * RoleSessionName for a tenant: 2–64 of [\w+=,.@-] (what STS accepts). It appears in CloudTrail for every pull
 * the tenant's role makes, so it names the webhook and the tenant.
 */
export function sessionNameFor(tenant: string): string {
  const name = `ecr-tenant-webhook-${tenant.replace(SESSION_NAME_CHARS, '_')}`;
  return name.slice(0, 64);
}
