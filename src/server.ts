import type { KubeConfig } from '@kubernetes/client-node';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { credentialChain } from './aws/credential-chain.ts';
import { PullSecretProvisioner } from './credentials/pull-secret-provisioner.ts';
import { PullSecretWriter } from './credentials/pull-secret-writer.ts';
import { Reconciler, type RoundReport } from './credentials/reconciler.ts';
import { KubeProvenanceKeyStore, ProvenanceKeyring } from './kube/provenance-key.ts';
import type { NamespaceDirectory } from './kube/namespace-directory.ts';
import { TENANT_LABEL } from './labels.ts';
import type { CompiledPolicy } from './policy/compile.ts';
import { withDeadline } from './deadline.ts';
import { FindingReporter, type Finding, type ReportOutcome } from './events/finding-reporter.ts';
import { KubeEventSink } from './kube/event-sink.ts';
import { LeaseElector } from './kube/lease-elector.ts';
import { KubeSecretStore } from './kube/secret-store.ts';
import { WatchedSecretStore } from './kube/watched-secret-store.ts';
import { CountedSecretStore } from './kube/counted-secret-store.ts';
import type { PolicySource } from './policy/policy-source.ts';
import { buildApp, DEFAULT_BODY_LIMIT_BYTES } from './app.ts';
import { InformerNamespaceDirectory } from './kube/informer-namespace-directory.ts';
import { loadKubeConfig, type KubeConfigSource } from './kube/kube-config.ts';
import { listenOn } from './listen.ts';
import { buildMetricsApp } from './metrics-app.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { PolicyReloader } from './policy/policy-reloader.ts';
import { readTlsPair, TLS_MIN_VERSION, watchTlsPair } from './tls/tls-reloader.ts';

/** Starts the webhook process from a validated, frozen configuration: the real adapters wired to the app. */
export interface ServeConfig {
  readonly policyPath: string;
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  /** Undefined: `::` (IPv6 and IPv4), or 0.0.0.0 on a host without IPv6 (listen.ts). */
  readonly address: string | undefined;
  /** 0 lets the system pick a free port (tests); the port in use is logged and returned. */
  readonly port: number;
  readonly metricsPort: number;
  readonly kube: KubeConfigSource;
  /** How long /readyz fails before the listener closes, so endpoints stop routing here first. */
  readonly shutdownDelayMs: number;
  /** Poll interval of the policy and certificate files, on top of the directory watches. */
  readonly filePollMs: number;
  /** STS DurationSeconds for tenant roles. */
  readonly awsSessionSeconds: number;
  /** Time an admission may spend on its pull secrets (minting included). */
  readonly credentialDeadlineMs: number;
  /** One admission's budget for its namespace lookup and pull secrets together. */
  readonly admissionDeadlineMs: number;
  /** Fraction of a token's trusted life after which the cache refreshes it. */
  readonly tokenRefreshFraction: number;
  /** How long ECR answers that can change (a tag's digest, a repository's tags) are trusted. */
  readonly registryCacheMs: number;
  /** ECR reads one tenant starts a second with each credential at admission (ten seconds' worth at once). */
  readonly registryReadsPerSecond: number;
  readonly refresher: {
    readonly leaseNamespace: string;
    readonly identity: string;
    readonly intervalMs: number;
    readonly leaseDurationMs: number;
    /** How long a deletion the policy causes waits, so that a policy replaced by mistake costs no Secret. */
    readonly deletionGraceMs: number;
    readonly maxDeletionsPerRound: number;
  };
}

export interface RunningServer {
  readonly port: number;
  readonly metricsPort: number;
  /** Stops taking new work, finishes requests in flight, then releases everything. Safe to call twice. */
  shutdown(reason: string): Promise<void>;
}

const FILE_DEBOUNCE_MS = 200;
/** Well under the shortest webhook timeout (manifests use 5 s), leaving the decision time to spare. */
const NAMESPACE_MISS_TIMEOUT_MS = 2_000;
/** A pull secret valid for less than this is renewed at admission: a pod admitted now pulls within minutes. */
export const PULL_SECRET_FRESH_FOR_MS = 15 * 60 * 1000;
/** The refresher renews Secrets this close to expiry: half an ECR token's 12 hours, as the token cache refreshes. */
const REFRESH_WITHIN_MS = 6 * 60 * 60 * 1000;
const LEASE_NAME = 'ecr-tenant-webhook-refresher';
/**
 * The reconciler's pace: four Secrets at a time, each (read, mint, write) given 10 s, a round starting no new work
 * after twice the interval or 30 s, whichever is longer; reading the provenance key gets 5 s a try, and the key is
 * read again every minute.
 */
export const RECONCILER = { concurrency: 4, operationDeadlineMs: 10_000, minRoundBudgetMs: 30_000, keyDeadlineMs: 5000, keyRefreshMs: 60_000, keyBackoff: { initialMs: 500, maxMs: 30_000 } };

