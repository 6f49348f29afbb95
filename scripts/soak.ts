// `npm run soak`: holds the webhook under steady admission load for a while and watches whether it keeps answering
// correctly, how fast, and whether its memory creeps up.
//
// It starts the same stack as `npm run demo` (a local kube-apiserver and etcd, moto standing in for STS and ECR, and
// the real `serve` process over TLS, registered with the API server), onboards a few tenant namespaces, creates one
// pod through the API server in each enforced namespace so its pull Secret exists, and then, for the whole run:
//   - posts AdmissionReview v1 bodies straight to serve's /mutate at a fixed rate, scheduled by the clock rather
//     than by the answers, so a slow webhook shows up as latency and late requests instead of as a lower rate;
//     the pods have 1-5 containers and are a mix of rewrites, images allowed as they are, denials, dry-run
//     namespaces and an unlabelled namespace, and every answer is checked against what its case expects;
//   - every few seconds sends a pod through the API server as well (a real create, a server-side dry run that is
//     denied, one in a dry-run tenant), so the path through kube-apiserver stays exercised;
//   - every interval prints one table row: requests, late requests, errors, wrong answers, latency percentiles
//     and serve's RSS (from /proc) and V8 heap (from its metrics endpoint).
// At the end it prints a summary (and with --json a last line holding the same figures as one JSON object).
//
//   npm run soak                                   # 10 minutes at 200 reviews/s, a row every 30 s
//   npm run soak -- --minutes 1 --interval 15      # a quick look
//   npm run soak -- --rate 500 --json | tail -n 1  # the figures for a script
//
// Exits 0 when no request failed, no answer was wrong and every pod sent through the API server fared as expected;
// 1 otherwise, and when interrupted or when serve died; 2 on bad arguments.
// Everything it started is stopped on the way out, Ctrl-C included. The first run on a machine builds the control
// plane binaries and installs moto, which takes several minutes; later runs start in seconds.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { MODE_LABEL, TENANT_LABEL } from '../src/labels.ts';
import { startWebhookStack, type WebhookStack } from '../test/e2e/support/webhook-stack.ts';
// The pods and the seeded mix are the benchmark's, so the two measure the same bodies.
import { admissionReview, seededRandom } from './bench/fixture.ts';
import { rssMbOf, summarize } from './bench/stats.ts';
import { deploymentNodeOptions, optionsOrExit, parseFlags, UsageError } from './script-options.ts';

// --- arguments ----------------------------------------------------------------------------------------------------

interface SoakOptions {
  readonly minutes: number;
  readonly rate: number;
  readonly intervalSeconds: number;
  readonly json: boolean;
}

const USAGE = 'usage: npm run soak -- [--minutes N (10)] [--rate REVIEWS_PER_SECOND (200)] [--interval SECONDS (30)] [--json]';

function positiveNumber(flag: string, text: string, max: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new UsageError(`--${flag} must be a number above 0 and at most ${max}, not ${JSON.stringify(text)}`);
  }
  return value;
}

