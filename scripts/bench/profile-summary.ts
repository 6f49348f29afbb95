// `npx node scripts/bench/profile-summary.ts FILE [--top N] [--match REGEX]`: the functions a profile written by
// `npm run bench` spends its time or memory in, as text.
//
//   FILE.cpuprofile   (--cpu-prof)   share of the sampled time by function: self, then inclusive (each function
//                                    once per stack, so recursion is not counted twice)
//   FILE.heapprofile  (--heap-prof)  bytes by allocating function, then by the last six frames of its stack
//
// --top N (40) lines per list; --match REGEX keeps only the lines whose function or file matches (e.g. src/).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: CallFrame; readonly children?: readonly number[] }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

const PROJECT = new URL('../../', import.meta.url).href;
const MODULES = '/node_modules/';

/** `name file:line`, the file relative to the project (src/…) or to node_modules (fastify/…), Node's own as named. */
function frameName(frame: CallFrame): string {
  const { url } = frame;
  const modules = url.lastIndexOf(MODULES);
  const file = modules >= 0 ? url.slice(modules + MODULES.length) : url.startsWith(PROJECT) ? url.slice(PROJECT.length) : url;
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

function add<K>(totals: Map<K, number>, key: K, amount: number): void {
  totals.set(key, (totals.get(key) ?? 0) + amount);
}

function cpuSummary(profile: CpuProfile): { total: number; lists: [string, Map<string, number>][] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const sampled = new Map<number, number>();
  profile.samples.forEach((id, i) => add(sampled, id, profile.timeDeltas[i] ?? 0));
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, time] of sampled) {
    total += time;
    add(self, frameName(byId.get(id)!.callFrame), time);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = frameName(byId.get(at)!.callFrame);
      if (!seen.has(name)) add(inclusive, name, time);
      seen.add(name);
    }
  }
  return { total, lists: [['self', self], ['inclusive', inclusive]] };
}

function heapSummary(head: HeapNode): { total: number; lists: [string, Map<string, number>][] } {
  const self = new Map<string, number>();
  const stacks = new Map<string, number>();
  let total = 0;
  // Iterative: a deep stack in the profile must not overflow this script's own.
  const pending: { node: HeapNode; path: readonly string[] }[] = [{ node: head, path: [] }];
  while (pending.length > 0) {
    const { node, path } = pending.pop()!;
    const here = [...path, frameName(node.callFrame)];
    if (node.selfSize > 0) {
      total += node.selfSize;
      add(self, here.at(-1)!, node.selfSize);
      add(stacks, here.slice(-6).join(' > '), node.selfSize);
    }
    for (const child of node.children) pending.push({ node: child, path: here });
  }
  return { total, lists: [['allocated by', self], ['by stack (last six frames)', stacks]] };
}

const USAGE = 'usage: npx node scripts/bench/profile-summary.ts FILE.cpuprofile|FILE.heapprofile [--top N] [--match REGEX]';

/** The arguments, or a one-line usage error (exit 2) for anything it cannot read: an unknown flag, a bad number or pattern. */
function readArguments(): { file: string; top: number; match: RegExp | undefined } {
  try {
    const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '40' }, match: { type: 'string' } } });
    const top = Number(values.top);
    if (positionals.length !== 1 || !Number.isInteger(top) || top < 1) throw new Error('one profile file and a whole --top of 1 or more');
    return { file: positionals[0]!, top, match: values.match === undefined ? undefined : new RegExp(values.match) };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const { file, top, match } = readArguments();
const data = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile | { head: HeapNode };
const isHeap = 'head' in data;
const { total, lists } = isHeap ? heapSummary(data.head) : cpuSummary(data);
const share = (amount: number) => `${((100 * amount) / total).toFixed(1).padStart(5)} %`;
const size = (amount: number) => `${(amount / 1e6).toFixed(2).padStart(7)} MB`;
console.log(isHeap ? `${size(total)} sampled` : `${(total / 1000).toFixed(0)} ms sampled`);
for (const [title, totals] of lists) {
  console.log(`--- ${title}`);
  const rows = [...totals].filter(([name]) => match === undefined || match.test(name)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, amount] of rows) console.log(`${isHeap ? size(amount) : share(amount)}  ${name}`);
}
