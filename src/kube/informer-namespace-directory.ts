import { ApiException, CoreV1Api, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withDeadline } from '../deadline.ts';
import type { Metrics } from '../metrics.ts';
import { errorMessage } from './api-error.ts';
import { DOMAIN } from '../labels.ts';
import type { Labels, NamespaceDirectory } from './namespace-directory.ts';
import { ProjectedInformer } from './projected-informer.ts';

/**
 * The namespace directory `serve` uses: a projected informer (list, then watch; projected-informer.ts) on
 * Namespaces whose cache keeps, per namespace, only the webhook's own labels.
 *
 * - Ready only after the first complete list, so /readyz keeps the pod out of the Service until it can answer.
 * - A namespace the cache does not know yet (created a moment before its first pod, before the watch event
 *   arrived) is read with a direct GET, bounded in time and in how many run at once; a namespace the API server
 *   does not know either is unlabelled (the API server rejects pods in it anyway).
 * - A failed watch is restarted with backoff and jitter, and the cache keeps answering meanwhile.
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

/** A namespace's labels; none when the object carries none (API servers before 1.21 set no name label). */
export function labelsOfNamespace(namespace: V1Namespace): Labels {
  return namespace.metadata?.labels ?? {};
}

const OWN_PREFIX = `${DOMAIN}/`;

/** The webhook's own labels (tenant, mode) of a namespace: the only ones it reads. */
export function ownLabels(labels: Labels): Labels {
  const own: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) if (key.startsWith(OWN_PREFIX)) own[key] = value;
  return own;
}

/**
 * What the cache keeps of a namespace: its name and the webhook's own labels, or nothing for an object without a
 * name. Tenant admins may add any other label to their namespaces; none of it is kept.
 */
export function projectNamespace(object: unknown): { readonly name: string; readonly labels: Labels } | undefined {
  const namespace = object as V1Namespace;
  const name = namespace.metadata?.name;
  return typeof name === 'string' ? { name, labels: ownLabels(labelsOfNamespace(namespace)) } : undefined;
}

export class InformerNamespaceDirectory implements NamespaceDirectory {
  readonly #options: InformerNamespaceDirectoryOptions;
  readonly #api: CoreV1Api;
  readonly #informer: ProjectedInformer<{ readonly name: string; readonly labels: Labels }>;
  readonly #misses = new Map<string, Promise<Labels | undefined>>();

  constructor(options: InformerNamespaceDirectoryOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#informer = new ProjectedInformer({
      what: 'namespace',
      path: NAMESPACES_PATH,
      watchConfig: options.kubeConfig,
      listPage: async (next) => {
        const page = await this.#api.listNamespace({ limit: options.listPageSize, _continue: next });
        return { items: page.items, continueToken: page.metadata?._continue || undefined, resourceVersion: page.metadata?.resourceVersion };
      },
      project: projectNamespace,
      log: options.log,
      restartBackoff: options.restartBackoff,
      onRestart: () => options.metrics.namespaceWatchRestarts.inc(),
      onListed: (count) => options.log.info({ namespaces: count }, 'namespace directory ready'),
    });
    options.metrics.measureNamespaceCache(() => this.#informer.size());
  }

  /** Starts listing and watching; resolves once the first attempt has begun (readiness follows the list). */
  start(): Promise<void> {
    return this.#informer.start();
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }

  ready(): boolean {
    return this.#informer.ready();
  }

  async labelsOf(namespace: string): Promise<Labels | undefined> {
    return this.cached(namespace) ?? this.#readDirectly(namespace);
  }

  cached(namespace: string): Labels | undefined {
    const held = this.#informer.get(namespace);
    if (held !== undefined) this.#options.metrics.namespaceLookups.inc({ source: 'cache' });
    return held?.labels;
  }

  fresh(namespace: string): Promise<Labels | undefined> {
    return this.#readDirectly(namespace);
  }

  snapshot(): ReadonlyMap<string, Labels> | undefined {
    if (!this.#informer.ready()) return undefined;
    return new Map(this.#informer.list().map((held) => [held.name, held.labels]));
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
      return ownLabels(labelsOfNamespace(found));
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) {
        metrics.namespaceLookups.inc({ source: 'missing' });
        return undefined;
      }
      throw new Error(`namespace ${namespace} is not in the cache and reading it failed: ${errorMessage(error)}`);
    }
  }
}
