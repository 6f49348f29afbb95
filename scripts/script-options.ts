import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { parse } from 'yaml';

/**
 * What `npm run bench` and `npm run soak` share about how they are run: strict flags with one-line errors (exit 2),
 * and the Deployment's NODE_OPTIONS, which the servers they measure run with.
 */
export class UsageError extends Error {}

type Flags<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/** The flags given, or a UsageError in one line (parseArgs explains some mistakes over several). */
export function parseFlags<O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O): Flags<O> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\s*\n\s*/g, ' '));
  }
}

/** The script's options from its command line; --help prints the usage and exits 0, a mistake says so and exits 2. */
export function optionsOrExit<T>(script: string, usage: string, parse: (argv: readonly string[]) => T | 'help'): T {
  try {
    const options = parse(process.argv.slice(2));
    if (options !== 'help') return options;
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${script}: ${error.message} (${usage})\n`);
    process.exit(2);
  }
}

/** The Deployment's NODE_OPTIONS (heap and young-generation limits), so a measured server runs as it would there. */
export function deploymentNodeOptions(): string {
  const text = readFileSync(new URL('../manifests/base/deployment.yaml', import.meta.url), 'utf8');
  const env = (parse(text) as { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }).spec.template.spec.containers[0]?.env ?? [];
  const value = env.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (value === undefined) throw new Error('manifests/base/deployment.yaml sets no NODE_OPTIONS');
  return value;
}
