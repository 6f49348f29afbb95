/** A wait that outlived its deadline; callers tell it apart from the failure of what they waited for. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * Settles as `promise` does, or rejects with a DeadlineError after `ms` (saying `message`, by default that `what`
 * took longer than `ms`); the timer never outlives the race.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, message = `${what} took longer than ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(message)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * One request's time, shared by every wait inside it. Waits one after another each take at most what is left, so
 * together they never run past the end: an admission that reads a namespace and then mints a pull secret answers
 * within its budget with its own message, instead of the API server giving up on the webhook first.
 */
export class Budget {
  readonly #ms: number;
  readonly #endsAt: number;
  readonly #now: () => number;

  constructor(ms: number, now: () => number = () => performance.now()) {
    this.#ms = ms;
    this.#now = now;
    this.#endsAt = now() + ms;
  }

  /** What a wait cut short by the budget (not by its own cap) says. */
  exhausted(what: string): string {
    return `${what} did not finish within the ${this.#ms} ms one admission may wait`;
  }

  /** Whole milliseconds left, never below 0. */
  remainingMs(): number {
    return Math.max(0, Math.floor(this.#endsAt - this.#now()));
  }

  /** withDeadline for at most `capMs` and at most what is left of the budget. */
  wait<T>(promise: Promise<T>, what: string, capMs = Number.POSITIVE_INFINITY): Promise<T> {
    const left = this.remainingMs();
    return capMs <= left ? withDeadline(promise, capMs, what) : withDeadline(promise, left, what, this.exhausted(what));
  }
}
