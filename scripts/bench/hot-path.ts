// Parts 1 and 4 of `npm run bench`: the hot path (throughput against a baseline, latency at a fixed rate) and the
// memory of the process that served it. Two server children (the real app and the baseline) and the load child.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchChild } from './children.ts';
import { registryOf, servePatch, tenantName, type Workload } from './fixture.ts';
import type { Summary } from './stats.ts';

const MAKE_CERTS = new URL('../../certs/make-certs.sh', import.meta.url).pathname;
export const HOT_SERVER = new URL('./hot-server.ts', import.meta.url);
const FLOOR = new URL('./floor.ts', import.meta.url);
/** The tenant whose patch the required-work control answers with (a rewrite and a pull secret). */
const REQUIRED_TENANT = 42;

export interface HotPathOptions {
  readonly connections: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly rate: number;
  readonly rateSeconds: number;
  /** Distinct reviews sent in turn; every one is sent once, and checked, before anything is measured. */
  readonly reviewCount: number;
  /** Node flags of the servers (the Deployment's NODE_OPTIONS). */
  readonly serverFlags: readonly string[];
  /** Where both servers write a V8 CPU profile of their throughput run, when asked. */
  readonly cpuProfileDir: string | undefined;
  /** Where the real app's heap snapshot is written after the memory reading, when asked. */
  readonly heapSnapshotDir: string | undefined;
  /** Where the real app writes a heap profile of what outlived its young generation in the fixed-rate run, when asked. */
  readonly heapProfileDir: string | undefined;
  readonly note: (text: string) => void;
}

interface ThroughputRun {
  readonly completed: number;
  readonly total: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly latency: Summary;
  readonly clientCpuUsPerReview: number;
}

interface LatencyRun {
  readonly rate: number;
  readonly sent: number;
  readonly answered: number;
  readonly errors: number;
  readonly latency: Summary;
  readonly sendDelay: Summary;
}

/** Inside the server during a fixed-rate run (warm-up included). */
export interface ServerWindow {
  readonly cpuUs: number;
  readonly gc: Readonly<Record<string, { readonly count: number; readonly totalMs: number; readonly maxMs: number }>>;
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

export interface FixedRateRun extends LatencyRun {
  readonly server: ServerWindow;
  /** Cores' worth of CPU the rest of the machine used meanwhile (other processes: the benchmark does not own it). */
  readonly otherProcessesCores: number;
  readonly seconds: number;
}

export interface PrimeRun {
  readonly sent: number;
  readonly wrong: number;
  readonly problems: readonly string[];
  readonly byCase: Readonly<Record<string, number>>;
}

export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /** What V8 holds committed for the young generation (free after a GC, but resident). */
  readonly newSpace: number;
  readonly rssAfterThoroughGc: number;
  readonly heapUsedAfterThoroughGc: number;
  readonly tenants: number;
  readonly grants: number;
  readonly namespaces: number;
  readonly cachedTokens: number;
  readonly pullSecrets: number;
  readonly mints: number;
  /** RSS after each step of the server's start (each after a forced GC). */
  readonly steps: readonly { readonly step: string; readonly rss: number; readonly heapUsed: number }[];
}

/** The modules-only process: what serve's imports cost with no data (after a forced GC). */
export interface FloorReading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly newSpace: number;
}

export interface HotPathResult {
  readonly prime: PrimeRun;
  readonly real: ThroughputRun & { readonly serverCpuUsPerReview: number };
  /**
   * The realistic workload (Deployments' replicas, Zipf-popular images): the real app, the baseline, and the
   * required-work control (hot-server.ts --kind required: serve's work around a decision, without deciding).
   */
  readonly realistic: {
    readonly prime: PrimeRun;
    readonly real: ThroughputRun & { readonly serverCpuUsPerReview: number };
    readonly baseline: ThroughputRun & { readonly serverCpuUsPerReview: number };
    readonly required: ThroughputRun & { readonly serverCpuUsPerReview: number };
  };
  readonly floor: FloorReading;
  /** The real app with ECR reads (pinDigests, missingImage: deny) answered from its lookup cache. */
  readonly registry: ThroughputRun & { readonly serverCpuUsPerReview: number; readonly prime: PrimeRun; readonly reads: number };
  readonly baseline: ThroughputRun & { readonly serverCpuUsPerReview: number };
  readonly fixedRate: FixedRateRun;
  readonly baselineFixedRate: FixedRateRun;
  readonly memory: MemoryReading;
  readonly startupMs: number;
  readonly durations: { readonly throughputMs: number; readonly latencyMs: number };
}

