import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FileWatcher, readAll } from '../../src/files/file-watcher.ts';
import { writeProjected } from '../support/projected-dir.ts';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'file-watcher-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A watcher whose reports are collected; `next()` waits for the next change or error. */
function follow(t: Test, paths: string[], options: { pollMs?: number; debounceMs?: number; onChange?: (c: readonly Buffer[]) => void } = {}) {
  const changes: string[][] = [];
  const errors: string[] = [];
  let wake: (() => void) | undefined;
  const watcher = new FileWatcher(paths, {
    pollMs: options.pollMs ?? 60_000,
    debounceMs: options.debounceMs ?? 20,
    onChange: (contents) => {
      changes.push(contents.map((c) => c.toString()));
      wake?.();
      options.onChange?.(contents);
    },
    onError: (error) => {
      errors.push(error.message);
      wake?.();
    },
  });
  t.teardown(() => watcher.stop());
  const next = (ms = 5000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no report within ${ms} ms`)), ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  return { watcher, changes, errors, next };
}

t.test('a file rewritten in place is reported with its new content, without anyone asking', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'one');
  const { watcher, changes, next } = follow(t, [file]);
  watcher.start(await readAll([file]));
  const reported = next();
  writeFileSync(file, 'two');
  await reported;
  t.same(changes, [['two']]);
});

t.test('a ConfigMap-style symlink swap is reported, though the file path never changes inode', async (t) => {
  const dir = tempDir(t);
  writeProjected(dir, { 'policy.yaml': 'one' });
  const file = join(dir, 'policy.yaml');
  const { watcher, changes, next } = follow(t, [file]);
  watcher.start(await readAll([file]));
  const reported = next();
  writeProjected(dir, { 'policy.yaml': 'two' });
  await reported;
  t.same(changes, [['two']]);
});

t.test('a burst of writes to a certificate and its key is reported as one change', async (t) => {
  const dir = tempDir(t);
  const [cert, key] = [join(dir, 'tls.crt'), join(dir, 'tls.key')];
  writeFileSync(cert, 'c1');
  writeFileSync(key, 'k1');
  const { watcher, changes, next } = follow(t, [cert, key], { debounceMs: 150 });
  watcher.start(await readAll([cert, key]));
  const reported = next();
  writeFileSync(cert, 'c2');
  writeFileSync(key, 'k2');
  await reported;
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(changes, [['c2', 'k2']]);
});

t.test('reading files whose content did not change reports nothing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'same');
  const { watcher, changes, errors } = follow(t, [file]);
  watcher.start(await readAll([file]));
  writeFileSync(file, 'same');
  await watcher.check();
  await watcher.check();
  t.same(changes, []);
  t.same(errors, []);
});

t.test('a missing file is reported once however often it is read, and its return is a change even if unchanged', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'one');
  const { watcher, changes, errors } = follow(t, [file]);
  watcher.start(await readAll([file]));
  rmSync(file);
  await watcher.check();
  await watcher.check();
  t.equal(errors.length, 1);
  t.match(errors[0], /ENOENT/);
  writeFileSync(file, 'one');
  await watcher.check();
  t.same(changes, [['one']], 'the owner learns the file is back');
});

t.test('a change its owner rejects is reported as an error once and not retried until the content changes again', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'good');
  let calls = 0;
  const { watcher, errors } = follow(t, [file], {
    onChange: ([content]) => {
      calls++;
      if (content?.toString() === 'broken') throw new Error('does not parse');
    },
  });
  watcher.start(await readAll([file]));
  writeFileSync(file, 'broken');
  await watcher.check();
  await watcher.check();
  t.equal(calls, 1);
  t.same(errors, ['does not parse']);
  writeFileSync(file, 'fixed');
  await watcher.check();
  t.equal(calls, 2);
});

t.test('when a directory cannot be watched the poll still finds the change, and the fallback is reported', async (t) => {
  const dir = tempDir(t);
  const sub = join(dir, 'not-yet');
  const file = join(sub, 'policy.yaml');
  const { watcher, changes, errors, next } = follow(t, [file], { pollMs: 50 });
  const reported = next();
  watcher.start([Buffer.from('')]);
  await reported;
  t.match(errors[0], /cannot watch .*not-yet .*polling every 50 ms instead/);
  const changed = (async () => {
    while (changes.length === 0) await next();
  })();
  mkdirSync(sub);
  writeFileSync(file, 'appeared');
  await changed;
  t.same(changes, [['appeared']]);
});

t.test('checks asked for while one runs are folded into one more check, never run side by side', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'one');
  let running = 0;
  let overlapped = false;
  const { watcher, changes } = follow(t, [file], {
    onChange: () => {
      running++;
      if (running > 1) overlapped = true;
      running--;
    },
  });
  watcher.start(await readAll([file]));
  writeFileSync(file, 'two');
  await Promise.all([watcher.check(), watcher.check(), watcher.check()]);
  await watcher.check();
  t.notOk(overlapped);
  t.same(changes, [['two']]);
});

t.test('after stop nothing more is reported', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, 'one');
  const { watcher, changes } = follow(t, [file], { pollMs: 20 });
  watcher.start(await readAll([file]));
  watcher.stop();
  writeFileSync(file, 'two');
  await new Promise((resolve) => setTimeout(resolve, 150));
  await watcher.check();
  t.same(changes, []);
});
