import type { CompiledPolicy } from '../policy/compile.ts';
import { loadPolicyFile } from '../policy/policy-file.ts';
import type { CliIo } from './io.ts';

/** Loads the policy file a command was given; what the policy only warns about goes to stderr without failing. */
export async function loadPolicyForCli(path: string, io: CliIo): Promise<CompiledPolicy> {
  const policy = await loadPolicyFile(path);
  for (const warning of policy.warnings) io.stderr(`warning: ${path}: ${warning}\n`);
  return policy;
}
