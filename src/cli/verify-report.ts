import { tokenRequest } from '../credentials/pull-secret-provisioner.ts';
import type { TokenRequest } from '../credentials/registry-token.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { globCovers, type CompiledGlob } from '../policy/repository-glob.ts';
import { UsageError } from './usage-error.ts';

/**
 * The pure part of `verify`: which checks run for which tenant and grant, what a failure means and how to fix it,
 * and how the report is printed. The AWS calls themselves are in verify.ts, behind an interface.
 */

/** One grant to verify: the very token request `serve` would mint its pull secret with. */
export interface GrantCheck {
  readonly tenant: string;
  readonly registry: string;
  readonly globs: readonly CompiledGlob[];
  /** Tags a repository must carry for the grant to hold (with its globs); undefined for a grant by globs alone. */
  readonly repositoryTags: Readonly<Record<string, string>> | undefined;
  /** The registry's partition, for the repository ARNs whose tags are read. */
  readonly partition: string;
  /** Where the grant is written, for the fix of a glob that matches nothing. */
  readonly at: string;
  readonly request: TokenRequest;
}

/**
 * The AWS calls of a check, in order (ListTagsForResource for a grant by repository tags only); MatchRepositories is
 * judged here from what DescribeRepositories listed and ListTagsForResource read.
 */
export type AwsStep = 'AssumeRole' | 'GetAuthorizationToken' | 'DescribeRepositories' | 'ListTagsForResource';
export type VerifyStep = AwsStep | 'MatchRepositories';

export interface GrantResult {
  readonly registry: string;
  readonly roleArn: string;
  readonly ok: boolean;
  /** The first step that failed; the steps after it were not tried. */
  readonly step?: VerifyStep;
  /** AWS's error code (AccessDenied, ECONNREFUSED, Timeout, ...), or NoMatchingRepository, NoTaggedRepository. */
  readonly code?: string;
  readonly message?: string;
  readonly fix?: string;
  /** When ECR said the token expires: reported, never judged (an emulator's may lie in the past). */
  readonly tokenExpiresAt?: string;
  /** Repositories each glob matches, once DescribeRepositories answered. */
  readonly repositories: Readonly<Record<string, number>>;
  /** A grant by repository tags: the tags it asks for. */
  readonly repositoryTags?: Readonly<Record<string, string>>;
  /** A grant by repository tags: of the repositories each glob matches, how many carry every tag, once they were read. */
  readonly tagged?: Readonly<Record<string, number>>;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly tenants: Readonly<Record<string, { readonly grants: readonly GrantResult[] }>>;
}

/**
 * What a grant's checks found, before it is judged: the failure of an AWS step, or what each step answered; `tagged`,
 * for a grant by repository tags, the repositories its globs match that carry every tag.
 */
export type GrantOutcome =
  | { readonly failed: { readonly step: AwsStep; readonly code: string; readonly message: string } }
  | { readonly failed?: undefined; readonly tokenExpiresAt: Date; readonly repositories: readonly string[]; readonly tagged?: readonly string[] };

/** Each grant of each tenant (or only `tenant`), in policy order. */
export function verifyPlan(policy: CompiledPolicy, tenant: string | undefined, sessionSeconds: number, source: string): GrantCheck[] {
  if (tenant !== undefined && !policy.tenants.has(tenant)) {
    const known = [...policy.tenants.keys()].map((name) => JSON.stringify(name)).join(', ');
    throw new UsageError(`--tenant ${JSON.stringify(tenant)}: ${source} has no such tenant (it has ${known === '' ? 'none' : known})`);
  }
  const tenants = [...policy.tenants.values()].filter((t) => tenant === undefined || t.name === tenant);
  return tenants.flatMap((t) =>
    [...t.grantsByRegistry.values()].flat().map((grant) => ({
      tenant: t.name,
      registry: grant.registry.host,
      globs: grant.globs,
      repositoryTags: grant.repositoryTags,
      partition: grant.registry.partition,
      at: grant.at,
      request: tokenRequest(t, grant.roleArn, grant.registry, sessionSeconds),
    })),
  );
}

/**
 * Codes that say AWS was not reached or did not answer in time, rather than that it refused. Unknown is what the SDK
 * makes of an answer that is not AWS's (a proxy's 502 page).
 */