function parseOptions(argv: readonly string[]): SoakOptions | 'help' {
  const values = parseFlags(argv, {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '200' },
    interval: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  return {
    minutes: positiveNumber('minutes', values.minutes, 24 * 60),
    rate: positiveNumber('rate', values.rate, 10_000),
    intervalSeconds: positiveNumber('interval', values.interval, 3600),
    json: values.json,
  };
}

// --- the policy and the namespaces --------------------------------------------------------------------------------

const BUILD_REGISTRY = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const PAYMENTS_REGISTRY = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const SEARCH_REGISTRY = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const ANALYTICS_REGISTRY = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';

// examples/demo-policy.yaml plus a second enforced tenant that may pull only from ECR, so denials come from both an
// ungranted repository and a public image. Inline so that edits to the example cannot silently change what the
// checks expect.
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults:
    mode: enforce
    nonEcrImages: allow
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${PAYMENTS_REGISTRY}
          repositories: ["payments/*", "shared/**"]
      rewrites:
        - from: ${BUILD_REGISTRY}/payments
          to: ${PAYMENTS_REGISTRY}/payments
    search:
      nonEcrImages: deny
      roleArn: arn:aws:iam::222222222222:role/ecr-pull-search
      grants:
        - registry: ${SEARCH_REGISTRY}
          repositories: ["search/**"]
    analytics:
      mode: dry-run
      nonEcrImages: deny
      roleArn: arn:aws:iam::333333333333:role/ecr-pull-analytics
      grants:
        - registry: ${ANALYTICS_REGISTRY}
          repositories: ["analytics/**"]
`;

const NAMESPACES: readonly { readonly name: string; readonly labels: Record<string, string> }[] = [
  { name: 'shop', labels: { [TENANT_LABEL]: 'payments' } },
  { name: 'catalog', labels: { [TENANT_LABEL]: 'search' } },
  { name: 'shop-canary', labels: { [TENANT_LABEL]: 'payments', [MODE_LABEL]: 'dry-run' } },
  { name: 'lab', labels: { [TENANT_LABEL]: 'analytics' } },
  { name: 'plain', labels: {} },
];

/** One pod per enforced namespace through the API server, so the pull Secret exists before the load starts. */
const WARM_PODS = [
  { namespace: 'shop', image: `${BUILD_REGISTRY}/payments/checkout:2.4.1`, secret: 'ecr-pull-111111111111-eu-west-1' },
  { namespace: 'catalog', image: `${SEARCH_REGISTRY}/search/indexer:4.1`, secret: 'ecr-pull-222222222222-us-west-2' },
];

// --- what the load generator sends --------------------------------------------------------------------------------

const PAYMENTS_REWRITES = ['checkout:2.4.1', 'ledger:1.9.0', 'api:1.2', 'worker:3.0.7'].map((repo) => ({
  from: `${BUILD_REGISTRY}/payments/${repo}`,
  to: `${PAYMENTS_REGISTRY}/payments/${repo}`,
}));

interface NamespaceImages {
  /** Granted ECR images: an admitted pod holding one gets the pull Secret added, so its answer carries a patch. */
  readonly ecr: readonly string[];
  /** Granted images that need no pull Secret (public images where the tenant allows them). */
  readonly public: readonly string[];
  readonly ungranted: readonly string[];
}

const SHOP_IMAGES: NamespaceImages = {
  ecr: [`${PAYMENTS_REGISTRY}/payments/checkout:2.4.1`, `${PAYMENTS_REGISTRY}/payments/api:1.2`, `${PAYMENTS_REGISTRY}/shared/base/envoy:1.31`, `${PAYMENTS_REGISTRY}/shared/otel/collector:0.112`],
  public: ['docker.io/library/nginx:1.27', 'busybox:1.37'],
  ungranted: [`${PAYMENTS_REGISTRY}/paymentsevil/shell:latest`, `${PAYMENTS_REGISTRY}/billing/migrate:7`, `${BUILD_REGISTRY}/billing/job:3`, `${ANALYTICS_REGISTRY}/analytics/etl:5`],
};
const CATALOG_IMAGES: NamespaceImages = {
  ecr: [`${SEARCH_REGISTRY}/search/indexer:4.1`, `${SEARCH_REGISTRY}/search/api/query:4.1`, `${SEARCH_REGISTRY}/search/tools/warmup:1`],
  public: [],
  ungranted: ['docker.io/library/redis:7.4', `${PAYMENTS_REGISTRY}/payments/api:1.2`, `${SEARCH_REGISTRY}/searchx/scraper:1`],
};
const LAB_IMAGES: NamespaceImages = {
  ecr: [`${ANALYTICS_REGISTRY}/analytics/etl:5`, `${ANALYTICS_REGISTRY}/analytics/jobs/report:2`],
  public: [],
  ungranted: ['docker.io/library/python:3.13', 'quay.io/jupyter/base-notebook:2025-01', `${PAYMENTS_REGISTRY}/payments/api:1.2`],
};
const EVERY_IMAGE = [SHOP_IMAGES, CATALOG_IMAGES, LAB_IMAGES].flatMap((i) => [...i.ecr, ...i.public, ...i.ungranted]);

type CaseName = 'rewrite' | 'as-is' | 'denied' | 'dry-run' | 'unlabelled';
const CASE_NAMES: readonly CaseName[] = ['rewrite', 'as-is', 'denied', 'dry-run', 'unlabelled'];

interface Expectation {
  readonly allowed: boolean;
  /** A JSONPatch comes back: images rewritten or a pull Secret added. */
  readonly patched: boolean;
  /** Warnings come back (dry-run says what enforcement would do). */
  readonly warned: boolean;
  /** Text the decoded patch must contain: the rewritten image. */
  readonly patchHolds?: string;
}

interface ReviewCase {
  readonly name: CaseName;
  readonly namespace: string;
  readonly images: readonly string[];
  readonly expect: Expectation;
}

const random = seededRandom(20_250_101);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** 1-5 images: `one` (the image the case is about) at a random position among others drawn from `others`. */
function podImages(one: string, others: readonly string[]): string[] {
  const images = Array.from({ length: Math.floor(random() * 5) }, () => pick(others));
  images.splice(Math.floor(random() * (images.length + 1)), 0, one);
  return images;
}

const enforced = () => pick([{ namespace: 'shop', images: SHOP_IMAGES }, { namespace: 'catalog', images: CATALOG_IMAGES }]);

const CASE_BUILDERS: Record<CaseName, () => ReviewCase> = {
  rewrite() {
    const rewrite = pick(PAYMENTS_REWRITES);
    const others = [...SHOP_IMAGES.ecr, ...SHOP_IMAGES.public, ...PAYMENTS_REWRITES.map((r) => r.from)];
    return { name: 'rewrite', namespace: 'shop', images: podImages(rewrite.from, others), expect: { allowed: true, patched: true, warned: false, patchHolds: rewrite.to } };
  },
  'as-is'() {
    const { namespace, images } = enforced();
    return { name: 'as-is', namespace, images: podImages(pick(images.ecr), [...images.ecr, ...images.public]), expect: { allowed: true, patched: true, warned: false } };
  },
  denied() {
    const { namespace, images } = enforced();
    return { name: 'denied', namespace, images: podImages(pick(images.ungranted), [...images.ecr, ...images.public]), expect: { allowed: false, patched: false, warned: false } };
  },
  'dry-run'() {
    const { namespace, images } = pick([{ namespace: 'shop-canary', images: SHOP_IMAGES }, { namespace: 'lab', images: LAB_IMAGES }]);
    const others = [...images.ecr, ...images.public, ...images.ungranted];
    return { name: 'dry-run', namespace, images: podImages(pick(images.ungranted), others), expect: { allowed: true, patched: false, warned: true } };
  },
  unlabelled() {
    return { name: 'unlabelled', namespace: 'plain', images: podImages(pick(EVERY_IMAGE), EVERY_IMAGE), expect: { allowed: true, patched: false, warned: false } };
  },
};

/** Roughly what a cluster sends: mostly admitted pods, a good share of denials and dry-run tenants. */
const CASE_WEIGHTS: readonly [CaseName, number][] = [['rewrite', 30], ['as-is', 30], ['denied', 20], ['dry-run', 15], ['unlabelled', 5]];
const TOTAL_WEIGHT = CASE_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);

function nextCase(): ReviewCase {
  let roll = random() * TOTAL_WEIGHT;
  for (const [name, weight] of CASE_WEIGHTS) {
    roll -= weight;
    if (roll < 0) return CASE_BUILDERS[name]();
  }
  return CASE_BUILDERS.rewrite();
}

/** Half the pods are named, half come from a ReplicaSet, which names them only after admission. */
function reviewBody(review: ReviewCase, uid: string, serial: number): string {
  return admissionReview(review.namespace, review.images, uid, serial % 2 === 0 ? '' : `${review.name}-app-${serial}`);
}

// --- judging an answer --------------------------------------------------------------------------------------------

type Verdict = { readonly kind: 'ok' } | { readonly kind: 'error' | 'wrong'; readonly problem: string };

interface ReviewAnswer {
  uid?: unknown;
  allowed?: unknown;
  status?: { code?: unknown; message?: unknown };
  patch?: unknown;
  warnings?: unknown;
}

function readAnswer(status: number, text: string): ReviewAnswer | string {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 200)}`;
  try {
    const body = JSON.parse(text) as { response?: ReviewAnswer };
    return typeof body.response === 'object' && body.response !== null ? body.response : `no response in ${text.slice(0, 200)}`;
  } catch {
    return `answer is not JSON: ${text.slice(0, 200)}`;
  }
}

