import { DescribeImagesCommand, DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand, ListTagsForResourceCommand } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand, STSClient, type AssumeRoleCommandOutput, type Credentials } from '@aws-sdk/client-sts';
import { CredentialError, sessionNameFor, type RegistryToken, type RegistryTokenSource, type TokenRequest } from '../credentials/registry-token.ts';
import type { EcrRegistry } from '../image/ecr-host.ts';
import type { Metrics } from '../metrics.ts';
import type { RegistryReader } from '../registry/registry-lookups.ts';

/**
 * Mints ECR pull tokens with the tenant's role: STS AssumeRole with the webhook's own identity (the SDK's default
 * chain: IRSA, EKS Pod Identity, environment), then ECR GetAuthorizationToken in the registry's region with the
 * assumed credentials. Endpoints come from the SDK's own configuration (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_ECR),
 * nothing of ours. STS is called in the registry's region, so a China or GovCloud registry gets its partition's STS.
 */
export interface AwsTokenSourceOptions {
  /**
   * AssumeRole DurationSeconds (900–43,200) of a request that does not set its own; role chaining (IRSA → tenant
   * role) caps the session at 1 hour.
   */
  readonly sessionSeconds: number;
  /** SDK attempts per call, with the SDK's standard retry: exponential backoff, full jitter, a retry quota. */
  readonly maxAttempts: number;
  /** Counts every attempt and every failed attempt, by API (aws_requests_total, aws_errors_total). */
  readonly metrics: Metrics;
}

/**
 * The SDK names AWS errors by their code (AccessDenied, Throttling, TimeoutError); Node's own network errors are
 * all named Error, and their code (ECONNREFUSED, ECONNRESET) says what happened.
 */
function errorCode(error: unknown): string {
  const { name, code } = error as { name: string; code?: unknown };
  return name === 'Error' && typeof code === 'string' ? code : name;
}

/**
 * Counts per SDK attempt, not per logical call: a call the SDK retried three times is three requests (and three
 * errors), which is what AWS throttles and audits. The middleware sits in the deserialize step, so inside the
 * retry loop (finalizeRequest) and outside the deserializer, whose errors carry the AWS code as their name.
 */
function countAttempts(client: STSClient | ECRClient, metrics: Metrics): void {
  // One middleware serves both clients: their stacks' types differ only in the commands' inputs and outputs.
  (client as STSClient).middlewareStack.add(
    (next, context) => async (args) => {
      // Every command the SDK sends sets its name (AssumeRoleCommand); the label is the API's.
      const api = String(context.commandName).replace(/Command$/, '');
      metrics.awsRequests.inc({ api });
      try {
        return await next(args);
      } catch (error) {
        metrics.awsErrors.inc({ api, code: errorCode(error) });
        throw error;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'ecrTenantWebhookAttemptCounter' },
  );
}

/** `assumed-role/ROLE/` and the session name after it (one pass, no backtracking: ROLE holds no `/`). */
const SESSION_NAME = /(assumed-role\/[^/\s]+\/)[\w+=,.@-]+/g;

/**
 * The SDK names an AWS error by its code (AccessDenied, Throttling, ExpiredTokenException, ...); Node by ECONNREFUSED
 * and the like. AWS's message can name the caller's session (`…:assumed-role/ROLE/ecr-tenant-webhook-<tenant>`),
 * and a session is shared by the tenants that would mint the same credential: the session name is left out, so a
 * denial one tenant reads never names another.
 */
function failure(step: string, roleArn: string, error: unknown, signal: AbortSignal): CredentialError {
  if (signal.aborted) return new CredentialError(step, roleArn, 'Timeout', 'no answer before the deadline');
  const message = String((error as Error).message).slice(0, 300).replace(SESSION_NAME, '$1…');
  return new CredentialError(step, roleArn, errorCode(error), message);
}

function decodePassword(token: string, roleArn: string): string {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) throw new CredentialError('GetAuthorizationToken', roleArn, 'MalformedToken', 'the token is not base64 of user:password');
  return decoded.slice(colon + 1);
}

/** An assumed-role session of a tenant's role: what the ECR calls are made with. Never logged. */
export interface TenantSession {
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken: string };
  readonly expiresAt: Date;
}

export interface RepositoriesPage {
  readonly names: readonly string[];
  readonly nextToken: string | undefined;
}

