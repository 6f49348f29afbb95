import type { Logger } from 'pino';
import type { ManagedSecretStore } from '../kube/secret-store.ts';
import { TENANT_LABEL } from '../labels.ts';
import type { CompiledPolicy, CompiledTenant } from '../policy/compile.ts';
import type { PolicySource } from '../policy/policy-source.ts';
import { expiryOf, hostsOf, type SecretObject } from './pull-secret.ts';
import type { PullSecretWriter } from './pull-secret-writer.ts';
import type { TokenProvider } from './pull-secret-provisioner.ts';

/**
 * Keeps every managed pull Secret working between admissions, so a pod rescheduled long after it was admitted
 * still pulls: on the elected replica only, every `everyMs` it renews the Secrets that expire within
 * `renewWithinMs`, and deletes those whose tenant, or whose grant for that registry, is gone from the policy.
 * A Secret that cannot be renewed is left as it is (never replaced by a worse one) and tried again next round.
 */
export interface RefresherOptions {
  readonly store: ManagedSecretStore;
  readonly writer: PullSecretWriter;
  readonly tokens: TokenProvider;
  readonly policy: PolicySource;
  readonly isLeader: () => boolean;
  readonly everyMs: number;
  readonly renewWithinMs: number;
  readonly now: () => number;
  readonly log: Logger;
}

export interface RoundResult {
  readonly renewed: number;
  readonly deleted: number;
  readonly failed: number;
  readonly kept: number;
}

const NAME = /^ecr-pull-(\d{12})-([a-z0-9-]+)$/;

/** The role that mints this Secret under the current policy, or why it should not exist any more. */
export type Owner = { readonly roleArn: string; readonly tenant: CompiledTenant; readonly registry: { readonly account: string; readonly region: string } } | { readonly gone: string };

export function ownerOf(secret: SecretObject, policy: CompiledPolicy): Owner {
  const tenantName = secret.metadata?.labels?.[TENANT_LABEL] ?? '';
  const tenant = policy.tenants.get(tenantName);
  if (tenant === undefined) return { gone: `tenant "${tenantName}" is not in the policy` };
  const [, account, region] = NAME.exec(secret.metadata?.name ?? '') ?? [];
  for (const grants of tenant.grantsByRegistry.values()) {
    const grant = grants.find((g) => g.registry.account === account && g.registry.region === region);
    if (grant !== undefined) return { roleArn: grant.roleArn, tenant, registry: { account: grant.registry.account, region: grant.registry.region } };
  }
  return { gone: `tenant "${tenantName}" has no grant for ${account ?? '?'} in ${region ?? '?'}` };
}

export class Refresher {
  readonly #options: RefresherOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: RefresherOptions) {
    this.#options = options;
  }

  start(): void {
    const loop = async () => {
      if (this.#options.isLeader()) await this.runOnce();
      if (!this.#stopped) this.#timer = setTimeout(loop, this.#options.everyMs);
    };
    this.#timer = setTimeout(loop, this.#options.everyMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One pass over every managed Secret. Never throws: a failure is counted, logged, and retried next round. */
  async runOnce(): Promise<RoundResult> {
    const result = { renewed: 0, deleted: 0, failed: 0, kept: 0 };
    let secrets: SecretObject[];
    try {
      secrets = await this.#options.store.listManaged();
    } catch (error) {
      this.#options.log.warn({ err: (error as Error).message }, 'refresher could not list the pull secrets');
      return { ...result, failed: 1 };
    }
    const policy = this.#options.policy.current();
    for (const secret of secrets) result[await this.#visit(secret, policy)]++;
    this.#options.log.info(result, 'pull secrets refreshed');
    return result;
  }

  async #visit(secret: SecretObject, policy: CompiledPolicy): Promise<keyof RoundResult> {
    const { store, writer, tokens, now, renewWithinMs, log } = this.#options;
    const namespace = secret.metadata?.namespace as string;
    const name = secret.metadata?.name as string;
    const owner = ownerOf(secret, policy);
    try {
      if ('gone' in owner) {
        await store.delete(namespace, name, secret.metadata?.resourceVersion as string);
        log.info({ namespace, secret: name, why: owner.gone }, 'pull secret deleted');
        return 'deleted';
      }
      const expiry = expiryOf(secret)?.getTime() ?? 0;
      if (expiry > now() + renewWithinMs) return 'kept';
      const { tenant, roleArn, registry } = owner;
      const outcome = await writer.ensure({
        spec: { name, namespace, tenant: tenant.name, hosts: hostsOf(secret) },
        now: new Date(now()),
        freshUntil: new Date(now() + renewWithinMs),
        token: () => tokens.get({ tenant: tenant.name, roleArn, externalId: tenant.externalId, sessionTags: tenant.sessionTags, registry }),
      });
      if (outcome === 'kept-after-failure') throw new Error('no new token could be had');
      return outcome === 'updated' ? 'renewed' : 'kept';
    } catch (error) {
      log.warn({ namespace, secret: name, err: (error as Error).message }, 'pull secret not renewed; kept as it is');
      return 'failed';
    }
  }
}
