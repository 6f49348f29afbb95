import type { Operation } from 'fast-json-patch';
import { buildPatch } from '../admission/patch.ts';
import type { Labels } from '../kube/namespace-directory.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { decide } from '../policy/decide.ts';
import type { Mode } from '../policy/schema.ts';
import { isPlainObject, podSpecPathOf, readPodSpec } from './pod-spec.ts';

/** One object judged as if its pods were admitted now: what `check` prints and what an audit reports. */
export interface ObjectResult {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly tenant: string | null;
  readonly mode: Mode;
  readonly allowed: boolean;
  readonly images: readonly { path: string; from: string; to: string; granted: boolean }[];
  readonly imagePullSecrets: readonly string[];
  readonly patch: readonly Operation[];
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
}

export type Evaluation = { readonly ok: true; readonly result: ObjectResult } | { readonly ok: false; readonly problem: string };

export function kindOf(object: unknown): string | undefined {
  return isPlainObject(object) && typeof object.kind === 'string' ? object.kind : undefined;
}

export function metadataOf(object: unknown): { name: string; namespace: string | undefined } {
  const metadata = isPlainObject(object) && isPlainObject(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '';
  return { name, namespace: typeof metadata.namespace === 'string' ? metadata.namespace : undefined };
}

export function evaluateObject(object: unknown, namespace: string, labels: Labels | undefined, policy: CompiledPolicy): Evaluation {
  const kind = kindOf(object) ?? '';
  const at = podSpecPathOf(kind);
  if (at === undefined) return { ok: false, problem: `kind ${JSON.stringify(kind)} has no pod template` };
  const pod = readPodSpec(object, at);
  if (!pod.ok) return { ok: false, problem: pod.problem };
  const decision = decide({ pod: pod.view, namespace, namespaceLabels: labels, policy });
  return {
    ok: true,
    result: {
      kind,
      name: metadataOf(object).name,
      namespace,
      tenant: decision.tenant ?? null,
      mode: decision.mode,
      allowed: decision.allowed,
      images: decision.images.map(({ path, from, to, granted }) => ({ path, from, to, granted })),
      imagePullSecrets: decision.imagePullSecrets,
      patch: decision.allowed ? buildPatch(object, pod.view, decision.changes) : [],
      reasons: decision.reasons,
      warnings: decision.warnings,
    },
  };
}