/** What is wrong with a well-formed answer for this case, or undefined when it is what the case expects. */
function mismatch(review: ReviewCase, uid: string, answer: ReviewAnswer): string | undefined {
  const { expect } = review;
  if (answer.uid !== uid) return `uid ${JSON.stringify(answer.uid)} answered for ${uid}`;
  if (answer.allowed !== expect.allowed) return `allowed=${String(answer.allowed)}, expected ${expect.allowed} (${String(answer.status?.message ?? 'no message')})`;
  if (!expect.allowed && answer.status?.code !== 403) return `denied with code ${String(answer.status?.code)}, expected 403`;
  const patch = typeof answer.patch === 'string' ? Buffer.from(answer.patch, 'base64').toString() : undefined;
  if ((patch !== undefined) !== expect.patched) return expect.patched ? 'no patch, expected one' : `unexpected patch ${patch}`;
  if (expect.patchHolds !== undefined && !patch?.includes(expect.patchHolds)) return `patch lacks ${expect.patchHolds}: ${patch}`;
  const warned = Array.isArray(answer.warnings) && answer.warnings.length > 0;
  if (warned !== expect.warned) return expect.warned ? 'no warnings, expected dry-run warnings' : `unexpected warnings ${JSON.stringify(answer.warnings)}`;
  return undefined;
}

