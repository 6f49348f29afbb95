import type { CompiledTenant } from '../policy/compile.ts';
import type { PullSecretNeed } from '../policy/decide.ts';
import { Budget, DeadlineError, withDeadline } from '../deadline.ts';
import { PullSecretWriter, TenantChangedError, WriteRaceError, type EnsureOutcome } from './pull-secret-writer.ts';
import type { PullSecretSpec } from './pull-secret.ts';
import { credentialDigest } from './provenance.ts';
import { CredentialError, type RegistryToken, type TokenRequest } from './registry-token.ts';

/**
 * At admission: makes every pull Secret an admitted pod will reference exist and work, within a deadline well
 * under the webhook's timeout. A Secret that is fresh is left alone (no AWS call, no write); one that is missing
 * or expiring is written with a token from the cache; when no token can be had a still-valid Secret is kept.
 * What is left failing is returned, each with a message naming tenant, role and AWS error code, for
 * `onCredentialError` to decide on.
 */
export interface TokenProvider {
  get(request: TokenRequest): Promise<RegistryToken>;
}

export interface ProvisionerOptions {
  readonly writer: PullSecretWriter;
  readonly tokens: TokenProvider;
  /** A Secret valid for less than this is renewed at admission. */
  readonly freshForMs: number;
  /** The whole provisioning of one pod, Kubernetes writes included. */
  readonly deadlineMs: number;
  /** STS DurationSeconds asked for tenant sessions: part of what a credential is. */
  readonly sessionSeconds: number;
  readonly now: () => number;
  /** False while Secrets cannot be judged (the provenance key is not loaded): readiness waits for it. */
  readonly ready?: (() => boolean) | undefined;
}

export interface ProvisionFailure {
  readonly secret: string;
  readonly message: string;
  readonly code: string;
}

export interface ProvisionResult {
  /**
   * By Secret name. A Map, not an object: an object keyed by thousands of distinct Secret names makes V8 a new
   * hidden class per name, in its old generation, on every admission.
   */
  readonly outcomes: ReadonlyMap<string, EnsureOutcome>;
  readonly failures: readonly ProvisionFailure[];
}

function describe(error: unknown, tenant: string, need: PullSecretNeed): ProvisionFailure {
  const code = error instanceof DeadlineError ? 'Timeout' : error instanceof CredentialError || error instanceof TenantChangedError || error instanceof WriteRaceError ? error.code : 'KubernetesError';
  const detail = (error as Error).message;
  return { secret: need.name, code, message: `no ECR credentials for tenant "${tenant}" with role ${need.roleArn} (${code}): ${detail}` };
}

export class PullSecretProvisioner {
  readonly #options: ProvisionerOptions;
  /**
   * Ensures in progress, by namespace, Secret, tenant and hosts: a burst of pods for one namespace (a Deployment
   * scaled to a thousand) shares one read, one token and one write instead of racing a thousand of each against
   * the API server, which answered such a burst with 429s until every admission ran out of time.
   */
  readonly #inFlight = new Map<string, Promise<EnsureOutcome>>();

  /**
   * Digests by tenant (so by policy: a reload compiles new tenants) and registry: every admission of a tenant needs
   * the same few, and hashing one is a tenth of what an admission whose Secret is fresh costs.
   */
  readonly #digests = new WeakMap<CompiledTenant, Map<string, string>>();

  constructor(options: ProvisionerOptions) {
    this.#options = options;
  }

  ready(): boolean {
    return this.#options.ready?.() ?? true;
  }

  /**
   * Each need gets the credential deadline, or what is left of the admission's `budget` when that is shorter. A
   * need whose Secret the store already holds fresh is kept at once: most admissions, and no timer or read for them.
   */
  async provision(namespace: string, tenant: CompiledTenant, needs: readonly PullSecretNeed[], budget = new Budget(Number.POSITIVE_INFINITY)): Promise<ProvisionResult> {
    const outcomes = new Map<string, EnsureOutcome>();
    const failures: ProvisionFailure[] = [];
    const freshUntil = new Date(this.#options.now() + this.#options.freshForMs);
    const pending = needs.filter((need) => {
      const kept = this.#options.writer.keepsAsIs(this.#spec(namespace, tenant, need), freshUntil);
      if (kept) outcomes.set(need.name, 'kept');
      return !kept;
    });
    if (pending.length === 0) return { outcomes, failures };
    // All needs start together, so one deadline each bounds the whole pod's provisioning by the same time.
    await Promise.all(
      pending.map(async (need) => {
        try {
          const ensuring = this.#ensure(namespace, tenant, need);
          // The ensure is itself bounded by the credential deadline from its start (now, or earlier when joined), so
          // the budget needs its own timer only when less than that is left.
          outcomes.set(need.name, await (budget.remainingMs() >= this.#options.deadlineMs ? ensuring : budget.wait(ensuring, 'pull secret', this.#options.deadlineMs)));
        } catch (error) {
          failures.push(describe(error, tenant.name, need));
        }
      }),
    );
    return { outcomes, failures };
  }

  #ensure(namespace: string, tenant: CompiledTenant, need: PullSecretNeed): Promise<EnsureOutcome> {
    const key = JSON.stringify([namespace, need.name, tenant.name, need.hosts]);
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    // Shared for at most the credential deadline: a call that never answers (a Secret write to a wedged API server)
    // must not hold every later admission for this Secret to the same dead promise once the API server is back.
    const started = withDeadline(this.#ensureNow(namespace, tenant, need), this.#options.deadlineMs, 'pull secret').finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, started);
    return started;
  }

  #ensureNow(namespace: string, tenant: CompiledTenant, need: PullSecretNeed): Promise<EnsureOutcome> {
    const now = this.#options.now();
    const request = tokenRequest(tenant, need.roleArn, need, this.#options.sessionSeconds);
    return this.#options.writer.ensure({
      spec: this.#spec(namespace, tenant, need),
      now: new Date(now),
      freshUntil: new Date(now + this.#options.freshForMs),
      token: () => this.#options.tokens.get(request),
    });
  }

  #spec(namespace: string, tenant: CompiledTenant, need: PullSecretNeed): PullSecretSpec {
    return { name: need.name, namespace, tenant: tenant.name, credential: this.#credentialOf(tenant, need), hosts: need.hosts };
  }

  #credentialOf(tenant: CompiledTenant, need: PullSecretNeed): string {
    let digests = this.#digests.get(tenant);
    if (digests === undefined) this.#digests.set(tenant, (digests = new Map()));
    const key = `${need.roleArn}\n${need.account}\n${need.region}`;
    let digest = digests.get(key);
    if (digest === undefined) digests.set(key, (digest = credentialDigest(tokenRequest(tenant, need.roleArn, need, this.#options.sessionSeconds))));
    return digest;
  }
}

/** The token request for a tenant's grant on one registry: the one place a credential's identity is put together. */
export function tokenRequest(tenant: CompiledTenant, roleArn: string, registry: { readonly account: string; readonly region: string }, sessionSeconds: number): TokenRequest {
  return { tenant: tenant.name, roleArn, externalId: tenant.externalId, sessionTags: tenant.sessionTags, durationSeconds: sessionSeconds, registry: { account: registry.account, region: registry.region } };
}
