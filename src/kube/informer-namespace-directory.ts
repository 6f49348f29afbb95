import { ApiException, CoreV1Api, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withDeadline } from '../deadline.ts';
import type { Metrics } from '../metrics.ts';
import type { Labels, NamespaceDirectory } from './namespace-directory.ts';

/**
 * The namespace directory `serve` uses: a @kubernetes/client-node informer (list, then watch) on Namespaces whose
 * cache keeps, per namespace, only its name and labels.
 *
 * - Ready only after the first complete list, so /readyz keeps the pod out of the Service until it can answer.
 * - A namespace the cache does not know yet (created a moment before its first pod, before the watch event
 *   arrived) is read with a direct GET, bounded in time and in how many run at once; a namespace the API server
 *   does not know either is unlabelled (the API server rejects pods in it anyway).
 * - The informer stops on a watch error; it is restarted with exponential backoff and jitter, resuming from the
 *   last resourceVersion (a full relist when that is too old), and keeps answering from the cache meanwhile.
 * - Relabelling a namespace reaches the cache through the watch: no restart needed.
 */
export interface InformerNamespaceDirectoryOptions {
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Deadline of the direct GET on a cache miss; keep it well under the webhook's timeoutSeconds. */
  readonly missTimeoutMs: number;
  /** Direct GETs allowed at once; more misses than that are refused rather than queued. */
  readonly maxConcurrentMisses: number;
  /** Page size of the initial list, so a large cluster is listed in bounded responses. */
  readonly listPageSize: number;
  readonly restartBackoff: { readonly initialMs: number; readonly maxMs: number };
}

const NAMESPACES_PATH = '/api/v1/namespaces';

/** What the cache keeps of a namespace. */
export function slim(namespace: V1Namespace): V1Namespace {
  const { name, labels, resourceVersion } = namespace.metadata ?? {};
  return { metadata: { name, labels, resourceVersion } };
}

/** A namespace's labels; none when the object carries none (API servers before 1.21 set no name label). */
export function labelsOfNamespace(namespace: V1Namespace): Labels {
  return namespace.metadata?.labels ?? {};
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code} from the API server`;
  return error instanceof Error ? error.message : String(error);
}

export class InformerNamespaceDirectory implements NamespaceDirectory {
  readonly #options: InformerNamespaceDirectoryOptions;
  readonly #api: CoreV1Api;
  readonly #informer: ListWatch<V1Namespace>;
  readonly #misses = new Map<string, Promise<Labels | undefined>>();
  #listed = false;
  #stopped = false;
  #restartDelayMs: number;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(options: InformerNamespaceDirectoryOptions) {
    this.#options = options;
    this.#restartDelayMs = options.restartBackoff.initialMs;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    const watch = new Watch(options.kubeConfig);
    const slimWatch = {
      watch: (path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (phase: string, object: V1Namespace, raw: unknown) => void, done: (error: unknown) => void) =>
        watch.watch(path, { ...query, allowWatchBookmarks: true }, (phase: string, object: V1Namespace, raw: unknown) => onEvent(phase, phase === 'ERROR' ? object : slim(object), raw), done),
    };
    this.#informer = new ListWatch<V1Namespace>(NAMESPACES_PATH, slimWatch as unknown as Watch, () => this.#listAll(), false);
    this.#informer.on('error', (error: unknown) => this.#scheduleRestart(error));
    this.#informer.on('connect', () => options.log.debug('namespace watch connecting'));
    options.metrics.measureNamespaceCache(() => this.#informer.list().length);
  }

  /** Starts listing and watching; resolves once the first attempt has begun (readiness follows the list). */
  async start(): Promise<void> {
    await this.#run();
  }

  /** Errors thrown before the informer reports them itself (say, an unreadable token file) take the same retry path. */
  async #run(): Promise<void> {
    try {
      await this.#informer.start();
    } catch (error) {
      this.#scheduleRestart(error);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#informer.stop();
  }

  ready(): boolean {
    return this.#listed;
  }

  async labelsOf(namespace: string): Promise<Labels | undefined> {
    const cached = this.#informer.get(namespace);
    if (cached !== undefined) {
      this.#options.metrics.namespaceLookups.inc({ source: 'cache' });
      return labelsOfNamespace(cached);
    }
    return this.#readDirectly(namespace);
  }

  async #listAll(): Promise<KubernetesListObject<V1Namespace>> {
    const items: V1Namespace[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await this.#api.listNamespace({ limit: this.#options.listPageSize, _continue: next });
      for (const item of page.items) items.push(slim(item));
      resourceVersion ??= page.metadata?.resourceVersion;
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    // ListWatch files the items into its cache right after this promise resolves; readiness follows that.
    setImmediate(() => this.#markListed(items.length));
    return { apiVersion: 'v1', kind: 'NamespaceList', metadata: { resourceVersion }, items };
  }

  #markListed(count: number): void {
    this.#restartDelayMs = this.#options.restartBackoff.initialMs;
    if (!this.#listed) this.#options.log.info({ namespaces: count }, 'namespace directory ready');
    this.#listed = true;
  }

  #scheduleRestart(error: unknown): void {
    if (this.#stopped) return;
    const { initialMs, maxMs } = this.#options.restartBackoff;
    // Full jitter, so replicas that lost the API server together do not come back in step.
    const delay = Math.round(this.#restartDelayMs / 2 + (Math.random() * this.#restartDelayMs) / 2);
    this.#restartDelayMs = Math.min(Math.max(this.#restartDelayMs * 2, initialMs), maxMs);
    this.#options.metrics.namespaceWatchRestarts.inc();
    this.#options.log.warn({ err: errorMessage(error), retryInMs: delay }, 'namespace watch failed; restarting');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (!this.#stopped) void this.#run();
    }, delay);
    this.#restartTimer.unref();
  }

  #readDirectly(namespace: string): Promise<Labels | undefined> {
    const running = this.#misses.get(namespace);
    if (running !== undefined) return running;
    if (this.#misses.size >= this.#options.maxConcurrentMisses) {
      return Promise.reject(new Error(`namespace ${namespace} is not in the cache and ${this.#misses.size} direct reads are already running`));
    }
    const read = this.#get(namespace).finally(() => this.#misses.delete(namespace));
    this.#misses.set(namespace, read);
    return read;
  }

  async #get(namespace: string): Promise<Labels | undefined> {
    const { metrics, missTimeoutMs } = this.#options;
    try {
      const found = await withDeadline(this.#api.readNamespace({ name: namespace }), missTimeoutMs, `reading namespace ${namespace}`);
      metrics.namespaceLookups.inc({ source: 'api' });
      return labelsOfNamespace(found);
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) {
        metrics.namespaceLookups.inc({ source: 'missing' });
        return undefined;
      }
      throw new Error(`namespace ${namespace} is not in the cache and reading it failed: ${errorMessage(error)}`);
    }
  }
}