function judge(review: ReviewCase, uid: string, status: number, text: string): Verdict {
  const answer = readAnswer(status, text);
  if (typeof answer === 'string') return { kind: 'error', problem: answer };
  const problem = mismatch(review, uid, answer);
  return problem === undefined ? { kind: 'ok' } : { kind: 'wrong', problem };
}

// --- counting -----------------------------------------------------------------------------------------------------

/** What happened in one interval, or in the whole run. */
class Tally {
  sent = 0;
  /** Sent more than LATE_MS after their slot, or not sent at all (skipped). */
  late = 0;
  /** Not sent: MAX_IN_FLIGHT requests were already waiting for answers. */
  skipped = 0;
  errors = 0;
  wrong = 0;
  apiChecks = 0;
  apiFailures = 0;
  readonly latenciesMs: number[] = [];
  readonly byCase: Record<CaseName, number> = { rewrite: 0, 'as-is': 0, denied: 0, 'dry-run': 0, unlabelled: 0 };
}

/** Every event goes to the current interval and to the run's totals; examples of what went wrong are kept. */
class Counts {
  interval = new Tally();
  readonly total = new Tally();
  readonly problems: string[] = [];

  add(change: (tally: Tally) => void): void {
    change(this.interval);
    change(this.total);
  }

  problem(text: string): void {
    if (this.problems.length < MAX_PROBLEMS_SHOWN) this.problems.push(text);
  }

  /** Hands back the interval that just ended and starts a new one. */
  nextInterval(): Tally {
    const ended = this.interval;
    this.interval = new Tally();
    return ended;
  }
}

/** p50, p99 and max of the latencies (stats.ts), each undefined when there were none. */
function latencySummary(latenciesMs: readonly number[]) {
  const { p50, p99, max } = summarize(latenciesMs);
  const known = (value: number) => (Number.isNaN(value) ? undefined : value);
  return { p50: known(p50), p99: known(p99), max: known(max) };
}

// --- the load generator -------------------------------------------------------------------------------------------

const TICK_MS = 5;
const LATE_MS = 50;
/** Above this many unanswered requests new ones are skipped: a stalled webhook must not grow the soak's memory. */
const MAX_IN_FLIGHT = 1000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_PROBLEMS_SHOWN = 8;