/** The codes ECR answers a read of something that is not there with. */
const ABSENT = new Set(['RepositoryNotFoundException', 'ImageNotFoundException']);
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * ECR read at admission with the tenant's STS session, the one its pull-secret tokens are minted with (`sessions`
 * keeps it under the token cache's key): assumed once, shared by every read until it is refreshed.
 */
export function sessionRegistryReader(source: AwsTokenSource, sessions: { get(request: TokenRequest): Promise<TenantSession> }): RegistryReader {
  return {
    imageDigest: async (request, _registry, repository, reference, signal) => source.imageDigest(request, await sessions.get(request), repository, reference, signal),
    repositoryTags: async (request, registry, repository, signal) => source.repositoryTags(request, await sessions.get(request), registry, repository, signal),
  };
}

export class AwsTokenSource implements RegistryTokenSource {
  readonly #options: AwsTokenSourceOptions;
  readonly #sts = new Map<string, STSClient>();

  constructor(options: AwsTokenSourceOptions) {
    this.#options = options;
  }

  async mint(request: TokenRequest, signal: AbortSignal): Promise<RegistryToken> {
    return this.authorizationToken(request, await this.assumeRole(request, signal), signal);
  }

  /** GetAuthorizationToken in the registry's region with a session of the tenant's role. */
  async authorizationToken(request: TokenRequest, session: TenantSession, signal: AbortSignal): Promise<RegistryToken> {
    const answer = await this.#ecr(request, session, 'GetAuthorizationToken', (ecr) => ecr.send(new GetAuthorizationTokenCommand({}), { abortSignal: signal }), signal);
    const data = answer.authorizationData?.[0];
    if (data?.authorizationToken === undefined || data.expiresAt === undefined) {
      throw new CredentialError('GetAuthorizationToken', request.roleArn, 'EmptyAnswer', 'no authorizationData in the answer');
    }
    return {
      username: 'AWS',
      password: decodePassword(data.authorizationToken, request.roleArn),
      expiresAt: new Date(Math.min(data.expiresAt.getTime(), session.expiresAt.getTime())),
    };
  }

  /**
   * One page of DescribeRepositories on the request's registry (registryId = its account) with a session of the
   * tenant's role: the repository names and the token of the next page, if any.
   */
  async repositoriesPage(request: TokenRequest, session: TenantSession, nextToken: string | undefined, signal: AbortSignal): Promise<RepositoriesPage> {
    const command = new DescribeRepositoriesCommand({ registryId: request.registry.account, nextToken });
    const answer = await this.#ecr(request, session, 'DescribeRepositories', (ecr) => ecr.send(command, { abortSignal: signal }), signal);
    const names = (answer.repositories ?? []).map((repository) => repository.repositoryName).filter((name) => name !== undefined);
    return { names, nextToken: answer.nextToken };
  }

  /**
   * Whether one repository exists, by DescribeRepositories of its name: authorised on that repository's ARN alone, so a
   * repository policy allows it where a listing of the whole registry may need the registry policy.
   */
  async repositoryExists(request: TokenRequest, session: TenantSession, name: string, signal: AbortSignal): Promise<boolean> {
    const command = new DescribeRepositoriesCommand({ registryId: request.registry.account, repositoryNames: [name] });
    const answer = await this.#absentAsUndefined(this.#ecr(request, session, 'DescribeRepositories', (ecr) => ecr.send(command, { abortSignal: signal }), signal));
    return answer !== undefined;
  }

  /**
   * The digest of one image, by tag or by digest, with DescribeImages; undefined when the repository or the image
   * is not there. The digest goes into pods, so an answer that is not `sha256:` and 64 hex digits is an error, and so
   * is one that is not the digest asked for. A tag holds no `:`, so any reference with one is a digest, of whatever
   * algorithm (ECR answers a `sha512:` it does not hold as not found, never as a tag).
   */
  async imageDigest(request: TokenRequest, session: TenantSession, repository: string, reference: string, signal: AbortSignal): Promise<string | undefined> {
    const byDigest = reference.includes(':');
    const imageId = byDigest ? { imageDigest: reference } : { imageTag: reference };
    const command = new DescribeImagesCommand({ registryId: request.registry.account, repositoryName: repository, imageIds: [imageId] });
    const answer = await this.#absentAsUndefined(this.#ecr(request, session, 'DescribeImages', (ecr) => ecr.send(command, { abortSignal: signal }), signal));
    if (answer === undefined) return undefined;
    const digest = answer.imageDetails?.[0]?.imageDigest;
    if (digest === undefined || !DIGEST.test(digest)) {
      throw new CredentialError('DescribeImages', request.roleArn, 'MalformedAnswer', `no sha256 image digest in the answer (${JSON.stringify(digest ?? null).slice(0, 80)})`);
    }
    if (byDigest && digest !== reference) {
      throw new CredentialError('DescribeImages', request.roleArn, 'MalformedAnswer', `asked for image ${reference.slice(0, 80)}, answered ${digest}`);
    }
    return digest;
  }

