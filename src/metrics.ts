import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The webhook's Prometheus metrics, one registry per process (tests make their own, so nothing is global).
 * Names follow Prometheus conventions: a unit suffix, `_total` on counters, low-cardinality labels only.
 */
export interface Metrics {
  readonly registry: Registry;
  /**
   * resource: pods | namespaces | workloads (the endpoint);
   * decision: allow | deny | dry-run:allow | dry-run:would-deny | untouched | invalid | unavailable;
   * tenant: the tenant the decision was made for, empty when none; mode: enforce | dry-run, empty when none applied.
   */
  readonly decisions: Counter<'resource' | 'decision' | 'tenant' | 'mode'>;
  /**
   * resource as above; operation: CREATE | UPDATE | DELETE | CONNECT, or unknown when the body could not be read;
   * decision as above, or error when the handler failed.
   */
  readonly admissionSeconds: Histogram<'resource' | 'operation' | 'decision'>;
  /** result: success | failure */
  readonly policyReloads: Counter<'result'>;
  /** 1 while the policy in force is the file's current content, 0 after a rejected reload. */
  readonly policyReloadHealthy: Gauge;
  readonly policyLoadedTimestamp: Gauge;
  /** result: success | failure */
  readonly tlsReloads: Counter<'result'>;
  readonly namespaceWatchRestarts: Counter;
  readonly namespaceLookups: Counter<'source'>;
  /** Namespaces in the informer cache, read at each scrape from the function given to measureNamespaceCache. */
  readonly namespaceCacheSize: Gauge;
  /** Sets how namespace_cache_size is read; until the directory that owns the cache calls it, the size is 0. */
  measureNamespaceCache(size: () => number): void;
  /** result: hit (fresh) | refresh (served while a refresh runs behind it) | miss (the caller waits for a mint) */
  readonly tokenLookups: Counter<'result'>;
  /**
   * ECR reads at admission, one per question a decision asked: kind image | repository-tags; result hit (from
   * memory, or joined a read already running) | found | missing | error (what a read this question made was told).
   */
  readonly registryLookups: Counter<'kind' | 'result'>;
  /** api: AssumeRole | GetAuthorizationToken | DescribeImages | ListTagsForResource | DescribeRepositories; every SDK attempt, retries included. */
  readonly awsRequests: Counter<'api'>;
  /** api as above; code: the SDK's error name (AccessDenied, Throttling, TimeoutError, ...). */
  readonly awsErrors: Counter<'api' | 'code'>;
  /** action: create | update | delete; result: success | conflict | failure */
  readonly pullSecretWrites: Counter<'action' | 'result'>;
  /**
   * Dry-run would-be denials reported as Events, by result: emitted | deduplicated (a repeat inside the window) |
   * dropped (the queue was full) | failed (the API server refused).
   */
  readonly findingEvents: Counter<'result'>;
  /** When the pull-secret reconciler last completed a round (Unix time); set on the leader only. */
  readonly refresherLastSuccess: Gauge;
  readonly refresherRoundSeconds: Histogram;
  /** result: renewed | rewritten (moved to the namespace's tenant, or new credentials) | deleted | failed */
  readonly refresherSecrets: Counter<'result'>;
  /** Renewals and rewrites that failed, by the tenant they were for. */
  readonly refresherFailures: Counter<'tenant'>;
  /** Per tenant, the earliest expiry among its pull Secrets (Unix time), as the last completed round found them. */
  readonly pullSecretEarliestExpiry: Gauge<'tenant'>;
  /** Deletions the policy caused that wait for the grace period or the per-round bound. */
  readonly pullSecretsPendingDeletion: Gauge;
  /** Secrets labelled managed-by the webhook whose provenance seal does not verify, left alone. */
  readonly pullSecretsUnverified: Gauge;
  /** Namespaces labelled for a tenant the policy does not have, read at each scrape. */
  readonly orphanedNamespaces: Gauge;
  /** Sets how orphaned_namespaces is read (until then it is 0). */
  measureOrphanedNamespaces(count: () => number): void;
}

