import { InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { formatText, notCheckedNote } from '../audit/format-text.ts';
import { policyReports } from '../audit/policy-report.ts';
import { exitCodeOf } from '../audit/report.ts';
import { auditCluster, type PageProgress } from '../audit/scan.ts';
import { KubeConfigError, loadKubeConfig, type KubeConfigSource } from '../kube/kube-config.ts';
import { KubeWorkloadSource } from '../kube/kube-workload-source.ts';
import { KubePolicyReportSink, type PolicyReportSink } from '../kube/policy-report-store.ts';
import type { WorkloadSource } from '../kube/workload-source.ts';
import { TENANT_LABEL } from '../labels.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { OFFLINE, withRegistryReads, type RegistryReading } from '../workload/evaluate.ts';
import type { CliIo } from './io.ts';
import { loadPolicyForCli } from './load-policy.ts';
import { UsageError } from './usage-error.ts';
import type { ServeEnvironment } from './serve.ts';

/**
 * `audit`: judges the live pods and pod templates of the tenant namespaces against a policy file (deployed or a
 * candidate), and reports what enforcing it would deny, rewrite and add.
 * With `--aws` it reads ECR with each tenant's role as admission does: grants by repository tags are judged, every
 * rewritten image is looked for in its target and tags a tenant pins are resolved to their digests.
 * Exit 0 when nothing would be denied, 1 when anything would (dry-run namespaces included), 3 when nothing would be
 * but some image is granted only by repository tags that were not read (judge it with --aws), 2 on errors.
 */
export interface AuditOptions {
  readonly policy: string;
  readonly kubeconfig?: string | undefined;
  /** One namespace; every namespace when undefined (--all-namespaces only says so explicitly). */
  readonly namespace?: string | undefined;
  readonly tenant?: string | undefined;
  readonly output: 'text' | 'json' | 'policyreport';
  readonly pageSize: number;
  /** Read ECR with the tenants' roles, through AWS credentials from the environment. */
  readonly aws?: boolean | undefined;
  /** Create or update each audited namespace's PolicyReport. */
  readonly writeReports?: boolean | undefined;
}

export const DEFAULT_PAGE_SIZE = 500;
const MAX_PAGE_SIZE = 10_000;

/** commander argument parser for --page-size. */
export function parsePageSize(value: string): number {
  const size = Number(value);
  if (!/^\d+$/.test(value) || size < 1 || size > MAX_PAGE_SIZE) throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  return size;
}

/**
 * Where kubectl looks: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's service account. Unlike
 * kubectl, only the first file of $KUBECONFIG is read (kubectl merges them all).
 */
export function auditKubeConfigSource(given: string | undefined, env: ServeEnvironment): KubeConfigSource {
  if (given !== undefined) return { kubeconfigPath: given };
  const fromEnv = env.kubeconfigEnv?.split(delimiter).find((path) => path !== '');
  if (fromEnv !== undefined) return { kubeconfigPath: fromEnv };
  const inHome = env.home === undefined ? undefined : join(env.home, '.kube', 'config');
  if (inHome !== undefined && existsSync(inHome)) return { kubeconfigPath: inHome };
  if (env.kubernetesServiceHost === undefined || env.kubernetesServiceHost === '') {
    throw new KubeConfigError('no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config (nor is this a pod in a cluster)');
  }
  return { inCluster: { host: env.kubernetesServiceHost, port: env.kubernetesServicePort } };
}

/** On a terminal, one status line redrawn per page and erased at the end; nothing when stderr is a file or pipe. */
function terminalProgress(io: CliIo): { readonly onPage: PageProgress; readonly clear: () => void } {
  if (io.stderrIsTty !== true) return { onPage: () => undefined, clear: () => undefined };
  let drawn = false;
  return {
    onPage: (resource, read) => {
      drawn = true;
      io.stderr(`\r\x1b[2Kaudit: ${read} ${resource} read`);
    },
    clear: () => {
      if (drawn) io.stderr('\r\x1b[2K');
    },
  };
}

function scopeNote(options: AuditOptions): string {
  const label = options.tenant === undefined ? TENANT_LABEL : `${TENANT_LABEL}=${options.tenant}`;
  return `note: ${options.namespace === undefined ? 'no namespace is' : `namespace ${options.namespace} is not`} labelled ${label}: nothing to audit\n`;
}

/**
 * The audit over any WorkloadSource, reading ECR as `reading` says: prints the report, writes the PolicyReports to
 * `reports` when asked (each line on stderr saying created or updated), and returns the exit code.
 */
export async function reportAudit(source: WorkloadSource, policy: CompiledPolicy, options: AuditOptions, io: CliIo, reading: RegistryReading = OFFLINE, reports?: PolicyReportSink): Promise<number> {
  const progress = terminalProgress(io);
  const within = { namespace: options.namespace, tenant: options.tenant };
  const report = await auditCluster(source, policy, within, progress.onPage, reading).finally(progress.clear);
  if (report.summary.namespaces === 0 && options.tenant !== undefined && !policy.tenants.has(options.tenant)) {
    // Most likely a typo, which must not pass a CI gate as "nothing would be denied".
    throw new UsageError(`--tenant ${JSON.stringify(options.tenant)}: no namespace is labelled with it and ${options.policy} names no such tenant`);
  }
  if (report.summary.namespaces === 0) io.stderr(scopeNote(options));
  const undone = notCheckedNote(report.ecr);
  if (undone !== undefined) io.stderr(undone);
  const polrs = options.output === 'policyreport' || options.writeReports === true ? policyReports(report, new Date()) : [];
  if (options.output === 'json') {
    const scope = { namespace: options.namespace ?? null, tenant: options.tenant ?? null };
    io.stdout(`${JSON.stringify({ policy: options.policy, scope, ...report }, null, 2)}\n`);
  } else if (options.output === 'policyreport') {
    io.stdout(polrs.map((polr) => stringify(polr)).join('---\n'));
  } else {
    io.stdout(formatText(report));
  }
  if (options.writeReports === true) {
    // One report that cannot be written (too big, refused) does not keep the other namespaces' from being written.
    let failed = 0;
    for (const polr of polrs) {
      const line = await reports!.write(polr).then(
        (written) => `policyreport ${polr.metadata.namespace}/${polr.metadata.name} ${written}`,
        (error: unknown) => (failed++, `error: ${(error as Error).message}`),
      );
      io.stderr(`${line}\n`);
    }
    if (failed > 0) {
      io.stderr(`error: ${failed} of ${polrs.length} PolicyReports could not be written\n`);
      return 2;
    }
  }
  return exitCodeOf(report.summary, report.ecr);
}

export async function runAudit(options: AuditOptions, io: CliIo, env: ServeEnvironment): Promise<number> {
  const policy = await loadPolicyForCli(options.policy, io);
  const kubeConfig = loadKubeConfig(auditKubeConfigSource(options.kubeconfig, env));
  const source = new KubeWorkloadSource(kubeConfig, options.pageSize);
  const reports = new KubePolicyReportSink(kubeConfig);
  return withRegistryReads(options.aws === true, (reading) => reportAudit(source, policy, options, io, reading, reports));
}
