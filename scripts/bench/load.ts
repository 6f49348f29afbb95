// A child process of `npm run bench`: the load generator, in its own process so that the server under test has
// its own event loop (and, on a 2-core machine, roughly its own core). Driven over IPC by the parent:
//
// Every run takes a workload (fixture.ts): `distinct` (the default) or `realistic`.
//
//   prime       every prepared review once, each answer checked against what its case expects (and the pull
//               Secrets of every namespace the load touches written, so the measured load finds them fresh)
//   throughput  closed loop: N keep-alive connections, each sending its next review as soon as the last is answered
//   latency     open loop at a fixed rate: review n is due at start + n/rate whatever the answers are doing, and its
//               latency runs from that due time to the end of its answer, so a stalled server is charged for every
//               request it delayed (no coordinated omission)
//   burst-open, burst-fire
//               the cold path: opens one connection per admission first, then sends them all at once
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { announceReady, answerRequests } from './children.ts';
import { admissionReview, reviews, seededRandom, type PreparedReview, type Workload } from './fixture.ts';
import { openConnections, postRequest, type Answer, type KeepAliveConnection } from './keep-alive.ts';
import { nowMs, summarize } from './stats.ts';

interface Target {
  readonly port: number;
  readonly ca: string;
}

function prepared(target: Target, count: number, workload: Workload): { reviews: PreparedReview[]; requests: Buffer[] } {
  const all = reviews(count, workload);
  return { reviews: all, requests: all.map((review) => postRequest(target.port, '/mutate', review.body)) };
}

// --- prime: send each review once and check its answer ----------------------------------------------------------

interface ReviewAnswer {
  uid?: unknown;
  allowed?: unknown;
  status?: { code?: unknown };
  patch?: unknown;
  warnings?: unknown;
}

/** What is wrong with the answer to this review, or undefined when it is what the case expects. */
function mismatch(review: PreparedReview, answer: Answer): string | undefined {
  if (answer.status !== 200) return `HTTP ${answer.status}`;
  const response = (JSON.parse(answer.body ?? '{}') as { response?: ReviewAnswer }).response ?? {};
  const { expect } = review.case;
  if (response.allowed !== expect.allowed) return `allowed=${String(response.allowed)}, expected ${expect.allowed}`;
  if (!expect.allowed && response.status?.code !== 403) return `denied with code ${String(response.status?.code)}, expected 403`;
  if ((typeof response.patch === 'string') !== expect.patched) return expect.patched ? 'no patch, expected one' : 'a patch, expected none';
  const warned = Array.isArray(response.warnings) && response.warnings.length > 0;
  if (warned !== expect.warned) return expect.warned ? 'no warnings, expected some' : 'warnings, expected none';
  return undefined;
}

async function prime(target: Target, workload: Workload, count: number, connections: number) {
  const { reviews: all, requests } = prepared(target, count, workload);
  const open = await openConnections(target.port, target.ca, connections);
  const problems: string[] = [];
  const byCase: Record<string, number> = {};
  let next = 0;
  let wrong = 0;
  const worker = async (connection: KeepAliveConnection) => {
    for (let n = next++; n < all.length; n = next++) {
      const review = all[n]!;
      byCase[review.case.name] = (byCase[review.case.name] ?? 0) + 1;
      const problem = mismatch(review, await connection.send(requests[n]!, true));
      if (problem === undefined) continue;
      wrong++;
      if (problems.length < 5) problems.push(`${review.case.name} pod in ${review.case.namespace} [${review.case.images.join(', ')}]: ${problem}`);
    }
  };
  await Promise.all(open.map(worker));
  open.forEach((connection) => connection.close());
  return { sent: all.length, wrong, problems, byCase };
}

// --- throughput: closed loop -------------------------------------------------------------------------------------

async function throughput(target: Target, workload: Workload, count: number, connections: number, warmupMs: number, measureMs: number) {
  const { requests } = prepared(target, count, workload);
  const open = await openConnections(target.port, target.ca, connections);
  let phase: 'warm-up' | 'measure' | 'done' = 'warm-up';
  let next = 0;
  let total = 0;
  let errors = 0;
  const latencies: number[] = [];
  const loop = async (connection: KeepAliveConnection) => {
    while (phase !== 'done') {
      const sentAt = nowMs();
      const answer = await connection.send(requests[next++ % requests.length]!);
      total++;
      if (answer.status !== 200) errors++;
      if (phase === 'measure') latencies.push(nowMs() - sentAt);
    }
  };
  const loops = Promise.all(open.map(loop));
  await sleep(warmupMs);
  phase = 'measure';
  const cpuBefore = process.cpuUsage();
  const startedAt = nowMs();
  await sleep(measureMs);
  phase = 'done';
  const seconds = (nowMs() - startedAt) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await loops;
  open.forEach((connection) => connection.close());
  const latency = summarize(latencies);
  return { completed: latencies.length, total, errors, seconds, perSecond: latencies.length / seconds, latency, clientCpuUsPerReview: (cpu.user + cpu.system) / latencies.length };
}

// --- latency: open loop at a fixed rate --------------------------------------------------------------------------

