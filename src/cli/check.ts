import type { Labels } from '../kube/namespace-directory.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { evaluateObject, kindOf, metadataOf, type ObjectResult } from '../workload/evaluate.ts';
import { podSpecPathOf } from '../workload/pod-spec.ts';
import type { CliIo } from './io.ts';
import { loadPolicyForCli } from './load-policy.ts';
import { parseNamespaceLabels } from './namespace-labels.ts';
import { readManifests, type ManifestObject } from './read-manifests.ts';
import { UsageError } from './usage-error.ts';

/**
 * `check`: judges manifests offline with the same decision core the webhook runs.
 * Exit 0 when every object is allowed, 1 when any is denied, 2 on usage, policy or manifest errors.
 */
export interface CheckOptions {
  readonly policy: string;
  readonly namespace?: string | undefined;
  readonly namespaceLabels?: string | undefined;
  readonly output: 'text' | 'json';
  readonly manifests: readonly string[];
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

function evaluateAll(objects: readonly ManifestObject[], options: CheckOptions, policy: CompiledPolicy) {
  const labelsOf = labelsResolver(objects, options.namespaceLabels === undefined ? undefined : parseNamespaceLabels(options.namespaceLabels));
  const results: ObjectResult[] = [];
  const skipped: string[] = [];
  for (const { object, origin } of objects) {
    const kind = kindOf(object);
    if (kind === undefined || podSpecPathOf(kind) === undefined) {
      skipped.push(kind ?? '(no kind)');
      continue;
    }
    const namespace = options.namespace ?? metadataOf(object).namespace ?? 'default';
    const evaluation = evaluateObject(object, namespace, labelsOf(namespace), policy);
    if (!evaluation.ok) throw new UsageError(`${origin} (${kind} ${metadataOf(object).name}): ${evaluation.problem}`);
    results.push(evaluation.result);
  }
  return { results, skipped };
}

function formatText(results: readonly ObjectResult[], skipped: readonly string[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const tenant = r.tenant === null ? 'no tenant (untouched)' : `tenant ${r.tenant}, ${r.mode}`;
    lines.push(`${r.allowed ? (r.reasons.length > 0 ? 'WARN ' : 'ALLOW') : 'DENY '}  ${r.kind} ${r.namespace}/${r.name}  [${tenant}]`);
    for (const image of r.images) {
      const target = image.to === image.from ? image.from : `${image.from}\n           -> ${image.to}`;
      lines.push(`  ${image.granted ? 'ok    ' : 'denied'}  ${image.path}: ${target}`);
    }
    if (r.imagePullSecrets.length > 0) lines.push(`  imagePullSecrets: ${r.imagePullSecrets.join(', ')}`);
    for (const reason of r.reasons) lines.push(`  reason: ${reason}`);
    for (const warning of r.warnings) lines.push(`  warning: ${warning}`);
  }
  const denied = results.filter((r) => !r.allowed).length;
  const kinds = [...new Set(skipped)].join(', ');
  lines.push(
    `${results.length} checked: ${results.length - denied} allowed, ${denied} denied` +
      (skipped.length > 0 ? `; ${skipped.length} skipped without a pod template (${kinds})` : ''),
  );
  return `${lines.join('\n')}\n`;
}

export async function runCheck(options: CheckOptions, io: CliIo): Promise<number> {
  const policy = await loadPolicyForCli(options.policy, io);
  const objects = await readManifests(options.manifests, io.stdin);
  const { results, skipped } = evaluateAll(objects, options, policy);
  io.stdout(options.output === 'json' ? `${JSON.stringify(results, null, 2)}\n` : formatText(results, skipped));
  return results.every((r) => r.allowed) ? 0 : 1;
}
