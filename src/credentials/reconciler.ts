import type { Logger } from 'pino';
import { withDeadline } from '../deadline.ts';
import type { Labels, NamespaceDirectory } from '../kube/namespace-directory.ts';
import { eachLimited } from '../limited.ts';
import type { ManagedSecretStore } from '../kube/secret-store.ts';
import { TENANT_LABEL } from '../labels.ts';
import type { CompiledGrant, CompiledPolicy, CompiledTenant } from '../policy/compile.ts';
import type { PolicySource } from '../policy/policy-source.ts';
import { hostsOfRegistry, registryOfName, type SealChecker, type Sealer, type StoredPullSecret } from './pull-secret.ts';
import { tokenRequest, type TokenProvider } from './pull-secret-provisioner.ts';
import { credentialFields } from './registry-token.ts';
import type { PullSecretWriter } from './pull-secret-writer.ts';
import { credentialDigest } from './provenance.ts';

/**
 * Keeps pull Secrets what namespaces × the policy say they should be, on the elected replica, every `everyMs`.
 * A Secret serves the current tenant of its namespace, read from the namespace directory (the guarded label);
 * which tenant and credential it holds is read from its provenance seal (provenance.ts); its own labels prove
 * nothing. Admission creates Secrets when a pod needs one; the reconciler keeps them right between admissions.
 *
 * | namespace (directory)   | Secret's seal                        | tenant's grant for the registry | action            |
 * |-------------------------|--------------------------------------|---------------------------------|-------------------|
 * | not in the directory    | any                                  | -                               | ignore (not yet   |
 * |                         |                                      |                                 |   seen, or gone)  |
 * | no tenant label         | proves tenant A                      | -                               | delete at once    |
 * | tenant B                | proves tenant A ≠ B (relabelled)     | B has one                       | rewrite for B now |
 * | tenant B                | proves tenant A ≠ B                  | B has none                      | delete at once    |
 * | tenant T                | proves T, another credential         | T has one                       | rewrite now       |
 * | tenant T                | proves T                             | T has one, Secret expiring      | renew             |
 * | tenant T                | proves T                             | T has one, Secret fresh         | keep              |
 * | tenant T                | proves T                             | T gone from policy, or no grant | delete after the  |
 * |                         |                                      |                                 |   grace period    |
 * | tenant T                | none or not verifying, label says T  | T has one                       | rewrite for T     |
 * |                         |   (written before seals existed)     |                                 |   (sealed)        |
 * | anything else           | none or not verifying                | -                               | leave alone: not  |
 * |                         |                                      |                                 |   provably ours   |
 *
 * So a token minted with a tenant's role is only ever written into a namespace whose current tenant is that
 * tenant, for a registry that tenant is granted; a Secret anybody forged gets nothing it did not already have.
 *
 * Deletions the policy causes (a tenant or grant gone) wait until the change has held for `deletionGraceMs`, so a
 * policy replaced by mistake (an upgrade that re-applies a starter policy) is noticed before it costs every pull
 * Secret; at most `maxDeletionsPerRound` Secrets are deleted per round, those the namespace causes first. Every
 * API and AWS call has a deadline, work runs `concurrency` at a time, and a round stops starting work after
 * `roundBudgetMs`, most urgent first, so one hung call never stops renewals; `healthy()` says whether rounds still
 * complete, for the Lease to be given up when they do not.
 */
export interface ReconcilerOptions {
  readonly store: ManagedSecretStore;
  readonly writer: PullSecretWriter;
  readonly tokens: TokenProvider;
  readonly policy: PolicySource;
  readonly namespaces: NamespaceDirectory;
  /** The sealer once the provenance key is loaded; until then no round runs. */
  readonly seals: () => Sealer | undefined;
  readonly isLeader: () => boolean;
  /**
   * Called on each tick this replica does not lead: what it reported while it led (the figures only the leader
   * keeps, e.g. pull Secret expiry) is cleared, so a former leader's stale figures raise no alert.
   */
  readonly following: () => void;
  readonly everyMs: number;
  readonly renewWithinMs: number;
  readonly deletionGraceMs: number;
  readonly maxDeletionsPerRound: number;
  readonly concurrency: number;
  /** Deadline of one Secret's work: a read, a mint and a write, or a delete. */
  readonly operationDeadlineMs: number;
  /** A round starts no new work after this long. */
  readonly roundBudgetMs: number;
  readonly sessionSeconds: number;
  readonly now: () => number;
  readonly log: Logger;
  readonly report?: ((round: RoundReport) => void) | undefined;
}