async function fixedRate(target: Target, workload: Workload, count: number, connections: number, rate: number, warmupMs: number, measureMs: number) {
  const { requests } = prepared(target, count, workload);
  const open = await openConnections(target.port, target.ca, connections);
  const intervalMs = 1000 / rate;
  const slots = Math.round(((warmupMs + measureMs) * rate) / 1000);
  const firstMeasured = Math.round((warmupMs * rate) / 1000);
  const latencies = new Float64Array(slots).fill(Number.NaN);
  const sendDelays = new Float64Array(slots).fill(Number.NaN);
  const startMs = nowMs() + 100;
  const idle = [...open];
  const queued: number[] = [];
  let settled = 0;
  let errors = 0;

  await new Promise<void>((resolve) => {
    const clock = new Worker(new URL('./clock-worker.ts', import.meta.url), { workerData: { startMs, intervalMs, count: slots } });
    const giveUp = setTimeout(resolve, warmupMs + measureMs + 15_000);
    const settle = (connection: KeepAliveConnection | undefined) => {
      const waiting = queued.shift();
      if (connection !== undefined && waiting !== undefined) send(connection, waiting);
      else if (connection !== undefined) idle.push(connection);
      if (++settled === slots) (clearTimeout(giveUp), resolve());
    };
    const send = (connection: KeepAliveConnection, slot: number) => {
      const due = startMs + slot * intervalMs;
      sendDelays[slot] = nowMs() - due;
      connection.send(requests[slot % requests.length]!).then(
        (answer) => {
          latencies[slot] = nowMs() - due;
          if (answer.status !== 200) errors++;
          settle(connection);
        },
        () => (errors++, settle(undefined)), // a broken connection is not reused
      );
    };
    clock.on('message', (slot: number) => {
      const connection = idle.pop();
      if (connection === undefined) queued.push(slot);
      else send(connection, slot);
    });
  });
  open.forEach((connection) => connection.close());
  const measured = latencies.subarray(firstMeasured).filter((value) => !Number.isNaN(value));
  return {
    rate,
    sent: slots - firstMeasured,
    answered: measured.length,
    errors,
    latency: summarize(measured),
    sendDelay: summarize(sendDelays.subarray(firstMeasured).filter((value) => !Number.isNaN(value))),
  };
}

// --- burst: the cold path ----------------------------------------------------------------------------------------

let burst: { connections: KeepAliveConnection[]; requests: Buffer[] } | undefined;

async function burstOpen(target: Target, count: number, namespace: string, images: string[]) {
  const random = seededRandom(7);
  const uid = (n: number) => `cold-${n}-${Math.floor(random() * 1e9).toString(36)}`;
  const requests = Array.from({ length: count }, (_, n) => postRequest(target.port, '/mutate', admissionReview(namespace, images, uid(n))));
  burst = { connections: await openConnections(target.port, target.ca, count), requests };
  return { opened: burst.connections.length };
}

async function burstFire() {
  if (burst === undefined) throw new Error('burst-open first');
  const { connections, requests } = burst;
  const firedAt = nowMs();
  const answers = await Promise.all(
    connections.map((connection, n) =>
      connection.send(requests[n]!, true).then(
        (answer) => ({ ms: nowMs() - firedAt, answer, error: undefined }),
        (error: Error) => ({ ms: nowMs() - firedAt, answer: undefined, error: error.message }),
      ),
    ),
  );
  connections.forEach((connection) => connection.close());
  burst = undefined;
  const responses = answers.map((a) => (a.answer?.status === 200 ? ((JSON.parse(a.answer.body ?? '{}') as { response?: { allowed?: boolean; status?: { message?: string } } }).response ?? {}) : undefined));
  const denials = responses.filter((r) => r?.allowed === false).map((r) => r?.status?.message ?? '');
  return {
    answerMs: summarize(answers.map((a) => a.ms)),
    firstAnswerMs: Math.min(...answers.map((a) => a.ms)),
    allowed: responses.filter((r) => r?.allowed === true).length,
    denied: denials.length,
    errors: answers.filter((a, n) => a.answer === undefined || responses[n] === undefined).length,
    examples: [...new Set([...denials, ...answers.map((a) => a.error ?? (a.answer?.status === 200 ? undefined : `HTTP ${a.answer?.status}`)).filter((e) => e !== undefined)])].slice(0, 3),
  };
}

answerRequests(async (cmd, args) => {
  if (cmd === 'cpu') return process.cpuUsage();
  const target = { port: args.port as number, ca: args.ca as string };
  const count = args.count as number;
  const connections = args.connections as number;
  const workload = (args.workload ?? 'distinct') as Workload;
  if (cmd === 'prime') return prime(target, workload, count, connections);
  if (cmd === 'throughput') return throughput(target, workload, count, connections, args.warmupMs as number, args.measureMs as number);
  if (cmd === 'latency') return fixedRate(target, workload, count, connections, args.rate as number, args.warmupMs as number, args.measureMs as number);
  if (cmd === 'burst-open') return burstOpen(target, count, args.namespace as string, args.images as string[]);
  if (cmd === 'burst-fire') return burstFire();
  throw new Error(`unknown request ${cmd}`);
});
announceReady({ pid: process.pid });
