import { describeValue, nestsDeeperThan } from '../text.ts';
import { isPlainObject } from '../workload/pod-spec.ts';

/** The admission.k8s.io/v1 AdmissionReview envelope: read defensively, answered with the request's uid. */
export const REVIEW_API_VERSION = 'admission.k8s.io/v1';
const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);
/**
 * Deepest nesting accepted. Pods and workloads nest about 15 levels; recursive code (the patch diff,
 * JSON.stringify in logs) overflows the stack somewhere past 3,000.
 */
export const MAX_NESTING = 256;

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly subResource: string;
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly name: string;
  readonly namespace: string;
  readonly object: unknown;
  readonly oldObject: unknown;
  readonly dryRun: boolean;
  /** Who asked, as the API server authenticated them; absent or malformed reads as undefined. */
  readonly userInfo: UserInfo | undefined;
}

export interface UserInfo {
  readonly username: string;
  readonly groups: readonly string[];
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export type ReviewRead = { readonly ok: true; readonly request: AdmissionRequest } | { readonly ok: false; readonly problem: string };

function problem(text: string): ReviewRead {
  return { ok: false, problem: text };
}

function readKind(value: unknown): GroupVersionKind | undefined {
  if (!isPlainObject(value)) return undefined;
  const { group, version, kind } = value;
  if (typeof group !== 'string' || typeof version !== 'string' || typeof kind !== 'string') return undefined;
  return { group, version, kind };
}

function optionalString(value: unknown): string | undefined {
  return value === undefined || value === null ? '' : typeof value === 'string' ? value : undefined;
}

function readUserInfo(value: unknown): UserInfo | undefined {
  if (!isPlainObject(value) || typeof value.username !== 'string') return undefined;
  const groups = Array.isArray(value.groups) ? value.groups.filter((group): group is string => typeof group === 'string') : [];
  return { username: value.username, groups };
}

export function readAdmissionReview(body: unknown): ReviewRead {
  if (!isPlainObject(body)) return problem('body must be a JSON object (an AdmissionReview)');
  if (nestsDeeperThan(body, MAX_NESTING)) return problem(`body nests lists and maps deeper than ${MAX_NESTING} levels; no Kubernetes object does`);
  if (body.kind !== 'AdmissionReview') return problem(`kind must be "AdmissionReview", not ${describeValue(body.kind ?? null)}`);
  if (body.apiVersion !== REVIEW_API_VERSION) {
    return problem(`apiVersion must be "${REVIEW_API_VERSION}", not ${describeValue(body.apiVersion ?? null)} (register the webhook with admissionReviewVersions: [v1])`);
  }
  const request = body.request;
  if (!isPlainObject(request)) return problem('request is missing or not an object');
  const { uid, operation } = request;
  if (typeof uid !== 'string' || uid === '') return problem('request.uid must be a non-empty string');
  if (uid.length > 256) return problem('request.uid is longer than 256 characters');
  const kind = readKind(request.kind);
  if (kind === undefined) return problem('request.kind must be an object with string group, version and kind');
  if (typeof operation !== 'string' || !OPERATIONS.has(operation)) return problem('request.operation must be CREATE, UPDATE, DELETE or CONNECT');
  const name = optionalString(request.name);
  const namespace = optionalString(request.namespace);
  const subResource = optionalString(request.subResource);
  if (name === undefined || namespace === undefined || subResource === undefined) {
    return problem('request.name, request.namespace and request.subResource must be strings when set');
  }
  if (request.dryRun !== undefined && request.dryRun !== null && typeof request.dryRun !== 'boolean') return problem('request.dryRun must be a boolean');
  return {
    ok: true,
    request: {
      uid,
      kind,
      subResource,
      operation: operation as AdmissionRequest['operation'],
      name,
      namespace,
      object: request.object,
      oldObject: request.oldObject,
      dryRun: request.dryRun === true,
      userInfo: readUserInfo(request.userInfo),
    },
  };
}

export function reviewOf(response: AdmissionResponse) {
  return { apiVersion: REVIEW_API_VERSION, kind: 'AdmissionReview', response };
}
