import { readFile } from 'node:fs/promises';
import { readYamlDocuments, type YamlProblem } from '../yaml-documents.ts';
import { isPlainObject } from '../workload/pod-spec.ts';
import { UsageError } from './usage-error.ts';

/** One object read from a manifest, with where it came from for messages. */
export interface ManifestObject {
  readonly object: Record<string, unknown>;
  /** e.g. `deploy.yaml, document 2` or `deploy.yaml, document 1, items[3]`. */
  readonly origin: string;
}

async function readSource(path: string, stdin: () => Promise<string>): Promise<string> {
  if (path === '-') return stdin();
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${path}: cannot be read (${(error as Error).message})`);
  }
}

/** Reads multi-document YAML (or JSON) manifests; a kind: List contributes its items. */
export async function readManifests(paths: readonly string[], stdin: () => Promise<string>): Promise<ManifestObject[]> {
  const objects: ManifestObject[] = [];
  for (const path of paths) {
    const name = path === '-' ? '(stdin)' : path;
    const read = readYamlDocuments(await readSource(path, stdin));
    if (!read.ok) {
      const [{ document, line, col, message }] = read.problems as [YamlProblem];
      throw new UsageError(`${name}${line === undefined ? `, document ${document}` : `:${line}:${col}`}: ${message}`);
    }
    for (const [i, data] of read.values.entries()) {
      const origin = `${name}, document ${i + 1}`;
      if (data === null || data === undefined) continue;
      if (!isPlainObject(data)) throw new UsageError(`${origin}: must be a Kubernetes object (a map), not ${Array.isArray(data) ? 'a list' : typeof data}`);
      if (data.kind === 'List' && Array.isArray(data.items)) {
        for (const [j, item] of data.items.entries()) {
          if (!isPlainObject(item)) throw new UsageError(`${origin}, items[${j}]: must be a Kubernetes object (a map)`);
          objects.push({ object: item, origin: `${origin}, items[${j}]` });
        }
      } else {
        objects.push({ object: data, origin });
      }
    }
  }
  return objects;
}
