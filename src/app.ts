import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { badRequest, type DecisionLabel } from './admission/answers.ts';
import type { EndpointResult, OperationLabel, Resource } from './admission/endpoint.ts';
import { createMutateHandler, type FindingReporting, type PullSecretProvisioning } from './admission/mutate-handler.ts';
import { createNamespaceHandler } from './admission/namespace-handler.ts';
import { createWorkloadHandler } from './admission/workload-handler.ts';
import type { NamespaceDirectory } from './kube/namespace-directory.ts';
import type { Metrics } from './metrics.ts';
import type { PolicySource } from './policy/policy-source.ts';
import type { RegistryLookups } from './registry/registry-lookups.ts';
import { TLS_MIN_VERSION } from './tls/tls-reloader.ts';

/** Builds the webhook's Fastify app from its configuration and dependencies; server.ts only starts it. */
export interface AppConfig {
  /** PEM certificate and key; without them the app serves plain HTTP (tests that use app.inject). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer } | undefined;
  /** Largest request body accepted. An AdmissionReview holds object and oldObject, each up to ~3 MiB. */
  readonly bodyLimitBytes: number;
  /**
   * What one admission may spend waiting (namespace lookup and pull secrets together); kept under the webhook's
   * timeoutSeconds so that the caller always reads this webhook's answer, not the API server's timeout.
   */
  readonly admissionDeadlineMs: number;
}

export interface AppDeps {
  readonly policy: PolicySource;
  readonly namespaces: NamespaceDirectory;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** True once shutdown has begun: /readyz fails so the endpoint is removed while requests in flight finish. */
  readonly draining: () => boolean;
  /** Writes the pull Secrets admitted pods reference (see MutateDeps). */
  readonly pullSecrets?: PullSecretProvisioning | undefined;
  /** Takes dry-run would-be denials for Events (see MutateDeps). */
  readonly findings?: FindingReporting | undefined;
  /** ECR reads at admission (see MutateDeps). */
  readonly registry?: RegistryLookups | undefined;
}

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** One second under the manifests' timeoutSeconds (5): room for the answer to travel back. */
export const DEFAULT_ADMISSION_DEADLINE_MS = 4000;

function status(code: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', reason, code, message };
}

/** Fastify's own body errors (bad JSON, wrong content type, too large) are all a bad request to the caller. */
function clientErrorMessage(error: FastifyError, limit: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than the ${limit}-byte limit`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'content-type must be application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'request body is empty; expected an AdmissionReview';
    default:
      return `request body is not valid JSON: ${error.message}`;
  }
}

/** The latency histogram's labels for one answered admission request. */
interface Answered {
  readonly operation: OperationLabel;
  readonly decision: DecisionLabel | 'error';
}

/** A request the handler never answered: Fastify refused its body (4xx), or the handler failed (5xx). */
function unanswered(statusCode: number): Answered {
  return { operation: 'unknown', decision: statusCode >= 500 ? 'error' : 'invalid' };
}

function readiness(deps: AppDeps): string {
  if (deps.draining()) return 'shutting down';
  if (!deps.namespaces.ready()) return 'waiting for the namespace directory';
  return deps.pullSecrets === undefined || deps.pullSecrets.ready() ? 'ready' : 'waiting for the provenance key';
}

export function buildApp(config: AppConfig, deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log,
    // One log line per decision comes from the handler; per-request lines would double the log volume.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    ...(config.tls === undefined ? {} : { https: { cert: config.tls.cert, key: config.tls.key, minVersion: TLS_MIN_VERSION } }),
  }) as unknown as FastifyInstance;
  const handlers: Readonly<Record<string, { resource: Resource; handle: (body: unknown) => Promise<EndpointResult> }>> = {
    '/mutate': { resource: 'pods', handle: createMutateHandler({ ...deps, deadlineMs: config.admissionDeadlineMs }) },
    '/validate/namespaces': { resource: 'namespaces', handle: createNamespaceHandler(deps) },
    '/validate/workloads': { resource: 'workloads', handle: createWorkloadHandler({ ...deps, deadlineMs: config.admissionDeadlineMs }) },
  };

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      reply.code(400).send(badRequest(clientErrorMessage(error, config.bodyLimitBytes)).body);
      return;
    }
    request.log.error({ err: error, url: request.url }, 'request failed');
    reply.code(500).send(status(500, 'InternalError', 'internal error in ecr-tenant-webhook; see its log'));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(status(404, 'NotFound', `no route ${request.method} ${request.url.slice(0, 200)}`));
  });

  // What each handler decided, kept for the onResponse hook; a WeakMap so nothing outlives its request.
  const answered = new WeakMap<FastifyRequest, Answered>();
  for (const [url, { handle }] of Object.entries(handlers)) {
    app.post(url, async (request, reply) => {
      const result = await handle(request.body);
      answered.set(request, { operation: result.operation, decision: result.decision });
      return reply.code(result.statusCode).send(result.body);
    });
  }
  // Timed in onResponse so that bodies Fastify refuses before the handler (bad JSON, too large) count too.
  app.addHook('onResponse', async (request, reply) => {
    const url = request.routeOptions.url;
    if (url === undefined || !Object.hasOwn(handlers, url)) return;
    const { operation, decision } = answered.get(request) ?? unanswered(reply.statusCode);
    deps.metrics.admissionSeconds.observe({ resource: handlers[url]!.resource, operation, decision }, reply.elapsedTime / 1000);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const status = readiness(deps);
    return reply.code(status === 'ready' ? 200 : 503).send({ status });
  });
  return app;
}
