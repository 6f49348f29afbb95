import { readFile } from 'node:fs/promises';
import type { CompiledPolicy } from './compile.ts';
import { parsePolicy, PolicyError } from './load.ts';

/** A policy file that cannot be read is a PolicyError naming it, like any other problem. */
export function unreadablePolicy(path: string, error: Error): PolicyError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new PolicyError(path, [`cannot be read (${code}): ${error.message}`]);
}

/** Reads and compiles a policy file; a missing or unreadable file is a PolicyError naming it, like any other problem. */
export async function loadPolicyFile(path: string): Promise<CompiledPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw unreadablePolicy(path, error as Error);
  }
  return parsePolicy(text, path);
}
