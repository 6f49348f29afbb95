import { spawnSync } from 'node:child_process';

/** Runs the real command line in its own process, as a user would. */
export const BIN = new URL('../../bin/ecr-tenant-webhook.js', import.meta.url).pathname;
export const fixture = (name: string): string => new URL(`../fixtures/${name}`, import.meta.url).pathname;

export function runCli(args: readonly string[], stdin = '') {
  const result = spawnSync(process.execPath, [BIN, ...args], { input: stdin, encoding: 'utf8', timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
