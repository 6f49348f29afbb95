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
  #leaderUntil = 0;
  /** What the last round concluded, so that a change (either way) is logged once. */
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: LeaseElectorOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
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

  async #release(): Promise<void> {
    const lease = await this.#read();
    if (lease !== undefined) await this.#write({ holderIdentity: '', leaseDurationSeconds: 1 }, lease);
  }

  /** One election round: acquire, renew, or observe. Never throws; a failure counts as not leading. */
  async tick(): Promise<void> {
    const { identity, now, log, name } = this.#options;
    const wasLeader = this.#leading;
    try {
      const lease = await this.#read();
      const state = lease === undefined ? undefined : held(lease, now());
      if (state !== undefined && state.holder !== identity && !state.expired) {
        this.#leaderUntil = 0;
      } else {
        const attempt = now();
        const spec = lease?.spec ?? {};
        const renewing = state?.holder === identity;
        const transitions = (spec.leaseTransitions ?? 0) + (renewing ? 0 : 1);
        const acquired = renewing ? timeOf(spec.acquireTime) : attempt;
        await this.#write({ holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000), acquireTime: microTime(acquired), renewTime: microTime(attempt), leaseTransitions: transitions }, lease);
        this.#leaderUntil = attempt + this.#options.leaseDurationMs - this.#options.renewEveryMs;
      }
    } catch (error) {
      log.warn({ lease: name, err: (error as Error).message }, 'refresher lease round failed');
    }
    this.#leading = this.isLeader();
    if (this.#leading !== wasLeader) log.info({ lease: name, identity }, this.#leading ? 'became the refresher leader' : 'no longer the refresher leader');
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({ namespace: this.#options.namespace, name: this.#options.name });
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  async #write(spec: V1Lease['spec'], current?: V1Lease): Promise<void> {
    const { namespace, name } = this.#options;
    if (current === undefined) {
      await this.#api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
      return;
    }
    await this.#api.replaceNamespacedLease({ namespace, name, body: { metadata: { name, namespace, resourceVersion: current.metadata?.resourceVersion }, spec } });
  }
}
