// The load generator's metronome for the fixed-rate run: a worker thread that sleeps precisely (Atomics.wait takes
// fractional milliseconds, where setTimeout rounds to whole ones and fires late by up to one) and posts each slot
// number at its scheduled time. Sleeping, not spinning, so it takes no CPU from the server on a small machine.
import { parentPort, workerData } from 'node:worker_threads';
import { nowMs } from './stats.ts';

const { startMs, intervalMs, count } = workerData as { startMs: number; intervalMs: number; count: number };
const sleeper = new Int32Array(new SharedArrayBuffer(4));

for (let slot = 0; slot < count; slot++) {
  const wait = startMs + slot * intervalMs - nowMs();
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  parentPort?.postMessage(slot);
}
