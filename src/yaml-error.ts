import type { YAMLError } from 'yaml';

/** A YAML parse error in one line: what went wrong, without the source excerpt the parser appends. */
export function yamlErrorText(error: YAMLError): { line: number | undefined; col: number | undefined; message: string } {
  const at = error.linePos?.[0];
  const message = error.message.replace(/\n[\s\S]*$/, '').replace(/ at line \d+, column \d+:?$/, '');
  return { line: at?.line, col: at?.col, message };
}
