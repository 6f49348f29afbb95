import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withDeadline } from '../deadline.ts';

/**
 * One leader among the replicas, elected with a coordination.k8s.io/v1 Lease the way client-go's leaderelection
 * does: the holder renews the Lease every `renewEveryMs`; anyone may take it over once it has not been renewed for
 * `leaseDurationMs`; every write carries the resourceVersion read, so two candidates can never both win. A replica
 * that cannot renew stops calling itself leader before its Lease runs out, and a replica that stops releases the
 * Lease so another takes over at once.
 */
export interface LeaseElectorOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewEveryMs: number;
  /**
   * How long one call to the API server (reading, creating or replacing the Lease) may take before its round gives
   * up and counts as failed. Without it a server that accepts the connection and never answers holds the round
   * until the HTTP client's own timeouts (10 s to connect, 5 minutes for an answer): the loop stops, and a leader cut
   * off that way goes on calling itself leader in its logs long after another replica has taken over.
   *
   * Defaults to `renewEveryMs`: a call unanswered after a whole renew interval has missed the renewal it was for,
   * and the next round, on a new connection, is likelier to succeed than waiting on; a round (a read and a write)
   * then ends within two intervals, so with serve's Lease of three intervals a leader whose server hangs notices
   * within its Lease. Giving up is safe whatever the request does later: a write that lands after all carries the
   * resourceVersion read before it, so it cannot overwrite a Lease another replica wrote since, and at worst keeps
   * the others out for one Lease duration. The request itself is left to the HTTP client's timeouts.
   */
  readonly callDeadlineMs?: number;
  /**
   * Whether this replica's work as leader is getting done, asked at the start of every round; absent, always. A
   * leader whose work is stuck would otherwise keep renewing the Lease, and so keep every other replica out, while
   * nothing is done: answering false is how it hands over. The caller decides what healthy means (for serve: the
   * refresher's last completed round is recent). While it answers false a replica that holds the Lease gives it up
   * (releases it as stop() does, so another replica takes over at its next round, and retries at the next round if
   * the release fails), and a replica that does not hold it does not try to acquire it. Once it answers true again
   * the replica competes as usual.
   */
  readonly healthy?: () => boolean;
  readonly log: Logger;
  readonly now: () => number;
}

/**
 * A Lease's times are MicroTime, which the API server parses only with six fractional digits; client-node sends a
 * Date as JSON (three digits) and passes a string through untouched, so the string is built here.
 */
export function microTime(ms: number): Date {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}

/** Read back, a MicroTime arrives as the string the API server sent (client-node has no type for it). */
function timeOf(value: Date | string | undefined): number {
  return value === undefined ? 0 : new Date(value).getTime();
}

function held(lease: V1Lease, now: number): { holder: string; expired: boolean } {
  const holder = lease.spec?.holderIdentity ?? '';
  const renewed = timeOf(lease.spec?.renewTime);
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  return { holder, expired: holder === '' || now > renewed + durationMs };
}

