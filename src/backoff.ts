/**
 * Exponential backoff with jitter, the one way the webhook waits before trying again (watch restarts, the
 * provenance key, failed mints): each failure doubles the step up to `maxMs`; the wait is drawn from the upper half
 * of the step, so replicas that failed together do not retry together, and never waits less than half of it.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  #stepMs: number;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.#options = options;
    this.#random = random;
    this.#stepMs = options.initialMs;
  }

  /** The wait before the next attempt; the step after it is doubled. */
  next(): number {
    const step = this.#stepMs;
    this.#stepMs = Math.min(Math.max(step * 2, this.#options.initialMs), this.#options.maxMs);
    return jittered(step, this.#random);
  }

  /** After a success: the next failure waits the initial step again. */
  reset(): void {
    this.#stepMs = this.#options.initialMs;
  }
}

/** A wait in [step/2, step]. */
export function jittered(stepMs: number, random: () => number = Math.random): number {
  return Math.round(stepMs / 2 + (random() * stepMs) / 2);
}
