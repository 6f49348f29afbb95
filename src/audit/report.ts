import type { Decision } from '../policy/decide.ts';
import type { Mode } from '../policy/schema.ts';
import { formatPath } from '../text.ts';
import { pinnedOnly, splitRefusals } from '../workload/evaluate.ts';
import { podSpecPathOf } from '../workload/pod-spec.ts';

/**
 * What an audit found, tenant → namespace → workload, in the shape `--output json` prints. Only workloads with
 * something to report are listed; the others are counted.
 *
 * | verdict    | meaning                                                                                      |
 * |------------|----------------------------------------------------------------------------------------------|
 * | deny       | enforce mode: creating its pods now would be refused                                         |
 * | would-deny | dry-run mode: the same, once the namespace or tenant is switched to enforce                  |
 * | unjudged   | refused only because an image is granted by repository tags, which were not read             |
 * | change     | admitted, with images rewritten or pinned and/or pull secrets added (dry-run: once enforced) |
 * | ok         | admitted as it is                                                                            |
 */
export type AuditVerdict = 'deny' | 'would-deny' | 'unjudged' | 'change' | 'ok';

/** Why a workload with an audited owner is reported on its own rather than folded into that owner. */
export interface OwnerNote {
  readonly kind: string;
  readonly name: string;
  /** old-revision: a ReplicaSet or Job whose running pods come from an older template than the owner's current one.
   *  differs: a pod whose images are not its owner's (an ephemeral debug container, an image changed on the pod). */
  readonly relation: 'old-revision' | 'differs';
}

export interface AuditedWorkload {
  readonly kind: string;
  readonly name: string;
  readonly verdict: AuditVerdict;
  /** Images enforcement refuses: as written, and after the tenant's rewrite. */
  readonly denied: readonly { readonly path: string; readonly image: string; readonly to: string }[];
  /** Why, one sentence per refusal, naming container, image, tenant and namespace. */
  readonly reasons: readonly string[];
  /** Images granted only by repository tags, which were not read (no --aws): neither granted nor denied. */
  readonly unjudged: readonly { readonly path: string; readonly image: string; readonly to: string; readonly reason: string }[];
  /** Images rewritten to where they would be pulled from; `to` is what the pods get, digest included when pinned. */
  readonly rewrites: readonly { readonly path: string; readonly from: string; readonly to: string }[];
  /** Rewritten images ECR says are not in their target registry (admitted anyway under missingImage: allow). */
  readonly missing: readonly { readonly path: string; readonly image: string; readonly to: string }[];
  /** Tags enforcement would pin (pinDigests), to the digest ECR has for them now. */
  readonly pins: readonly { readonly path: string; readonly image: string; readonly digest: string }[];
  /** imagePullSecrets enforcement adds to the pods (those already listed are not repeated). */
  readonly pullSecretsNeeded: readonly string[];
  readonly owner?: OwnerNote;
  /** With an old-revision owner note: how many running pods still come from this template. */
  readonly runningPods?: number;
}

export interface AuditedNamespace {
  readonly name: string;
  readonly mode: Mode;
  /** The namespace's own problems, e.g. a mistyped mode label (which enforces). */
  readonly warnings: readonly string[];
  /** How many workloads were judged here, including the ones with nothing to report. */
  readonly audited: number;
  readonly workloads: readonly AuditedWorkload[];
  /** The workloads admitted as they are (verdict ok), by kind and name: a PolicyReport lists them as passing. */
  readonly passed: readonly { readonly kind: string; readonly name: string }[];
}

export interface AuditedTenant {
  readonly name: string;
  /** False when namespaces carry the tenant's label but the policy names no such tenant: all their pods are denied. */
  readonly inPolicy: boolean;
  readonly namespaces: readonly AuditedNamespace[];
}

export interface AuditSummary {
  readonly tenants: number;
  readonly namespaces: number;
  readonly workloads: number;
  readonly deny: number;
  readonly wouldDeny: number;
  readonly change: number;
  readonly ok: number;
  /** Running pods whose images are their owner's template's: reported under that owner. */
  readonly podsUnderOwners: number;
  /** Pods that have Succeeded or Failed: never admitted again, so not judged. */
  readonly finishedPods: number;
  /** Jobs that are Complete or Failed: they make no more pods, so they are not judged either. */
  readonly finishedJobs: number;
}

