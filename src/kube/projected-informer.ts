import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.ts';
import { errorMessage } from './api-error.ts';

/**
 * A list-then-watch cache (client-node's ListWatch) that keeps a compact projection of each object instead of the
 * object, and restarts itself: the one way the webhook's watches run.
 *
 * - `list` pages through the API server and projects as it goes, so no more than a page of whole objects is ever
 *   held; watch events are projected as they arrive. What the projection drops is gone for good.
 * - Ready after the first complete list; current while the watch runs (a caller that must not act on a cache that
 *   may have missed changes asks `current()`, one that prefers the last known state asks `ready()`).
 * - The informer stops on a watch error; it is restarted after an exponential, jittered backoff (backoff.ts),
 *   resuming from the last resourceVersion (a full relist when that is too old), and keeps answering from what it
 *   holds meanwhile. A watch the API server answers (or a successful list) resets the backoff.
 */
export interface ProjectedInformerOptions<P> {
  readonly what: string;
  readonly path: string;
  /** The watch's config: the webhook's, or one that asks for metadata only (metadata-only.ts). */
  readonly watchConfig: KubeConfig;
  readonly labelSelector?: string | undefined;
  /** One page of the list: raw items, and where the next page starts. */
  listPage(continueToken: string | undefined): Promise<{ readonly items: readonly unknown[]; readonly continueToken: string | undefined; readonly resourceVersion: string | undefined }>;
  /** The projection kept; undefined drops the object (it does not name itself). */
  project(object: unknown): P | undefined;
  readonly log: Logger;
  readonly restartBackoff: { readonly initialMs: number; readonly maxMs: number };
  readonly onRestart?: (() => void) | undefined;
  readonly onListed?: ((count: number) => void) | undefined;
}

/** What the ListWatch cache holds: the identity it needs, and the projection. */
interface Slot<P> extends KubernetesObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly projection: P;
}

type Meta = { metadata: { name?: string; namespace?: string; resourceVersion?: string } };

/** Only objects that project are slotted, and those always have metadata. */
function slot<P>(object: unknown, projection: P): Slot<P> {
  const { name, namespace, resourceVersion } = (object as Meta).metadata;
  return { metadata: { name: name as string, ...(namespace === undefined ? {} : { namespace }), resourceVersion }, projection };
}

export class ProjectedInformer<P> {
  readonly #options: ProjectedInformerOptions<P>;
  readonly #informer: ListWatch<Slot<P>>;
  readonly #backoff: Backoff;
  #listed = false;
  /** True while a watch request is open: between a failure and the next answered watch the cache may miss changes. */
  #watching = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProjectedInformerOptions<P>) {
    this.#options = options;
    this.#backoff = new Backoff(options.restartBackoff);
    const watch = new Watch(options.watchConfig);
    const projectingWatch = {
      watch: async (path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (phase: string, object: unknown, raw: unknown) => void, done: (error: unknown) => void) => {
        let ended = false;
        const request = await watch.watch(
          path,
          { ...query, allowWatchBookmarks: true },
          (phase: string, object: unknown, raw: unknown) => {
            if (phase === 'ERROR' || phase === 'BOOKMARK') return onEvent(phase, object, raw);
            const projection = options.project(object);
            if (projection !== undefined) onEvent(phase, slot(object, projection), raw);
          },
          (error: unknown) => {
            ended = true;
            this.#watching = false;
            done(error);
          },
        );
        // Current only once the API server has answered the watch (ListWatch's own connect event comes before that).
        if (!ended) {
          this.#watching = true;
          this.#backoff.reset();
        }
        return request;
      },
    };
    this.#informer = new ListWatch<Slot<P>>(options.path, projectingWatch as unknown as Watch, () => this.#listAll(), false, options.labelSelector);
    this.#informer.on('error', (error: unknown) => this.#scheduleRestart(error));
  }

  /** Starts listing and watching; resolves once the first attempt has begun (readiness follows the list). */
  async start(): Promise<void> {
    try {
      await this.#informer.start();
    } catch (error) {
      this.#scheduleRestart(error);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#informer.stop();
  }

  ready(): boolean {
    return this.#listed;
  }

  /** Listed, and the watch has not failed since it last connected: what the cache holds is current. */
  current(): boolean {
    return this.#listed && this.#watching;
  }

  get(name: string, namespace?: string): P | undefined {
    return this.#informer.get(name, namespace)?.projection;
  }

  list(): P[] {
    return this.#informer.list().map((held) => held.projection);
  }

  size(): number {
    return this.#informer.list().length;
  }

  async #listAll(): Promise<KubernetesListObject<Slot<P>>> {
    const items: Slot<P>[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await this.#options.listPage(next);
      for (const item of page.items) {
        const projection = this.#options.project(item);
        if (projection !== undefined) items.push(slot(item, projection));
      }
      resourceVersion ??= page.resourceVersion;
      next = page.continueToken;
    } while (next !== undefined);
    // ListWatch files the items into its cache right after this promise resolves; readiness follows that.
    setImmediate(() => this.#markListed(items.length));
    return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion }, items };
  }

  #markListed(count: number): void {
    this.#backoff.reset();
    if (!this.#listed) this.#options.onListed?.(count);
    this.#listed = true;
  }

  #scheduleRestart(error: unknown): void {
    this.#watching = false;
    if (this.#stopped) return;
    const delay = this.#backoff.next();
    this.#options.onRestart?.();
    this.#options.log.warn({ err: errorMessage(error), retryInMs: delay }, `${this.#options.what} watch failed; restarting`);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!this.#stopped) void this.start();
    }, delay);
    this.#timer.unref();
  }
}
