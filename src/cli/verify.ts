import { InvalidArgumentError } from 'commander';
import { AwsTokenSource, type RepositoriesPage, type TenantSession } from '../aws/aws-token-source.ts';
import { CredentialError, type RegistryToken, type TokenRequest } from '../credentials/registry-token.ts';
import { DeadlineError, withDeadline } from '../deadline.ts';
import type { EcrRegistry } from '../image/ecr-host.ts';
import { tagsHold } from '../policy/registry-facts.ts';
import { eachLimited } from '../limited.ts';
import { createMetrics } from '../metrics.ts';
import type { CliIo } from './io.ts';
import { loadPolicyForCli } from './load-policy.ts';
import { globCovers } from '../policy/repository-glob.ts';
import { buildReport, formatVerifyText, judgeGrant, listsRegistry, verifyPlan, type AwsStep, type GrantCheck, type GrantOutcome } from './verify-report.ts';

/**
 * `verify`: proves each tenant's grants work before a pod needs them, with the webhook's own AWS identity. Per
 * grant: AssumeRole exactly as serve does, GetAuthorizationToken with that session, then DescribeRepositories on the
 * grant's registry to count what each repository glob matches (of the names alone, for a grant without wildcards),
 * and for a grant by repository tags ListTagsForResource on each of those, to count the ones carrying the tags.
 * Exit 0 when every grant passes, 1 when any fails.
 * Nothing minted is ever printed: only codes, AWS's messages and when the token expires.
 */
export interface VerifyOptions {
  readonly policy: string;
  readonly tenant?: string | undefined;
  readonly output: 'text' | 'json';
  /** Each AWS call's deadline. */
  readonly deadlineMs: number;
  /** AssumeRole DurationSeconds, as serve's --aws-session-duration. */
  readonly sessionSeconds: number;
}

/** The AWS calls verify makes, as AwsTokenSource makes them for serve; a fake in unit tests. */
export interface VerifyAws {
  assumeRole(request: TokenRequest, signal: AbortSignal): Promise<TenantSession>;
  authorizationToken(request: TokenRequest, session: TenantSession, signal: AbortSignal): Promise<RegistryToken>;
  repositoriesPage(request: TokenRequest, session: TenantSession, nextToken: string | undefined, signal: AbortSignal): Promise<RepositoriesPage>;
  repositoryExists(request: TokenRequest, session: TenantSession, name: string, signal: AbortSignal): Promise<boolean>;
  /** A repository's tags; undefined when it is not there (deleted since it was listed). */
  repositoryTags(request: TokenRequest, session: TenantSession, registry: EcrRegistry, repository: string, signal: AbortSignal): Promise<Readonly<Record<string, string>> | undefined>;
  destroy(): void;
}

/** commander argument parser for --deadline: seconds above 0 and at most 300, returned in milliseconds. */
export function parseVerifyDeadline(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !(seconds >= 0.1 && seconds <= 300)) throw new InvalidArgumentError('must be seconds from 0.1 to 300');
  return Math.round(seconds * 1000);
}

/** Grants checked at once: enough to be quick, few enough not to be throttled by STS. */
const PARALLEL = 4;
/** A registry listing longer than this is surely a loop (a nextToken that never ends), not repositories. */
const MAX_PAGES = 1000;

/**
 * One AWS call within the deadline: the SDK is told to abort, and should it not stop, the wait ends anyway. A call
 * that overran is a CredentialError with the code Timeout, like serve's.
 */
async function bounded<T>(call: (signal: AbortSignal) => Promise<T>, ms: number, step: string, roleArn: string): Promise<T> {
  const controller = new AbortController();
  try {
    return await withDeadline(call(controller.signal), ms, step);
  } catch (error) {
    controller.abort();
    if (error instanceof DeadlineError) throw new CredentialError(step, roleArn, 'Timeout', `no answer within ${ms} ms`);
    throw error;
  }
}

/** Every repository name of the grant's registry, page by page, each page within the deadline. */
async function listRepositories(aws: VerifyAws, request: TokenRequest, session: TenantSession, deadlineMs: number): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await bounded((signal) => aws.repositoriesPage(request, session, nextToken, signal), deadlineMs, 'DescribeRepositories', request.roleArn);
    names.push(...answer.names);
    if (answer.nextToken === undefined || answer.nextToken === '') return names;
    nextToken = answer.nextToken;
  }
  throw new CredentialError('DescribeRepositories', request.roleArn, 'TooManyPages', `the listing did not end within ${MAX_PAGES} pages`);
}

/**
 * The repositories a grant's globs can match. A grant of exact names only is asked about each name, which AWS
 * authorises on that repository (a repository policy is enough, from any account); a grant with a wildcard needs
 * the registry listed, which AWS authorises on the registry's repository/* (from another account, the registry policy).
 */