/** Namespaces labelled for a tenant the policy does not have; 0 while the directory is not ready. */
export function orphanedNamespaces(namespaces: NamespaceDirectory, policy: CompiledPolicy): number {
  let count = 0;
  for (const labels of namespaces.snapshot()?.values() ?? []) {
    const tenant = labels[TENANT_LABEL];
    if (tenant !== undefined && !policy.tenants.has(tenant)) count++;
  }
  return count;
}

/** After a reload: a policy that leaves labelled namespaces without their tenant is said out loud, with the count. */
export function warnOfOrphans(namespaces: NamespaceDirectory, policy: CompiledPolicy, log: Logger): void {
  const orphaned = orphanedNamespaces(namespaces, policy);
  if (orphaned > 0) log.warn({ orphaned }, 'the policy now in force has no tenant for some labelled namespaces: their pods are refused or warned, and their pull Secrets are deleted after the grace period');
}

/** A replica that does not lead keeps none of the leader's figures: a former leader's would go stale. */
export function clearLeaderFigures(metrics: Metrics): void {
  metrics.pullSecretEarliestExpiry.reset();
  metrics.pullSecretsPendingDeletion.set(0);
  metrics.pullSecretsUnverified.set(0);
}

/** A completed round's figures as metrics; the earliest-expiry gauge is rebuilt so departed tenants disappear. */
export function reportRound(round: RoundReport, metrics: Metrics, now: number): void {
  if (!round.completed) return;
  metrics.pullSecretsPendingDeletion.set(round.pendingDeletions);
  metrics.refresherLastSuccess.set(now / 1000);
  metrics.refresherRoundSeconds.observe(round.durationMs / 1000);
  for (const result of ['renewed', 'rewritten', 'deleted', 'failed'] as const) if (round[result] > 0) metrics.refresherSecrets.inc({ result }, round[result]);
  for (const [tenant, failures] of round.failuresByTenant) metrics.refresherFailures.inc({ tenant }, failures);
  metrics.pullSecretsUnverified.set(round.unverified);
  metrics.pullSecretEarliestExpiry.reset();
  for (const [tenant, expiry] of round.earliestExpiryByTenant) metrics.pullSecretEarliestExpiry.set({ tenant }, expiry / 1000);
}
/**
 * WouldDeny Events: one per owner and message per 10 minutes (the repeats counted into the next), at most 5 a
 * second after a burst of 20, 200 waiting at most; on shutdown what is queued gets 2 seconds to go out.
 */
export const FINDINGS = { dedupeWindowMs: 10 * 60 * 1000, ratePerSecond: 5, burst: 20, maxQueue: 200, maxKeys: 10_000, drainMs: 2000 };

/**
 * The real pull-secret chain: AWS STS + ECR, the token cache, Secrets through the API server (watched, metadata
 * only), the provenance key, and the reconciler under the Lease.
 */
function pullSecretChain(config: ServeConfig, kubeConfig: KubeConfig, policy: PolicySource, namespaces: NamespaceDirectory, log: Logger, metrics: Metrics) {
  const { tokens, registry, destroy } = credentialChain({
    sessionSeconds: config.awsSessionSeconds,
    refreshFraction: config.tokenRefreshFraction,
    deadlineMs: config.credentialDeadlineMs,
    registryCacheMs: config.registryCacheMs,
    registryReadsPerSecond: config.registryReadsPerSecond,
    metrics,
    log,
  });
  const watched = new WatchedSecretStore(new KubeSecretStore(kubeConfig), kubeConfig, log);
  void watched.start();
  const store = new CountedSecretStore(watched, metrics);
  const { leaseNamespace, identity, intervalMs, leaseDurationMs, deletionGraceMs, maxDeletionsPerRound } = config.refresher;
  const key = new ProvenanceKeyring({ store: new KubeProvenanceKeyStore(kubeConfig, leaseNamespace, RECONCILER.keyDeadlineMs), log, refreshMs: RECONCILER.keyRefreshMs, backoff: RECONCILER.keyBackoff });
  key.start();
  const writer = new PullSecretWriter(store, () => key, async (namespace) => (await namespaces.fresh(namespace))?.[TENANT_LABEL]);
  const provisioner = new PullSecretProvisioner({ writer, tokens, freshForMs: PULL_SECRET_FRESH_FOR_MS, deadlineMs: config.credentialDeadlineMs, sessionSeconds: config.awsSessionSeconds, now: Date.now, ready: () => key.sealer() !== undefined });
  const elector = new LeaseElector({
    kubeConfig,
    namespace: leaseNamespace,
    name: LEASE_NAME,
    identity,
    leaseDurationMs,
    renewEveryMs: Math.round(leaseDurationMs / 3),
    callDeadlineMs: Math.round(leaseDurationMs / 3),
    healthy: () => reconciler.healthy(),
    log,
    now: Date.now,
  });
  const reconciler = new Reconciler({
    store,
    writer,
    tokens,
    policy,
    namespaces,
    seals: () => key.sealer(),
    isLeader: () => elector.isLeader(),
    following: () => clearLeaderFigures(metrics),
    everyMs: intervalMs,
    renewWithinMs: REFRESH_WITHIN_MS,
    deletionGraceMs,
    maxDeletionsPerRound,
    concurrency: RECONCILER.concurrency,
    operationDeadlineMs: RECONCILER.operationDeadlineMs,
    roundBudgetMs: Math.max(2 * intervalMs, RECONCILER.minRoundBudgetMs),
    sessionSeconds: config.awsSessionSeconds,
    now: Date.now,
    log,
    report: (round) => reportRound(round, metrics, Date.now()),
  });
  elector.start();
  reconciler.start();
  const release = async () => {
    reconciler.stop();
    key.stop();
    await elector.stop();
    await watched.stop();
    destroy();
  };
  return { provisioner, registry, release };
}

