import type { Logger } from 'pino';
import { Budget } from '../deadline.ts';
import { namespaceLabels, type NamespaceDirectory } from '../kube/namespace-directory.ts';
import type { Metrics } from '../metrics.ts';
import { WARNING_MAX } from '../policy/decide.ts';
import type { PolicySource } from '../policy/policy-source.ts';
import { decideReadingRegistry } from '../registry/decide-reading-registry.ts';
import type { RegistryLookups } from '../registry/registry-lookups.ts';
import { clip } from '../text.ts';
import { metadataOf } from '../workload/evaluate.ts';
import { podSpecPathOf } from '../workload/pod-spec.ts';
import { readSpecs } from './object-specs.ts';
import { answer, decisionLabel, denialMessage, forbid, madeFor, refuse, type HandlerResult } from './answers.ts';
import { admissionEndpoint } from './endpoint.ts';
import type { AdmissionRequest } from './review.ts';

/**
 * POST /validate/workloads — early feedback on pod templates, so `kubectl apply` shows what the pods would get
 * instead of a ReplicaSet event nobody reads. Templates are never mutated: their pods are, when created.
 *
 * | request                                                   | HTTP | AdmissionResponse                              |
 * |-----------------------------------------------------------|------|------------------------------------------------|
 * | body not JSON, too large, not an AdmissionReview v1       | 400  | none: a v1 Status naming the problem           |
 * | DELETE, CONNECT or a subresource (scale, status)          | 200  | allowed                                        |
 * | not one of the six workload kinds, or template malformed  | 200  | denied, code 400, the problem named            |
 * | namespace without tenant label                            | 200  | allowed                                        |
 * | namespace labels cannot be read                           | 200  | allowed with a warning: pods are still checked |
 * | every template image granted (enforce)                    | 200  | allowed, no patch                              |
 * | a template image not granted (enforce)                    | 200  | denied, code 403, the pod's denial message     |
 * | dry-run                                                   | 200  | allowed, the pod's dry-run warnings            |
 * | handler bug                                               | 500  | none: a Status; failurePolicy Ignore admits it |
 *
 * On UPDATE only images that changed are judged, as for pods: a controller removing a finalizer from a workload
 * whose grant has since gone must not be refused, or the workload could never be deleted.
 */
export interface WorkloadDeps {
  readonly policy: PolicySource;
  readonly namespaces: NamespaceDirectory;
  readonly log: Logger;
  readonly metrics: Metrics;
  /**
   * How long the namespace lookup and the reads of repository tags together may take; past it the template is let
   * through unchecked when the namespace could not be read, and a tag grant whose tags could not be read refuses.
   */
  readonly deadlineMs: number;
  /** ECR reads for tag-based grants (see MutateDeps). */
  readonly registry?: RegistryLookups | undefined;
}

/** The API group of each kind whose pod template is checked. */
const WORKLOAD_GROUPS: Readonly<Record<string, string>> = {
  Deployment: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  ReplicaSet: 'apps',
  Job: 'batch',
  CronJob: 'batch',
};

export function isCheckedWorkload(group: string, kind: string): boolean {
  return Object.hasOwn(WORKLOAD_GROUPS, kind) && WORKLOAD_GROUPS[kind] === group;
}

export function createWorkloadHandler(deps: WorkloadDeps) {
  async function review(request: AdmissionRequest): Promise<HandlerResult> {
    const { uid } = request;
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return answer({ uid, allowed: true }, 'untouched');
    if (request.subResource !== '') return answer({ uid, allowed: true }, 'untouched');
    const { group, version, kind } = request.kind;
    if (!isCheckedWorkload(group, kind)) {
      return refuse(uid, 400, `this endpoint checks the pod templates of apps and batch workloads, not ${group === '' ? 'core' : group}/${version} ${kind}; check the webhook's rules`);
    }
    if (request.namespace === '') return refuse(uid, 400, `request.namespace is empty; a ${kind} is namespaced`);
    const at = podSpecPathOf(kind) as readonly string[];
    const template = readSpecs(request, at, kind);
    if (!template.ok) return refuse(uid, 400, template.problem);
    const budget = new Budget(deps.deadlineMs);
    let labels;
    try {
      labels = await namespaceLabels(deps.namespaces, request.namespace, budget);
    } catch (error) {
      const warning = clip(`template not checked (namespace labels unavailable); its pods are checked when created`, WARNING_MAX);
      deps.log.warn({ uid, namespace: request.namespace, err: (error as Error).message }, 'namespace labels unavailable');
      return answer({ uid, allowed: true, warnings: [warning] }, 'unavailable');
    }
    const input = { pod: template.view, namespace: request.namespace, namespaceLabels: labels, policy: deps.policy.current(), before: template.before, template: true };
    const decision = await decideReadingRegistry(input, deps.registry, budget);
    const name = request.name !== '' ? request.name : metadataOf(request.object).name;
    deps.log.info(
      { uid, namespace: request.namespace, kind, name, operation: request.operation, tenant: decision.tenant, mode: decision.mode, decision: decision.verdict, reasons: decision.reasons.length > 0 ? decision.reasons : undefined },
      'workload template decision',
    );
    const warnings = decision.warnings.length > 0 ? { warnings: [...decision.warnings] } : {};
    if (!decision.allowed) return madeFor(forbid(uid, denialMessage(decision.reasons), warnings), decision);
    return madeFor(answer({ uid, allowed: true, ...warnings }, decisionLabel(decision)), decision);
  }

  return admissionEndpoint('workloads', deps.metrics, review);
}