/** A serving certificate for 127.0.0.1 from the script operators use, and the CA the load trusts. */
export function makeCertificates(dir: string): { cert: string; key: string; ca: string } {
  execFileSync('bash', [MAKE_CERTS, dir, 'ecr-tenant-webhook', 'ecr-tenant-webhook', 'IP:127.0.0.1', 'DNS:localhost'], { stdio: 'pipe' });
  return { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}

type CpuUsage = { user: number; system: number };
const cpuMicros = (before: CpuUsage, after: CpuUsage) => after.user - before.user + (after.system - before.system);

/**
 * A closed-loop run against one server, with the server's CPU time per review (warm-up included on both sides), and
 * when asked a CPU profile of the server during the run (its overhead then lowers the throughput a little).
 */
async function measureThroughput(server: BenchChild, kind: string, load: BenchChild, port: number, ca: string, options: HotPathOptions, workload: Workload = 'distinct') {
  if (options.cpuProfileDir !== undefined) await server.call('profile-start');
  const before = await server.call<CpuUsage>('cpu');
  const run = await load.call<ThroughputRun>('throughput', { port, ca, workload, count: options.reviewCount, connections: options.connections, warmupMs: options.warmupMs, measureMs: options.measureMs });
  const after = await server.call<CpuUsage>('cpu');
  if (options.cpuProfileDir !== undefined) await server.call('profile-stop', { path: join(options.cpuProfileDir, `${kind}-throughput.cpuprofile`) });
  return { ...run, serverCpuUsPerReview: cpuMicros(before, after) / run.total };
}

/** CPU time the whole machine has spent busy, in clock ticks of /proc/stat (1/100 s). */
function machineBusyTicks(): number {
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return user + nice + system + irq + softirq + steal;
}

/** A fixed-rate run, with what the server went through meanwhile and how busy the rest of the machine was. */
async function measureFixedRate(server: BenchChild, load: BenchChild, port: number, ca: string, options: HotPathOptions): Promise<FixedRateRun> {
  await server.call('window-start');
  const loadCpuBefore = await load.call<CpuUsage>('cpu');
  const busyBefore = machineBusyTicks();
  const started = performance.now();
  const run = await load.call<LatencyRun>('latency', { port, ca, count: options.reviewCount, connections: options.connections, rate: options.rate, warmupMs: 1000, measureMs: options.rateSeconds * 1000 });
  const seconds = (performance.now() - started) / 1000;
  const busyCores = (machineBusyTicks() - busyBefore) / 100 / seconds;
  const inside = await server.call<ServerWindow>('window-end');
  const loadCpuUs = cpuMicros(loadCpuBefore, await load.call<CpuUsage>('cpu'));
  return { ...run, server: inside, otherProcessesCores: busyCores - (inside.cpuUs + loadCpuUs) / 1e6 / seconds, seconds };
}

export async function runHotPath(load: BenchChild, options: HotPathOptions): Promise<HotPathResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tls-'));
  // process.exit (Ctrl-C) skips the finally below; an exit hook still removes the key.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const servers: BenchChild[] = [];
  try {
    // First and alone, so nothing else competes while it loads.
    const floorChild = new BenchChild('modules floor', FLOOR, [], [...options.serverFlags, '--expose-gc']);
    servers.push(floorChild);
    const floor = (await floorChild.ready) as unknown as FloorReading;
    await floorChild.stop();
    options.note(`modules floor: ${(floor.rss / 1024 / 1024).toFixed(1)} MiB RSS after importing what serve imports`);
    const tls = makeCertificates(dir);
    const serverArgs = (kind: string) => ['--kind', kind, '--cert', tls.cert, '--key', tls.key];
    const real = new BenchChild('hot server (real app)', HOT_SERVER, serverArgs('real'), [...options.serverFlags, '--expose-gc']);
    const baseline = new BenchChild('hot server (baseline)', HOT_SERVER, serverArgs('baseline'), options.serverFlags);
    const reading = new BenchChild('hot server (real app, ECR reads)', HOT_SERVER, [...serverArgs('real'), '--registry'], options.serverFlags);
    const patch = servePatch(REQUIRED_TENANT, `${registryOf(REQUIRED_TENANT, 0)}/${tenantName(REQUIRED_TENANT)}/checkout:2.4.1`);
    const required = new BenchChild('hot server (required work)', HOT_SERVER, [...serverArgs('required'), '--patch', patch], options.serverFlags);
    servers.push(real, baseline, reading, required);
    const [realReady, baselineReady, readingReady, requiredReady] = await Promise.all([real.ready, baseline.ready, reading.ready, required.ready]);
    const requiredPort = requiredReady.port as number;
    const realPort = realReady.port as number;
    const baselinePort = baselineReady.port as number;
    const readingPort = readingReady.port as number;
    options.note(`real app up in ${Math.round(realReady.startupMs as number)} ms (policy, namespaces, 5,000 tokens); baseline and the app with ECR reads up`);

    const prime = await load.call<PrimeRun>('prime', { port: realPort, ca: tls.ca, count: options.reviewCount, connections: options.connections });
    options.note(`primed: ${prime.sent} reviews answered once each, ${prime.wrong} not as expected`);

    const throughputStarted = performance.now();
    options.note(`throughput: real app, ${options.connections} connections, ${options.warmupMs / 1000} s warm-up + ${options.measureMs / 1000} s`);
    const realRun = await measureThroughput(real, 'real', load, realPort, tls.ca, options);
    options.note(`throughput: baseline, the same`);
    const baselineRun = await measureThroughput(baseline, 'baseline', load, baselinePort, tls.ca, options);
    const realisticPrime = await load.call<PrimeRun>('prime', { port: realPort, ca: tls.ca, workload: 'realistic', count: options.reviewCount, connections: options.connections });
    options.note(`realistic workload primed: ${realisticPrime.sent} reviews, ${realisticPrime.wrong} not as expected; throughput: real app, baseline, required-work control`);
    const realisticReal = await measureThroughput(real, 'realistic-real', load, realPort, tls.ca, options, 'realistic');
    const realisticBaseline = await measureThroughput(baseline, 'realistic-baseline', load, baselinePort, tls.ca, options, 'realistic');
    const realisticRequired = await measureThroughput(required, 'realistic-required', load, requiredPort, tls.ca, options, 'realistic');
    await required.stop();
    const throughputMs = performance.now() - throughputStarted;
    // The same reviews once each first, so every ECR read is in the lookup cache: what a warm replica answers from.
    const readingPrime = await load.call<PrimeRun>('prime', { port: readingPort, ca: tls.ca, count: options.reviewCount, connections: options.connections });
    options.note(`throughput: real app with ECR reads (pinDigests, missingImage: deny; reads cached), the same`);
    const readingRun = await measureThroughput(reading, 'registry', load, readingPort, tls.ca, options);
    const { registryReads } = await reading.call<{ registryReads: number }>('holdings');
    await reading.stop();

    const latencyStarted = performance.now();
    options.note(`latency: real app at ${options.rate} reviews/s, 1 s warm-up + ${options.rateSeconds} s`);
    if (options.heapProfileDir !== undefined) await real.call('promoted-start');
    const fixedRate = await measureFixedRate(real, load, realPort, tls.ca, options);
    if (options.heapProfileDir !== undefined) await real.call('promoted-stop', { path: join(options.heapProfileDir, 'real-fixed-rate-promoted.heapprofile') });
    options.note(`latency: baseline, the same`);
    const baselineFixedRate = await measureFixedRate(baseline, load, baselinePort, tls.ca, options);
    const latencyMs = performance.now() - latencyStarted;

    const memory = await real.call<MemoryReading>('memory');
    if (options.heapSnapshotDir !== undefined) await real.call('heap-snapshot', { path: join(options.heapSnapshotDir, 'real.heapsnapshot') });
    return { prime, real: realRun, baseline: baselineRun, realistic: { prime: realisticPrime, real: realisticReal, baseline: realisticBaseline, required: realisticRequired }, floor, registry: { ...readingRun, prime: readingPrime, reads: registryReads }, fixedRate, baselineFixedRate, memory, startupMs: realReady.startupMs as number, durations: { throughputMs, latencyMs } };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    removeDir();
    process.off('exit', removeDir);
  }
}