  /** The tags of one repository with ListTagsForResource; undefined when the repository is not there. */
  async repositoryTags(request: TokenRequest, session: TenantSession, registry: EcrRegistry, repository: string, signal: AbortSignal): Promise<Record<string, string> | undefined> {
    const resourceArn = `arn:${registry.partition}:ecr:${registry.region}:${registry.account}:repository/${repository}`;
    const command = new ListTagsForResourceCommand({ resourceArn });
    const answer = await this.#absentAsUndefined(this.#ecr(request, session, 'ListTagsForResource', (ecr) => ecr.send(command, { abortSignal: signal }), signal));
    if (answer === undefined) return undefined;
    return Object.fromEntries((answer.tags ?? []).filter((tag) => tag.Key !== undefined).map((tag) => [tag.Key!, tag.Value ?? '']));
  }

  /** A read whose repository or image does not exist answers undefined; every other failure stays one. */
  async #absentAsUndefined<T>(read: Promise<T>): Promise<T | undefined> {
    try {
      return await read;
    } catch (error) {
      if (ABSENT.has((error as CredentialError).code)) return undefined;
      throw error;
    }
  }

  /**
   * One ECR call in the registry's region with a session of the tenant's role, on a client of its own (the
   * session's credentials are the client's) that is destroyed after; a failure is a CredentialError of `step`.
   */
  async #ecr<T>(request: TokenRequest, session: TenantSession, step: string, call: (ecr: ECRClient) => Promise<T>, signal: AbortSignal): Promise<T> {
    const ecr = new ECRClient({ region: request.registry.region, maxAttempts: this.#options.maxAttempts, credentials: session.credentials });
    countAttempts(ecr, this.#options.metrics);
    let answer: T;
    try {
      answer = await call(ecr);
    } catch (error) {
      throw failure(step, request.roleArn, error, signal);
    } finally {
      ecr.destroy();
    }
    return answer;
  }

  /** STS AssumeRole of the tenant's role with the webhook's own identity: the one place the request is put together. */
  async assumeRole(request: TokenRequest, signal: AbortSignal): Promise<TenantSession> {
    const tags = Object.entries(request.sessionTags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    const command = new AssumeRoleCommand({
      RoleArn: request.roleArn,
      RoleSessionName: sessionNameFor(request.tenant),
      DurationSeconds: request.durationSeconds ?? this.#options.sessionSeconds,
      ...(request.externalId === undefined ? {} : { ExternalId: request.externalId }),
      ...(tags.length === 0 ? {} : { Tags: tags }),
    });
    let answer: AssumeRoleCommandOutput;
    try {
      answer = await this.#stsFor(request.registry.region).send(command, { abortSignal: signal });
    } catch (error) {
      throw failure('AssumeRole', request.roleArn, error, signal);
    }
    const credentials: Credentials | undefined = answer.Credentials;
    if (credentials?.AccessKeyId === undefined || credentials.SecretAccessKey === undefined) {
      throw new CredentialError('AssumeRole', request.roleArn, 'EmptyAnswer', 'no credentials in the answer');
    }
    return {
      credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.SessionToken as string },
      // STS always states the session's end; with role chaining (IRSA → tenant role) it is at most an hour away.
      expiresAt: credentials.Expiration as Date,
    };
  }

  #stsFor(region: string): STSClient {
    let client = this.#sts.get(region);
    if (client === undefined) {
      client = new STSClient({ region, maxAttempts: this.#options.maxAttempts });
      countAttempts(client, this.#options.metrics);
      this.#sts.set(region, client);
    }
    return client;
  }

  destroy(): void {
    for (const client of this.#sts.values()) client.destroy();
    this.#sts.clear();
  }
}
