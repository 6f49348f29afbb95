import { parseAllDocuments } from 'yaml';
import { yamlErrorText } from '../yaml-error.ts';
import { compilePolicy, PolicyCompileError, type CompiledPolicy } from './compile.ts';
import { formatIssues } from './issues.ts';
import { policySchema } from './schema.ts';

/** Every problem found in a policy file, each line naming the file, the path and the problem. */
export class PolicyError extends Error {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    const lines = problems.map((problem) => `${source}: ${problem}`);
    super(lines.length === 1 ? lines[0] : `${source}: ${problems.length} problems\n${lines.join('\n')}`);
    this.name = 'PolicyError';
    this.problems = lines;
  }
}

function parseYaml(text: string, source: string): unknown {
  const documents = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(documents)) throw new PolicyError(source, ['is empty']);
  const problems = documents.flatMap((doc) =>
    doc.errors.map((error) => {
      const { line, col, message } = yamlErrorText(error);
      return `${line === undefined ? '' : `line ${line}, column ${col}: `}${message}`;
    }),
  );
  if (problems.length > 0) throw new PolicyError(source, problems);
  if (documents.length !== 1) throw new PolicyError(source, [`holds ${documents.length} YAML documents; a policy file holds one`]);
  return documents[0]!.toJS({ maxAliasCount: 100 });
}

/** Parses, validates and compiles policy text (YAML or JSON); `source` names it in every message. */
export function parsePolicy(text: string, source: string): CompiledPolicy {
  const data = parseYaml(text, source);
  if (data === null || data === undefined) throw new PolicyError(source, ['is empty']);
  const result = policySchema.safeParse(data, { reportInput: true });
  if (!result.success) throw new PolicyError(source, formatIssues(result.error.issues));
  try {
    return compilePolicy(result.data);
  } catch (error) {
    if (error instanceof PolicyCompileError) throw new PolicyError(source, error.problems);
    throw error;
  }
}
