import type { FastifyInstance } from 'fastify';
import type { AdmissionInput } from './admission-inputs.ts';

/**
 * What every answer of an admission endpoint must look like, whatever was sent: a 400 Status with a message,
 * or a 200 AdmissionReview answering the request's uid. Anything else (a crash, a 5xx, a 404, a wrong uid) is a
 * problem, described in a few words so that equal symptoms group together in the summary.
 */
export interface Reply {
  readonly status: number;
  readonly body: string;
}

/** Sends one input; a throw from inject itself is reported as the reply's problem, never let through. */
export async function send(app: FastifyInstance, route: string, input: AdmissionInput): Promise<Reply | { readonly thrown: string }> {
  try {
    const res = await app.inject({ method: 'POST', url: route, payload: input.payload, headers: { 'content-type': input.contentType } });
    return { status: res.statusCode, body: res.body };
  } catch (error) {
    return { thrown: `${(error as Error)?.name}: ${(error as Error)?.message}` };
  }
}

function parse(text: string): unknown {
  try {
    // Fastify's parser skips a leading byte order mark; so must the check of what uid was sent.
    return JSON.parse(text.startsWith('\ufeff') ? text.slice(1) : text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The uid the request carried, read the way any JSON parser would; undefined when there is none. The payload is read
 * as it reaches the server, encoded in UTF-8, where a lone surrogate has become U+FFFD.
 */
function sentUid(payload: string): unknown {
  const body = parse(Buffer.from(payload, 'utf8').toString('utf8'));
  return isObject(body) && isObject(body.request) ? body.request.uid : undefined;
}

function patchProblem(response: Record<string, unknown>): string | undefined {
  if (response.patch === undefined) return undefined;
  if (response.patchType !== 'JSONPatch' || typeof response.patch !== 'string') return 'a patch without patchType JSONPatch';
  return Array.isArray(parse(Buffer.from(response.patch, 'base64').toString('utf8'))) ? undefined : 'a patch that is not base64 of a JSON list';
}

function reviewProblem(body: unknown, uid: unknown): string | undefined {
  if (!isObject(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') return '200 without an admission.k8s.io/v1 AdmissionReview';
  const response = body.response;
  if (!isObject(response)) return '200 without a response';
  if (typeof uid !== 'string') return '200 for a request without a string uid';
  if (response.uid !== uid) return 'response.uid differs from request.uid';
  if (typeof response.allowed !== 'boolean') return 'response.allowed is not a boolean';
  if (!response.allowed) {
    const status = response.status;
    if (!isObject(status) || typeof status.message !== 'string' || status.message === '') return 'a denial without a status message';
  }
  return patchProblem(response);
}

/** What a 5xx left in the log, so that the summary names the exception instead of just the status. */
function loggedError(logs: readonly Record<string, unknown>[]): string {
  const failed = logs.find((line) => line.msg === 'request failed');
  const err = failed?.err as { type?: string; message?: string; stack?: string } | undefined;
  if (err === undefined) return 'nothing logged';
  const frames = err.stack?.split('\n').filter((line) => line.trim().startsWith('at ')) ?? [];
  const frame = frames.find((line) => line.includes('/src/')) ?? frames[0];
  const at = frame?.trim().replace(/^at /, '').replace(/\(.*\/src\//, '(src/');
  return `${err.type}: ${err.message}${at === undefined ? '' : ` at ${at}`}`;
}

/** The problem with one answer, or undefined when it is a proper one. `logs` are the lines logged while answering. */
export function replyProblem(input: AdmissionInput, reply: Reply | { readonly thrown: string }, logs: readonly Record<string, unknown>[]): string | undefined {
  if ('thrown' in reply) return `inject threw ${reply.thrown}`;
  const body = parse(reply.body);
  if (reply.status === 404) return 'HTTP 404: no such route';
  if (reply.status >= 500) return `HTTP ${reply.status} (${loggedError(logs)})`;
  if (reply.status === 400) return isObject(body) && typeof body.message === 'string' && body.message !== '' ? undefined : 'HTTP 400 without a message';
  if (reply.status === 200) return reviewProblem(body, sentUid(input.payload));
  return `HTTP ${reply.status}, neither 200 nor 400`;
}