/** Every finding's fate is counted; one the API server refused is logged with its reason (and never retried). */
export function reportFindingOutcome(outcome: ReportOutcome, finding: Finding, error: Error | undefined, log: Logger, metrics: Metrics): void {
  metrics.findingEvents.inc({ result: outcome });
  const regarding = `${finding.regarding.kind}/${finding.regarding.name}`;
  if (outcome === 'failed') log.warn({ namespace: finding.namespace, regarding, err: error?.message }, `${finding.reason} Event not written`);
  else if (outcome === 'dropped') log.debug({ namespace: finding.namespace, regarding }, `${finding.reason} Event dropped: queue full`);
}

/** Dry-run findings as Events through the API server. */
function findingEvents(kubeConfig: KubeConfig, identity: string, log: Logger, metrics: Metrics) {
  const reporter = new FindingReporter({
    sink: new KubeEventSink(kubeConfig, identity),
    now: Date.now,
    ...FINDINGS,
    onOutcome: (outcome, finding, error) => reportFindingOutcome(outcome, finding, error, log, metrics),
  });
  const release = async () => {
    reporter.stop();
    await withDeadline(reporter.drain(), FINDINGS.drainMs, 'sending queued Events').catch(() => undefined);
  };
  return { reporter, release };
}

function portOf(server: { address(): unknown }): number {
  return (server.address() as { port: number }).port;
}

export async function startServer(config: ServeConfig, log: Logger): Promise<RunningServer> {
  const metrics = createMetrics({ processMetrics: true });
  const watch = { pollMs: config.filePollMs, debounceMs: FILE_DEBOUNCE_MS };
  const policy = await PolicyReloader.open({ path: config.policyPath, log, metrics, ...watch });
  const cleanup: (() => Promise<void> | void)[] = [() => policy.stop()];
  try {
    const tls = await readTlsPair(config.tlsCertPath, config.tlsKeyPath);
    const kubeConfig = loadKubeConfig(config.kube);
    const namespaces = new InformerNamespaceDirectory({
      kubeConfig,
      log,
      metrics,
      missTimeoutMs: NAMESPACE_MISS_TIMEOUT_MS,
      maxConcurrentMisses: 32,
      listPageSize: 500,
      restartBackoff: { initialMs: 500, maxMs: 30_000 },
    });
    cleanup.push(() => namespaces.stop());
    void namespaces.start();
    metrics.measureOrphanedNamespaces(() => orphanedNamespaces(namespaces, policy.current()));
    policy.onReload((loaded) => warnOfOrphans(namespaces, loaded, log));

    const pullSecrets = pullSecretChain(config, kubeConfig, policy, namespaces, log, metrics);
    cleanup.push(pullSecrets.release);
    const findings = findingEvents(kubeConfig, config.refresher.identity, log, metrics);
    cleanup.push(findings.release);

    let draining = false;
    const app = buildApp({ tls, bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES, admissionDeadlineMs: config.admissionDeadlineMs }, { policy, namespaces, log, metrics, draining: () => draining, pullSecrets: pullSecrets.provisioner, findings: findings.reporter, registry: pullSecrets.registry });
    const address = await listenOn((host) => app.listen({ host, port: config.port }), config.address, log);
    cleanup.push(() => app.close());
    const server = app.server as unknown as HttpsServer;
    const tlsWatcher = watchTlsPair(tls, {
      certPath: config.tlsCertPath,
      keyPath: config.tlsKeyPath,
      install: (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: TLS_MIN_VERSION }),
      log,
      metrics,
      ...watch,
    });
    cleanup.push(() => tlsWatcher.stop());

    const metricsApp = buildMetricsApp(metrics, log);
    await metricsApp.listen({ host: address, port: config.metricsPort });
    cleanup.push(() => metricsApp.close());

    const running = { port: portOf(server), metricsPort: portOf(metricsApp.server) };
    log.info({ address, ...running, policy: config.policyPath }, 'serving');
    let stopping: Promise<void> | undefined;
    return {
      ...running,
      shutdown(reason) {
        stopping ??= (async () => {
          draining = true;
          log.info({ reason, delayMs: config.shutdownDelayMs }, 'shutting down: readiness failing, then finishing requests in flight');
          await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
          await releaseAll(cleanup);
          log.info('shut down');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await releaseAll(cleanup);
    throw error;
  }
}

/** Releases in reverse order of acquisition: listeners close before the things they use. */
async function releaseAll(cleanup: readonly (() => Promise<void> | void)[]): Promise<void> {
  for (const release of [...cleanup].reverse()) await release();
}
