import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig, type V1ListMeta } from '@kubernetes/client-node';
// Not re-exported by the package root, but the one place that turns its typed models back into API JSON.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { withDeadline } from '../deadline.ts';
import { describeFailure } from './api-error.ts';

/** Generous for a page of 500 objects from a busy API server; without it a stalled connection hangs the audit. */
const REQUEST_DEADLINE_MS = 60_000;
import { labelsOfNamespace } from './informer-namespace-directory.ts';
import { ClusterReadError, scopeOf, WORKLOAD_KINDS, type KubeObject, type NamespaceInfo, type WorkloadKind, type WorkloadSource } from './workload-source.ts';

/**
 * The audit's view of a live cluster through @kubernetes/client-node: every list is paged with limit/continue,
 * and every failure becomes one ClusterReadError naming what was read and why (the API server's Status reason and
 * message, or the network error), never the client's multi-line exception.
 *
 * client-node hands back typed models (Date objects, no kind on list items); they are turned back into the API's
 * JSON with its own serializer, and kind and apiVersion are set again.
 */
interface Page {
  readonly items: readonly object[];
  readonly metadata?: V1ListMeta | undefined;
}

type PageRequest = { readonly limit: number; readonly _continue: string | undefined };

interface Apis {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly batch: BatchV1Api;
}

type Lister = (apis: Apis, namespace: string | undefined, page: PageRequest) => Promise<Page>;

const LISTERS: Readonly<Record<WorkloadKind, Lister>> = {
  CronJob: ({ batch }, namespace, page) => (namespace === undefined ? batch.listCronJobForAllNamespaces(page) : batch.listNamespacedCronJob({ namespace, ...page })),
  Deployment: ({ apps }, namespace, page) => (namespace === undefined ? apps.listDeploymentForAllNamespaces(page) : apps.listNamespacedDeployment({ namespace, ...page })),
  StatefulSet: ({ apps }, namespace, page) => (namespace === undefined ? apps.listStatefulSetForAllNamespaces(page) : apps.listNamespacedStatefulSet({ namespace, ...page })),
  DaemonSet: ({ apps }, namespace, page) => (namespace === undefined ? apps.listDaemonSetForAllNamespaces(page) : apps.listNamespacedDaemonSet({ namespace, ...page })),
  Job: ({ batch }, namespace, page) => (namespace === undefined ? batch.listJobForAllNamespaces(page) : batch.listNamespacedJob({ namespace, ...page })),
  ReplicaSet: ({ apps }, namespace, page) => (namespace === undefined ? apps.listReplicaSetForAllNamespaces(page) : apps.listNamespacedReplicaSet({ namespace, ...page })),
  Pod: ({ core }, namespace, page) => (namespace === undefined ? core.listPodForAllNamespaces(page) : core.listNamespacedPod({ namespace, ...page })),
};

/**
 * The serializer writes every field its model knows, set or not; the JSON round trip drops the unset ones, so the
 * object has exactly the fields the API server sent (those this client version knows).
 */
function asJson(item: object, kind: WorkloadKind): Record<string, unknown> {
  return JSON.parse(JSON.stringify(ObjectSerializer.serialize(item, `V1${kind}`, ''))) as Record<string, unknown>;
}

export class KubeWorkloadSource implements WorkloadSource {
  readonly #apis: Apis;
  readonly #server: string;
  readonly #pageSize: number;

  readonly #requestDeadlineMs: number;

  /** `requestDeadlineMs`: how long one request may take before the audit gives up on a stalled API server. */
  constructor(kubeConfig: KubeConfig, pageSize: number, requestDeadlineMs = REQUEST_DEADLINE_MS) {
    this.#apis = { core: kubeConfig.makeApiClient(CoreV1Api), apps: kubeConfig.makeApiClient(AppsV1Api), batch: kubeConfig.makeApiClient(BatchV1Api) };
    // loadKubeConfig refuses a kubeconfig without a current cluster.
    this.#server = kubeConfig.getCurrentCluster()!.server;
    this.#pageSize = pageSize;
    this.#requestDeadlineMs = requestDeadlineMs;
  }

  async namespace(name: string): Promise<NamespaceInfo> {
    const namespace = await withDeadline(this.#apis.core.readNamespace({ name }), this.#requestDeadlineMs, 'the request').catch((error: unknown) => {
      throw new ClusterReadError(`reading namespace ${name}: ${describeFailure(error, this.#server)}`);
    });
    return { name, labels: labelsOfNamespace(namespace) };
  }

  async *namespaces(): AsyncIterable<readonly NamespaceInfo[]> {
    for await (const page of this.#pages('namespaces', (page) => this.#apis.core.listNamespace(page))) {
      yield page.items.map((namespace) => ({ name: namespace.metadata!.name!, labels: labelsOfNamespace(namespace) }));
    }
  }

  async *objects(kind: WorkloadKind, namespace: string | undefined): AsyncIterable<readonly KubeObject[]> {
    const { apiVersion, resource } = WORKLOAD_KINDS[kind];
    const list = LISTERS[kind];
    for await (const page of this.#pages(`${resource} in ${scopeOf(namespace)}`, (request) => list(this.#apis, namespace, request))) {
      yield page.items.map((item) => ({ ...asJson(item, kind), apiVersion, kind }));
    }
  }

  async *#pages<P extends Page>(what: string, list: (page: PageRequest) => Promise<P>): AsyncIterable<P> {
    let next: string | undefined;
    do {
      const page = await withDeadline(list({ limit: this.#pageSize, _continue: next }), this.#requestDeadlineMs, 'the request').catch((error: unknown) => {
        throw new ClusterReadError(`listing ${what}: ${describeFailure(error, this.#server)}`);
      });
      yield page;
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
  }
}
