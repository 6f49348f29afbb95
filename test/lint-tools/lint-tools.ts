import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * cfn-lint and parliament, from LINT_TOOLS_BIN (set by CI from install.sh) or installed on first use into the
 * same cached virtualenv install.sh makes.
 */
const HERE = new URL('.', import.meta.url).pathname;
const run = promisify(execFile);

export async function lintToolsBin(): Promise<string> {
  const given = process.env.LINT_TOOLS_BIN;
  if (given !== undefined && given !== '') return given;
  const { stdout } = await run('bash', [`${HERE}install.sh`], { timeout: 10 * 60 * 1000 });
  return stdout.trim().split('\n').at(-1) as string;
}

export interface LintResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool with no standard input (parliament reads a policy from a stdin that is not a terminal). */
export async function lint(bin: string, tool: string, args: readonly string[]): Promise<LintResult> {
  try {
    const { stdout, stderr } = await run(`${bin}/${tool}`, [...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
