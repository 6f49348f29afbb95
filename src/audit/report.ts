import type { Decision } from '../policy/decide.ts';
import type { Mode } from '../policy/schema.ts';
import { formatPath } from '../text.ts';
import { podSpecPathOf } from '../workload/pod-spec.ts';

/**
 * What an audit found, tenant → namespace → workload, in the shape `--output json` prints. Only workloads with
 * something to report are listed; the others are counted.
 *
 * | verdict    | meaning                                                                              |
 * |------------|--------------------------------------------------------------------------------------|
 * | deny       | enforce mode: creating its pods now would be refused                                 |
 * | would-deny | dry-run mode: the same, once the namespace or tenant is switched to enforce          |
 * | change     | admitted, with images rewritten and/or pull secrets added (in dry-run: once enforced) |
 * | ok         | admitted as it is                                                                    |
 */
export type AuditVerdict = 'deny' | 'would-deny' | 'change' | 'ok';

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
  readonly rewrites: readonly { readonly path: string; readonly from: string; readonly to: string }[];
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

export interface AuditReport {
  readonly summary: AuditSummary;
  readonly tenants: readonly AuditedTenant[];
}

/** A workload as judged, before it is known whether it is reported on its own. */
export function workloadOf(kind: string, name: string, decision: Decision, existingPullSecrets: readonly string[]): AuditedWorkload {
  const denied = decision.images.filter((i) => !i.granted).map(({ path, from, to }) => ({ path, image: from, to }));
  const rewrites = decision.images.filter((i) => i.granted && i.to !== i.from).map(({ path, from, to }) => ({ path, from, to }));
  const pullSecretsNeeded = decision.imagePullSecrets.filter((secret) => !existingPullSecrets.includes(secret));
  return { kind, name, verdict: verdictOf(decision, rewrites.length + pullSecretsNeeded.length > 0), denied, reasons: decision.reasons, rewrites, pullSecretsNeeded };
}

function verdictOf(decision: Decision, changes: boolean): AuditVerdict {
  if (decision.reasons.length > 0) return decision.mode === 'enforce' ? 'deny' : 'would-deny';
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

/** 1 when enforcement would refuse anything, in enforce or dry-run namespaces alike. */
export function exitCodeOf(summary: AuditSummary): 0 | 1 {
  return summary.deny + summary.wouldDeny > 0 ? 1 : 0;
}
