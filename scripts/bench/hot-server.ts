// A child process of `npm run bench`: the webhook's hot path over TLS, or the baseline it is compared with.
//
//   --kind real      the real app from buildApp: the generated policy (1,000 tenants × 10 grants), 10,000 namespaces
//                    in an InMemoryNamespaceDirectory, pino at info to /dev/null, Prometheus metrics, and the real
//                    PullSecretProvisioner, PullSecretWriter and TokenCache over an in-memory Secret store (holding
//                    metadata, as serve's watch does), with a fake
//                    token source (no AWS). The cache is filled with a token for every tenant and registry (5,000).
//   --registry       with --kind real: every tenant pins tags to digests and checks rewritten images exist
//                    (pinDigests, missingImage: deny), ECR read through the real lookup cache from an in-memory
//                    registry that has every image; after the priming pass every read is answered from memory
//                    (tags re-read after serve's default 60 s, as in serve).
//   --kind baseline  an empty Fastify app with the same TLS options whose POST /mutate answers a constant allowed
//                    AdmissionReview: what HTTPS, Fastify and JSON body parsing cost on their own.
//   --kind echo      the same, answering with the request's uid, as kube-apiserver requires: a webhook that does
//                    nothing, to tell what calling any webhook costs a pod create from what this one adds. It offers
//                    HTTP/2 as well as HTTP/1.1 and counts which one it is spoken to with. With --patch it answers
//                    with that JSONPatch: what kube-apiserver's applying a patch costs, without any deciding.
//   --kind required  what any webhook doing this one's job must do per review, and nothing it decides: serve's app
//                    options (logger, body limit, TLS, latency histogram), the AdmissionReview envelope read as serve
//                    reads it (nesting check included), the decision counter, one decision log line of serve's
//                    fields, and an answer carrying --patch and the audit annotations. Neither the namespace, the
//                    policy nor a pull Secret is looked at: the floor under the realistic CPU target.
//
// It tells the parent its port over IPC, then answers the parent's requests: its CPU time, what happened inside it
// during a window (GC, event-loop delay), a CPU profile of a window, a heap profile of what a window promoted, its
// memory, and a heap snapshot. With --expose-gc the real app
// also notes its RSS after each step of its start (modules, policy, namespaces, tokens).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { answer } from '../../src/admission/answers.ts';
import { admissionEndpoint } from '../../src/admission/endpoint.ts';
import { AUDIT_DECISION, AUDIT_REWRITES, AUDIT_TENANT } from '../../src/labels.ts';
import { metadataOf } from '../../src/workload/evaluate.ts';
import { buildApp, DEFAULT_ADMISSION_DEADLINE_MS, DEFAULT_BODY_LIMIT_BYTES } from '../../src/app.ts';
import { Provenance, PROVENANCE_KEY_BYTES } from '../../src/credentials/provenance.ts';
import { PullSecretProvisioner } from '../../src/credentials/pull-secret-provisioner.ts';
import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import type { RegistryToken, RegistryTokenSource } from '../../src/credentials/registry-token.ts';
import { TokenCache } from '../../src/credentials/token-cache.ts';
import { InMemoryNamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { InMemorySecretStore } from '../../src/kube/secret-store.ts';
import type { WritableSecret } from '../../src/credentials/pull-secret.ts';
import { FindingReporter } from '../../src/events/finding-reporter.ts';
import { InMemoryEventSink } from '../../src/kube/event-sink.ts';
import { createLogger, flatFields, logDestination } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { REGISTRY_LOOKUPS, RegistryLookups, type RegistryReader } from '../../src/registry/registry-lookups.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
// serve's settings, and what it brings along: the AWS SDK and Kubernetes client modules serve holds in memory, so
// the memory figure counts them as it would in the real process.
import { reportTokenEvent, TOKEN_CACHE } from '../../src/aws/credential-chain.ts';
import { FINDINGS, PULL_SECRET_FRESH_FOR_MS, reportFindingOutcome } from '../../src/server.ts';
import { TLS_MIN_VERSION } from '../../src/tls/tls-reloader.ts';
import { announceReady, answerRequests } from './children.ts';
import { namespaces, policyText, REGISTRY_READ_DEFAULTS, tokenRequests } from './fixture.ts';
import { createHash } from 'node:crypto';

/** serve's --credential-deadline default (src/cli/main.ts); the cache below uses its --token-refresh-at default, 0.5. */
const CREDENTIAL_DEADLINE_MS = 3000;
/** serve's --aws-session-duration default: part of every credential, so of the token cache's key too. */
const SESSION_SECONDS = 3600;
const TOKEN_LIFE_MS = 12 * 60 * 60 * 1000;

/** Tokens as ECR hands them out (a password of ~1,600 characters, 12 hours of life), without AWS. */
class FakeTokenSource implements RegistryTokenSource {
  mints = 0;

  async mint(): Promise<RegistryToken> {
    this.mints++;
    return { username: 'AWS', password: randomBytes(1200).toString('base64'), expiresAt: new Date(Date.now() + TOKEN_LIFE_MS) };
  }
}

/** An in-memory ECR that has every image: the digest of a reference is a hash of it, so it is stable. */
class FakeRegistry implements RegistryReader {
  reads = 0;

  async imageDigest(_request: unknown, _registry: unknown, repository: string, reference: string): Promise<string> {
    this.reads++;
    return reference.startsWith('sha256:') ? reference : `sha256:${createHash('sha256').update(`${repository}:${reference}`).digest('hex')}`;
  }

  async repositoryTags(): Promise<Record<string, string>> {
    this.reads++;
    return {};
  }
}

/**
 * The in-memory store holding what serve's watch holds: a Secret's metadata (serve watches metadata only and keeps
 * a compact projection of it), not the token inside, which serve writes and never keeps. The memory figure would
 * otherwise count some 30 MiB of dockerconfigjson that no serve process holds.
 */
class MetadataSecretStore extends InMemorySecretStore {
  override put(secret: WritableSecret): void {
    super.put({ ...secret, data: {} });
  }
}

interface Hot {
  readonly app: FastifyInstance;
  /** What the process holds, for the memory report. */
  readonly holdings: () => Record<string, unknown>;
}

const gc = (globalThis as { gc?: (options?: { type: string; execution: string; flavor: string }) => void }).gc;

/** RSS and heap after a forced full collection; `thorough` is the collection V8 runs under memory pressure. */
async function memoryAfterGc(thorough = false) {
  if (gc === undefined) throw new Error('start this process with --expose-gc');
  // Twice, so what the finalizers of the first collection freed goes too.
  for (let round = 0; round < 2; round++) {
    gc({ type: 'major', execution: 'sync', flavor: thorough ? 'last-resort' : 'regular' });
    await new Promise((resolve) => setImmediate(resolve));
  }
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { ...process.memoryUsage(), newSpace: newSpace?.space_size ?? 0 };
}

/** RSS after each step of building the real app: where the memory goes. */
const memorySteps: { step: string; rss: number; heapUsed: number }[] = [];

async function step(name: string): Promise<void> {
  if (gc === undefined) return;
  const { rss, heapUsed } = await memoryAfterGc();
  memorySteps.push({ step: name, rss, heapUsed });
}

async function realApp(tls: { cert: Buffer; key: Buffer }, reads: boolean): Promise<Hot> {
  await step('modules loaded');
  const log = createLogger({ level: 'info', destination: logDestination('/dev/null') });
  const policy = parsePolicy(reads ? policyText(undefined, REGISTRY_READ_DEFAULTS) : policyText(), 'bench-policy.json');
  await step('policy parsed');
  const labelled = namespaces();
  const directory = new InMemoryNamespaceDirectory(labelled);
  await step('namespaces');
  const source = new FakeTokenSource();
  const metrics = createMetrics({ processMetrics: true });
  const tokens = new TokenCache({
    source,
    ...TOKEN_CACHE,
    refreshFraction: 0.5,
    mintDeadlineMs: CREDENTIAL_DEADLINE_MS,
    now: Date.now,
    onEvent: (event) => reportTokenEvent(event, log, metrics),
  });
  // As the provisioner asks for them (tokenRequest in pull-secret-provisioner.ts), so the admissions find them cached.
  const requests = tokenRequests().map((request) => ({ ...request, durationSeconds: SESSION_SECONDS }));
  await Promise.all(requests.map((request) => tokens.get(request)));
  await step('tokens cached');
  const store = new MetadataSecretStore();
  // serve loads its key from a Secret (src/kube/provenance-key.ts); a random one seals the same way.
  const sealer = new Provenance(randomBytes(PROVENANCE_KEY_BYTES));
  const provisioner = new PullSecretProvisioner({ writer: new PullSecretWriter(store, () => sealer), tokens, freshForMs: PULL_SECRET_FRESH_FOR_MS, deadlineMs: CREDENTIAL_DEADLINE_MS, sessionSeconds: SESSION_SECONDS, now: Date.now });
  // As serve queues dry-run findings (src/server.ts), with Events kept in memory instead of sent.
  const findings = new FindingReporter({
    sink: new InMemoryEventSink(),
    now: Date.now,
    ...FINDINGS,
    onOutcome: (outcome, finding, error) => reportFindingOutcome(outcome, finding, error, log, metrics),
  });
  // As serve reads ECR (src/aws/credential-chain.ts), from a registry in memory.
  const fakeRegistry = new FakeRegistry();
  const registry = reads
    ? new RegistryLookups({ reader: fakeRegistry, sessionSeconds: SESSION_SECONDS, ...REGISTRY_LOOKUPS, mutableTtlMs: 60_000, deadlineMs: CREDENTIAL_DEADLINE_MS, readsPerSecond: 20, now: Date.now, onLookup: (kind, result) => metrics.registryLookups.inc({ kind, result }) })
    : undefined;
  const app = buildApp({ tls, bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES, admissionDeadlineMs: DEFAULT_ADMISSION_DEADLINE_MS }, { policy: fixedPolicy(policy), namespaces: directory, log, metrics, draining: () => false, pullSecrets: provisioner, findings, registry });
  const holdings = () => ({
    tenants: policy.tenants.size,
    grants: [...policy.tenants.values()].reduce((sum, t) => sum + [...t.grantsByRegistry.values()].reduce((n, g) => n + g.length, 0), 0),
    namespaces: Object.keys(labelled).length,
    cachedTokens: requests.filter((request) => tokens.peek(request) !== undefined).length,
    pullSecrets: store.secrets.size,
    mints: source.mints,
    registryReads: fakeRegistry.reads,
  });
  return { app, holdings };
}

const CONSTANT_ANSWER = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'bench', allowed: true } };