export type SecretPlan =
  | { readonly action: 'ignore'; readonly why: string }
  | { readonly action: 'keep' }
  | { readonly action: 'unverified'; readonly why: string }
  | { readonly action: 'write'; readonly kind: 'renew' | 'rewrite'; readonly tenant: CompiledTenant; readonly grant: CompiledGrant; readonly hosts: readonly string[]; readonly why: string }
  | { readonly action: 'delete'; readonly cause: 'namespace' | 'policy'; readonly why: string; readonly writtenFor: string };

export interface PlanContext {
  readonly namespaces: ReadonlyMap<string, Labels>;
  readonly policy: CompiledPolicy;
  readonly seals: SealChecker;
  readonly now: number;
  readonly renewWithinMs: number;
  readonly sessionSeconds: number;
}

function grantFor(tenant: CompiledTenant | undefined, registry: { readonly account: string; readonly region: string }): CompiledGrant | undefined {
  for (const grants of tenant?.grantsByRegistry.values() ?? []) {
    const grant = grants.find((g) => g.registry.account === registry.account && g.registry.region === registry.region);
    if (grant !== undefined) return grant;
  }
  return undefined;
}

/** What one managed-labelled Secret should become (pure). */
export function planSecret(stored: StoredPullSecret, context: PlanContext): SecretPlan {
  const registry = registryOfName(stored.name);
  if (registry === undefined) return { action: 'ignore', why: 'not a name the webhook writes' };
  const labels = context.namespaces.get(stored.namespace);
  if (labels === undefined) return { action: 'ignore', why: 'namespace not in the directory' };
  const current = labels[TENANT_LABEL];
  const origin = context.seals.originOf(stored);
  const tenant = current === undefined ? undefined : context.policy.tenants.get(current);
  const grant = grantFor(tenant, registry);
  const write = (kind: 'renew' | 'rewrite', why: string): SecretPlan => {
    const hosts = [...new Set([...hostsOfRegistry(stored.hosts, registry), (grant as CompiledGrant).registry.host])].sort();
    return { action: 'write', kind, tenant: tenant as CompiledTenant, grant: grant as CompiledGrant, hosts, why };
  };
  if (origin === undefined) {
    if (current !== undefined && stored.tenantLabel === current && grant !== undefined) return write('rewrite', `not sealed; rewritten for tenant "${current}"`);
    return { action: 'unverified', why: 'no valid provenance seal: not provably written by the webhook, left alone' };
  }
  const writtenFor = origin.tenant;
  if (current === undefined) return { action: 'delete', cause: 'namespace', why: `namespace has no tenant any more (written for "${writtenFor}")`, writtenFor };
  if (writtenFor !== current) {
    if (grant !== undefined) return write('rewrite', `namespace moved from tenant "${writtenFor}" to "${current}"`);
    return { action: 'delete', cause: 'namespace', why: `namespace moved from tenant "${writtenFor}" to "${current}", which has no grant for ${registry.account} in ${registry.region}`, writtenFor };
  }
  if (tenant === undefined) return { action: 'delete', cause: 'policy', why: `tenant "${current}" is not in the policy`, writtenFor };
  if (grant === undefined) return { action: 'delete', cause: 'policy', why: `tenant "${current}" has no grant for ${registry.account} in ${registry.region}`, writtenFor };
  if (origin.credential !== credentialDigest(tokenRequest(tenant, grant.roleArn, registry, context.sessionSeconds))) return write('rewrite', `the policy changed tenant "${current}"'s credentials for this registry`);
  if (stored.expiresAt === undefined || stored.expiresAt <= context.now + context.renewWithinMs) return write('renew', 'expires within the renewal window');
  return { action: 'keep' };
}

export interface RoundReport {
  readonly completed: boolean;
  readonly durationMs: number;
  readonly renewed: number;
  readonly rewritten: number;
  readonly deleted: number;
  readonly failed: number;
  readonly kept: number;
  readonly unverified: number;
  /** Policy deletions waiting for the grace period or for a later round's deletion budget. */
  readonly pendingDeletions: number;
  /** Renewal or rewrite failures by tenant. */
  readonly failuresByTenant: ReadonlyMap<string, number>;
  /** Earliest expiry (ms) of the Secrets proven to serve each tenant, as the round found them. */
  readonly earliestExpiryByTenant: ReadonlyMap<string, number>;
}

/** What working on one Secret came to. */
type Outcome = 'renewed' | 'rewritten' | 'deleted' | 'kept' | 'failed';

type Work = { readonly stored: StoredPullSecret; readonly plan: Extract<SecretPlan, { action: 'write' | 'delete' }> };

/** Deletions the namespace causes first, then the writes most urgent first, then the policy's deletions. */
function urgency(work: Work): number {
  if (work.plan.action === 'delete') return work.plan.cause === 'namespace' ? -2 : Number.MAX_SAFE_INTEGER;
  // A Secret up for renewal is sealed, and a seal covers an expiry.
  return work.plan.kind === 'rewrite' ? -1 : (work.stored.expiresAt as number);
}

