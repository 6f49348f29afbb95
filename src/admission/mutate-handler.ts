import type { Logger } from 'pino';
import { Budget } from '../deadline.ts';
import { namespaceLabels, type NamespaceDirectory } from '../kube/namespace-directory.ts';
import type { Metrics } from '../metrics.ts';
import type { ProvisionResult } from '../credentials/pull-secret-provisioner.ts';
import type { CompiledPolicy, CompiledTenant } from '../policy/compile.ts';
import type { Decision, PullSecretNeed } from '../policy/decide.ts';
import { decideReadingRegistry } from '../registry/decide-reading-registry.ts';
import type { RegistryLookups } from '../registry/registry-lookups.ts';
import type { PolicySource } from '../policy/policy-source.ts';
import { AUDIT_DECISION, AUDIT_REWRITES, AUDIT_TENANT } from '../labels.ts';
import { flatFields } from '../log.ts';
import { clip } from '../text.ts';
import { metadataOf } from '../workload/evaluate.ts';
import type { Finding } from '../events/finding-reporter.ts';
import { findingSubject } from '../events/finding-subject.ts';
import { buildPatch } from './patch.ts';
import { readSpecs } from './object-specs.ts';
import { answer, decisionLabel, denialMessage, madeFor, refuse, type HandlerResult } from './answers.ts';
import { admissionEndpoint } from './endpoint.ts';
import type { AdmissionRequest } from './review.ts';

/**
 * POST /mutate — what each request gets back:
 *
 * | request                                              | HTTP | AdmissionResponse                                  |
 * |------------------------------------------------------|------|----------------------------------------------------|
 * | body not JSON, too large, not an AdmissionReview v1  | 400  | none: a v1 Status naming the problem               |
 * | DELETE or CONNECT; pod subresource other than        | 200  | allowed, untouched                                 |
 * |   ephemeralcontainers                                |      |                                                    |
 * | object not a core/v1 Pod, or its spec malformed      | 200  | denied, code 400, the problem named                |
 * | namespace labels cannot be read (in the budget)      | 200  | denied, code 503: fail closed, never guess a tenant|
 * | namespace without tenant label                       | 200  | allowed, untouched                                 |
 * | every image granted (enforce)                        | 200  | allowed, JSONPatch when anything changes           |
 * | an image not granted (enforce)                       | 200  | denied, code 403, every reason in the message      |
 * | dry-run                                              | 200  | allowed, no patch, warnings; a would-be denial is  |
 * |                                                      |      |   also queued as a WouldDeny Event on the owner    |
 * | handler bug                                          | 500  | none: a Status; failurePolicy Fail rejects the pod |
 *
 * The namespace lookup, the ECR reads and the pull-secret work share one budget (deadlineMs, set under the
 * webhook's timeoutSeconds), so a slow API server and a slow STS together still end in this webhook's own answer.
 * What the ECR reads decide (an image not in its target, a tag pinned, a tag-based grant) is in decide.ts.
 */
export interface MutateDeps {
  readonly policy: PolicySource;
  readonly namespaces: NamespaceDirectory;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The time one admission may spend waiting on the namespace lookup and its pull secrets together. */
  readonly deadlineMs: number;
  /**
   * Writes the pull Secrets an admitted pod references before the answer goes back. Absent, the Secrets are
   * referenced but not written (the offline paths and the unit tests of the decision envelope).
   */
  readonly pullSecrets?: PullSecretProvisioning | undefined;
  /** Where dry-run would-be denials go as Events on the pod's owner (never awaited). Absent, they are only logged. */
  readonly findings?: FindingReporting | undefined;
  /**
   * ECR read with the tenant's role, for tag-based grants, missingImage and pinDigests, within the same budget.
   * Absent (offline), a tag-based grant cannot be judged and is refused; nothing is checked or pinned.
   */
  readonly registry?: RegistryLookups | undefined;
}

export interface FindingReporting {
  report(finding: Finding): void;
}

/** The Event reason of a dry-run finding: what enforcement would have done. */
export const WOULD_DENY_REASON = 'WouldDeny';

export interface PullSecretProvisioning {
  /** False until existing Secrets can be judged (the provenance key is loaded). */
  ready(): boolean;
  /** Makes the needs work, within what is left of the admission's budget. */
  provision(namespace: string, tenant: CompiledTenant, needs: readonly PullSecretNeed[], budget: Budget): Promise<ProvisionResult>;
}

const SERVED_SUBRESOURCES = new Set(['', 'ephemeralcontainers']);

function auditAnnotations(decision: Decision, tenant: string): Record<string, string> {
  const rewrites = decision.images.filter((i) => i.to !== i.from).map((i) => `${i.path}: ${i.from} -> ${i.to}`);
  return {
    [AUDIT_DECISION]: decision.mode === 'dry-run' ? `dry-run:${decision.verdict}` : decision.verdict,
    [AUDIT_TENANT]: tenant,
    ...(rewrites.length > 0 ? { [AUDIT_REWRITES]: clip(rewrites.join('; '), 2000) } : {}),
  };
}

function podName(request: AdmissionRequest): string {
  return request.name !== '' ? request.name : metadataOf(request.object).name;
}

