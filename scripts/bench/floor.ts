// A child process of `npm run bench`: the memory floor. It imports exactly what `serve` imports (the CLI's module
// graph, as bin/ecr-tenant-webhook loads it) and holds no data: no policy, no namespaces, no tokens, no server. Its
// RSS after a forced GC is what the dependencies cost before the webhook does anything; the real app's RSS at the
// scale case is judged against it (rssFloorMb).
import { getHeapSpaceStatistics } from 'node:v8';
import { announceReady, answerRequests } from './children.ts';

const gc = (globalThis as { gc?: (options?: { type: string; execution: string }) => void }).gc;
if (gc === undefined) throw new Error('start this process with --expose-gc');
await import('../../src/cli/main.ts');
for (let round = 0; round < 2; round++) {
  gc({ type: 'major', execution: 'sync' });
  await new Promise((resolve) => setImmediate(resolve));
}
const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
answerRequests(async (cmd) => {
  throw new Error(`unknown request ${cmd}`);
});
announceReady({ ...process.memoryUsage(), newSpace, pid: process.pid });
