// `npm run bench`: how fast the webhook answers, what it adds to a pod create, how it behaves when credentials are
// cold, and how much memory it holds. Four parts, in one run of about four minutes:
//
//   1. hot path     A server child runs the real app (buildApp over TLS) with a generated policy of 1,000 tenants ×
//                   10 grants, 10,000 namespaces, pino at info to /dev/null, and the real pull-secret provisioner,
//                   writer and token cache over an in-memory Secret store with a fake token source. A second child
//                   runs a baseline: an empty Fastify app with the same TLS options answering a constant allowed
//                   AdmissionReview. A third child generates load over HTTPS keep-alive on loopback. Two workloads
//                   (fixture.ts), each sent once and its answers checked first (which also writes the pull Secrets,
//                   so the measured load finds them fresh): all-distinct pods of 1-5 containers (rewrites, granted,
//                   denied, dry-run, unlabelled), and a realistic one of the same mix where pods are replicas of 150
//                   Deployments with Zipf-like popularity (435 distinct images). Then:
//                     (a) max throughput, a fixed number of connections in a closed loop, real app then baseline, on
//                         each workload, with each server's CPU time per review; on the realistic workload also a
//                         required-work control: serve's envelope read, decision counter, latency histogram, decision
//                         log line and patched answer around no decision (hot-server.ts --kind required), the floor
//                         under realisticCpuUsPerReview;
//                     (b) latency at a fixed 500 reviews/s (all-distinct) against the real app and the baseline, each
//                         review measured from the time it was due to be sent to the end of its answer (open loop:
//                         no coordinated omission);
//                     (c) max throughput of the real app with ECR reads for every tenant (pinDigests, missingImage:
//                         deny), its lookup cache warmed by a priming pass: the cost of reading ECR once it is cached
//                         (registryThroughputRatio is its throughput over the real app's without reads).
//   2. end to end   The test suite's webhook stack (kube-apiserver + etcd, moto, the real `serve` registered as the
//                   mutating webhook). Pods are created through the API server, sequentially and interleaved, in a
//                   tenant namespace whose pull Secret is already fresh (the webhook is called), in an unlabelled
//                   namespace (its namespaceSelector leaves the webhook out), and as controls in a namespace where
//                   only a webhook that answers "allowed" is called (it offers HTTP/2 and counts what it is spoken
//                   to with) and in one where only a webhook answering with serve's patch is called. Added latency =
//                   the difference of the percentiles. Real creates: a dryRun=All create skips writing pull Secrets,
//                   so it is not the same path.
//   3. cold path    On the same stack, a burst of concurrent admissions posted straight to serve's /mutate for a
//                   tenant that has no token and no pull Secret yet and pins its two images' tags to digests (read
//                   from moto, nothing cached), moto counting the AWS calls they cause.
//   4. memory       RSS of the hot-path server child (the real app, 10,000 namespaces, 1,000 × 10 grants, 5,000 cached
//                   tokens, the pull Secrets of the load) after the load and a forced GC; the floor, a child that
//                   imports what serve imports and holds nothing (floor.ts); and the real serve's RSS in the stack
//                   after parts 2 and 3.
//
//   npm run bench                          # the table
//   npm run bench -- --json | tail -n 1    # the figures as one JSON object (always the last line)
//   npm run bench -- --seconds 5 --pods 50 --cold 200   # a quicker, rougher run
//   npm run bench -- --cpu-prof DIR        # also write V8 CPU profiles of both servers' throughput runs to DIR
//   npm run bench -- --hot-only            # parts 1 and 4 only, without the control plane (under two minutes)
//   npm run bench -- --heap-snapshot DIR   # also write a heap snapshot of the real app after the memory reading
//   npm run bench -- --heap-prof DIR       # also write a heap profile of what outlived the real app's young
//                                          # generation during the fixed-rate run (what brings major collections)
//   npx node scripts/bench/profile-summary.ts FILE [--top N] [--match REGEX]   # either kind of profile as text
//
// Every figure is printed with its target and PASS or FAIL, but a FAIL does not fail the run: exit 0 unless a part
// crashed (1), or the arguments are wrong (2). The machine has few cores and may be busy: the load average before
// and after is printed beside the figures. Everything started is stopped on the way out, Ctrl-C included. The
// control plane binaries and moto come from CONTROL_PLANE_BIN and MOTO_SERVER, or are built on first use.
import { mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem, platform, release } from 'node:os';
import { resolve } from 'node:path';
import { BenchChild, killAllChildren } from './children.ts';
import { runEndToEnd, type EndToEndResult } from './e2e.ts';
import { runHotPath, type FixedRateRun, type HotPathResult } from './hot-path.ts';
import { DEPLOYMENT_COUNT } from './fixture.ts';
import { round } from './stats.ts';
import { deploymentNodeOptions, optionsOrExit, parseFlags, UsageError } from '../script-options.ts';

