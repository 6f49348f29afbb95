import type { Logger } from 'pino';
import { MODE_LABEL, TENANT_LABEL } from '../labels.ts';
import type { Metrics } from '../metrics.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { WARNING_MAX } from '../policy/decide.ts';
import { describeChange, guardedLabelChanges, judgeLabelChange, type Labels } from '../policy/label-guard.ts';
import type { PolicySource } from '../policy/policy-source.ts';
import { MODES } from '../policy/schema.ts';
import { clip, formatPath, quote } from '../text.ts';
import { metadataOf } from '../workload/evaluate.ts';
import { isPlainObject } from '../workload/pod-spec.ts';
import { answer, forbid, refuse, type HandlerResult } from './answers.ts';
import { admissionEndpoint } from './endpoint.ts';
import type { AdmissionRequest } from './review.ts';

/**
 * POST /validate/namespaces — the namespace-label guard. What each request gets back:
 *
 * | request                                                   | HTTP | AdmissionResponse                              |
 * |-----------------------------------------------------------|------|------------------------------------------------|
 * | body not JSON, too large, not an AdmissionReview v1       | 400  | none: a v1 Status naming the problem           |
 * | DELETE or CONNECT                                         | 200  | allowed                                        |
 * | object not a core/v1 Namespace, labels not strings        | 200  | denied, code 400, the problem named            |
 * | tenant and mode labels unchanged                          | 200  | allowed                                        |
 * | (the namespace itself, /status and /finalize alike: each  |      |                                                |
 * |  carries the whole object, labels included)               |      |                                                |
 * | changed by one of spec.labelAdmins                        | 200  | allowed; warnings for a tenant not in the      |
 * |                                                           |      | policy or a mode label that is not a mode      |
 * | changed by anyone else, or by a request without userInfo  | 200  | denied, code 403, who, what and who may        |
 * | handler bug                                               | 500  | none: a Status; failurePolicy Fail refuses it  |
 */
export interface NamespaceGuardDeps {
  readonly policy: PolicySource;
  readonly log: Logger;
  readonly metrics: Metrics;
}

function labelsAt(object: unknown, where: string): Labels | string {
  const metadata = isPlainObject(object) ? object.metadata : undefined;
  if (metadata === undefined || metadata === null) return {};
  if (!isPlainObject(metadata)) return `${where}.metadata: must be a map`;
  const labels = metadata.labels;
  if (labels === undefined || labels === null) return {};
  if (!isPlainObject(labels)) return `${where}.metadata.labels: must be a map`;
  const odd = Object.entries(labels).find(([, value]) => typeof value !== 'string');
  return odd === undefined ? (labels as Labels) : `${formatPath([where, 'metadata', 'labels', odd[0]])}: must be a string`;
}

/** Onboarding mistakes the guard cannot refuse (the policy may gain the tenant later) but should point out. */
function onboardingWarnings(after: Labels, policy: CompiledPolicy): string[] {
  const warnings: string[] = [];
  const tenant = after[TENANT_LABEL];
  if (tenant !== undefined && !policy.tenants.has(tenant)) {
    warnings.push(clip(`tenant ${quote(tenant, 63)} is not in the policy: pods in this namespace will be denied`, WARNING_MAX));
  }
  const mode = after[MODE_LABEL];
  if (mode !== undefined && !(MODES as readonly string[]).includes(mode)) {
    warnings.push(clip(`${MODE_LABEL}=${quote(mode, 30)} is not enforce or dry-run: pods will be enforced`, WARNING_MAX));
  }
  return warnings;
}

export function createNamespaceHandler(deps: NamespaceGuardDeps) {
  function review(request: AdmissionRequest): HandlerResult {
    const { uid } = request;
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return answer({ uid, allowed: true }, 'untouched');
    // No subresource is let through unjudged: /status and /finalize write metadata.labels as well.
    const { group, version, kind } = request.kind;
    if (group !== '' || version !== 'v1' || kind !== 'Namespace') {
      return refuse(uid, 400, `this endpoint guards core/v1 Namespaces only, not ${group === '' ? 'core' : group}/${version} ${kind}; check the webhook's rules`);
    }
    const after = labelsAt(request.object, 'object');
    const before = request.operation === 'UPDATE' ? labelsAt(request.oldObject, 'oldObject') : {};
    if (typeof after === 'string') return refuse(uid, 400, after);
    if (typeof before === 'string') return refuse(uid, 400, before);
    const result = judge(request, before, after);
    // Labelled with the namespace's tenant once the request is through: a refused change never takes effect, and
    // counting the value it asked for would let anyone refused create metric series at will.
    const tenant = (result.decision === 'allow' ? after : before)[TENANT_LABEL];
    return tenant === undefined ? result : { ...result, tenant };
  }

  function judge(request: AdmissionRequest, before: Labels, after: Labels): HandlerResult {
    const { uid } = request;
    const changes = guardedLabelChanges(before, after);
    if (changes.length === 0) return answer({ uid, allowed: true }, 'untouched');
    const namespace = request.name !== '' ? request.name : metadataOf(request.object).name;
    if (request.userInfo === undefined) return refuse(uid, 400, `request.userInfo is missing, so who changes the labels of namespace ${quote(namespace, 63)} is unknown`);
    const policy = deps.policy.current();
    const verdict = judgeLabelChange(namespace, request.userInfo, changes, policy.document.spec.labelAdmins);
    deps.log.info(
      { uid, namespace, user: request.userInfo.username, changes: changes.map(describeChange), decision: verdict.allowed ? 'allow' : 'deny' },
      'namespace label decision',
    );
    if (!verdict.allowed) return forbid(uid, verdict.message);
    const warnings = onboardingWarnings(after, policy);
    return answer({ uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) }, 'allow');
  }

  return admissionEndpoint('namespaces', deps.metrics, review);
}