/** What the echo webhook answers with: nothing changed, or a JSONPatch it was given (base64, as sent). */
function baselineApp(tls: { cert: Buffer; key: Buffer }, echo: boolean, patch: string | undefined): Hot {
  // The echo webhook, which kube-apiserver calls, offers HTTP/2 beside HTTP/1.1 (ALPN) and counts what it is spoken
  // to with: whether offering HTTP/2 could change what calling a webhook costs.
  const app = echo
    ? (Fastify({ bodyLimit: DEFAULT_BODY_LIMIT_BYTES, http2: true, https: { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION, allowHTTP1: true } }) as unknown as FastifyInstance)
    : (Fastify({ bodyLimit: DEFAULT_BODY_LIMIT_BYTES, https: { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION } }) as unknown as FastifyInstance);
  let answered = 0;
  const httpVersions: Record<string, number> = {};
  app.post('/mutate', async (request) => {
    answered++;
    if (!echo) return CONSTANT_ANSWER;
    httpVersions[request.raw.httpVersion] = (httpVersions[request.raw.httpVersion] ?? 0) + 1;
    const uid = (request.body as { request?: { uid?: string } }).request?.uid;
    return { ...CONSTANT_ANSWER, response: { uid, allowed: true, ...(patch === undefined ? {} : { patchType: 'JSONPatch', patch }) } };
  });
  return { app, holdings: () => ({ answered, httpVersions }) };
}

