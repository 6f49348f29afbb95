import type { Labels } from './namespace-directory.ts';

/**
 * What `audit` reads from a cluster, page by page: namespaces with their labels, and the objects of each kind
 * that carries a pod spec. The client-node implementation lives beside it; the in-memory one serves unit tests.
 *
 * Objects are plain JSON of the manifest shape (as `kubectl get -o json` prints them), with kind and apiVersion
 * set, so the decision core reads them exactly as it reads an admission request or a manifest file.
 */
export type KubeObject = Readonly<Record<string, unknown>>;

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Labels;
}

/** The kinds an audit lists, with the resource name people and error messages use for them. */
export const WORKLOAD_KINDS = {
  CronJob: { apiVersion: 'batch/v1', resource: 'cronjobs.batch' },
  Deployment: { apiVersion: 'apps/v1', resource: 'deployments.apps' },
  StatefulSet: { apiVersion: 'apps/v1', resource: 'statefulsets.apps' },
  DaemonSet: { apiVersion: 'apps/v1', resource: 'daemonsets.apps' },
  Job: { apiVersion: 'batch/v1', resource: 'jobs.batch' },
  ReplicaSet: { apiVersion: 'apps/v1', resource: 'replicasets.apps' },
  Pod: { apiVersion: 'v1', resource: 'pods' },
} as const;

export type WorkloadKind = keyof typeof WORKLOAD_KINDS;

export interface WorkloadSource {
  /** One namespace; rejects with a ClusterReadError when it does not exist or cannot be read. */
  namespace(name: string): Promise<NamespaceInfo>;
  /** Every namespace, a page at a time. */
  namespaces(): AsyncIterable<readonly NamespaceInfo[]>;
  /** The objects of one kind in one namespace, or in all namespaces when `namespace` is undefined, a page at a time. */
  objects(kind: WorkloadKind, namespace: string | undefined): AsyncIterable<readonly KubeObject[]>;
}

/** Reading the cluster failed; the message names what was being read and why, in one line. */
export class ClusterReadError extends Error {
  override name = 'ClusterReadError';
}

export function scopeOf(namespace: string | undefined): string {
  return namespace === undefined ? 'all namespaces' : `namespace ${namespace}`;
}

function* pagesOf<T>(items: readonly T[], pageSize: number): Generator<readonly T[]> {
  for (let start = 0; start < items.length; start += pageSize) yield items.slice(start, start + pageSize);
}

/** The same contract over fixed objects, paged like the API server pages them; for unit tests. */
export class InMemoryWorkloadSource implements WorkloadSource {
  readonly #namespaces: readonly NamespaceInfo[];
  readonly #objects: readonly KubeObject[];
  readonly #pageSize: number;
  /** Every page handed out, as `resource scope`, so tests can see what was listed. */
  readonly listed: string[] = [];

  constructor(namespaces: Readonly<Record<string, Labels>>, objects: readonly KubeObject[], pageSize = 2) {
    this.#namespaces = Object.entries(namespaces).map(([name, labels]) => ({ name, labels }));
    this.#objects = objects;
    this.#pageSize = pageSize;
  }

  async namespace(name: string): Promise<NamespaceInfo> {
    const found = this.#namespaces.find((n) => n.name === name);
    if (found === undefined) throw new ClusterReadError(`reading namespace ${name}: not found (HTTP 404): namespaces "${name}" not found`);
    return found;
  }

  async *namespaces(): AsyncIterable<readonly NamespaceInfo[]> {
    for (const page of pagesOf(this.#namespaces, this.#pageSize)) {
      this.listed.push('namespaces');
      yield page;
    }
  }

  async *objects(kind: WorkloadKind, namespace: string | undefined): AsyncIterable<readonly KubeObject[]> {
    const matching = this.#objects.filter((o) => o.kind === kind && (namespace === undefined || namespaceOf(o) === namespace));
    for (const page of pagesOf(matching, this.#pageSize)) {
      this.listed.push(`${WORKLOAD_KINDS[kind].resource} ${scopeOf(namespace)}`);
      yield page;
    }
  }
}

function namespaceOf(object: KubeObject): unknown {
  return (object.metadata as { namespace?: unknown } | undefined)?.namespace;
}
