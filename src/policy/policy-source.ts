import type { CompiledPolicy } from './compile.ts';

/** Where handlers read the policy in force; the file watcher swaps it, tests and `check` hold one fixed policy. */
export interface PolicySource {
  current(): CompiledPolicy;
}

export function fixedPolicy(policy: CompiledPolicy): PolicySource {
  return { current: () => policy };
}