/**
 * The required-work control (--kind required): per review, what serve does around its decision and must keep doing
 * whatever it decides (see the header). Every review gets the same allowed answer with `patch`, as a granted pod of
 * the realistic workload does; the log line names the request's own uid, namespace and pod.
 */
function requiredWorkApp(tls: { cert: Buffer; key: Buffer }, patch: string): Hot {
  const log = createLogger({ level: 'info', destination: logDestination('/dev/null') });
  const metrics = createMetrics({ processMetrics: true });
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: DEFAULT_BODY_LIMIT_BYTES,
    return503OnClosing: true,
    https: { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION },
  }) as unknown as FastifyInstance;
  let answered = 0;
  const handle = admissionEndpoint('pods', metrics, (request) => {
    answered++;
    const started = performance.now();
    log.info(
      flatFields({
        uid: request.uid,
        namespace: request.namespace,
        pod: request.name !== '' ? request.name : metadataOf(request.object).name,
        operation: request.operation,
        tenant: 't0042',
        mode: 'enforce',
        decision: 'allow',
        rewrites: 1,
        pullSecrets: ['ecr-pull-200000000042-us-east-1'],
        reasons: undefined,
        decideMs: Math.round((performance.now() - started) * 1000) / 1000,
      }),
      'admission decision',
    );
    const annotations = { [AUDIT_DECISION]: 'allow', [AUDIT_TENANT]: 't0042', [AUDIT_REWRITES]: 'spec.containers[0].image: 999999999999.dkr.ecr.us-east-1.amazonaws.com/t0042/checkout:2.4.1 -> 200000000042.dkr.ecr.us-east-1.amazonaws.com/t0042/checkout:2.4.1' };
    return { ...answer({ uid: request.uid, allowed: true, patchType: 'JSONPatch', patch, auditAnnotations: annotations }, 'allow'), tenant: 't0042', mode: 'enforce' as const };
  });
  app.post('/mutate', async (request, reply) => {
    const result = await handle(request.body);
    return reply.code(result.statusCode).send(result.body);
  });
  app.addHook('onResponse', async (_request, reply) => {
    metrics.admissionSeconds.observe({ resource: 'pods', operation: 'CREATE', decision: 'allow' }, reply.elapsedTime / 1000);
  });
  return { app, holdings: () => ({ answered }) };
}

