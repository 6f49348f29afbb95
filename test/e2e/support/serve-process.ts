import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { createInterface } from 'node:readline';

/** The real `ecr-tenant-webhook serve` in a child process, its JSON log lines collected as they come. */
export const BIN = new URL('../../../bin/ecr-tenant-webhook.js', import.meta.url).pathname;

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface ServeProcess {
  readonly port: number;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  stderr(): string;
  /** Resolves with the first line (already logged or yet to come) that matches. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal and resolves with how the process ended. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartServeOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** Another copy of the launcher (an image's file layout), run from its own directory. */
  readonly entry?: string;
  readonly cwd?: string;
}

export async function startServe(args: readonly string[], options: StartServeOptions = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [options.entry ?? BIN, 'serve', ...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (!waiter.match(line)) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      process.off('exit', killOnExit);
      resolve({ code, signal });
    });
  });

  function waitForLine(match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve logged no matching line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`)), timeoutMs);
      waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      void exited.then(({ code }) => reject(new Error(`serve exited with ${code} before the expected line; stderr: ${stderr.slice(-2000)}`)));
    });
  }

  const serving = await waitForLine((line) => line.msg === 'serving', options.timeoutMs ?? 20_000).catch((error: Error) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    port: serving.port as number,
    metricsPort: serving.metricsPort as number,
    child,
    lines,
    stderr: () => stderr,
    waitForLine,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** GETs a path of the HTTPS listener, trusting only `ca`. */
export function httpsGet(port: number, path: string, ca: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