function postReview(agent: Agent, port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, timeout: REQUEST_TIMEOUT_MS, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends review n at start + n/rate, whatever the answers are doing: an open loop, as the API server's load is. */
class LoadGenerator {
  readonly #agent: Agent;
  readonly #port: number;
  readonly #rate: number;
  readonly #counts: Counts;
  #startedAt = 0;
  #slot = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { port: number; ca: string; rate: number; counts: Counts }) {
    // Keep-alive, as kube-apiserver holds its connections to a webhook open.
    this.#agent = new Agent({ keepAlive: true, ca: options.ca, maxSockets: 64 });
    this.#port = options.port;
    this.#rate = options.rate;
    this.#counts = options.counts;
  }

  start(): void {
    this.#startedAt = performance.now();
    this.#timer = setInterval(() => this.#sendDue(), TICK_MS);
  }

  #sendDue(): void {
    const now = performance.now();
    const due = Math.floor(((now - this.#startedAt) * this.#rate) / 1000);
    for (; this.#slot < due; this.#slot++) {
      const lateByMs = now - (this.#startedAt + (this.#slot * 1000) / this.#rate);
      if (this.#inFlight >= MAX_IN_FLIGHT) {
        this.#counts.add((t) => {
          t.late++;
          t.skipped++;
        });
        continue;
      }
      if (lateByMs > LATE_MS) this.#counts.add((t) => t.late++);
      void this.#sendOne(this.#slot);
    }
  }

  async #sendOne(serial: number): Promise<void> {
    const review = nextCase();
    const uid = randomUUID();
    const body = reviewBody(review, uid, serial);
    this.#inFlight++;
    this.#counts.add((t) => {
      t.sent++;
      t.byCase[review.name]++;
    });
    const started = performance.now();
    let verdict: Verdict;
    try {
      const { status, text } = await postReview(this.#agent, this.#port, body);
      const latencyMs = performance.now() - started;
      this.#counts.add((t) => t.latenciesMs.push(latencyMs));
      verdict = judge(review, uid, status, text);
    } catch (error) {
      verdict = { kind: 'error', problem: (error as Error).message };
    } finally {
      this.#inFlight--;
    }
    if (verdict.kind === 'ok') return;
    this.#counts.add((t) => (verdict.kind === 'error' ? t.errors++ : t.wrong++));
    this.#counts.problem(`${verdict.kind}: ${review.name} pod in ${review.namespace} [${review.images.join(', ')}]: ${verdict.problem}`);
  }

  /** Stops sending and waits for the answers still due (each bounded by REQUEST_TIMEOUT_MS). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const deadline = Date.now() + REQUEST_TIMEOUT_MS + 1000;
    while (this.#inFlight > 0 && Date.now() < deadline) await sleep(20);
    this.#agent.destroy();
  }
}

// --- pods through the API server ----------------------------------------------------------------------------------

const API_POD_EVERY_MS = 5000;

interface ApiProbe {
  readonly args: (n: number) => string[];
  /** What is wrong with kubectl's result, or undefined. */
  readonly check: (result: { code: number; stdout: string; stderr: string }) => string | undefined;
}

const API_PROBES: readonly ApiProbe[] = [
  {
    // A real create: stored with the image rewritten, the pull Secret already fresh.
    args: (n) => ['-n', 'shop', 'run', `soak-${n}`, `--image=${BUILD_REGISTRY}/payments/worker:${n}`, '--restart=Never', '-o', 'jsonpath={.spec.containers[0].image}'],
    check: (r) => (r.code === 0 && r.stdout.startsWith(`${PAYMENTS_REGISTRY}/payments/worker:`) ? undefined : `create in shop: exit ${r.code}, stored image ${JSON.stringify(r.stdout)}, ${r.stderr.trim()}`),
  },
  {
    args: (n) => ['-n', 'catalog', 'run', `probe-${n}`, '--image=docker.io/library/redis:7.4', '--restart=Never', '--dry-run=server'],
    check: (r) => (r.code !== 0 && r.stderr.includes('denied the request') ? undefined : `public image in catalog not denied: exit ${r.code}, ${r.stderr.trim()}`),
  },
  {
    args: (n) => ['-n', 'lab', 'run', `probe-${n}`, '--image=docker.io/library/python:3.13', '--restart=Never', '--dry-run=server'],
    check: (r) => (r.code === 0 && /^Warning: dry-run: would deny/m.test(r.stderr) ? undefined : `dry-run pod in lab: exit ${r.code}, ${r.stderr.trim()}`),
  },
];