/** Memory after the load: after an ordinary forced GC (the figure), and after the thorough one (what V8 can give back). */
async function memoryReport(hot: Hot) {
  const regular = await memoryAfterGc();
  const thorough = await memoryAfterGc(true);
  return { ...regular, rssAfterThoroughGc: thorough.rss, heapUsedAfterThoroughGc: thorough.heapUsed, ...hot.holdings(), steps: memorySteps };
}

/**
 * What happened inside the server during a measured window: its CPU time, its garbage collections (each one a pause
 * or a slice of one) and how late its event loop ran, which together explain a latency tail.
 */
class MeasuredWindow {
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 1 });
  readonly #pauses: { kind: string; ms: number }[] = [];
  readonly #observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) this.#pauses.push({ kind: GC_KINDS[(entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other', ms: entry.duration });
  });
  #cpu = process.cpuUsage();

  start(): void {
    this.#pauses.length = 0;
    this.#loopDelay.reset();
    this.#loopDelay.enable();
    this.#observer.observe({ entryTypes: ['gc'] });
    this.#cpu = process.cpuUsage();
  }

  end() {
    const cpu = process.cpuUsage(this.#cpu);
    this.#loopDelay.disable();
    this.#observer.disconnect();
    const byKind: Record<string, { count: number; totalMs: number; maxMs: number }> = {};
    for (const { kind, ms } of this.#pauses) {
      const k = (byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += ms;
      k.maxMs = Math.max(k.maxMs, ms);
    }
    const nsToMs = (ns: number) => ns / 1e6;
    return { cpuUs: cpu.user + cpu.system, gc: byKind, loopDelayP99Ms: nsToMs(this.#loopDelay.percentile(99)), loopDelayMaxMs: nsToMs(this.#loopDelay.max) };
  }
}

/** A V8 CPU profile of a window only (the measured load), not of the start-up that --cpu-prof would include. */
class WindowProfile {
  #session: Session | undefined;

  async start(): Promise<void> {
    this.#session = new Session();
    this.#session.connect();
    await this.#session.post('Profiler.enable');
    await this.#session.post('Profiler.setSamplingInterval', { interval: 200 });
    await this.#session.post('Profiler.start');
  }

  async stop(path: string): Promise<void> {
    if (this.#session === undefined) throw new Error('no profile running');
    const { profile } = await this.#session.post('Profiler.stop');
    writeFileSync(path, JSON.stringify(profile));
    this.#session.disconnect();
    this.#session = undefined;
  }
}

/**
 * A sampling heap profile of a window that counts only what outlived the young generation: objects V8 promoted (or
 * pretenured) and a major collection later freed, and what is still live at the end. That is what grows the old
 * generation, so what brings the major collections that make the latency tail.
 */
class PromotedProfile {
  #session: Session | undefined;

  async start(): Promise<void> {
    this.#session = new Session();
    this.#session.connect();
    await this.#session.post('HeapProfiler.startSampling', { samplingInterval: 2048, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
  }

  async stop(path: string): Promise<void> {
    if (this.#session === undefined) throw new Error('no heap profile running');
    // What the young generation still holds at the end is mostly garbage no scavenge has reached yet: two minor
    // collections first, so that the profile keeps only what really left it.
    for (let round = 0; round < 2; round++) gc?.({ type: 'minor', execution: 'sync', flavor: 'regular' });
    const { profile } = await this.#session.post('HeapProfiler.stopSampling');
    writeFileSync(path, JSON.stringify(profile));
    this.#session.disconnect();
    this.#session = undefined;
  }
}

/** perf_hooks' gc entry kinds (NODE_PERFORMANCE_GC_*). */
const GC_KINDS: Readonly<Record<number, string>> = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak callbacks' };

const { values } = parseArgs({ options: { kind: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, registry: { type: 'boolean', default: false }, patch: { type: 'string' } } });
if (!['real', 'baseline', 'echo', 'required'].includes(values.kind ?? '') || values.cert === undefined || values.key === undefined) {
  throw new Error('usage: hot-server.ts --kind real|baseline|echo|required [--registry] [--patch BASE64-JSONPATCH] --cert FILE --key FILE');
}
const started = performance.now();
const tls = { cert: readFileSync(values.cert), key: readFileSync(values.key) };
const hot =
  values.kind === 'real'
    ? await realApp(tls, values.registry === true)
    : values.kind === 'required'
      ? requiredWorkApp(tls, values.patch ?? '')
      : baselineApp(tls, values.kind === 'echo', values.patch);
await hot.app.listen({ host: '127.0.0.1', port: 0 });
const measured = new MeasuredWindow();
const profile = new WindowProfile();
const promoted = new PromotedProfile();
answerRequests(
  async (cmd, args) => {
    if (cmd === 'profile-start') return profile.start();
    if (cmd === 'profile-stop') return profile.stop(args.path as string);
    if (cmd === 'promoted-start') return promoted.start();
    if (cmd === 'promoted-stop') return promoted.stop(args.path as string);
    if (cmd === 'cpu') return process.cpuUsage();
    if (cmd === 'window-start') return measured.start();
    if (cmd === 'window-end') return measured.end();
    if (cmd === 'memory') return memoryReport(hot);
    if (cmd === 'heap-snapshot') return writeHeapSnapshot(args.path as string);
    if (cmd === 'holdings') return hot.holdings();
    throw new Error(`unknown request ${cmd}`);
  },
  () => hot.app.close(),
);
announceReady({ port: (hot.app.server.address() as { port: number }).port, startupMs: performance.now() - started, pid: process.pid });
