import { UNJUDGED } from '../workload/evaluate.ts';
import type { AuditedWorkload, AuditReport, AuditSummary, EcrFindings } from './report.ts';

/**
 * `audit --output text`: one row per finding, each row carrying its tenant, namespace, mode and workload so that
 * it still makes sense after grep; columns padded like kubectl's; then one summary line.
 */
const HEADER = ['TENANT', 'NAMESPACE', 'MODE', 'WORKLOAD', 'FINDING', 'DETAIL'];

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function ownerDetail(workload: AuditedWorkload): string[] {
  const owner = workload.owner;
  if (owner === undefined) return [];
  const of = `${owner.kind}/${owner.name}`;
  if (owner.relation === 'differs') return [`its images differ from its owner ${of}'s template`];
  return [`old revision of ${of}, still running ${plural(workload.runningPods!, 'pod')}`];
}

/** [finding, detail] pairs of one workload, most serious first. */
function findingsOf(workload: AuditedWorkload): [string, string][] {
  return [
    ...ownerDetail(workload).map((detail): [string, string] => ['note', detail]),
    ...workload.reasons.map((reason): [string, string] => [workload.verdict, reason]),
    ...workload.unjudged.map((u): [string, string] => ['unjudged', `${UNJUDGED}: ${u.reason}`]),
    ...workload.missing.map((m): [string, string] => ['missing', `${m.path}: ${m.to} is not in its registry (rewritten from ${m.image})`]),
    ...workload.rewrites.map((r): [string, string] => ['rewrite', `${r.path}: ${r.from} -> ${r.to}`]),
    ...workload.pins.map((p): [string, string] => ['pin', `${p.path}: ${p.image} to ${p.digest}`]),
    ...workload.pullSecretsNeeded.map((name): [string, string] => ['pull-secret', name]),
  ];
}

function rowsOf(report: AuditReport): string[][] {
  const rows: string[][] = [];
  for (const tenant of report.tenants) {
    for (const namespace of tenant.namespaces) {
      const where = [tenant.name, namespace.name, namespace.mode];
      for (const warning of namespace.warnings) rows.push([...where, '-', 'warning', warning]);
      for (const workload of namespace.workloads) {
        for (const [finding, detail] of findingsOf(workload)) rows.push([...where, `${workload.kind}/${workload.name}`, finding, detail]);
      }
    }
  }
  return rows;
}

/** Every column but the last padded to its widest cell. */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '));
}

/** The summary; what depends on ECR is added only when there is some, so an audit without any reads as before. */
export function summaryLine(summary: AuditSummary, ecr: EcrFindings): string {
  const unjudged = ecr.unjudged > 0 ? `, ${ecr.unjudged} ${UNJUDGED}` : '';
  const verdicts = `${summary.deny} deny, ${summary.wouldDeny} would deny (dry-run), ${summary.change} change, ${summary.ok} ok${unjudged}`;
  const skipped = [
    ...(summary.finishedPods > 0 ? [plural(summary.finishedPods, 'finished pod')] : []),
    ...(summary.finishedJobs > 0 ? [plural(summary.finishedJobs, 'finished job')] : []),
  ];
  const finished = skipped.length > 0 ? `; ${skipped.join(' and ')} skipped` : '';
  const found = [
    ...(ecr.missing > 0 ? [`${plural(ecr.missing, 'rewritten image')} not in ${ecr.missing === 1 ? 'its target' : 'their targets'}`] : []),
    ...(ecr.pins > 0 ? [`${plural(ecr.pins, 'tag')} to pin`] : []),
  ];
  return (
    `${plural(summary.workloads, 'workload')} audited in ${plural(summary.namespaces, 'namespace')} of ${plural(summary.tenants, 'tenant')}: ${verdicts}; ` +
    `${plural(summary.podsUnderOwners, 'pod')} counted under ${summary.podsUnderOwners === 1 ? 'its owner' : 'their owners'}${finished}` +
    found.map((f) => `; ${f}`).join('')
  );
}

/**
 * Without --aws, what the tenants ask of ECR that was not done, for stderr: the report itself stays what enforcing
 * decides without reading ECR. Undefined when nothing was left undone.
 */
export function notCheckedNote(ecr: EcrFindings): string | undefined {
  const { existence, pinning } = ecr.notChecked;
  if (existence + pinning === 0) return undefined;
  const undone = [
    ...(existence > 0 ? [`${plural(existence, 'rewritten image')} not looked for in ${existence === 1 ? 'its target registry' : 'their target registries'}`] : []),
    ...(pinning > 0 ? [`${plural(pinning, 'tag')} not pinned to ${pinning === 1 ? 'its digest' : 'their digests'}`] : []),
  ];
  return `note: ECR was not read (pass --aws): ${undone.join(', ')}\n`;
}

export function formatText(report: AuditReport): string {
  const rows = rowsOf(report);
  const table = rows.length === 0 ? [] : formatTable([HEADER, ...rows]);
  return `${[...table, summaryLine(report.summary, report.ecr)].join('\n')}\n`;
}
