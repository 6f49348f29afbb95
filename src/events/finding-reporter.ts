import { LRUCache } from 'lru-cache';

/**
 * Dry-run findings made visible as Kubernetes Events, off the request path.
 *
 * Most pods are created by controllers, so the warnings on a dry-run pod's admission reach the ReplicaSet or Job
 * controller, never a person. An Event on the pod's owner (`kubectl describe rs`, `kubectl get events`) does.
 * A crash-looping ReplicaSet must not turn that into a flood, so:
 *   - report() only queues: the admission never waits for the API server;
 *   - one Event per (namespace, object, message) per dedupe window; repeats inside it are counted and the count goes
 *     into the next Event for that key (`count`, `firstTimestamp`), as the Kubernetes event recorder aggregates;
 *   - Events are sent at most `ratePerSecond` (with a burst), one at a time;
 *   - the queue is bounded: a finding that finds it full is dropped and counted, never held.
 */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string | undefined;
}

export interface Finding {
  readonly namespace: string;
  /** The object the Event is about: the pod's controller, else its namespace. */
  readonly regarding: ObjectRef;
  readonly reason: string;
  readonly message: string;
}

export interface FindingEvent extends Finding {
  /** Occurrences this Event stands for: this one and those deduplicated since the last Event for its key. */
  readonly count: number;
  readonly firstSeen: Date;
  readonly lastSeen: Date;
}

/** Where Events go: the API server, or memory in tests. */
export interface EventSink {
  create(event: FindingEvent): Promise<void>;
}

export type ReportOutcome = 'emitted' | 'deduplicated' | 'dropped' | 'failed';

export interface FindingReporterOptions {
  readonly sink: EventSink;
  readonly now: () => number;
  /** Waits while the rate limit holds the next Event back (setTimeout, unref'd, by default). */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  /** A repeat of a finding within this long after its Event is counted, not sent. */
  readonly dedupeWindowMs: number;
  /** Findings waiting to be sent; more are dropped. */
  readonly maxQueue: number;
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Keys remembered for deduplication, least recently used forgotten first. */
  readonly maxKeys: number;
  /** Every finding's fate, for metrics and logs; `error` comes with `failed`. */
  readonly onOutcome: (outcome: ReportOutcome, finding: Finding, error?: Error) => void;
}

interface KeyState {
  lastSentAt: number;
  /** Repeats counted since the last Event, and when the first of them happened. */
  repeats: number;
  firstRepeatAt: number;
}

export class FindingReporter {
  readonly #options: FindingReporterOptions;
  readonly #keys: LRUCache<string, KeyState>;
  readonly #queue: FindingEvent[] = [];
  #tokens: number;
  #refilledAt: number;
  #pumping: Promise<void> | undefined;
  #stopped = false;

  constructor(options: FindingReporterOptions) {
    this.#options = options;
    this.#keys = new LRUCache({ max: options.maxKeys });
    this.#tokens = options.burst;
    this.#refilledAt = options.now();
  }

  /** Queues an Event for the finding unless one went out for it recently; never waits, never throws. */
  report(finding: Finding): void {
    const now = this.#options.now();
    const key = keyOf(finding);
    const state = this.#keys.get(key);
    if (state !== undefined && now - state.lastSentAt < this.#options.dedupeWindowMs) {
      if (state.repeats === 0) state.firstRepeatAt = now;
      state.repeats++;
      this.#tell('deduplicated', finding);
      return;
    }
    if (this.#stopped || this.#queue.length >= this.#options.maxQueue) {
      this.#tell('dropped', finding);
      return;
    }
    const repeats = state?.repeats ?? 0;
    const firstSeen = new Date(repeats > 0 ? state!.firstRepeatAt : now);
    this.#keys.set(key, { lastSentAt: now, repeats: 0, firstRepeatAt: now });
    this.#queue.push({ ...finding, count: repeats + 1, firstSeen, lastSeen: new Date(now) });
    this.#pumping ??= this.#pump();
  }

  /** Resolves when every queued Event has been sent (or has failed). */
  async drain(): Promise<void> {
    while (this.#pumping !== undefined) await this.#pumping;
  }

  /** Takes no more findings; what is queued is still sent (drain() waits for it). */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Sends until the queue is empty. `#pumping` is cleared in the same synchronous step that finds the queue empty,
   * so a finding queued at any moment either is taken by this loop or starts the next one.
   */
  async #pump(): Promise<void> {
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        await this.#takeToken();
        await this.#send(event);
      }
    } finally {
      this.#pumping = undefined;
    }
  }

  async #send(event: FindingEvent): Promise<void> {
    try {
      await this.#options.sink.create(event);
    } catch (error) {
      // Forgotten, so the next occurrence is sent rather than counted against an Event that does not exist.
      this.#keys.delete(keyOf(event));
      this.#tell('failed', event, error as Error);
      return;
    }
    this.#tell('emitted', event);
  }

  /** A failing observer (metrics, logging) must neither stop the queue nor fail the admission that reported. */
  #tell(outcome: ReportOutcome, finding: Finding, error?: Error): void {
    try {
      this.#options.onOutcome(outcome, finding, error);
    } catch {
      // Nothing else can be told about it.
    }
  }

  /** Token bucket: waits until sending one more Event keeps within ratePerSecond (after the burst). */
  async #takeToken(): Promise<void> {
    const { now, ratePerSecond, burst } = this.#options;
    const at = now();
    this.#tokens = Math.min(burst, this.#tokens + ((at - this.#refilledAt) / 1000) * ratePerSecond);
    this.#refilledAt = at;
    if (this.#tokens < 1) {
      const waitMs = Math.ceil(((1 - this.#tokens) / ratePerSecond) * 1000);
      await (this.#options.sleep ?? sleep)(waitMs);
      this.#tokens = 1;
      this.#refilledAt = now();
    }
    this.#tokens -= 1;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function keyOf(finding: Finding): string {
  const { regarding } = finding;
  return JSON.stringify([finding.namespace, regarding.kind, regarding.name, regarding.uid ?? '', finding.reason, finding.message]);
}
