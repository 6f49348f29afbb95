import type { Labels } from '../kube/namespace-directory.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { evaluateObject, inOrder, kindOf, metadataOf, UNJUDGED, withRegistryReads, type ImageOutcome, type ObjectResult, type RegistryCheck, type RegistryReading } from '../workload/evaluate.ts';
import { podSpecPathOf } from '../workload/pod-spec.ts';
import type { CliIo } from './io.ts';
import { loadPolicyForCli } from './load-policy.ts';
import { parseNamespaceLabels } from './namespace-labels.ts';
import { readManifests, type ManifestObject } from './read-manifests.ts';
import { UsageError } from './usage-error.ts';

/**
 * `check`: judges manifests with the same decision core the webhook runs: offline, or with `--aws` reading ECR with
 * each tenant's role as admission does (tag-based grants, rewritten images in their targets, digests to pin).
 * Exit 0 when every object is allowed, 1 when any is denied, 3 when none is denied but some image is granted only by
 * repository tags that were not read (it can be judged with --aws), 2 on usage, policy or manifest errors.
 */
export interface CheckOptions {
  readonly policy: string;
  readonly namespace?: string | undefined;
  readonly namespaceLabels?: string | undefined;
  readonly output: 'text' | 'json';
  readonly manifests: readonly string[];
  /** Read ECR with the tenants' roles, through AWS credentials from the environment. */
  readonly aws?: boolean | undefined;
}

/** Labels for a namespace: --namespace-labels first, else a Namespace object found in the manifests themselves. */
function labelsResolver(objects: readonly ManifestObject[], given: Labels | undefined): (namespace: string) => Labels | undefined {
  if (given !== undefined) return () => given;
  const declared = new Map<string, Labels>();
  for (const { object } of objects) {
    if (kindOf(object) !== 'Namespace') continue;
    const labels = (object.metadata as { labels?: unknown } | undefined)?.labels;
    const entries = typeof labels === 'object' && labels !== null ? Object.entries(labels) : [];
    declared.set(metadataOf(object).name, Object.fromEntries(entries.filter(([, value]) => typeof value === 'string')));
  }
  return (namespace) => declared.get(namespace);
}

async function evaluateAll(objects: readonly ManifestObject[], options: CheckOptions, policy: CompiledPolicy, reading: RegistryReading) {
  const labelsOf = labelsResolver(objects, options.namespaceLabels === undefined ? undefined : parseNamespaceLabels(options.namespaceLabels));
  const skipped: string[] = [];
  const judged: ManifestObject[] = [];
  for (const manifest of objects) {
    const kind = kindOf(manifest.object);
    if (kind === undefined || podSpecPathOf(kind) === undefined) skipped.push(kind ?? '(no kind)');
    else judged.push(manifest);
  }
  const evaluations = await inOrder(judged, ({ object }) => {
    const namespace = options.namespace ?? metadataOf(object).namespace ?? 'default';
    return evaluateObject(object, namespace, labelsOf(namespace), policy, reading);
  });
  const results = evaluations.map((evaluation, i) => {
    const { object, origin } = judged[i]!;
    if (!evaluation.ok) throw new UsageError(`${origin} (${kindOf(object)} ${metadataOf(object).name}): ${evaluation.problem}`);
    return evaluation.result;
  });
  return { results, skipped };
}

/** An object refused only because a tag-based grant was not judged is neither allowed nor denied. */
function statusOf(r: ObjectResult): string {
  if (r.allowed) return r.reasons.length + r.unjudged.length > 0 ? 'WARN' : 'ALLOW';
  return r.reasons.length > 0 ? 'DENY' : 'UNJUDGED';
}

function markerOf(image: ImageOutcome): string {
  if (image.granted) return image.missing ? 'missing' : 'ok';
  return image.unjudged ? 'unjudged' : 'denied';
}

const NOT_CHECKED: Record<RegistryCheck, string> = {
  existence: 'rewritten images looked for in their target registry (missingImage)',
  pinning: 'tags pinned to digests (pinDigests)',
};

/** Statuses and image markers are padded to the longest, UNJUDGED and unjudged. */
const COLUMN = 8;

function formatText(results: readonly ObjectResult[], skipped: readonly string[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const tenant = r.tenant === null ? 'no tenant (untouched)' : `tenant ${r.tenant}, ${r.mode}`;
    lines.push(`${statusOf(r).padEnd(COLUMN)}  ${r.kind} ${r.namespace}/${r.name}  [${tenant}]`);
    for (const image of r.images) {
      const target = image.to === image.from ? image.from : `${image.from}\n${' '.repeat(COLUMN + 5)}-> ${image.to}`;
      lines.push(`  ${markerOf(image).padEnd(COLUMN)}  ${image.path}: ${target}`);
    }
    if (r.imagePullSecrets.length > 0) lines.push(`  imagePullSecrets: ${r.imagePullSecrets.join(', ')}`);
    for (const reason of r.reasons) lines.push(`  reason: ${reason}`);
    for (const reason of r.unjudged) lines.push(`  ${UNJUDGED}: ${reason}`);
    if (r.notChecked.length > 0) lines.push(`  not done without --aws: ${r.notChecked.map((check) => NOT_CHECKED[check]).join('; ')}`);
    for (const warning of r.warnings) lines.push(`  warning: ${warning}`);
  }
  const unjudged = results.filter((r) => !r.allowed && r.reasons.length === 0).length;
  const denied = results.filter((r) => !r.allowed).length - unjudged;
  const kinds = [...new Set(skipped)].join(', ');
  lines.push(
    `${results.length} checked: ${results.length - denied - unjudged} allowed, ${denied} denied` +
      (unjudged > 0 ? `, ${unjudged} ${UNJUDGED}` : '') +
      (skipped.length > 0 ? `; ${skipped.length} skipped without a pod template (${kinds})` : ''),
  );
  return `${lines.join('\n')}\n`;
}

/** 1 when anything is denied; else 3 when something could only be judged with --aws; else 0. */
export function checkExitCode(results: readonly ObjectResult[]): 0 | 1 | 3 {
  const refused = results.filter((r) => !r.allowed);
  if (refused.some((r) => r.reasons.length > 0)) return 1;
  return refused.length > 0 ? 3 : 0;
}

export async function runCheck(options: CheckOptions, io: CliIo): Promise<number> {
  const policy = await loadPolicyForCli(options.policy, io);
  const objects = await readManifests(options.manifests, io.stdin);
  const { results, skipped } = await withRegistryReads(options.aws === true, (reading) => evaluateAll(objects, options, policy, reading));
  io.stdout(options.output === 'json' ? `${JSON.stringify(results, null, 2)}\n` : formatText(results, skipped));
  return checkExitCode(results);
}