const UNREACHABLE = new Set(['Timeout', 'TimeoutError', 'AbortError', 'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'Unknown', 'UnknownError']);

/** Codes that say AWS answered but could not serve the call just now: nothing to fix, only to try again. */
const TRY_AGAIN = new Set(['InternalFailure', 'InternalError', 'ServiceUnavailable', 'ServiceUnavailableException', 'ServerException', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);

/** Codes of a refusal by a policy: what aws-policies prints is the fix. */
const DENIED = new Set(['AccessDenied', 'AccessDeniedException']);

/** Codes that say the webhook's own identity was refused or missing, whatever the tenant's role allows. */
const OWN_IDENTITY = new Set(['CredentialsProviderError', 'InvalidClientTokenId', 'ExpiredToken', 'ExpiredTokenException', 'SignatureDoesNotMatch', 'UnrecognizedClientException']);

/**
 * Whether a grant's repositories are found by listing the whole registry (it has a wildcard), rather than by asking
 * about each of its exact names; AWS authorises the two differently.
 */
export function listsRegistry(check: GrantCheck): boolean {
  return check.globs.some((glob) => glob.source.includes('*'));
}

/** The one-line fix of a failed step, naming the aws-policies piece to apply where one applies. */
export function fixFor(check: GrantCheck, step: AwsStep, code: string, policyFile: string): string {
  const { roleArn, registry, externalId, sessionTags } = check.request;
  const where = `${registry.account}/${registry.region}`;
  const awsPolicies = `aws-policies --policy ${policyFile}`;
  const tenant = `tenant ${JSON.stringify(check.tenant)}`;
  const service = step === 'AssumeRole' ? 'STS' : 'ECR';
  if (UNREACHABLE.has(code)) {
    return `${service} in ${registry.region} did not answer: check the webhook's network path to it (proxy, VPC endpoint, AWS_ENDPOINT_URL_${service}) or raise --deadline, and run verify again`;
  }
  if (TRY_AGAIN.has(code)) return `${service} in ${registry.region} answered ${code}: nothing to change on the AWS side; run verify again (--tenant ${check.tenant} makes fewer calls)`;
  if (OWN_IDENTITY.has(code)) {
    return "the webhook's own AWS identity is missing or refused: give it one the SDK's default chain finds (IRSA, EKS Pod Identity, AWS_* variables), as serve gets it";
  }
  if (step === 'AssumeRole' && code === 'ValidationError') {
    return `STS refused the request as invalid (--output json has its message): a DurationSeconds above the role's maximum, or above 3600 when the webhook's own identity is an assumed role, is the usual cause; lower --aws-session-duration to match serve's`;
  }
  if (!DENIED.has(code)) return `${service} refused ${step} of ${roleArn} with ${code}: --output json has AWS's message`;
  if (step === 'AssumeRole') {
    const tagged = Object.keys(sessionTags ?? {}).length > 0;
    const conditions = [externalId === undefined ? '' : ' with its external id', tagged ? ' and sts:TagSession with its session tags' : ''].join('');
    const own = tagged ? 'sts:AssumeRole and sts:TagSession' : 'sts:AssumeRole';
    return `the trust policy of ${roleArn} must allow the webhook's identity sts:AssumeRole${conditions}, and the webhook's own policy must allow it ${own} on the role: apply roles[].trustPolicy of ${tenant} and webhookPolicy from ${awsPolicies}`;
  }
  if (step === 'GetAuthorizationToken') {
    return `the permission policy of ${roleArn} must allow ecr:GetAuthorizationToken: apply roles[].permissionPolicy of ${tenant} from ${awsPolicies}`;
  }
  if (step === 'ListTagsForResource') {
    return (
      `${roleArn} must be allowed ecr:ListTagsForResource, without the tag condition, on the repositories of ${where} its grant by tags matches, by its permission ` +
      `policy (statement ReadTagsOfTaggedRepositories) and, from another account, by the registry's side (statement EcrTenantWebhookReadTags) of ${tenant}: see ${awsPolicies}`
    );
  }
  const side = listsRegistry(check)
    ? 'a grant with a wildcard lists the whole registry, which from another account takes the registry policy (--registry-policy)'
    : "from another account, the repository's policy too";
  return `${roleArn} must be allowed ecr:DescribeRepositories on the repositories of ${where} by its permission policy (statement ListGrantedRegistriesForVerify) and by the registry's side (statement EcrTenantWebhookVerify; ${side}) of ${tenant}: see ${awsPolicies}`;
}

/** `Team=Payments, Env=prod`: a grant's tags as messages and the text report show them. */
const describeTags = (tags: Readonly<Record<string, string>>) =>
  Object.entries(tags)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');

/**
 * Judges what a grant's checks found: ok, or the failing step with its code, message and fix. A grant by repository
 * tags also fails when a glob matches repositories but none that carries the tags: it would grant nothing there.
 */
export function judgeGrant(check: GrantCheck, outcome: GrantOutcome, policyFile: string): GrantResult {
  const base = { registry: check.registry, roleArn: check.request.roleArn, ...(check.repositoryTags === undefined ? {} : { repositoryTags: check.repositoryTags }) };
  if (outcome.failed !== undefined) {
    const { step, code, message } = outcome.failed;
    return { ...base, ok: false, step, code, message, fix: fixFor(check, step, code, policyFile), repositories: {} };
  }
  const count = (names: readonly string[]) => Object.fromEntries(check.globs.map((glob) => [glob.source, names.filter((name) => globCovers(glob, name)).length]));
  const repositories = count(outcome.repositories);
  const tagged = outcome.tagged === undefined ? undefined : count(outcome.tagged);
  const counts = { repositories, ...(tagged === undefined ? {} : { tagged }) };
  const unmatched = check.globs.filter((glob) => repositories[glob.source] === 0).map((glob) => glob.source);
  const untagged = check.globs.filter((glob) => tagged !== undefined && tagged[glob.source] === 0).map((glob) => glob.source);
  const tokenExpiresAt = outcome.tokenExpiresAt.toISOString();
  const { account, region } = check.request.registry;
  const tenant = `tenant ${JSON.stringify(check.tenant)}`;
  if (unmatched.length > 0) {
    return {
      ...base,
      ok: false,
      step: 'MatchRepositories',
      code: 'NoMatchingRepository',
      message: `no repository in ${account}/${region} matches ${unmatched.join(', ')}`,
      fix: `create the repository in ${account}/${region}, or correct the pattern at ${check.at}.repositories (${tenant})`,
      tokenExpiresAt,
      ...counts,
    };
  }
  if (untagged.length > 0) {
    // Only a grant by tags has tagged counts.
    const tags = describeTags(check.repositoryTags!);
    return {
      ...base,
      ok: false,
      step: 'MatchRepositories',
      code: 'NoTaggedRepository',
      message: `no repository in ${account}/${region} matching ${untagged.join(', ')} carries ${tags}`,
      fix: `tag the repositories to grant in ${account}/${region} with ${tags} (aws ecr tag-resource), or correct the tags at ${check.at}.repositoryTags (${tenant})`,
      tokenExpiresAt,
      ...counts,
    };
  }
  return { ...base, ok: true, tokenExpiresAt, ...counts };
}

/** The report of every tenant in the plan's order, tenants without grants included (with none). */
export function buildReport(policy: CompiledPolicy, tenant: string | undefined, results: readonly (readonly [GrantCheck, GrantResult])[]): VerifyReport {
  const tenants: Record<string, { grants: GrantResult[] }> = {};
  for (const name of policy.tenants.keys()) if (tenant === undefined || name === tenant) tenants[name] = { grants: [] };
  for (const [check, result] of results) tenants[check.tenant]!.grants.push(result);
  return { ok: results.every(([, result]) => result.ok), tenants };
}

/**
 * One line per tenant × grant, then a summary: `ok` lines show how many repositories each glob matches, and for a
 * grant by tags how many of them carry the tags.
 */
export function formatVerifyText(report: VerifyReport, now: Date): string {
  const lines: string[] = [];
  let count = 0;
  let failed = 0;
  for (const [name, { grants }] of Object.entries(report.tenants)) {
    if (grants.length === 0) lines.push(`-     ${name}  no grants`);
    for (const grant of grants) {
      count++;
      const tags = grant.tagged === undefined ? undefined : describeTags(grant.repositoryTags!);
      const matched = Object.entries(grant.repositories)
        .map(([glob, n]) => `${glob}: ${n}${tags === undefined ? '' : ` (${grant.tagged![glob]} with ${tags})`}`)
        .join(', ');
      if (grant.ok) {
        const past = grant.tokenExpiresAt !== undefined && Date.parse(grant.tokenExpiresAt) < now.getTime() ? ` (token obtained; ECR states an expiry already past, ${grant.tokenExpiresAt})` : '';
        lines.push(`ok    ${name}  ${grant.registry}  ${matched}${past}`);
        continue;
      }
      failed++;
      const what = grant.step === 'MatchRepositories' ? (grant.message as string) : `${grant.step} ${grant.roleArn} failed (${grant.code})`;
      lines.push(`FAIL  ${name}  ${grant.registry}  ${what}: ${grant.fix}`);
    }
  }
  lines.push(`${count} grants verified: ${count - failed} ok, ${failed} failed${failed > 0 ? " (--output json has AWS's messages)" : ''}`);
  return `${lines.join('\n')}\n`;
}