export class Reconciler {
  readonly #options: ReconcilerOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** When each Secret was first seen orphaned by the policy: deleted once that has held for the grace period. */
  readonly #orphanedSince = new Map<string, number>();
  #lastCompleted: number;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#lastCompleted = options.now();
  }

  start(): void {
    const loop = async () => {
      if (this.#options.isLeader()) await this.runOnce();
      else {
        this.#lastCompleted = this.#options.now();
        this.#options.following();
      }
      if (!this.#stopped) this.#timer = setTimeout(loop, this.#options.everyMs);
    };
    this.#timer = setTimeout(loop, this.#options.everyMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * False when no round has completed for three intervals plus a round's budget and an operation's deadline: the
   * leader's work is stuck, and it should let another replica lead.
   */
  healthy(): boolean {
    const { everyMs, roundBudgetMs, operationDeadlineMs } = this.#options;
    return this.#options.now() - this.#lastCompleted <= 3 * everyMs + roundBudgetMs + operationDeadlineMs;
  }

  /** One round. Never throws: failures are counted, logged, and retried next round. */
  async runOnce(): Promise<RoundReport> {
    const { store, namespaces, policy, seals, now, log } = this.#options;
    const started = now();
    const counts = { renewed: 0, rewritten: 0, deleted: 0, failed: 0, kept: 0, unverified: 0, pendingDeletions: 0 };
    const failuresByTenant = new Map<string, number>();
    const sealer = seals();
    const snapshot = namespaces.snapshot();
    let secrets: StoredPullSecret[] | undefined;
    let why: string | undefined;
    if (sealer === undefined) why = 'the provenance key is not loaded yet';
    else if (snapshot === undefined) why = 'the namespace directory is not ready';
    else {
      try {
        secrets = await store.listManaged();
      } catch (error) {
        why = (error as Error).message;
      }
    }
    if (secrets === undefined || sealer === undefined || snapshot === undefined) {
      log.warn({ why }, 'pull secret round skipped');
      return this.#finish({ completed: false, started, counts, failuresByTenant, earliest: new Map() });
    }
    const context: PlanContext = { namespaces: snapshot, policy: policy.current(), seals: sealer, now: started, renewWithinMs: this.#options.renewWithinMs, sessionSeconds: this.#options.sessionSeconds };
    const work: Work[] = [];
    const orphaned = new Set<string>();
    for (const stored of secrets) {
      const plan = planSecret(stored, context);
      if (plan.action === 'keep') counts.kept++;
      else if (plan.action === 'unverified') counts.unverified++;
      else if (plan.action === 'delete' && plan.cause === 'policy') {
        const key = `${stored.namespace}/${stored.name}`;
        orphaned.add(key);
        const since = this.#orphanedSince.get(key) ?? started;
        this.#orphanedSince.set(key, since);
        if (started - since >= this.#options.deletionGraceMs) work.push({ stored, plan });
        else counts.pendingDeletions++;
      } else if (plan.action !== 'ignore') work.push({ stored, plan });
    }
    for (const key of this.#orphanedSince.keys()) if (!orphaned.has(key)) this.#orphanedSince.delete(key);
    work.sort((a, b) => urgency(a) - urgency(b));
    const graceWaiting = counts.pendingDeletions;
    let deletionBudget = this.#options.maxDeletionsPerRound;
    let deferred = 0;
    const queue = work.filter((item) => {
      if (item.plan.action !== 'delete') return true;
      if (deletionBudget > 0) return deletionBudget-- > 0;
      deferred++;
      return false;
    });
    counts.pendingDeletions += deferred;
    const unstarted = await this.#drain(queue, started, counts, failuresByTenant);
    if (graceWaiting > 0) {
      log.warn({ pending: graceWaiting, graceMs: this.#options.deletionGraceMs }, 'pull secrets the policy no longer grants wait before deletion: check the policy if this is not meant');
    }
    if (deferred > 0) log.warn({ deferred, perRound: this.#options.maxDeletionsPerRound }, 'pull secret deletions over the per-round bound wait for the next round');
    if (unstarted > 0) log.warn({ unstarted, budgetMs: this.#options.roundBudgetMs }, 'pull secret round ran out of time; the rest waits for the next round');
    // As the round found them: the watch delivers this round's writes a moment later, and the next round counts them.
    // Secrets waiting to be deleted are not renewed, so their expiry is no sign of a renewal falling behind.
    const serving = secrets.filter((stored) => !orphaned.has(`${stored.namespace}/${stored.name}`));
    return this.#finish({ completed: true, started, counts, failuresByTenant, earliest: earliestExpiry(serving, context) });
  }

  /** Runs the work `concurrency` at a time until done or out of budget; returns how many items never started. */
  async #drain(queue: Work[], started: number, counts: Record<Outcome, number>, failuresByTenant: Map<string, number>): Promise<number> {
    const { concurrency, roundBudgetMs, now } = this.#options;
    const apply = async (item: Work) => {
      const result = await this.#apply(item);
      counts[result]++;
      if (result === 'failed' && item.plan.action === 'write') failuresByTenant.set(item.plan.tenant.name, (failuresByTenant.get(item.plan.tenant.name) ?? 0) + 1);
    };
    return eachLimited(queue, concurrency, apply, () => now() - started < roundBudgetMs);
  }

  async #apply({ stored, plan }: Work): Promise<Outcome> {
    const { store, writer, tokens, now, renewWithinMs, operationDeadlineMs, sessionSeconds, log } = this.#options;
    const { namespace, name } = stored;
    try {
      if (plan.action === 'delete') {
        if (plan.cause === 'namespace' && !(await this.#stillMoved(namespace, plan.writtenFor))) return 'kept';
        await withDeadline(store.delete(namespace, name, stored.resourceVersion), operationDeadlineMs, `deleting Secret ${namespace}/${name}`);
        this.#orphanedSince.delete(`${namespace}/${name}`);
        log.info({ namespace, secret: name, why: plan.why }, 'pull secret deleted');
        return 'deleted';
      }
      const { tenant, grant, hosts } = plan;
      const registry = registryOfName(name) as { account: string; region: string };
      const request = tokenRequest(tenant, grant.roleArn, registry, sessionSeconds);
      const outcome = await withDeadline(
        writer.ensure({
          spec: { name, namespace, tenant: tenant.name, credential: credentialDigest(request), hosts },
          now: new Date(now()),
          freshUntil: new Date(now() + renewWithinMs),
          token: () => tokens.get(request),
        }),
        operationDeadlineMs,
        `renewing Secret ${namespace}/${name}`,
      );
      if (outcome === 'kept-after-failure') throw new Error('no new token could be had');
      if (outcome !== 'updated' && outcome !== 'created') return 'kept';
      log.info({ namespace, secret: name, ...credentialFields(request), why: plan.why }, plan.kind === 'renew' ? 'pull secret renewed' : 'pull secret rewritten');
      return plan.kind === 'renew' ? 'renewed' : 'rewritten';
    } catch (error) {
      const credential = plan.action === 'write' ? credentialFields({ tenant: plan.tenant.name, roleArn: plan.grant.roleArn, registry: registryOfName(name) as { account: string; region: string } }) : {};
      log.warn({ namespace, secret: name, ...credential, err: (error as Error).message }, 'pull secret not renewed; kept as it is');
      return 'failed';
    }
  }

  /**
   * The namespace, read from the API server now, no longer belongs to the tenant the Secret was written for: a
   * cache that has not seen a label added yet must not cost that tenant its Secret.
   */
  async #stillMoved(namespace: string, writtenFor: string): Promise<boolean> {
    const labels = await withDeadline(this.#options.namespaces.fresh(namespace), this.#options.operationDeadlineMs, `reading namespace ${namespace}`);
    return labels?.[TENANT_LABEL] !== writtenFor;
  }

  #finish(round: { completed: boolean; started: number; counts: Omit<RoundReport, 'completed' | 'durationMs' | 'failuresByTenant' | 'earliestExpiryByTenant'>; failuresByTenant: Map<string, number>; earliest: Map<string, number> }): RoundReport {
    const finished = this.#options.now();
    if (round.completed) this.#lastCompleted = finished;
    const report: RoundReport = { completed: round.completed, durationMs: finished - round.started, ...round.counts, failuresByTenant: round.failuresByTenant, earliestExpiryByTenant: round.earliest };
    if (round.completed) this.#options.log.info({ ...round.counts, durationMs: report.durationMs }, 'pull secrets refreshed');
    this.#options.report?.(report);
    return report;
  }
}

/** Per tenant, the earliest expiry among the Secrets proven to serve that tenant in its own namespaces. */
function earliestExpiry(secrets: readonly StoredPullSecret[], context: PlanContext): Map<string, number> {
  const earliest = new Map<string, number>();
  for (const stored of secrets) {
    const tenant = context.namespaces.get(stored.namespace)?.[TENANT_LABEL];
    const origin = context.seals.originOf(stored);
    if (tenant === undefined || origin?.tenant !== tenant || stored.expiresAt === undefined) continue;
    earliest.set(tenant, Math.min(earliest.get(tenant) ?? Number.POSITIVE_INFINITY, stored.expiresAt));
  }
  return earliest;
}