/** One pod through kube-apiserver every API_POD_EVERY_MS, in turn from API_PROBES, until the signal aborts. */
async function sendApiPods(stack: WebhookStack, counts: Counts, signal: AbortSignal): Promise<void> {
  for (let n = 1; !signal.aborted; n++) {
    const probe = API_PROBES[(n - 1) % API_PROBES.length]!;
    const problem = probe.check(await stack.kubectl(probe.args(n)));
    counts.add((t) => {
      t.apiChecks++;
      if (problem !== undefined) t.apiFailures++;
    });
    if (problem !== undefined) counts.problem(`api pod: ${problem}`);
    await sleep(API_POD_EVERY_MS, undefined, { signal }).catch(() => undefined);
  }
}

// --- serve's memory -----------------------------------------------------------------------------------------------

const MIB = 1024 * 1024;

/** V8's used heap from serve's prom-client default metrics (prefixed with the webhook's name). */
async function serveHeapMiB(metricsPort: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const value = /^\w*nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(await response.text())?.[1];
    return value === undefined ? undefined : Number(value) / MIB;
  } catch {
    return undefined;
  }
}

interface MemorySample {
  readonly rssMiB: number | undefined;
  readonly heapMiB: number | undefined;
}

async function sampleMemory(stack: WebhookStack): Promise<MemorySample> {
  return { rssMiB: rssMbOf(stack.serve.child.pid), heapMiB: await serveHeapMiB(stack.serve.metricsPort) };
}

// --- serve's log --------------------------------------------------------------------------------------------------

/** Warnings and errors serve logged, counted as they come. */
class ServeLog {
  warnings = 0;
  errors = 0;
  readonly examples: string[] = [];

  /**
   * Counts the lines collected since the last call, then drops them: the stack keeps every line serve logs (one
   * per decision), which a long soak would otherwise pile up in this process.
   */
  collect(stack: WebhookStack): void {
    for (const line of stack.serve.lines.splice(0)) {
      const level = line.level ?? 0;
      if (level < 40) continue;
      if (level >= 50) this.errors++;
      else this.warnings++;
      if (this.examples.length < MAX_PROBLEMS_SHOWN) this.examples.push(`${level >= 50 ? 'error' : 'warn'}: ${line.msg ?? JSON.stringify(line)}`);
    }
  }
}

// --- printing -----------------------------------------------------------------------------------------------------

const COLUMNS: readonly [string, number][] = [
  ['elapsed', 8], ['sent', 8], ['late', 6], ['errors', 7], ['wrong', 6],
  ['p50 ms', 8], ['p99 ms', 8], ['max ms', 8], ['RSS MiB', 8], ['heap MiB', 9], ['api pods', 9],
];

const out = (text = '') => process.stdout.write(`${text}\n`);
const note = (text: string) => process.stderr.write(`   ${text}\n`);
const fixed = (value: number | undefined, digits = 1) => (value === undefined ? '-' : value.toFixed(digits));

function clock(seconds: number): string {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

function tableRow(cells: readonly string[]): string {
  return cells.map((cell, i) => cell.padStart(COLUMNS[i]![1])).join(' ');
}

function intervalRow(elapsedSeconds: number, tally: Tally, memory: MemorySample): string {
  const latency = latencySummary(tally.latenciesMs);
  return tableRow([
    clock(elapsedSeconds), String(tally.sent), String(tally.late), String(tally.errors), String(tally.wrong),
    fixed(latency.p50, 2), fixed(latency.p99, 2), fixed(latency.max, 2), fixed(memory.rssMiB), fixed(memory.heapMiB),
    `${tally.apiChecks - tally.apiFailures}/${tally.apiChecks}`,
  ]);
}

// --- the soak -----------------------------------------------------------------------------------------------------

interface SoakResult {
  readonly ended: 'done' | 'interrupted' | 'serve exited';
  readonly elapsedSeconds: number;
  readonly counts: Counts;
  readonly before: MemorySample;
  readonly samples: readonly MemorySample[];
  readonly serveLog: ServeLog;
}

async function onboard(stack: WebhookStack): Promise<void> {
  for (const { name, labels } of NAMESPACES) await stack.namespace(name, labels);
  for (const { namespace, image, secret } of WARM_PODS) {
    await stack.kubectlOk(['-n', namespace, 'run', 'warm', `--image=${image}`, '--restart=Never']);
    await stack.kubectlOk(['-n', namespace, 'get', 'secret', secret]);
    note(`${namespace}: warm pod admitted, pull Secret ${secret} written`);
  }
}

/** Resolves when the run should end: its time is up, a signal came, or serve died under it. */
function endOfRun(stack: WebhookStack, durationMs: number, interrupt: AbortSignal): Promise<SoakResult['ended']> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('done'), durationMs);
    const settle = (ended: SoakResult['ended']) => (clearTimeout(timer), resolve(ended));
    interrupt.addEventListener('abort', () => settle('interrupted'), { once: true });
    stack.serve.child.once('exit', () => settle('serve exited'));
  });
}

