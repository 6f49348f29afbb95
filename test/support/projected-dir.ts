import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes files into a directory the way the kubelet updates a mounted ConfigMap or Secret (its AtomicWriter):
 * a fresh `..<timestamp>` directory, an atomic rename of the `..data` symlink onto it, and top-level symlinks
 * `name -> ..data/name`. The files' own paths never change inode, which is what makes such updates hard to see.
 */
let generation = 0;

export function writeProjected(dir: string, files: Readonly<Record<string, string | Buffer>>): void {
  mkdirSync(dir, { recursive: true });
  const version = `..2026_11_23_${process.pid}_${++generation}`;
  mkdirSync(join(dir, version));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, version, name), content);
  const previous = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : undefined;
  symlinkSync(version, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  }
  if (previous !== undefined) rmSync(join(dir, previous), { recursive: true, force: true });
}
