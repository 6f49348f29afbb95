import type { AuditedNamespace, AuditedTenant, AuditedWorkload, AuditReport } from './report.ts';
import { clip } from '../text.ts';

/**
 * An audit as `wgpolicyk8s.io/v1alpha2` PolicyReports, the objects Kyverno writes and Policy Reporter shows: one per
 * audited namespace, named `ecr-tenant-webhook`, so each run updates it in place. Pure: `audit --output
 * policyreport` prints these, `audit --write-reports` applies them.
 *
 * | audit verdict | result | severity | message                                                             |
 * |---------------|--------|----------|---------------------------------------------------------------------|
 * | deny          | fail   | high     | the refusals, one sentence each (enforcement refuses its pods)      |
 * | would-deny    | warn   | medium   | the refusals: a dry-run namespace, so its pods only get warnings    |
 * | unjudged      | skip   |          | granted only by repository tags, not read (pass --aws)              |
 * | change        | pass   |          | admitted, with what enforcement rewrites, pins and adds             |
 * | ok            | pass   |          | admitted as it is                                                   |
 *
 * The rule of a result is the tenant whose grants judged it (`tenant payments`); the resource is the workload
 * reported (pods and ReplicaSets under an audited owner are that owner's, as in the audit).
 */
export const REPORT_NAME = 'ecr-tenant-webhook';
export const REPORT_SOURCE = 'ecr-tenant-webhook';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' };
/**
 * One result's message at most (characters); a report holds at most MAX_RESULTS results and MAX_RESULT_BYTES of them
 * as JSON. Workload names and image references are the tenant's to choose, and etcd stores an object of 1.5 MiB at
 * most: a report that big would be refused, and the namespace left with a stale one.
 */
export const MAX_MESSAGE = 1000;
export const MAX_RESULTS = 1000;
export const MAX_RESULT_BYTES = 900 * 1024;

export type PolicyResult = 'pass' | 'fail' | 'warn' | 'error' | 'skip';

export interface PolicyReportResult {
  readonly source: string;
  readonly policy: string;
  readonly rule: string;
  readonly category: string;
  readonly severity?: 'high' | 'medium';
  readonly timestamp: { readonly seconds: number; readonly nanos: number };
  readonly result: PolicyResult;
  readonly scored: boolean;
  readonly message: string;
  readonly resources: readonly { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly namespace: string }[];
  readonly properties: Readonly<Record<string, string>>;
}

export interface PolicyReport {
  readonly apiVersion: 'wgpolicyk8s.io/v1alpha2';
  readonly kind: 'PolicyReport';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly summary: Readonly<Record<PolicyResult, number>>;
  readonly results: readonly PolicyReportResult[];
}

const API_VERSIONS: Readonly<Record<string, string>> = {
  Pod: 'v1',
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
};

const RESULTS: Readonly<Record<AuditedWorkload['verdict'], PolicyResult>> = { deny: 'fail', 'would-deny': 'warn', unjudged: 'skip', change: 'pass', ok: 'pass' };

/** What enforcement does to an admitted workload's pods, in a sentence. */
function changeMessage(workload: AuditedWorkload, mode: string): string {
  const parts = [
    ...workload.rewrites.map((r) => `rewrites ${r.from} to ${r.to}`),
    ...workload.pins.map((p) => `pins ${p.image} to ${p.digest}`),
    ...(workload.pullSecretsNeeded.length > 0 ? [`adds imagePullSecrets ${workload.pullSecretsNeeded.join(', ')}`] : []),
    ...workload.missing.map((m) => `${m.to} is not in its registry yet`),
  ];
  const when = mode === 'dry-run' ? 'admitted; once enforced, the webhook' : 'admitted; the webhook';
  // A change verdict has something to change: a rewrite, a pin or a pull secret (workloadOf).
  return `${when} ${parts.join('; ')}`;
}

function messageOf(workload: AuditedWorkload, mode: string): string {
  switch (workload.verdict) {
    case 'deny':
      return workload.reasons.join(' ');
    case 'would-deny':
      return `dry-run: its pods get warnings now, and are refused once enforced: ${workload.reasons.join(' ')}`;
    case 'unjudged':
      return `cannot be judged without AWS (audit --aws): ${workload.unjudged.map((u) => u.reason).join(' ')}`;
    default:
      // change (ok is never listed among the findings: it is in `passed`)
      return changeMessage(workload, mode);
  }
}

function resultOf(tenant: AuditedTenant, namespace: AuditedNamespace, workload: { readonly kind: string; readonly name: string }, verdict: AuditedWorkload['verdict'], message: string, seconds: number): PolicyReportResult {
  const result = RESULTS[verdict];
  return {
    source: REPORT_SOURCE,
    policy: REPORT_SOURCE,
    rule: `tenant ${tenant.name}`,
    category: 'ECR image grants',
    ...(result === 'fail' ? { severity: 'high' as const } : result === 'warn' ? { severity: 'medium' as const } : {}),
    timestamp: { seconds, nanos: 0 },
    result,
    scored: true,
    message: clip(message, MAX_MESSAGE),
    resources: [{ apiVersion: API_VERSIONS[workload.kind]!, kind: workload.kind, name: workload.name, namespace: namespace.name }],
    properties: { tenant: tenant.name, mode: namespace.mode, verdict },
  };
}

/** The results that fit the bounds, in order: as many as MAX_RESULTS and MAX_RESULT_BYTES allow. */
function bounded(results: readonly PolicyReportResult[]): PolicyReportResult[] {
  const kept: PolicyReportResult[] = [];
  let bytes = 0;
  for (const result of results.slice(0, MAX_RESULTS)) {
    bytes += Buffer.byteLength(JSON.stringify(result));
    if (bytes > MAX_RESULT_BYTES) break;
    kept.push(result);
  }
  return kept;
}

/**
 * The PolicyReport of each audited namespace, its results in the audit's order: the findings, then the workloads
 * admitted as they are. Past the bounds (MAX_RESULTS, MAX_RESULT_BYTES) the last results are dropped, passing ones
 * first; the summary counts them all.
 */
export function policyReports(report: AuditReport, now: Date): PolicyReport[] {
  const seconds = Math.floor(now.getTime() / 1000);
  return report.tenants.flatMap((tenant) =>
    tenant.namespaces.map((namespace) => {
      const all = [
        ...namespace.workloads.map((w) => resultOf(tenant, namespace, w, w.verdict, messageOf(w, namespace.mode), seconds)),
        ...namespace.passed.map((w) => resultOf(tenant, namespace, w, 'ok', 'admitted as it is', seconds)),
      ];
      const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
      for (const r of all) summary[r.result]++;
      return {
        apiVersion: 'wgpolicyk8s.io/v1alpha2' as const,
        kind: 'PolicyReport' as const,
        metadata: { name: REPORT_NAME, namespace: namespace.name, labels: MANAGED_BY },
        summary,
        results: bounded(all),
      };
    }),
  );
}
