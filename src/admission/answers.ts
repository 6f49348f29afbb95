import type { Decision } from '../policy/decide.ts';
import type { Mode } from '../policy/schema.ts';
import { reviewOf, type AdmissionResponse } from './review.ts';

/** What every admission handler returns: the HTTP status, the body, and the decision labels for the metrics. */
export type DecisionLabel = 'allow' | 'deny' | 'dry-run:allow' | 'dry-run:would-deny' | 'untouched' | 'invalid' | 'unavailable';

export interface HandlerResult {
  readonly statusCode: number;
  readonly body: unknown;
  readonly decision: DecisionLabel;
  /** The tenant the decision was made for; absent when none applies. */
  readonly tenant?: string | undefined;
  /** The mode the decision was made in; absent when no tenant's policy was applied. */
  readonly mode?: Mode | undefined;
}

const MAX_REASONS_IN_MESSAGE = 10;

export function badRequest(message: string): HandlerResult {
  return { statusCode: 400, body: { apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400, message }, decision: 'invalid' };
}

export function answer(response: AdmissionResponse, decision: DecisionLabel): HandlerResult {
  return { statusCode: 200, body: reviewOf(response), decision };
}

/** A denial that is not a policy verdict: the request could not be judged (400) or not now (503). */
export function refuse(uid: string, code: number, message: string): HandlerResult {
  return answer({ uid, allowed: false, status: { code, message } }, code === 503 ? 'unavailable' : 'invalid');
}

export function forbid(uid: string, message: string, extra: Partial<AdmissionResponse> = {}): HandlerResult {
  return answer({ uid, allowed: false, status: { code: 403, reason: 'Forbidden', message }, ...extra }, 'deny');
}

export function denialMessage(reasons: readonly string[]): string {
  const shown = reasons.slice(0, MAX_REASONS_IN_MESSAGE).join('; ');
  const more = reasons.length - MAX_REASONS_IN_MESSAGE;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}

/** The result labelled with the tenant and mode of the policy decision behind it (none for an untouched pod). */
export function madeFor(result: HandlerResult, decision: Decision): HandlerResult {
  return decision.tenant === undefined ? result : { ...result, tenant: decision.tenant, mode: decision.mode };
}

/** The metrics label of a policy decision on a pod or a pod template. */
export function decisionLabel(decision: Decision): DecisionLabel {
  if (decision.verdict === 'untouched') return 'untouched';
  if (decision.mode === 'dry-run') return decision.verdict === 'allow' ? 'dry-run:allow' : 'dry-run:would-deny';
  return decision.verdict === 'allow' ? 'allow' : 'deny';
}