async function grantRepositories(aws: VerifyAws, check: GrantCheck, session: TenantSession, deadlineMs: number): Promise<string[]> {
  const { request } = check;
  if (listsRegistry(check)) return listRepositories(aws, request, session, deadlineMs);
  const names: string[] = [];
  for (const { source } of check.globs) {
    // ECR names have at least two characters: a shorter one cannot exist, and ECR would refuse to look it up.
    if (source.length < 2) continue;
    try {
      if (await bounded((signal) => aws.repositoryExists(request, session, source, signal), deadlineMs, 'DescribeRepositories', request.roleArn)) names.push(source);
    } catch (error) {
      // Which repository was refused is what to fix: its policy.
      if (error instanceof CredentialError) throw new CredentialError(error.step, error.roleArn, error.code, `${source}: ${error.detail}`);
      throw error;
    }
  }
  return names;
}

/** Repositories whose tags are read at once, for one grant by tags. */
const TAG_READS_AT_ONCE = 4;

/**
 * Of the repositories a grant by tags matches, those that carry every tag: each one's tags read with the tenant's
 * session, as admission reads them. A repository deleted since it was listed carries none.
 */
async function taggedRepositories(aws: VerifyAws, check: GrantCheck, tags: Readonly<Record<string, string>>, session: TenantSession, names: readonly string[], deadlineMs: number) {
  const { request } = check;
  const registry = { ...request.registry, partition: check.partition } as EcrRegistry;
  const carries: boolean[] = new Array(names.length);
  let failed = false;
  // After the first failure no further read starts: the grant fails at this step either way.
  await eachLimited(
    names,
    TAG_READS_AT_ONCE,
    async (name, i) => {
      try {
        const carried = await bounded((signal) => aws.repositoryTags(request, session, registry, name, signal), deadlineMs, 'ListTagsForResource', request.roleArn);
        carries[i] = carried !== undefined && tagsHold(tags, carried);
      } catch (error) {
        failed = true;
        // Which repository was refused is what to fix: its policy, or the role's.
        if (error instanceof CredentialError) throw new CredentialError(error.step, error.roleArn, error.code, `${name}: ${error.detail}`);
        throw error;
      }
    },
    () => !failed,
  );
  return names.filter((_, i) => carries[i]);
}

/** The steps of one grant, stopping at the first that fails. */
export async function checkGrant(aws: VerifyAws, check: GrantCheck, deadlineMs: number): Promise<GrantOutcome> {
  const { request } = check;
  try {
    const session = await bounded((signal) => aws.assumeRole(request, signal), deadlineMs, 'AssumeRole', request.roleArn);
    const token = await bounded((signal) => aws.authorizationToken(request, session, signal), deadlineMs, 'GetAuthorizationToken', request.roleArn);
    const repositories = await grantRepositories(aws, check, session, deadlineMs);
    const tags = check.repositoryTags;
    if (tags === undefined) return { tokenExpiresAt: token.expiresAt, repositories };
    const tagged = await taggedRepositories(aws, check, tags, session, repositories.filter((name) => check.globs.some((glob) => globCovers(glob, name))), deadlineMs);
    return { tokenExpiresAt: token.expiresAt, repositories, tagged };
  } catch (error) {
    // The adapter turns every AWS failure into a CredentialError; anything else is reported against AssumeRole's step
    // rather than lost, with its bare name as the code.
    const failure = error instanceof CredentialError ? error : new CredentialError('AssumeRole', request.roleArn, (error as Error).name, (error as Error).message);
    return { failed: { step: failure.step as AwsStep, code: failure.code, message: failure.detail } };
  }
}

/** Runs the checks, PARALLEL at a time, and answers in the plan's order. */
async function checkAll(aws: VerifyAws, checks: readonly GrantCheck[], deadlineMs: number): Promise<GrantOutcome[]> {
  const outcomes: GrantOutcome[] = new Array(checks.length);
  await eachLimited(checks, PARALLEL, async (check, i) => {
    outcomes[i] = await checkGrant(aws, check, deadlineMs);
  });
  return outcomes;
}

/** The real AWS calls: serve's own token source, with serve's retries; its metrics go nowhere. */
function realAws(sessionSeconds: number): VerifyAws {
  return new AwsTokenSource({ sessionSeconds, maxAttempts: 3, metrics: createMetrics() });
}

export async function runVerify(options: VerifyOptions, io: CliIo, aws: (sessionSeconds: number) => VerifyAws = realAws, now: () => Date = () => new Date()): Promise<number> {
  const policy = await loadPolicyForCli(options.policy, io);
  const checks = verifyPlan(policy, options.tenant, options.sessionSeconds, options.policy);
  const client = aws(options.sessionSeconds);
  let outcomes: GrantOutcome[];
  try {
    outcomes = await checkAll(client, checks, options.deadlineMs);
  } finally {
    client.destroy();
  }
  const report = buildReport(
    policy,
    options.tenant,
    checks.map((check, i) => [check, judgeGrant(check, outcomes[i]!, options.policy)] as const),
  );
  io.stdout(options.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatVerifyText(report, now()));
  return report.ok ? 0 : 1;
}