async function soak(stack: WebhookStack, options: SoakOptions, interrupt: AbortSignal): Promise<SoakResult> {
  const counts = new Counts();
  const serveLog = new ServeLog();
  const samples: MemorySample[] = [];
  stack.serve.lines.splice(0); // start-up and warm-up lines are not the soak's
  const before = await sampleMemory(stack);
  out(`soak: ${options.rate} reviews/s for ${clock(options.minutes * 60)} (a row every ${options.intervalSeconds} s); serve before load: RSS ${fixed(before.rssMiB)} MiB, heap ${fixed(before.heapMiB)} MiB`);
  out(tableRow(COLUMNS.map(([title]) => title)));

  const load = new LoadGenerator({ port: stack.serve.port, ca: stack.webhookCa, rate: options.rate, counts });
  const stopApiPods = new AbortController();
  const started = performance.now();
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  let rows = Promise.resolve();
  let lastRowAt = 0;
  // The interval's figures are taken at the tick; only the heap read waits, and rows are printed in order.
  const takeRow = () => {
    const at = elapsedSeconds();
    const tally = counts.nextInterval();
    lastRowAt = at;
    serveLog.collect(stack);
    rows = rows.then(async () => {
      const memory = await sampleMemory(stack);
      samples.push(memory);
      out(intervalRow(at, tally, memory));
    });
  };

  load.start();
  const apiPods = sendApiPods(stack, counts, stopApiPods.signal);
  const sampler = setInterval(takeRow, options.intervalSeconds * 1000);
  const ended = await endOfRun(stack, options.minutes * 60_000, interrupt);
  clearInterval(sampler);
  await load.stop();
  stopApiPods.abort();
  await apiPods;
  if (elapsedSeconds() - lastRowAt > 1) takeRow(); // the part of an interval left at the end
  await rows;
  return { ended, elapsedSeconds: elapsedSeconds(), counts, before, samples, serveLog };
}

// --- the summary --------------------------------------------------------------------------------------------------

function figures(result: SoakResult, options: SoakOptions) {
  const { total } = result.counts;
  const latency = latencySummary(total.latenciesMs);
  const rss = result.samples.map((s) => s.rssMiB).filter((v): v is number => v !== undefined);
  const heap = result.samples.map((s) => s.heapMiB).filter((v): v is number => v !== undefined);
  const round = (value: number | undefined, digits = 2) => (value === undefined ? null : Number(value.toFixed(digits)));
  const ok = result.ended === 'done' && total.errors === 0 && total.wrong === 0 && total.apiFailures === 0;
  return {
    ok,
    ended: result.ended,
    seconds: round(result.elapsedSeconds, 1),
    ratePerSecond: options.rate,
    requests: total.sent,
    late: total.late,
    skipped: total.skipped,
    errors: total.errors,
    wrongAnswers: total.wrong,
    byCase: total.byCase,
    apiPods: total.apiChecks,
    apiPodFailures: total.apiFailures,
    p50Ms: round(latency.p50),
    p99Ms: round(latency.p99),
    maxMs: round(latency.max),
    rssBeforeLoadMiB: round(result.before.rssMiB, 1),
    rssFirstMiB: round(rss[0], 1),
    rssLastMiB: round(rss.at(-1), 1),
    rssMaxMiB: round(rss.length === 0 ? undefined : Math.max(...rss), 1),
    rssGrowthMiB: round(rss.length === 0 ? undefined : rss.at(-1)! - rss[0]!, 1),
    heapFirstMiB: round(heap[0], 1),
    heapLastMiB: round(heap.at(-1), 1),
    heapMaxMiB: round(heap.length === 0 ? undefined : Math.max(...heap), 1),
    serveLogWarnings: result.serveLog.warnings,
    serveLogErrors: result.serveLog.errors,
  };
}