const PREFIX = 'ecr_tenant_webhook_';

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  let namespaceCount = () => 0;
  let orphanedCount = () => 0;
  return {
    registry,
    decisions: new Counter({
      name: `${PREFIX}admission_decisions_total`,
      help: 'Admission reviews answered, by resource (pods, namespaces, workloads), decision, tenant and mode.',
      labelNames: ['resource', 'decision', 'tenant', 'mode'],
      registers,
    }),
    admissionSeconds: new Histogram({
      name: `${PREFIX}admission_duration_seconds`,
      help: 'Time from receiving an AdmissionReview to answering it, by resource, operation and decision.',
      labelNames: ['resource', 'operation', 'decision'],
      // Admission is on the API server's critical path with a timeout of a few seconds: resolve the low end finely.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    policyReloads: new Counter({ name: `${PREFIX}policy_reloads_total`, help: 'Policy file reloads after a change, by result.', labelNames: ['result'], registers }),
    policyReloadHealthy: new Gauge({ name: `${PREFIX}policy_reload_healthy`, help: '1 when the last policy file change was loaded, 0 when it was rejected and an older policy keeps serving.', registers }),
    policyLoadedTimestamp: new Gauge({ name: `${PREFIX}policy_loaded_timestamp_seconds`, help: 'When the policy in force was loaded (Unix time).', registers }),
    tlsReloads: new Counter({ name: `${PREFIX}tls_reloads_total`, help: 'Serving certificate reloads after a change, by result.', labelNames: ['result'], registers }),
    namespaceWatchRestarts: new Counter({ name: `${PREFIX}namespace_watch_restarts_total`, help: 'Times the namespace watch was restarted after an error.', registers }),
    namespaceLookups: new Counter({ name: `${PREFIX}namespace_lookups_total`, help: 'Namespace label lookups, by where the answer came from (cache, api, missing).', labelNames: ['source'], registers }),
    // Read at scrape time rather than kept up to date on every watch event: exact, and free between scrapes.
    namespaceCacheSize: new Gauge({
      name: `${PREFIX}namespace_cache_size`,
      help: 'Namespaces in the informer cache.',
      registers,
      collect() {
        this.set(namespaceCount());
      },
    }),
    measureNamespaceCache(size) {
      namespaceCount = size;
    },
    tokenLookups: new Counter({ name: `${PREFIX}token_cache_lookups_total`, help: 'ECR token cache lookups, by result (hit, refresh, miss).', labelNames: ['result'], registers }),
    registryLookups: new Counter({ name: `${PREFIX}registry_lookups_total`, help: 'ECR reads at admission, by kind (image, repository-tags) and result (hit, found, missing, error, limited).', labelNames: ['kind', 'result'], registers }),
    awsRequests: new Counter({ name: `${PREFIX}aws_requests_total`, help: 'AWS API requests, every SDK attempt including retries, by API.', labelNames: ['api'], registers }),
    awsErrors: new Counter({ name: `${PREFIX}aws_errors_total`, help: 'Failed AWS API requests, every SDK attempt including retries, by API and error code.', labelNames: ['api', 'code'], registers }),
    findingEvents: new Counter({ name: `${PREFIX}finding_events_total`, help: 'Dry-run would-be denials reported as Kubernetes Events, by result (emitted, deduplicated, dropped, failed).', labelNames: ['result'], registers }),
    refresherLastSuccess: new Gauge({ name: `${PREFIX}refresher_last_success_timestamp_seconds`, help: 'When the pull-secret reconciler last completed a round (Unix time); only the leader sets it.', registers }),
    refresherRoundSeconds: new Histogram({
      name: `${PREFIX}refresher_round_duration_seconds`,
      help: 'Duration of completed pull-secret reconciler rounds.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    refresherSecrets: new Counter({ name: `${PREFIX}refresher_secrets_total`, help: 'Pull Secrets the reconciler acted on, by result (renewed, rewritten, deleted, failed).', labelNames: ['result'], registers }),
    refresherFailures: new Counter({ name: `${PREFIX}refresher_renewal_failures_total`, help: 'Pull Secret renewals and rewrites that failed, by tenant.', labelNames: ['tenant'], registers }),
    pullSecretEarliestExpiry: new Gauge({ name: `${PREFIX}pull_secret_earliest_expiry_timestamp_seconds`, help: 'Per tenant, the earliest expiry among its pull Secrets (Unix time), as the last completed round found them.', labelNames: ['tenant'], registers }),
    pullSecretsPendingDeletion: new Gauge({ name: `${PREFIX}pull_secrets_pending_deletion`, help: 'Pull Secrets the policy no longer grants, waiting for the deletion grace period or the per-round bound.', registers }),
    pullSecretsUnverified: new Gauge({ name: `${PREFIX}pull_secrets_unverified`, help: 'Secrets labelled as managed by the webhook without a valid provenance seal, left alone.', registers }),
    orphanedNamespaces: new Gauge({
      name: `${PREFIX}orphaned_namespaces`,
      help: 'Namespaces labelled for a tenant that the policy in force does not have.',
      registers,
      collect() {
        this.set(orphanedCount());
      },
    }),
    measureOrphanedNamespaces(count) {
      orphanedCount = count;
    },
    pullSecretWrites: new Counter({ name: `${PREFIX}pull_secret_writes_total`, help: 'Pull Secret writes to the API server, by action (create, update, delete) and result (success, conflict, failure).', labelNames: ['action', 'result'], registers }),
  };
}
