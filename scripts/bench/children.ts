// The benchmark's own child processes (the servers and the load generator) and the small request/answer protocol
// over their IPC channel. Every child started here is remembered, so an error or Ctrl-C can stop them all.
import { fork, type ChildProcess } from 'node:child_process';

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly [key: string]: unknown;
}

type Answer = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

const STOP_GRACE_MS = 10_000;
const running = new Set<BenchChild>();

export class BenchChild {
  readonly name: string;
  readonly process: ChildProcess;
  /** The child's first message: what it says once it is ready (e.g. its port). */
  readonly ready: Promise<Record<string, unknown>>;
  readonly #waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #exited: Promise<void>;
  #nextId = 1;

  constructor(name: string, file: URL, args: readonly string[], execArgv: readonly string[]) {
    this.name = name;
    // stdout is the benchmark's report, so a child's output goes to stderr, where progress notes go.
    this.process = fork(file, [...args], { execArgv: [...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    running.add(this);
    let gotReady: (message: Record<string, unknown>) => void;
    let failed: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => ((gotReady = resolve), (failed = reject)));
    this.process.on('message', (message: Answer | { ready: Record<string, unknown> }) => {
      if ('ready' in message) return gotReady(message.ready);
      const waiter = this.#waiting.get(message.id);
      this.#waiting.delete(message.id);
      if (message.ok) waiter?.resolve(message.result);
      else waiter?.reject(new Error(`${name}: ${message.error}`));
    });
    this.#exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        running.delete(this);
        const error = new Error(`${name} exited (${signal ?? `code ${code}`})`);
        failed(error);
        for (const waiter of this.#waiting.values()) waiter.reject(error);
        this.#waiting.clear();
        resolve();
      });
    });
  }

  call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.process.send({ id, cmd, ...args } satisfies Request);
    });
  }

  /** Asks the child to finish (so a --cpu-prof profile is written), then kills it if it does not. */
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    if (this.process.connected) this.process.send({ id: 0, cmd: 'exit' });
    const kill = setTimeout(() => this.process.kill('SIGKILL'), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(kill);
  }
}

/** Kills every child still running, at once: for Ctrl-C and for errors. */
export function killAllChildren(): void {
  for (const child of running) child.process.kill('SIGKILL');
}

/**
 * The child's side: answers each request with the handler's result. The child exits when asked, and when its
 * parent goes away (the IPC channel closes), so it never outlives the benchmark.
 */
export function answerRequests(handler: (cmd: string, args: Record<string, unknown>) => Promise<unknown>, onExit: () => Promise<void> = async () => undefined): void {
  const send = (message: unknown) => process.send?.(message);
  process.on('message', (message: Request) => {
    if (message.cmd === 'exit') {
      void onExit().finally(() => process.exit(0));
      return;
    }
    handler(message.cmd, message).then(
      (result) => send({ id: message.id, ok: true, result }),
      (error: unknown) => send({ id: message.id, ok: false, error: (error as Error).stack ?? String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

export function announceReady(details: Record<string, unknown>): void {
  process.send?.({ ready: details });
}