/**
 * What depends on reading ECR, over the workloads reported (those counted under an owner are its owner's): with
 * `--aws` the findings, without it what was left undone.
 */
export interface EcrFindings {
  /** Whether ECR was read with the tenants' roles (--aws). */
  readonly read: boolean;
  /** Workloads whose only refusals are images granted by repository tags that were not read. */
  readonly unjudged: number;
  /** Rewritten images not in their target registry. */
  readonly missing: number;
  /** Tags that would be pinned. */
  readonly pins: number;
  /** Images whose check was not done because ECR was not read: rewritten ones not looked for, tags not pinned. */
  readonly notChecked: { readonly existence: number; readonly pinning: number };
}

export interface AuditReport {
  readonly summary: AuditSummary;
  readonly ecr: EcrFindings;
  readonly tenants: readonly AuditedTenant[];
}

/** A workload as judged, before it is known whether it is reported on its own. */
export function workloadOf(kind: string, name: string, decision: Decision, existingPullSecrets: readonly string[]): AuditedWorkload {
  const split = splitRefusals(decision);
  const denied = decision.images.filter((i) => !i.granted && !i.unjudged).map(({ path, from, to }) => ({ path, image: from, to }));
  const unjudged = split.unjudged.map(({ path, from, to, reason }) => ({ path, image: from, to, reason: reason! }));
  const granted = decision.images.filter((i) => i.granted);
  const rewrites = granted.filter((i) => i.to !== i.from && !pinnedOnly(i)).map(({ path, from, to }) => ({ path, from, to }));
  const missing = granted.filter((i) => i.missing && i.to !== i.from).map(({ path, from, to }) => ({ path, image: from, to }));
  const pins = granted.flatMap(({ path, to, pinned }) => (pinned === undefined ? [] : [{ path, image: to.slice(0, -(pinned.length + 1)), digest: pinned }]));
  const pullSecretsNeeded = decision.imagePullSecrets.filter((secret) => !existingPullSecrets.includes(secret));
  const verdict = verdictOf(decision.mode, split.reasons.length > 0, unjudged.length > 0, rewrites.length + pins.length + pullSecretsNeeded.length > 0);
  return { kind, name, verdict, denied, reasons: split.reasons, unjudged, rewrites, missing, pins, pullSecretsNeeded };
}

function verdictOf(mode: Mode, refused: boolean, unjudged: boolean, changes: boolean): AuditVerdict {
  if (refused) return mode === 'enforce' ? 'deny' : 'would-deny';
  if (unjudged) return 'unjudged';
  return changes ? 'change' : 'ok';
}

/**
 * The images a workload's pods end up with, by container position: equal for a template and the pods made from
 * it, whether or not the webhook has already rewritten those pods.
 */
export function imageSignature(kind: string, decision: Decision): string {
  const prefix = `${formatPath(podSpecPathOf(kind)!)}.`;
  return decision.images.map((image) => `${image.path.slice(prefix.length)}=${image.to}`).sort().join('\n');
}

export function summarize(tenants: readonly AuditedTenant[], podsUnderOwners: number, finishedPods: number, finishedJobs: number): AuditSummary {
  const namespaces = tenants.flatMap((t) => t.namespaces);
  const workloads = namespaces.flatMap((n) => n.workloads);
  const count = (verdict: AuditVerdict) => workloads.filter((w) => w.verdict === verdict).length;
  const audited = namespaces.reduce((sum, n) => sum + n.audited, 0);
  return {
    tenants: tenants.length,
    namespaces: namespaces.length,
    workloads: audited,
    deny: count('deny'),
    wouldDeny: count('would-deny'),
    change: count('change'),
    ok: audited - workloads.length,
    podsUnderOwners,
    finishedPods,
    finishedJobs,
  };
}

/**
 * 1 when enforcement would refuse anything, in enforce or dry-run namespaces alike; else 3 when something could be
 * judged only by reading ECR (--aws); else 0.
 */
export function exitCodeOf(summary: AuditSummary, ecr: EcrFindings): 0 | 1 | 3 {
  if (summary.deny + summary.wouldDeny > 0) return 1;
  return ecr.unjudged > 0 ? 3 : 0;
}
