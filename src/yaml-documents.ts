import { parseAllDocuments, type YAMLError } from 'yaml';
import { formatPath } from './text.ts';

/**
 * Reads YAML (or JSON) text into plain values, turning every way it can go wrong into a located problem: syntax
 * errors, duplicate keys, alias bombs and unresolved aliases, and `__proto__` keys (which would otherwise vanish
 * into an object's prototype once a schema copies the map). YAML 1.1 tags such as !!binary stay plain strings.
 */
export interface YamlProblem {
  /** 1-based index of the document in the stream. */
  readonly document: number;
  readonly line: number | undefined;
  readonly col: number | undefined;
  readonly message: string;
}

export type YamlRead = { readonly ok: true; readonly values: unknown[] } | { readonly ok: false; readonly problems: YamlProblem[] };

const MAX_ALIAS_COUNT = 100;

function firstLine(message: string): string {
  return message.replace(/\n[\s\S]*$/, '').replace(/ at line \d+, column \d+:?$/, '');
}

function fromError(document: number, error: YAMLError): YamlProblem {
  const at = error.linePos?.[0];
  return { document, line: at?.line, col: at?.col, message: firstLine(error.message) };
}

/** Path of the first `__proto__` key inside a value, or undefined. */
export function protoKeyPath(value: unknown, path: (string | number)[] = []): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key === '__proto__') return formatPath(path);
    const found = protoKeyPath(child, [...path, Array.isArray(value) ? Number(key) : key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

export function readYamlDocuments(text: string): YamlRead {
  const documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true, resolveKnownTags: false });
  const problems = documents.flatMap((doc, i) => doc.errors.map((error) => fromError(i + 1, error)));
  if (problems.length > 0) return { ok: false, problems };
  const values: unknown[] = [];
  for (const [i, doc] of documents.entries()) {
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      problems.push({ document: i + 1, line: undefined, col: undefined, message: firstLine((error as Error).message) });
      continue;
    }
    const proto = protoKeyPath(value);
    if (proto !== undefined) problems.push({ document: i + 1, line: undefined, col: undefined, message: `${proto}: the key "__proto__" is not allowed` });
    values.push(value);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values };
}
