import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Follows a set of files and reports their contents each time any of them changes.
 *
 * Kubernetes updates a mounted ConfigMap or Secret by writing a new `..<timestamp>` directory and swapping the
 * `..data` symlink, so the file's own inode never changes and a watch on the file sees nothing. The parent
 * directories are watched instead, and a slow poll catches what a watch misses (some volume types deliver no
 * events). Either way the files are re-read and compared by content, so a change is reported once however many
 * events it raised, and an event without a change reports nothing.
 */
export interface FileWatcherOptions {
  /** Re-read at least this often even without events. */
  readonly pollMs: number;
  /** Wait this long after an event so that a burst of events (cert, then key) is read as one change. */
  readonly debounceMs: number;
  /** Called with the files' new contents (in the order of `paths`); a rejection is reported to onError. */
  readonly onChange: (contents: readonly Buffer[]) => Promise<void> | void;
  /** A file could not be read, or onChange failed; the same message is reported once, not at every poll. */
  readonly onError: (error: Error) => void;
}

export async function readAll(paths: readonly string[]): Promise<Buffer[]> {
  // Read together, but a failure is reported in the paths' order, not whichever read failed first: with a
  // certificate and a key both missing, the message names the certificate every time.
  const reads = await Promise.allSettled(paths.map((path) => readFile(path)));
  const failed = reads.find((read) => read.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return reads.map((read) => (read as PromiseFulfilledResult<Buffer>).value);
}

function digestOf(contents: readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const content of contents) hash.update(String(content.length)).update(':').update(content);
  return hash.digest('hex');
}

export class FileWatcher {
  readonly #paths: readonly string[];
  readonly #options: FileWatcherOptions;
  readonly #watchers: FSWatcher[] = [];
  #digest = '';
  #lastError = '';
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(paths: readonly string[], options: FileWatcherOptions) {
    this.#paths = paths;
    this.#options = options;
  }

  /** Remembers `initial` as the contents already in force, then starts watching. */
  start(initial: readonly Buffer[]): void {
    this.#digest = digestOf(initial);
    for (const dir of new Set(this.#paths.map((path) => dirname(path)))) this.#watchDirectory(dir);
    this.#poll = setInterval(() => void this.check(), this.#options.pollMs);
    this.#poll.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.length = 0;
  }

  /** Reads the files now; resolves when any change found has been handled. Checks never overlap. */
  async check(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#checkOnce().finally(() => {
      this.#running = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.check();
      }
    });
    return this.#running;
  }

  #watchDirectory(dir: string): void {
    try {
      const watcher = watch(dir, { persistent: false }, () => this.#scheduleCheck());
      // The directory may vanish (an unmounted volume); the poll carries on alone.
      watcher.on('error', () => watcher.close());
      this.#watchers.push(watcher);
    } catch (error) {
      this.#report(new Error(`cannot watch ${dir} (${(error as Error).message}); polling every ${this.#options.pollMs} ms instead`));
    }
  }

  #scheduleCheck(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.check(), this.#options.debounceMs);
    this.#debounce.unref();
  }

  async #checkOnce(): Promise<void> {
    let contents: Buffer[];
    try {
      contents = await readAll(this.#paths);
    } catch (error) {
      // Whatever is read next counts as a change, so the owner learns the files are back even if unchanged.
      this.#digest = '';
      this.#report(error as Error);
      return;
    }
    const digest = digestOf(contents);
    if (digest === this.#digest || this.#stopped) return;
    // Recorded before onChange so that a rejected change is reported once, not again at every poll.
    this.#digest = digest;
    this.#lastError = '';
    try {
      await this.#options.onChange(contents);
    } catch (error) {
      this.#report(error as Error);
    }
  }

  #report(error: Error): void {
    if (error.message === this.#lastError) return;
    this.#lastError = error.message;
    this.#options.onError(error);
  }
}
