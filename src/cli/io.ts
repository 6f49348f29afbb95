/** What a command reads and writes, so commands can be run in-process and as a real process alike. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stdin: () => Promise<string>;
  /** Whether stderr is a terminal, where progress may be drawn and redrawn; unset means it is not. */
  readonly stderrIsTty?: boolean;
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: readStdin,
  stderrIsTty: process.stderr.isTTY === true,
};
