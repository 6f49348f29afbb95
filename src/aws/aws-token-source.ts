import { ECRClient, GetAuthorizationTokenCommand, type GetAuthorizationTokenCommandOutput } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand, STSClient, type AssumeRoleCommandOutput, type Credentials } from '@aws-sdk/client-sts';
import { CredentialError, sessionNameFor, type RegistryToken, type RegistryTokenSource, type TokenRequest } from '../credentials/registry-token.ts';
import type { Metrics } from '../metrics.ts';

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

/** The SDK names an AWS error by its code (AccessDenied, Throttling, ExpiredTokenException, ...). */
function failure(step: string, roleArn: string, error: unknown, signal: AbortSignal): CredentialError {
  if (signal.aborted) return new CredentialError(step, roleArn, 'Timeout', 'no answer before the deadline');
  const { name, message } = error as Error;
  return new CredentialError(step, roleArn, name, String(message).slice(0, 300));
}

function decodePassword(token: string, roleArn: string): string {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) throw new CredentialError('GetAuthorizationToken', roleArn, 'MalformedToken', 'the token is not base64 of user:password');
  return decoded.slice(colon + 1);
}

export class AwsTokenSource implements RegistryTokenSource {
  readonly #options: AwsTokenSourceOptions;
  readonly #sts = new Map<string, STSClient>();

  constructor(options: AwsTokenSourceOptions) {
    this.#options = options;
  }

  async mint(request: TokenRequest, signal: AbortSignal): Promise<RegistryToken> {
    const credentials = await this.#assumeRole(request, signal);
    const ecr = new ECRClient({
      region: request.registry.region,
      maxAttempts: this.#options.maxAttempts,
      credentials: { accessKeyId: credentials.AccessKeyId as string, secretAccessKey: credentials.SecretAccessKey as string, sessionToken: credentials.SessionToken as string },
    });
    countAttempts(ecr, this.#options.metrics);
    let answer: GetAuthorizationTokenCommandOutput;
    try {
      answer = await ecr.send(new GetAuthorizationTokenCommand({}), { abortSignal: signal });
    } catch (error) {
      throw failure('GetAuthorizationToken', request.roleArn, error, signal);
    } finally {
      ecr.destroy();
    }
    const data = answer.authorizationData?.[0];
    if (data?.authorizationToken === undefined || data.expiresAt === undefined) {
      throw new CredentialError('GetAuthorizationToken', request.roleArn, 'EmptyAnswer', 'no authorizationData in the answer');
    }
    // STS always states the session's end; with role chaining (IRSA → tenant role) it is at most an hour away.
    const sessionEnds = credentials.Expiration as Date;
    return {
      username: 'AWS',
      password: decodePassword(data.authorizationToken, request.roleArn),
      expiresAt: new Date(Math.min(data.expiresAt.getTime(), sessionEnds.getTime())),
    };
  }

  async #assumeRole(request: TokenRequest, signal: AbortSignal): Promise<Credentials> {
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
    if (answer.Credentials?.AccessKeyId === undefined || answer.Credentials.SecretAccessKey === undefined) {
      throw new CredentialError('AssumeRole', request.roleArn, 'EmptyAnswer', 'no credentials in the answer');
    }
    return answer.Credentials;
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
