import { ApiException } from '@kubernetes/client-node';
import { clip } from '../text.ts';

/**
 * A failed request to the API server as one line: the Status reason and message it answered with, or what went
 * wrong on the wire; never client-node's multi-line exception with the whole response in it.
 */
const MESSAGE_MAX = 300;

/** A Status reason as words in a sentence: "Forbidden" → "forbidden", "NotFound" → "not found". */
function reasonWords(reason: string): string {
  return reason.replace(/(?<=[a-z])(?=[A-Z])/g, ' ').toLowerCase();
}

/** client-node keeps an error response's body as text; from the API server it is a Status object. */
function statusOf(body: unknown): { reason?: unknown; message?: unknown } {
  if (typeof body !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

function describeApiException(error: ApiException<unknown>): string {
  const { reason, message } = statusOf(error.body);
  const bare: Readonly<Record<number, string>> = { 401: 'unauthorized', 404: 'not found' };
  const what = typeof reason === 'string' && reason !== '' ? reasonWords(reason) : (bare[error.code] ?? 'failed');
  const detail = typeof message === 'string' && message !== '' ? `: ${clip(message.replace(/\s+/g, ' '), MESSAGE_MAX)}` : '';
  return `${what} (HTTP ${error.code})${detail}`;
}

/** The innermost cause says what went wrong on the wire (ECONNREFUSED, a certificate problem); fetch only says it failed. */
function innermost(error: Error): Error {
  let inner = error;
  while (inner.cause instanceof Error) inner = inner.cause;
  return inner;
}

export function describeFailure(error: unknown, server: string): string {
  if (error instanceof ApiException) return describeApiException(error);
  if (!(error instanceof Error)) return String(error);
  if (error.message === 'fetch failed') return `cannot reach the API server at ${server}: ${innermost(error).message}`;
  return error.message;
}

/** Any failure as one short line: the API server's code, or the error's message. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code} from the API server`;
  return error instanceof Error ? error.message : String(error);
}