// --- arguments ----------------------------------------------------------------------------------------------------

interface BenchOptions {
  readonly json: boolean;
  readonly seconds: number;
  readonly connections: number;
  readonly pods: number;
  readonly cold: number;
  readonly cpuProfileDir: string | undefined;
  /** Parts 1 and 4 only (no control plane): for measuring a change to the hot path quickly. */
  readonly hotOnly: boolean;
  readonly heapSnapshotDir: string | undefined;
  readonly heapProfileDir: string | undefined;
}

const USAGE = 'usage: npm run bench -- [--json] [--seconds N (12)] [--connections N (16)] [--pods N (200)] [--cold N (1000)] [--cpu-prof DIR] [--heap-snapshot DIR] [--heap-prof DIR] [--hot-only]';

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  return value;
}

function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const values = parseFlags(argv, {
    json: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '12' },
    connections: { type: 'string', default: '16' },
    pods: { type: 'string', default: '200' },
    cold: { type: 'string', default: '1000' },
    'cpu-prof': { type: 'string' },
    'hot-only': { type: 'boolean', default: false },
    'heap-snapshot': { type: 'string' },
    'heap-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) return 'help';
  return {
    json: values.json,
    seconds: wholeNumber('seconds', values.seconds, 1, 60),
    connections: wholeNumber('connections', values.connections, 1, 256),
    pods: wholeNumber('pods', values.pods, 10, 5000),
    cold: wholeNumber('cold', values.cold, 1, 5000),
    cpuProfileDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    hotOnly: values['hot-only'],
    heapSnapshotDir: values['heap-snapshot'] === undefined ? undefined : resolve(values['heap-snapshot']),
    heapProfileDir: values['heap-prof'] === undefined ? undefined : resolve(values['heap-prof']),
  };
}

// --- targets ------------------------------------------------------------------------------------------------------

interface Figures {
  readonly throughput: number | null;
  readonly baselineThroughput: number | null;
  readonly throughputRatio: number | null;
  readonly cpuUsPerReview: number | null;
  readonly baselineCpuUsPerReview: number | null;
  readonly realisticThroughput: number | null;
  readonly realisticBaselineThroughput: number | null;
  readonly realisticThroughputRatio: number | null;
  readonly realisticCpuUsPerReview: number | null;
  readonly realisticBaselineCpuUsPerReview: number | null;
  readonly realisticRequiredWorkCpuUsPerReview: number | null;
  readonly realisticRequiredWorkThroughputRatio: number | null;
  readonly registryThroughput: number | null;
  readonly registryThroughputRatio: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly baselineP99Ms: number | null;
  readonly e2eAddedP50Ms: number | null;
  readonly e2eEmptyWebhookAddedP50Ms: number | null;
  readonly e2eAddedP99Ms: number | null;
  readonly e2eEmptyWebhookAddedP99Ms: number | null;
  readonly coldAssumeRoleCalls: number | null;
  readonly coldGetAuthorizationTokenCalls: number | null;
  readonly coldDescribeImagesCalls: number | null;
  readonly coldFirstAnswerMs: number | null;
  readonly rssMb: number | null;
  readonly rssFloorMb: number | null;
}

type FigureName = keyof Figures;

/**
 * A figure's target, judged against another figure of the same run where it is a ratio (the machine and whatever
 * else it is doing then weigh on both sides alike).
 */
interface Row {
  readonly figure: FigureName;
  readonly unit: string;
  readonly target: string;
  readonly met: ((value: number, figures: Figures) => boolean | undefined) | undefined;
}

/** `value <= factor × other + plus`, undefined when the other figure is missing. */
const within = (other: FigureName, factor: number, plus = 0) => (value: number, figures: Figures) => {
  const reference = figures[other];
  return reference === null ? undefined : value <= factor * reference + plus;
};

