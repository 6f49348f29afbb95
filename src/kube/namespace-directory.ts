import type { Budget } from '../deadline.ts';

/**
 * Namespace name → labels. The admission handler reads tenants through this interface only; the informer-backed
 * implementation lives beside it, and the in-memory one serves `check` and unit tests.
 */
export type Labels = Readonly<Record<string, string>>;

export interface NamespaceDirectory {
  /** The namespace's labels; undefined when the namespace does not exist. Rejects when they cannot be known. */
  labelsOf(namespace: string): Promise<Labels | undefined>;
  /**
   * The labels the directory already holds, without waiting; undefined when it holds none for the namespace (then
   * ask labelsOf). Lets an admission skip the lookup's promise and deadline; absent, labelsOf is always asked.
   */
  cached?(namespace: string): Labels | undefined;
  /**
   * The same, read from the API server now rather than from the cache: asked before a token is written into a
   * namespace or a tenant's Secret is deleted from it, so that a cache lagging a relabel can never put one
   * tenant's credentials where another tenant reads them. Rejects when the labels cannot be read.
   */
  fresh(namespace: string): Promise<Labels | undefined>;
  /** True once the directory can answer (e.g. after the first list). */
  ready(): boolean;
  /**
   * Every namespace and its labels as the directory holds them now, for the reconciler's round; undefined until
   * the directory is ready (a partial view would look like namespaces that lost their tenant).
   */
  snapshot(): ReadonlyMap<string, Labels> | undefined;
}

/**
 * A namespace's labels for an admission, within its budget: from the directory's cache at once when it holds them
 * (nearly always: no deadline timer then), otherwise asked and waited for.
 */
export async function namespaceLabels(directory: NamespaceDirectory, namespace: string, budget: Budget): Promise<Labels | undefined> {
  return directory.cached?.(namespace) ?? budget.wait(directory.labelsOf(namespace), `reading namespace ${namespace}`);
}

export class InMemoryNamespaceDirectory implements NamespaceDirectory {
  readonly #namespaces = new Map<string, Labels>();

  constructor(namespaces: Readonly<Record<string, Labels>> = {}) {
    for (const [name, labels] of Object.entries(namespaces)) this.set(name, labels);
  }

  set(name: string, labels: Labels): void {
    this.#namespaces.set(name, Object.freeze({ ...labels }));
  }

  async labelsOf(namespace: string): Promise<Labels | undefined> {
    return this.#namespaces.get(namespace);
  }

  cached(namespace: string): Labels | undefined {
    return this.#namespaces.get(namespace);
  }

  fresh(namespace: string): Promise<Labels | undefined> {
    return this.labelsOf(namespace);
  }

  ready(): boolean {
    return true;
  }

  snapshot(): ReadonlyMap<string, Labels> {
    return new Map(this.#namespaces);
  }

  delete(name: string): void {
    this.#namespaces.delete(name);
  }
}
