/** A wait that outlived its deadline; callers tell it apart from the failure of what they waited for. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/** Settles as `promise` does, or rejects with a DeadlineError after `ms`; the timer never outlives the race. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
