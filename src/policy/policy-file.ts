import { readFile } from 'node:fs/promises';
import type { CompiledPolicy } from './compile.ts';
import { parsePolicy, PolicyError } from './load.ts';

/** Reads and compiles a policy file; a missing or unreadable file is a PolicyError naming it, like any other problem. */
export async function loadPolicyFile(path: string): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new PolicyError(path, [`cannot be read (${code}): ${(error as Error).message}`]);
  }
  return parsePolicy(text, path);
}
