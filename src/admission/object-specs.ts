import { readPodSpec, type PodSpecView } from '../workload/pod-spec.ts';
import type { AdmissionRequest } from './review.ts';

export type SpecsRead =
  | { readonly ok: true; readonly view: PodSpecView; readonly before: PodSpecView | undefined }
  | { readonly ok: false; readonly problem: string };

/** The pod spec at `at` in the request's object and, on UPDATE, in its oldObject: what a decision compares. */
export function readSpecs(request: AdmissionRequest, at: readonly string[], what: string): SpecsRead {
  const now = readPodSpec(request.object, at);
  if (!now.ok) return { ok: false, problem: `${what} ${now.problem}` };
  if (request.operation !== 'UPDATE') return { ok: true, view: now.view, before: undefined };
  const old = readPodSpec(request.oldObject, at);
  return old.ok ? { ok: true, view: now.view, before: old.view } : { ok: false, problem: `oldObject ${old.problem}` };
}