const ROWS: readonly Row[] = [
  { figure: 'throughput', unit: 'reviews/s', target: '', met: undefined },
  { figure: 'baselineThroughput', unit: 'reviews/s', target: '', met: undefined },
  { figure: 'throughputRatio', unit: '', target: '', met: undefined },
  { figure: 'cpuUsPerReview', unit: 'µs', target: '<= 2 × baseline', met: within('baselineCpuUsPerReview', 2) },
  { figure: 'baselineCpuUsPerReview', unit: 'µs', target: '', met: undefined },
  { figure: 'realisticThroughput', unit: 'reviews/s', target: '', met: undefined },
  { figure: 'realisticBaselineThroughput', unit: 'reviews/s', target: '', met: undefined },
  { figure: 'realisticThroughputRatio', unit: '', target: '>= 0.80', met: (v) => v >= 0.8 },
  { figure: 'realisticCpuUsPerReview', unit: 'µs', target: '<= 1.25 × baseline', met: within('realisticBaselineCpuUsPerReview', 1.25) },
  { figure: 'realisticBaselineCpuUsPerReview', unit: 'µs', target: '', met: undefined },
  { figure: 'realisticRequiredWorkCpuUsPerReview', unit: 'µs', target: '', met: undefined },
  { figure: 'realisticRequiredWorkThroughputRatio', unit: '', target: '', met: undefined },
  { figure: 'registryThroughput', unit: 'reviews/s', target: '', met: undefined },
  { figure: 'registryThroughputRatio', unit: '', target: '>= 0.80', met: (v) => v >= 0.8 },
  { figure: 'p50Ms', unit: 'ms', target: '', met: undefined },
  { figure: 'p99Ms', unit: 'ms', target: '<= baseline + 1 ms', met: within('baselineP99Ms', 1, 1) },
  { figure: 'baselineP99Ms', unit: 'ms', target: '', met: undefined },
  { figure: 'e2eAddedP50Ms', unit: 'ms', target: '<= 1.25 × empty', met: within('e2eEmptyWebhookAddedP50Ms', 1.25) },
  { figure: 'e2eEmptyWebhookAddedP50Ms', unit: 'ms', target: '', met: undefined },
  { figure: 'e2eAddedP99Ms', unit: 'ms', target: '', met: undefined },
  { figure: 'e2eEmptyWebhookAddedP99Ms', unit: 'ms', target: '', met: undefined },
  { figure: 'coldAssumeRoleCalls', unit: '', target: '= 1', met: (v) => v === 1 },
  { figure: 'coldGetAuthorizationTokenCalls', unit: '', target: '= 1', met: (v) => v === 1 },
  { figure: 'coldDescribeImagesCalls', unit: '', target: '= 2', met: (v) => v === 2 },
  { figure: 'coldFirstAnswerMs', unit: 'ms', target: '', met: undefined },
  { figure: 'rssMb', unit: 'MiB', target: '<= floor + 40 MiB', met: within('rssFloorMb', 1, 40) },
  { figure: 'rssFloorMb', unit: 'MiB', target: '', met: undefined },
];

function verdict(row: Row, figures: Figures): string {
  const value = figures[row.figure];
  if (row.met === undefined) return '';
  if (value === null) return 'n/a';
  const met = row.met(value, figures);
  return met === undefined ? 'n/a' : met ? 'PASS' : 'FAIL';
}

// --- the run ------------------------------------------------------------------------------------------------------

const MIB = 1024 * 1024;
const WARMUP_MS = 3000;
/** The fixed rate of the latency runs: a busy cluster's pod creates through one replica. */
const RATE = 500;
const RATE_SECONDS = 10;
/** Distinct reviews, sent in turn: enough that answers are not served from warm caches of one body. */
const REVIEW_COUNT = 4000;
const out = (text = '') => process.stdout.write(`${text}\n`);
const note = (text: string) => process.stderr.write(`   ${text}\n`);

interface Outcome<T> {
  readonly result: T | undefined;
  readonly error: string | undefined;
  readonly ms: number;
}

async function timed<T>(name: string, run: () => Promise<T>): Promise<Outcome<T>> {
  const started = performance.now();
  try {
    return { result: await run(), error: undefined, ms: performance.now() - started };
  } catch (error) {
    // After Ctrl-C every part fails as its processes go away; that is not news.
    if (!interrupted) note(`${name} failed: ${(error as Error).stack ?? String(error)}`);
    return { result: undefined, error: (error as Error).message.split('\n')[0], ms: performance.now() - started };
  }
}