function printSummary(result: SoakResult, f: ReturnType<typeof figures>): void {
  const mib = (value: number | null) => (value === null ? '-' : `${value} MiB`);
  const growth = f.rssGrowthMiB === null || f.rssFirstMiB === null ? '-' : `${f.rssGrowthMiB >= 0 ? '+' : ''}${f.rssGrowthMiB} MiB (${((f.rssGrowthMiB / f.rssFirstMiB) * 100).toFixed(1)}%)`;
  out();
  out(`summary (${result.ended} after ${clock(result.elapsedSeconds)})`);
  out(`  requests    ${f.requests} sent at ${f.ratePerSecond}/s: ${f.errors} errors, ${f.wrongAnswers} wrong answers, ${f.late} late (${f.skipped} of them skipped)`);
  out(`  by case     ${CASE_NAMES.map((name) => `${name} ${f.byCase[name]}`).join(', ')}`);
  out(`  latency     p50 ${f.p50Ms ?? '-'} ms, p99 ${f.p99Ms ?? '-'} ms, max ${f.maxMs ?? '-'} ms`);
  out(`  api pods    ${f.apiPods} through kube-apiserver, ${f.apiPodFailures} not as expected`);
  out(`  serve RSS   before load ${mib(f.rssBeforeLoadMiB)}; first interval ${mib(f.rssFirstMiB)}, last ${mib(f.rssLastMiB)}, max ${mib(f.rssMaxMiB)}; growth first to last ${growth}`);
  out(`  serve heap  first interval ${mib(f.heapFirstMiB)}, last ${mib(f.heapLastMiB)}, max ${mib(f.heapMaxMiB)}`);
  out(`  serve log   ${f.serveLogWarnings} warnings, ${f.serveLogErrors} errors`);
  for (const line of [...result.counts.problems, ...result.serveLog.examples]) out(`    ${line.slice(0, 400)}`);
  out(`result: ${f.ok ? 'PASS' : 'FAIL'}`);
}

// --- main ---------------------------------------------------------------------------------------------------------

/**
 * The first Ctrl-C ends the soak early (its summary is still printed and everything stopped); before the load starts,
 * or a second time, it exits at once: the stack's processes are killed by their exit hooks.
 */
function interruptOnSignals(): { signal: AbortSignal; armed: () => void } {
  const controller = new AbortController();
  let soaking = false;
  const onSignal = (name: NodeJS.Signals) => {
    if (!soaking || controller.signal.aborted) {
      process.stderr.write(`soak: ${name}, exiting now\n`);
      process.exit(1);
    }
    process.stderr.write(`soak: ${name}, ending the soak early (again to exit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: controller.signal, armed: () => (soaking = true) };
}

const STOP_TIMEOUT_MS = 30_000;

/**
 * Ctrl-C in a terminal reaches the whole process group, the stack's processes included, so they may stop in any
 * order and one may wait on another that is already gone. Stopping is given a limit; past it the exit hooks of the
 * stack's processes kill whatever is left.
 */
async function stoppedInTime(stack: WebhookStack): Promise<boolean> {
  return Promise.race([stack.stop().then(() => true), sleep(STOP_TIMEOUT_MS, false, { ref: false })]);
}

const options = optionsOrExit('soak', USAGE, parseOptions);
const interrupt = interruptOnSignals();
process.env.NODE_OPTIONS = deploymentNodeOptions();
note(`serve runs with NODE_OPTIONS=${process.env.NODE_OPTIONS}, as in manifests/base/deployment.yaml`);
note('starting kube-apiserver and etcd, moto and the webhook');
const stack = await startWebhookStack({ policy: POLICY, log: note });
let ok = false;
try {
  await onboard(stack);
  interrupt.armed();
  const result = await soak(stack, options, interrupt.signal);
  const summary = figures(result, options);
  printSummary(result, summary);
  if (options.json) out(JSON.stringify(summary));
  ok = summary.ok;
} catch (error) {
  process.stderr.write(`soak: ${(error as Error).message}\n`);
}
if (!(await stoppedInTime(stack))) {
  process.stderr.write(`soak: the stack did not stop within ${STOP_TIMEOUT_MS / 1000} s; killing what is left\n`);
  process.exit(1);
}
process.exitCode = ok ? 0 : 1;
