/** A problem with what the user gave on the command line or in a file: printed as one message, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
