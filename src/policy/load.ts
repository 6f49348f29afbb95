import { readYamlDocuments } from '../yaml-documents.ts';
import { compilePolicy, type CompiledPolicy } from './compile.ts';
import { formatIssues } from './issues.ts';
import { PolicyError } from './policy-error.ts';
import { policySchema } from './schema.ts';

export { PolicyError };

function parseYaml(text: string, source: string): unknown {
  const read = readYamlDocuments(text);
  if (!read.ok) {
    throw new PolicyError(
      source,
      read.problems.map(({ line, col, message }) => `${line === undefined ? '' : `line ${line}, column ${col}: `}${message}`),
    );
  }
  if (read.values.length > 1) throw new PolicyError(source, [`holds ${read.values.length} YAML documents; a policy file holds one`]);
  return read.values[0];
}

/** Parses, validates and compiles policy text (YAML or JSON); `source` names it in every message. */
export function parsePolicy(text: string, source: string): CompiledPolicy {
  const data = parseYaml(text, source);
  if (data === null || data === undefined) throw new PolicyError(source, ['is empty']);
  const result = policySchema.safeParse(data, { reportInput: true });
  if (!result.success) throw new PolicyError(source, formatIssues(result.error.issues));
  return compilePolicy(result.data, source);
}