function figuresOf(hot: HotPathResult | undefined, e2e: EndToEndResult | undefined): Figures {
  const figure = (value: number | undefined, digits = 3) => round(value ?? Number.NaN, digits);
  const ratio = (a: number | undefined, b: number | undefined) => round(a === undefined || b === undefined ? Number.NaN : a / b, 3);
  const added = (pick: (s: EndToEndResult['with']) => number, side: 'with' | 'trivial') => round(e2e === undefined ? Number.NaN : pick(e2e[side]) - pick(e2e.without));
  return {
    throughput: figure(hot?.real.perSecond, 0),
    baselineThroughput: figure(hot?.baseline.perSecond, 0),
    throughputRatio: ratio(hot?.real.perSecond, hot?.baseline.perSecond),
    cpuUsPerReview: figure(hot?.real.serverCpuUsPerReview, 1),
    baselineCpuUsPerReview: figure(hot?.baseline.serverCpuUsPerReview, 1),
    realisticThroughput: figure(hot?.realistic.real.perSecond, 0),
    realisticBaselineThroughput: figure(hot?.realistic.baseline.perSecond, 0),
    realisticThroughputRatio: ratio(hot?.realistic.real.perSecond, hot?.realistic.baseline.perSecond),
    realisticCpuUsPerReview: figure(hot?.realistic.real.serverCpuUsPerReview, 1),
    realisticBaselineCpuUsPerReview: figure(hot?.realistic.baseline.serverCpuUsPerReview, 1),
    // The required-work control (hot-server.ts --kind required): what serve does around a decision, deciding nothing.
    realisticRequiredWorkCpuUsPerReview: figure(hot?.realistic.required.serverCpuUsPerReview, 1),
    realisticRequiredWorkThroughputRatio: ratio(hot?.realistic.required.perSecond, hot?.realistic.baseline.perSecond),
    registryThroughput: figure(hot?.registry.perSecond, 0),
    // Against the same app without reads, in the same run: what reading ECR costs once its answers are cached.
    registryThroughputRatio: ratio(hot?.registry.perSecond, hot?.real.perSecond),
    p50Ms: figure(hot?.fixedRate.latency.p50),
    p99Ms: figure(hot?.fixedRate.latency.p99),
    baselineP99Ms: figure(hot?.baselineFixedRate.latency.p99),
    e2eAddedP50Ms: added((s) => s.p50, 'with'),
    e2eEmptyWebhookAddedP50Ms: added((s) => s.p50, 'trivial'),
    e2eAddedP99Ms: added((s) => s.p99, 'with'),
    e2eEmptyWebhookAddedP99Ms: added((s) => s.p99, 'trivial'),
    coldAssumeRoleCalls: e2e?.cold.assumeRoleCalls ?? null,
    coldGetAuthorizationTokenCalls: e2e?.cold.getAuthorizationTokenCalls ?? null,
    coldDescribeImagesCalls: e2e?.cold.describeImagesCalls ?? null,
    coldFirstAnswerMs: figure(e2e?.cold.firstAnswerMs, 1),
    rssMb: figure(hot === undefined ? undefined : hot.memory.rss / MIB, 1),
    rssFloorMb: figure(hot === undefined ? undefined : hot.floor.rss / MIB, 1),
  };
}

function machine() {
  const cores = cpus();
  return { cpu: cores[0]?.model ?? 'unknown', cores: cores.length, memoryGiB: round(totalmem() / 1024 ** 3, 1), node: process.version, os: `${platform()} ${release()}` };
}

// --- printing -----------------------------------------------------------------------------------------------------

function table(figures: Figures): string[] {
  const cells = ROWS.map((row) => {
    const value = figures[row.figure];
    return [row.figure, value === null ? '-' : `${value}${row.unit === '' ? '' : ` ${row.unit}`}`, row.target, verdict(row, figures)];
  });
  const header = ['figure', 'value', 'target', 'result'];
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
}

const ms = (value: number, digits = 2) => `${value.toFixed(digits)} ms`;
const seconds = (value: number) => `${(value / 1000).toFixed(1)} s`;

function windowSummary(run: FixedRateRun): string {
  const gcs = Object.entries(run.server.gc).map(([kind, g]) => `${g.count} ${kind} (${g.totalMs.toFixed(0)} ms, longest ${g.maxMs.toFixed(1)} ms)`).join(', ');
  const cpu = (run.server.cpuUs / 1e4 / run.seconds).toFixed(0);
  return `CPU ${cpu}% of a core; GC ${gcs === '' ? 'none' : gcs}; event-loop delay p99 ${ms(run.server.loopDelayP99Ms, 1)}, max ${ms(run.server.loopDelayMaxMs, 1)}; other processes used ${run.otherProcessesCores.toFixed(2)} cores meanwhile`;
}

