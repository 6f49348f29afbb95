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
