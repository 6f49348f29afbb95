/**
 * Namespace name → labels. The admission handler reads tenants through this interface only; the informer-backed
 * implementation lives beside it, and the in-memory one serves `check` and unit tests.
 */
export type Labels = Readonly<Record<string, string>>;

export interface NamespaceDirectory {
  /** The namespace's labels; undefined when the namespace does not exist. Rejects when they cannot be known. */
  labelsOf(namespace: string): Promise<Labels | undefined>;
  /** True once the directory can answer (e.g. after the first list). */
  ready(): boolean;
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

  ready(): boolean {
    return true;
  }
}