function hotDetails(hot: HotPathResult, options: BenchOptions, serverFlags: string): string[] {
  const { real, baseline, fixedRate, baselineFixedRate, memory, prime } = hot;
  const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
  return [
    `hot path (part 1): server children run with ${serverFlags}; load from a separate process, HTTPS keep-alive on 127.0.0.1`,
    `  answers checked   ${prime.sent} distinct reviews sent once each before measuring: ${prime.wrong} not as expected (${Object.entries(prime.byCase).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    ...prime.problems.map((p) => `    ${p}`),
    `  throughput        ${options.connections} connections, closed loop, ${options.seconds} s each after ${WARMUP_MS / 1000} s warm-up: real ${real.completed} answers in ${real.seconds.toFixed(1)} s (${real.errors} non-200), baseline ${baseline.completed} (${baseline.errors} non-200)`,
    `  CPU per review    server: real ${real.serverCpuUsPerReview.toFixed(0)} µs, baseline ${baseline.serverCpuUsPerReview.toFixed(0)} µs; load generator ~${real.clientCpuUsPerReview.toFixed(0)} µs`,
    `  realistic         ${REVIEW_COUNT} replicas of ${DEPLOYMENT_COUNT} Deployments (Zipf-popular within each case, the same case mix; ${hot.realistic.prime.wrong} of ${hot.realistic.prime.sent} answers not as expected):`,
    `                    real ${hot.realistic.real.perSecond.toFixed(0)}/s at ${hot.realistic.real.serverCpuUsPerReview.toFixed(0)} µs CPU per review, baseline ${hot.realistic.baseline.perSecond.toFixed(0)}/s at ${hot.realistic.baseline.serverCpuUsPerReview.toFixed(0)} µs; real p99 under max load ${ms(hot.realistic.real.latency.p99)}`,
    `                    required-work control (serve's envelope read, counter, histogram, decision log line and patched answer; no decision) ${hot.realistic.required.perSecond.toFixed(0)}/s at ${hot.realistic.required.serverCpuUsPerReview.toFixed(0)} µs`,
    `  with ECR reads    every tenant pinDigests + missingImage: deny, reads cached after priming (${hot.registry.prime.sent} reviews, ${hot.registry.prime.wrong} not as expected; ${hot.registry.reads} reads of the in-memory registry in all):`,
    `                    ${hot.registry.completed} answers in ${hot.registry.seconds.toFixed(1)} s (${hot.registry.errors} non-200), ${hot.registry.perSecond.toFixed(0)}/s against ${real.perSecond.toFixed(0)}/s without reads; server CPU ${hot.registry.serverCpuUsPerReview.toFixed(0)} µs per review; p50 ${ms(hot.registry.latency.p50)}, p99 ${ms(hot.registry.latency.p99)}`,
    `  under max load    real p50 ${ms(real.latency.p50)}, p99 ${ms(real.latency.p99)}; baseline p50 ${ms(baseline.latency.p50)}, p99 ${ms(baseline.latency.p99)}`,
    `  fixed rate        ${fixedRate.rate}/s for ${RATE_SECONDS} s: ${fixedRate.answered}/${fixedRate.sent} answered, ${fixedRate.errors} errors; p50 ${ms(fixedRate.latency.p50, 3)}, p90 ${ms(fixedRate.latency.p90, 3)}, p99 ${ms(fixedRate.latency.p99, 3)}, p99.9 ${ms(fixedRate.latency.p999, 3)}, max ${ms(fixedRate.latency.max, 3)}`,
    `                    (from each review's due time; of which waiting to be sent, for a free connection or the load's own event loop: p50 ${ms(fixedRate.sendDelay.p50, 3)}, p99 ${ms(fixedRate.sendDelay.p99, 3)})`,
    `                    inside the server: ${windowSummary(fixedRate)}`,
    `  baseline at rate  p50 ${ms(baselineFixedRate.latency.p50, 3)}, p99 ${ms(baselineFixedRate.latency.p99, 3)}, max ${ms(baselineFixedRate.latency.max, 3)}; inside: ${windowSummary(baselineFixedRate)}`,
    `                    at ${fixedRate.rate}/s the real app needs ~${((fixedRate.rate * real.serverCpuUsPerReview) / 10_000).toFixed(0)}% of one core (its CPU per review above); past ~100% answers queue and latency grows for the whole run`,
    `memory (part 4): the hot-path server child running the real app (not the baseline), after all of part 1 and a forced GC (gc(), twice):`,
    `  RSS ${mib(memory.rss)}: V8 heap used ${mib(memory.heapUsed)} of ${mib(memory.heapTotal)} committed (young generation ${mib(memory.newSpace)} of it), external ${mib(memory.external)}`,
    `  holding ${memory.namespaces} namespaces, ${memory.tenants} tenants with ${memory.grants} grants, ${memory.cachedTokens} cached tokens (${memory.mints} minted by the fake source),`,
    `  ${memory.pullSecrets} pull Secrets in the in-memory store, and the AWS SDK and Kubernetes client modules serve loads`,
    `  after the collection V8 runs under memory pressure (gc flavor last-resort): RSS ${mib(memory.rssAfterThoroughGc)}, heap used ${mib(memory.heapUsedAfterThoroughGc)}`,
    `  RSS at start-up, each after gc(): ${memory.steps.map((s) => `${s.step} ${mib(s.rss)}`).join(', ')}`,
    `  floor: a process importing what serve imports and holding nothing, after gc(): RSS ${mib(hot.floor.rss)}, heap used ${mib(hot.floor.heapUsed)}`,
  ];
}

function tokenOutcome(cold: EndToEndResult['cold']): string {
  if (cold.mintedAfterMs !== undefined) return `minted about ${cold.mintedAfterMs} ms after the firing (serve's log clock)`;
  if (cold.mintFailure !== undefined) return `not minted: ${cold.mintFailure.slice(0, 240)}`;
  return "no mint in serve's log";
}

const mibOrDash = (value: number | undefined) => (value === undefined ? '-' : `${value.toFixed(1)} MiB`);

function e2eDetails(e2e: EndToEndResult, options: BenchOptions): string[] {
  const { cold } = e2e;
  const other = Object.entries(cold.otherAwsCalls).map(([api, n]) => `${api} ${n}`).join(', ');
  return [
    `end to end (part 2): ${options.pods} real pod creates per namespace through kube-apiserver (admin token, one keep-alive connection), interleaved, after 20 warm-up rounds`,
    `  with webhook      p50 ${ms(e2e.with.p50)}, p90 ${ms(e2e.with.p90)}, p99 ${ms(e2e.with.p99)}, max ${ms(e2e.with.max)}   (tenant namespace; pull Secret already written)`,
    `  without webhook   p50 ${ms(e2e.without.p50)}, p90 ${ms(e2e.without.p90)}, p99 ${ms(e2e.without.p99)}, max ${ms(e2e.without.max)}   (unlabelled namespace; the namespaceSelector skips the webhook)`,
    `  trivial webhook   p50 ${ms(e2e.trivial.p50)}, p90 ${ms(e2e.trivial.p90)}, p99 ${ms(e2e.trivial.p99)}, max ${ms(e2e.trivial.max)}   (control: a namespace where only a webhook that allows and changes nothing is called; it answered ${e2e.trivialCalls} times)`,
    `                    so calling any webhook adds p50 ${ms(e2e.trivial.p50 - e2e.without.p50)}, p99 ${ms(e2e.trivial.p99 - e2e.without.p99)} here; this one adds p50 ${ms(e2e.with.p50 - e2e.without.p50)}, p99 ${ms(e2e.with.p99 - e2e.without.p99)}`,
    `  patching webhook  p50 ${ms(e2e.patching.p50)}, p90 ${ms(e2e.patching.p90)}, p99 ${ms(e2e.patching.p99)}, max ${ms(e2e.patching.max)}   (control: only a webhook answering with serve's patch, deciding nothing, is called)`,
    `                    so a webhook answering with that patch adds p50 ${ms(e2e.patching.p50 - e2e.without.p50)}, p99 ${ms(e2e.patching.p99 - e2e.without.p99)}: applying it is the API server's share`,
    `  HTTP/2 offered    the trivial webhook offers HTTP/2 and HTTP/1.1; kube-apiserver called it with ${Object.entries(e2e.trivialHttpVersions).map(([version, n]) => `HTTP/${version} ${n} times`).join(', ') || 'nothing'}`,
    `  webhook calls     ${e2e.webhookCallsPerPod.toFixed(2)} per pod created in the tenant namespace (serve's decision log lines)`,
    `  webhook alone     p50 ${ms(e2e.direct.p50)}, p90 ${ms(e2e.direct.p90)}, p99 ${ms(e2e.direct.p99)}, max ${ms(e2e.direct.max)}   (the same pod's review posted straight to serve, one keep-alive connection)`,
    `cold path (part 3): ${options.cold} concurrent admissions (non-dryRun, connections opened first) straight to serve's /mutate for a tenant with no token and no pull Secret`,
    `  AWS calls         AssumeRole ${cold.assumeRoleCalls}, GetAuthorizationToken ${cold.getAuthorizationTokenCalls}, DescribeImages ${cold.describeImagesCalls} (the burst names ${cold.distinctImages} distinct images)${other === '' ? '' : `, other: ${other}`}`,
    `  token             ${tokenOutcome(cold)}`,
    `  answers           first after ${ms(cold.firstAnswerMs, 1)}, p50 ${ms(cold.answerMs.p50, 1)}, p99 ${ms(cold.answerMs.p99, 1)}, last ${ms(cold.answerMs.max, 1)}; ${cold.allowed} allowed, ${cold.denied} denied, ${cold.errors} errors`,
    ...cold.examples.map((e) => `    e.g. ${e.slice(0, 300)}`),
    `  serve warned      ${Object.entries(cold.serveWarnings).map(([msg, n]) => `${n} × "${msg}"`).join(', ') || 'nothing'}`,
    `  real serve RSS    ${mibOrDash(e2e.serveRssAfterPodsMb)} after part 2, ${mibOrDash(e2e.serveRssMb)} after part 3 (the stack's serve process: 20-tenant policy, a few namespaces; no forced GC)`,
  ];
}

function report(options: BenchOptions, hot: Outcome<HotPathResult>, e2e: Outcome<EndToEndResult>, figures: Figures, load: { before: number[]; after: number[] }, serverFlags: string): void {
  const m = machine();
  out('ecr-tenant-webhook benchmark');
  out(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}; load average before ${load.before.map((v) => v.toFixed(2)).join(' ')}, after ${load.after.map((v) => v.toFixed(2)).join(' ')}`);
  out();
  for (const line of table(figures)) out(line);
  out();
  if (hot.result !== undefined) hotDetails(hot.result, options, serverFlags).forEach((line) => out(line));
  if (hot.result !== undefined && options.cpuProfileDir !== undefined) out(`  CPU profiles of both throughput runs (the profiler slows them a little): ${options.cpuProfileDir}`);
  if (hot.result !== undefined && options.heapProfileDir !== undefined) out(`  heap profile of what outlived the young generation in the fixed-rate run (the sampling slows it a little): ${options.heapProfileDir}`);
  if (hot.error !== undefined) out(`hot path and memory (parts 1, 4): FAILED: ${hot.error}`);
  if (e2e.result !== undefined) e2eDetails(e2e.result, options).forEach((line) => out(line));
  if (e2e.error !== undefined) out(`end to end and cold path (parts 2, 3): FAILED: ${e2e.error}`);
  out();
  const hotDurations = hot.result?.durations;
  const e2eDurations = e2e.result?.durations;
  out(`durations: parts 1+4 ${seconds(hot.ms)}${hotDurations === undefined ? '' : ` (throughput ${seconds(hotDurations.throughputMs)}, fixed rate ${seconds(hotDurations.latencyMs)})`}; ` +
    `parts 2+3 ${seconds(e2e.ms)}${e2eDurations === undefined ? '' : ` (stack start ${seconds(e2eDurations.stackStartMs)}, pod creates ${seconds(e2eDurations.podsMs)}, cold burst ${seconds(e2eDurations.coldMs)})`}; total ${seconds(hot.ms + e2e.ms)}`);
}

function jsonLine(figures: Figures, hot: Outcome<HotPathResult>, e2e: Outcome<EndToEndResult>, load: { before: number[]; after: number[] }): string {
  const h = hot.result;
  const e = e2e.result;
  return JSON.stringify({
    ...figures,
    pass: Object.fromEntries(ROWS.filter((row) => row.met !== undefined).map((row) => [row.figure, verdict(row, figures)])),
    p999Ms: round(h?.fixedRate.latency.p999 ?? Number.NaN),
    baselineP50Ms: round(h?.baselineFixedRate.latency.p50 ?? Number.NaN),
    otherProcessesCores: round(h?.fixedRate.otherProcessesCores ?? Number.NaN, 2),
    maxMs: round(h?.fixedRate.latency.max ?? Number.NaN),
    serverCpuUsPerReview: round(h?.real.serverCpuUsPerReview ?? Number.NaN, 1),
    baselineServerCpuUsPerReview: round(h?.baseline.serverCpuUsPerReview ?? Number.NaN, 1),
    realisticWrongAnswers: h?.realistic.prime.wrong ?? null,
    floorHeapUsedMb: round((h?.floor.heapUsed ?? Number.NaN) / MIB, 1),
    registryServerCpuUsPerReview: round(h?.registry.serverCpuUsPerReview ?? Number.NaN, 1),
    registryP99UnderMaxLoadMs: round(h?.registry.latency.p99 ?? Number.NaN),
    registryReads: h?.registry.reads ?? null,
    registryWrongAnswers: h?.registry.prime.wrong ?? null,
    wrongAnswers: h?.prime.wrong ?? null,
    e2eWithP50Ms: round(e?.with.p50 ?? Number.NaN),
    e2eWithoutP50Ms: round(e?.without.p50 ?? Number.NaN),
    e2eWithP99Ms: round(e?.with.p99 ?? Number.NaN),
    e2eWithoutP99Ms: round(e?.without.p99 ?? Number.NaN),
    e2eCreates: 'real',
    coldAdmissions: e === undefined ? null : e.cold.allowed + e.cold.denied + e.cold.errors,
    coldAllowed: e?.cold.allowed ?? null,
    coldLastAnswerMs: round(e?.cold.answerMs.max ?? Number.NaN, 1),
    coldMintedAfterMs: e?.cold.mintedAfterMs ?? null,
    e2eEmptyWebhookHttpVersions: e?.trivialHttpVersions ?? null,
    e2ePatchingWebhookAddedP50Ms: round(e === undefined ? Number.NaN : e.patching.p50 - e.without.p50),
    e2ePatchingWebhookAddedP99Ms: round(e === undefined ? Number.NaN : e.patching.p99 - e.without.p99),
    e2eTrivialWebhookAddedP50Ms: round(e === undefined ? Number.NaN : e.trivial.p50 - e.without.p50),
    e2eTrivialWebhookAddedP99Ms: round(e === undefined ? Number.NaN : e.trivial.p99 - e.without.p99),
    e2eWebhookAloneP50Ms: round(e?.direct.p50 ?? Number.NaN),
    e2eWebhookAloneP99Ms: round(e?.direct.p99 ?? Number.NaN),
    rssMeasured: 'hot-path server child (real app) after load and forced GC',
    rssAfterThoroughGcMb: round((h?.memory.rssAfterThoroughGc ?? Number.NaN) / MIB, 1),
    youngGenerationMb: round((h?.memory.newSpace ?? Number.NaN) / MIB, 1),
    serveRssMb: round(e?.serveRssMb ?? Number.NaN, 1),
    serveRssAfterPodsMb: round(e?.serveRssAfterPodsMb ?? Number.NaN, 1),
    machine: machine(),
    loadAverage: load,
    durationsMs: { hotAndMemory: Math.round(hot.ms), endToEndAndCold: Math.round(e2e.ms) },
    errors: [hot.error, e2e.error].filter((error) => error !== undefined),
  });
}

// --- main ---------------------------------------------------------------------------------------------------------

const STOP_TIMEOUT_MS = 30_000;
let stopStack: (() => Promise<void>) | undefined;
let interrupted = false;

/** Ctrl-C (or SIGTERM): stop the stack and every child, then exit; a second signal exits at once. */
function stopOnSignals(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`bench: ${signal}, stopping everything\n`);
    killAllChildren();
    const timeout = new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref());
    void Promise.race([stopStack?.() ?? Promise.resolve(), timeout]).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

const options = optionsOrExit('bench', USAGE, parseOptions);
stopOnSignals();
for (const dir of [options.cpuProfileDir, options.heapSnapshotDir, options.heapProfileDir]) if (dir !== undefined) mkdirSync(dir, { recursive: true });
const nodeOptions = deploymentNodeOptions();
const loadBefore = loadavg();
const loadGenerator = new BenchChild('load generator', new URL('./load.ts', import.meta.url), [], []);
await loadGenerator.ready;

note('part 1: hot path (real app and baseline over TLS, load from a separate process)');
const hot = await timed('hot path', () =>
  runHotPath(loadGenerator, {
    connections: options.connections,
    warmupMs: WARMUP_MS,
    measureMs: options.seconds * 1000,
    rate: RATE,
    rateSeconds: RATE_SECONDS,
    reviewCount: REVIEW_COUNT,
    serverFlags: nodeOptions.split(/\s+/),
    cpuProfileDir: options.cpuProfileDir,
    heapSnapshotDir: options.heapSnapshotDir,
    heapProfileDir: options.heapProfileDir,
    note,
  }),
);

if (!options.hotOnly) note('parts 2 and 3: end to end through kube-apiserver, then the cold path (starting the stack)');
// serve in the stack gets the Deployment's NODE_OPTIONS too (the stack passes this process's environment on).
process.env.NODE_OPTIONS = nodeOptions;
const e2e = options.hotOnly ? { result: undefined, error: undefined, ms: 0 } : await timed('end to end', () => runEndToEnd(loadGenerator, { pods: options.pods, coldAdmissions: options.cold, note }, (stop) => (stopStack = stop)));
stopStack = undefined;
await loadGenerator.stop();

const loadAfter = loadavg();
const figures = figuresOf(hot.result, e2e.result);
const load = { before: loadBefore.map((v) => round(v, 2) ?? 0), after: loadAfter.map((v) => round(v, 2) ?? 0) };
report(options, hot, e2e, figures, load, nodeOptions);
if (options.json) out(jsonLine(figures, hot, e2e, load));
process.exitCode = hot.error === undefined && e2e.error === undefined ? 0 : 1;
