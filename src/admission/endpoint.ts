import type { Metrics } from '../metrics.ts';
import { badRequest, type HandlerResult } from './answers.ts';
import { readAdmissionReview, type AdmissionRequest } from './review.ts';

/** The admission endpoints, as the metrics name them. */
export type Resource = 'pods' | 'namespaces' | 'workloads';

/** The request's operation, or `unknown` when the body could not be read as an AdmissionReview. */
export type OperationLabel = AdmissionRequest['operation'] | 'unknown';

export interface EndpointResult extends HandlerResult {
  readonly operation: OperationLabel;
}

/**
 * What the three endpoints share around their review: read the envelope (a body that is not an AdmissionReview
 * is a 400), count the decision, and carry the operation on for the latency histogram.
 */
export function admissionEndpoint(resource: Resource, metrics: Metrics, review: (request: AdmissionRequest) => HandlerResult | Promise<HandlerResult>) {
  return async function handle(body: unknown): Promise<EndpointResult> {
    const read = readAdmissionReview(body);
    const result = read.ok ? await review(read.request) : badRequest(`invalid AdmissionReview: ${read.problem}`);
    metrics.decisions.inc({ resource, decision: result.decision, tenant: result.tenant ?? '', mode: result.mode ?? '' });
    return { ...result, operation: read.ok ? read.request.operation : 'unknown' };
  };
}
