import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  readonly pid: number;
  /** argv joined with spaces. */
  readonly commandLine: string;
}

/**
 * The live processes whose command line contains `text` (Linux /proc). A control plane's processes all name its
 * temporary directory in their flags, so this finds them without trusting the code that started them. Zombies have
 * an empty command line and so never match.
 */
export function processesMentioning(text: string): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((pid) => ({ pid: Number(pid), commandLine: commandLine(pid) }))
    .filter((process) => process.commandLine.includes(text));
}

function commandLine(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trimEnd();
  } catch {
    return ''; // ended while we looked
  }
}
