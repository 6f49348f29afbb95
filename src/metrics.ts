import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The webhook's Prometheus metrics, one registry per process (tests make their own, so nothing is global).
 * Names follow Prometheus conventions: a unit suffix, `_total` on counters, low-cardinality labels only.
 */
export interface Metrics {
  readonly registry: Registry;
  /**
   * resource: pods | namespaces | workloads (the endpoint);
   * decision: allow | deny | dry-run:allow | dry-run:would-deny | untouched | invalid | unavailable
   */
  readonly decisions: Counter<'resource' | 'decision'>;
  /** resource as above; outcome: the HTTP status code the webhook answered with */
  readonly admissionSeconds: Histogram<'resource' | 'outcome'>;
  /** result: success | failure */
  readonly policyReloads: Counter<'result'>;
  /** 1 while the policy in force is the file's current content, 0 after a rejected reload. */
  readonly policyReloadHealthy: Gauge;
  readonly policyLoadedTimestamp: Gauge;
  /** result: success | failure */
  readonly tlsReloads: Counter<'result'>;
  readonly namespaceWatchRestarts: Counter;
  readonly namespaceLookups: Counter<'source'>;
}

const PREFIX = 'ecr_tenant_webhook_';

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  return {
    registry,
    decisions: new Counter({ name: `${PREFIX}admission_decisions_total`, help: 'Admission reviews answered, by resource (pods, namespaces, workloads) and decision.', labelNames: ['resource', 'decision'], registers }),
    admissionSeconds: new Histogram({
      name: `${PREFIX}admission_duration_seconds`,
      help: 'Time from receiving an AdmissionReview to answering it, by resource and HTTP status.',
      labelNames: ['resource', 'outcome'],
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
  };
}
