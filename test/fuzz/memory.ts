import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Heap measurement for "memory stays flat under fuzz". Tests run without --expose-gc, so the flag is set at run
 * time and a fresh context hands out the gc function; a full collection before each reading keeps garbage
 * that merely has not been collected yet from looking like a leak.
 */
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

export const MIB = 1024 * 1024;

/** Live heap after full collections, with a pause between them so that finalizers and timers can run. */
export async function liveHeap(): Promise<number> {
  for (let round = 0; round < 3; round++) {
    collect();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed;
}