export function createMutateHandler(deps: MutateDeps) {
  async function review(request: AdmissionRequest): Promise<HandlerResult> {
    const { uid } = request;
    const budget = new Budget(deps.deadlineMs);
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return answer({ uid, allowed: true }, 'untouched');
    if (!SERVED_SUBRESOURCES.has(request.subResource)) return answer({ uid, allowed: true }, 'untouched');
    const { group, version, kind } = request.kind;
    if (group !== '' || version !== 'v1' || kind !== 'Pod') {
      return refuse(uid, 400, `this webhook mutates core/v1 Pods only, not ${group === '' ? 'core' : group}/${version} ${kind}; check the webhook's rules`);
    }
    if (request.namespace === '') return refuse(uid, 400, 'request.namespace is empty; pods are namespaced');
    const pod = readSpecs(request, ['spec'], 'pod');
    if (!pod.ok) return refuse(uid, 400, pod.problem);
    let labels;
    try {
      labels = await namespaceLabels(deps.namespaces, request.namespace, budget);
    } catch (error) {
      deps.log.warn({ uid, namespace: request.namespace, err: (error as Error).message }, 'namespace labels unavailable');
      return refuse(uid, 503, `cannot read the labels of namespace ${JSON.stringify(request.namespace)}: ${(error as Error).message}`);
    }
    const started = performance.now();
    const policy = deps.policy.current();
    const decided = await decideReadingRegistry({ pod: pod.view, namespace: request.namespace, namespaceLabels: labels, policy, before: pod.before }, deps.registry, budget);
    const decision = await withPullSecrets(decided, request, policy, budget);
    const patch = decision.allowed ? buildPatch(request.object, pod.view, decision.changes) : [];
    if (decision.verdict === 'would-deny' && !request.dryRun) reportWouldDeny(request, decision);
    deps.log.info(
      flatFields({
        uid,
        namespace: request.namespace,
        pod: podName(request),
        operation: request.subResource === '' ? request.operation : `${request.operation}/${request.subResource}`,
        tenant: decision.tenant,
        mode: decision.mode,
        decision: decision.verdict,
        rewrites: decision.changes.images.length,
        pullSecrets: decision.changes.addPullSecrets,
        reasons: decision.reasons.length > 0 ? decision.reasons : undefined,
        decideMs: Math.round((performance.now() - started) * 1000) / 1000,
      }),
      'admission decision',
    );
    const response = answer({
      uid,
      allowed: decision.allowed,
      ...(decision.allowed ? {} : { status: { code: 403, reason: 'Forbidden', message: denialMessage(decision.reasons) } }),
      ...(patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
      ...(decision.warnings.length > 0 ? { warnings: [...decision.warnings] } : {}),
      ...(decision.tenant === undefined ? {} : { auditAnnotations: auditAnnotations(decision, decision.tenant) }),
    }, decisionLabel(decision));
    return madeFor(response, decision);
  }

  /**
   * A dry-run denial, told to the people who own the workload. On a controller the message leaves the pod's name
   * out so that every pod of one ReplicaSet makes the same finding, which the reporter turns into one Event. A dryRun request (kubectl
   * --dry-run=server) reports nothing: the webhook is registered sideEffects NoneOnDryRun.
   */
  function reportWouldDeny(request: AdmissionRequest, decision: Decision): void {
    const regarding = findingSubject(request.object, request.namespace);
    // On the namespace, nothing else says which pod it was (and bare pods are not interchangeable replicas).
    const which = regarding.kind === 'Namespace' ? `pod ${JSON.stringify(podName(request))}` : 'this pod';
    deps.findings?.report({
      namespace: request.namespace,
      regarding,
      reason: WOULD_DENY_REASON,
      message: `dry-run: enforcement would deny ${which}: ${denialMessage(decision.reasons)}`,
    });
  }

  /**
   * Writes the pod's pull Secrets when enforcement admits it (never for a dryRun request: sideEffects NoneOnDryRun).
   * When a Secret cannot be made to work, the tenant's onCredentialError decides: deny with every failure named,
   * or admit with a warning (the pod may then fail to pull).
   */
  async function withPullSecrets(decision: Decision, request: AdmissionRequest, policy: CompiledPolicy, budget: Budget): Promise<Decision> {
    const tenant = decision.tenant === undefined ? undefined : policy.tenants.get(decision.tenant);
    const provisioning = deps.pullSecrets;
    if (provisioning === undefined || tenant === undefined || request.dryRun || decision.verdict !== 'allow' || decision.mode !== 'enforce') return decision;
    if (decision.pullSecrets.length === 0) return decision;
    const { failures } = await provisioning.provision(request.namespace, tenant, decision.pullSecrets, budget);
    if (failures.length === 0) return decision;
    const reasons = failures.map((f) => f.message);
    deps.log.warn({ uid: request.uid, namespace: request.namespace, tenant: tenant.name, failures }, 'pull secrets not ready');
    if (tenant.onCredentialError === 'allow') {
      const warnings = failures.map((f) => clip(`pull secret ${f.secret} not ready (${f.code}); admitted by onCredentialError: allow`, 120));
      return { ...decision, warnings: [...decision.warnings, ...warnings] };
    }
    return { ...decision, allowed: false, verdict: 'deny', reasons, changes: { images: [], addPullSecrets: [] } };
  }

  return admissionEndpoint('pods', deps.metrics, review);
}