export class LeaseElector {
  readonly #options: LeaseElectorOptions;
  readonly #api: CoordinationV1Api;
  readonly #callDeadlineMs: number;
  #leaderUntil = 0;
  /**
   * Whether the Lease may name this replica: set before every write that names it (a write that timed out may still
   * have landed), cleared once a release is done or a read shows another holder. An unhealthy replica releases
   * while this is set, even after it stopped calling itself leader, so a release that failed is tried again.
   */
  #mayHold = false;
  /** After giving the Lease up for want of health: no contending before this time. */
  #outUntil = 0;
  /** What the last round concluded, so that a change (either way) is logged once. */
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: LeaseElectorOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#callDeadlineMs = options.callDeadlineMs ?? options.renewEveryMs;
  }

  isLeader(): boolean {
    return this.#options.now() < this.#leaderUntil;
  }

  start(): void {
    const loop = async () => {
      await this.tick();
      if (!this.#stopped) this.#timer = setTimeout(loop, this.#options.renewEveryMs);
    };
    void loop();
  }

  /** Stops, and releases the Lease if held so another replica takes over without waiting for it to expire. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (!this.isLeader()) return;
    this.#leaderUntil = 0;
    try {
      // Past the lease duration the Lease has expired anyway; an API server that hangs (its etcd gone) must not
      // hold up shutdown.
      await withDeadline(this.#release(), this.#options.leaseDurationMs, 'releasing the lease');
      this.#options.log.info({ lease: this.#options.name }, 'released the refresher lease');
    } catch (error) {
      this.#options.log.warn({ lease: this.#options.name, err: (error as Error).message }, 'could not release the refresher lease; it expires by itself');
    }
  }

  /**
   * Empties the Lease if it still names this replica. One that names another was taken over while this replica was
   * stalled; emptying it would let a third replica lead beside the new holder until that one's next round.
   */
  async #release(): Promise<void> {
    const lease = await this.#read();
    if (lease !== undefined && lease.spec?.holderIdentity === this.#options.identity) await this.#write({ holderIdentity: '', leaseDurationSeconds: 1 }, lease);
    this.#mayHold = false;
  }

  /** One election round: acquire, renew, observe, or give the Lease up. Never throws; a failure counts as not leading. */
  async tick(): Promise<void> {
    const { identity, log, name, healthy } = this.#options;
    const wasLeader = this.#leading;
    try {
      if (healthy !== undefined && !healthy()) await this.#giveUp();
      else if (this.#options.now() >= this.#outUntil) await this.#contend();
    } catch (error) {
      log.warn({ lease: name, err: (error as Error).message }, 'refresher lease round failed');
    }
    this.#leading = this.isLeader();
    if (this.#leading !== wasLeader) log.info({ lease: name, identity }, this.#leading ? 'became the refresher leader' : 'no longer the refresher leader');
  }

  async #contend(): Promise<void> {
    const { identity, now } = this.#options;
    const lease = await this.#read();
    const state = lease === undefined ? undefined : held(lease, now());
    if (state !== undefined && state.holder !== identity && !state.expired) {
      this.#leaderUntil = 0;
      this.#mayHold = false;
      return;
    }
    const attempt = now();
    const spec = lease?.spec ?? {};
    const renewing = state?.holder === identity;
    const transitions = (spec.leaseTransitions ?? 0) + (renewing ? 0 : 1);
    const acquired = renewing ? timeOf(spec.acquireTime) : attempt;
    this.#mayHold = true;
    await this.#write({ holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000), acquireTime: microTime(acquired), renewTime: microTime(attempt), leaseTransitions: transitions }, lease);
    this.#leaderUntil = attempt + this.#options.leaseDurationMs - this.#options.renewEveryMs;
  }

  /**
   * Stops calling itself leader at once, and releases the Lease if it may still name this replica. It then stays out
   * for a Lease duration even if healthy() turns true again at once (as it does for a replica that no longer leads),
   * so a healthy replica takes the Lease rather than the one whose work just stalled.
   */
  async #giveUp(): Promise<void> {
    this.#leaderUntil = 0;
    if (!this.#mayHold) return;
    this.#outUntil = this.#options.now() + this.#options.leaseDurationMs;
    this.#options.log.warn({ lease: this.#options.name }, 'refresher rounds stopped completing; giving up the refresher lease');
    await this.#release();
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await withDeadline(this.#api.readNamespacedLease({ namespace: this.#options.namespace, name: this.#options.name }), this.#callDeadlineMs, 'reading the lease');
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  async #write(spec: V1Lease['spec'], current?: V1Lease): Promise<void> {
    const { namespace, name } = this.#options;
    if (current === undefined) {
      await withDeadline(this.#api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } }), this.#callDeadlineMs, 'creating the lease');
      return;
    }
    await withDeadline(this.#api.replaceNamespacedLease({ namespace, name, body: { metadata: { name, namespace, resourceVersion: current.metadata?.resourceVersion }, spec } }), this.#callDeadlineMs, 'replacing the lease');
  }
}
