import { ClusterReadError, WORKLOAD_KINDS, type KubeObject, type NamespaceInfo, type WorkloadKind, type WorkloadSource } from '../kube/workload-source.ts';
import { TENANT_LABEL } from '../labels.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { decide } from '../policy/decide.ts';
import type { Mode } from '../policy/schema.ts';
import { isPlainObject, podSpecPathOf, readPodSpec } from '../workload/pod-spec.ts';
import { imageSignature, summarize, workloadOf, type AuditedNamespace, type AuditedTenant, type AuditedWorkload, type AuditReport, type OwnerNote } from './report.ts';

/**
 * Walks a cluster through a WorkloadSource and judges every pod template and pod in the tenant namespaces in scope
 * with the same decision core the webhook runs, against the given (possibly candidate) policy.
 *
 * Each workload is reported once, where its pods come from:
 * - a ReplicaSet whose controller is an audited Deployment, and a Job whose controller is an audited CronJob, are
 *   folded into that owner: the owner's template is what makes new pods;
 * - a pod whose controller is audited (ReplicaSet, Job, StatefulSet, DaemonSet, directly or through the above) is
 *   folded into it when it runs the owner's images (after the tenant's rewrite, so pods the webhook has already
 *   rewritten still match);
 * - but a folded ReplicaSet or Job whose running pods come from an older template than its owner's (a rollout in
 *   progress or stuck) is reported on its own, once, with the number of such pods; and a pod whose images are not
 *   its owner's (an ephemeral debug container, an image set on the pod) is reported on its own;
 * - a pod whose controller is not audited (a custom resource, a node's mirror pod) or gone is reported as a pod;
 * - pods that have Succeeded or Failed are never admitted again and are only counted.
 * Controllers are listed before what they own (CronJobs before Jobs, Deployments before ReplicaSets, pods last),
 * so an owner is always known when what it owns arrives; only small records of controllers are kept, not pages.
 */
export interface AuditScope {
  /** One namespace; all namespaces when undefined. */
  readonly namespace?: string | undefined;
  /** Only namespaces labelled with this tenant. */
  readonly tenant?: string | undefined;
}

/** Called after each page with the resource and how many of its objects have been read so far. */
export type PageProgress = (resource: string, read: number) => void;

const LIST_ORDER: readonly WorkloadKind[] = ['CronJob', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet', 'Pod'];
const FOLDS_INTO: Readonly<Partial<Record<WorkloadKind, string>>> = { ReplicaSet: 'Deployment', Job: 'CronJob' };
const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

/** A tenant namespace in scope, with what is reported in it so far. */
interface NamespaceAudit {
  readonly name: string;
  readonly tenant: string;
  readonly labels: NamespaceInfo['labels'];
  readonly mode: Mode;
  readonly warnings: readonly string[];
  readonly reported: Judged[];
}

/** One object as judged; controllers are kept by UID so that what they own can find them. */
interface Judged {
  readonly workload: AuditedWorkload;
  readonly signature: string;
  /** The audited owner this object is folded into, if any. */
  readonly foldedInto: Judged | undefined;
  owner: OwnerNote | undefined;
  runningPods: number;
}

interface Meta {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string | undefined;
  readonly controller: { readonly kind: string; readonly uid: string } | undefined;
}

function metaOf(object: KubeObject): Meta {
  const metadata = isPlainObject(object.metadata) ? object.metadata : {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
  const controller = owners.find((o): o is { kind: string; uid: string } => isPlainObject(o) && o.controller === true && typeof o.kind === 'string' && typeof o.uid === 'string');
  return {
    name: String(metadata.name),
    namespace: String(metadata.namespace),
    uid: typeof metadata.uid === 'string' ? metadata.uid : undefined,
    controller: controller === undefined ? undefined : { kind: controller.kind, uid: controller.uid },
  };
}

function finished(object: KubeObject): boolean {
  const status = isPlainObject(object.status) ? object.status : {};
  return typeof status.phase === 'string' && FINISHED_PHASES.has(status.phase);
}

/** A Job whose Complete or Failed condition is True makes no more pods (old migrations, hooks): nothing to enforce. */
function jobFinished(object: KubeObject): boolean {
  const status = isPlainObject(object.status) ? object.status : {};
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  return conditions.some((c) => isPlainObject(c) && (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

/** Controllers that replace their pods in place, without a ReplicaSet per revision to report an old one on. */
const REVISIONS_IN_PODS = new Set(['DaemonSet', 'StatefulSet']);

/** `kubectl debug` adds ephemeral containers to a running pod: its images then differ from every template. */
function hasEphemeralContainers(pod: KubeObject): boolean {
  // Only called on a pod that has been judged, so its spec is a map.
  const { ephemeralContainers } = pod.spec as Record<string, unknown>;
  return Array.isArray(ephemeralContainers) && ephemeralContainers.length > 0;
}

class ClusterScan {
  readonly #source: WorkloadSource;
  readonly #policy: CompiledPolicy;
  readonly #scope: AuditScope;
  readonly #progress: PageProgress;
  readonly #namespaces = new Map<string, NamespaceAudit>();
  readonly #controllers = new Map<string, Judged>();
  /** Pods of an older DaemonSet or StatefulSet template, by owner and images: each reported once, with a count. */
  readonly #oldRevisionPods = new Map<string, Judged>();
  #podsUnderOwners = 0;
  #finishedPods = 0;
  #finishedJobs = 0;

  constructor(source: WorkloadSource, policy: CompiledPolicy, scope: AuditScope, progress: PageProgress = () => undefined) {
    this.#source = source;
    this.#policy = policy;
    this.#scope = scope;
    this.#progress = progress;
  }

  async run(): Promise<AuditReport> {
    await this.#findTenantNamespaces();
    // Nothing is listed when no namespace in scope belongs to a tenant: there is nothing to judge.
    if (this.#namespaces.size > 0) for (const kind of LIST_ORDER) await this.#judgeAll(kind);
    return this.#report();
  }

  async #findTenantNamespaces(): Promise<void> {
    if (this.#scope.namespace !== undefined) {
      this.#addNamespace(await this.#source.namespace(this.#scope.namespace));
      return;
    }
    let read = 0;
    for await (const page of this.#source.namespaces()) {
      for (const namespace of page) this.#addNamespace(namespace);
      this.#progress('namespaces', (read += page.length));
    }
  }

  #addNamespace({ name, labels }: NamespaceInfo): void {
    const tenant = labels[TENANT_LABEL];
    if (tenant === undefined || (this.#scope.tenant !== undefined && tenant !== this.#scope.tenant)) return;
    // The decision for a pod without containers is the namespace's own: its mode and any label problem.
    const decision = decide({ pod: { at: [], containers: [], imagePullSecrets: [] }, namespace: name, namespaceLabels: labels, policy: this.#policy });
    const warnings = decision.warnings.filter((w) => !w.startsWith('dry-run: '));
    this.#namespaces.set(name, { name, tenant, labels, mode: decision.mode, warnings, reported: [] });
  }

  async #judgeAll(kind: WorkloadKind): Promise<void> {
    let read = 0;
    for await (const page of this.#source.objects(kind, this.#scope.namespace)) {
      for (const object of page) this.#judge(kind, object);
      this.#progress(WORKLOAD_KINDS[kind].resource, (read += page.length));
    }
  }

  #judge(kind: WorkloadKind, object: KubeObject): void {
    const meta = metaOf(object);
    const namespace = this.#namespaces.get(meta.namespace);
    if (namespace === undefined) return;
    if (kind === 'Pod') return this.#judgePod(namespace, object, meta);
    if (kind === 'Job' && jobFinished(object)) {
      this.#finishedJobs++;
      return;
    }
    const judged = this.#evaluate(namespace, kind, object, meta, this.#foldTarget(kind, meta));
    if (meta.uid !== undefined) this.#controllers.set(meta.uid, judged);
    if (judged.foldedInto === undefined) namespace.reported.push(judged);
  }

  #foldTarget(kind: WorkloadKind, meta: Meta): Judged | undefined {
    if (meta.controller === undefined || FOLDS_INTO[kind] !== meta.controller.kind) return undefined;
    return this.#controllers.get(meta.controller.uid);
  }

  #judgePod(namespace: NamespaceAudit, object: KubeObject, meta: Meta): void {
    if (finished(object)) {
      this.#finishedPods++;
      return;
    }
    const owner = meta.controller === undefined ? undefined : this.#controllers.get(meta.controller.uid);
    const pod = this.#evaluate(namespace, 'Pod', object, meta, undefined);
    if (owner === undefined) {
      namespace.reported.push(pod);
    } else if (pod.signature !== owner.signature && REVISIONS_IN_PODS.has(owner.workload.kind) && !hasEphemeralContainers(object)) {
      this.#noteOldRevisionPod(namespace, owner, pod);
    } else if (pod.signature !== owner.signature) {
      pod.owner = { kind: owner.workload.kind, name: owner.workload.name, relation: 'differs' };
      namespace.reported.push(pod);
    } else {
      this.#podsUnderOwners++;
      this.#noteOldRevision(namespace, owner);
    }
  }

  /** A folded ReplicaSet or Job with a running pod is reported once when its template is not its owner's. */
  #noteOldRevision(namespace: NamespaceAudit, owner: Judged): void {
    const current = owner.foldedInto;
    if (current === undefined || owner.signature === current.signature) return;
    if (owner.runningPods++ === 0) {
      owner.owner = { kind: current.workload.kind, name: current.workload.name, relation: 'old-revision' };
      namespace.reported.push(owner);
    }
  }

  /**
   * A DaemonSet or StatefulSet mid-rollout (or with updateStrategy OnDelete) runs pods of its older template: one
   * entry per owner and set of images, counting its pods, rather than a row per node.
   */
  #noteOldRevisionPod(namespace: NamespaceAudit, owner: Judged, pod: Judged): void {
    const key = `${owner.workload.kind}/${owner.workload.name}\n${pod.signature}`;
    const seen = this.#oldRevisionPods.get(key);
    if (seen !== undefined) {
      seen.runningPods++;
      return;
    }
    pod.owner = { kind: owner.workload.kind, name: owner.workload.name, relation: 'old-revision' };
    pod.runningPods = 1;
    this.#oldRevisionPods.set(key, pod);
    namespace.reported.push(pod);
  }

  #evaluate(namespace: NamespaceAudit, kind: WorkloadKind, object: KubeObject, meta: Meta, foldedInto: Judged | undefined): Judged {
    const pod = readPodSpec(object, podSpecPathOf(kind)!);
    if (!pod.ok) throw new ClusterReadError(`${kind} ${meta.namespace}/${meta.name} from the API server cannot be judged: ${pod.problem}`);
    const decision = decide({ pod: pod.view, namespace: namespace.name, namespaceLabels: namespace.labels, policy: this.#policy });
    const workload = workloadOf(kind, meta.name, decision, pod.view.imagePullSecrets);
    return { workload, signature: imageSignature(kind, decision), foldedInto, owner: undefined, runningPods: 0 };
  }

  #report(): AuditReport {
    const byTenant = new Map<string, AuditedNamespace[]>();
    for (const namespace of [...this.#namespaces.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const list = byTenant.get(namespace.tenant) ?? [];
      list.push(auditedNamespace(namespace));
      byTenant.set(namespace.tenant, list);
    }
    const tenants: AuditedTenant[] = [...byTenant.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, namespaces]) => ({ name, inPolicy: this.#policy.tenants.has(name), namespaces }));
    return { summary: summarize(tenants, this.#podsUnderOwners, this.#finishedPods, this.#finishedJobs), tenants };
  }
}

const KIND_ORDER = new Map(LIST_ORDER.map((kind, index) => [kind as string, index]));

function auditedNamespace(namespace: NamespaceAudit): AuditedNamespace {
  const workloads = namespace.reported
    .map(reportedWorkload)
    .filter((w) => w.verdict !== 'ok')
    .sort((a, b) => KIND_ORDER.get(a.kind)! - KIND_ORDER.get(b.kind)! || a.name.localeCompare(b.name));
  return { name: namespace.name, mode: namespace.mode, warnings: namespace.warnings, audited: namespace.reported.length, workloads };
}

function reportedWorkload(judged: Judged): AuditedWorkload {
  if (judged.owner === undefined) return judged.workload;
  return { ...judged.workload, owner: judged.owner, ...(judged.owner.relation === 'old-revision' ? { runningPods: judged.runningPods } : {}) };
}

export function auditCluster(source: WorkloadSource, policy: CompiledPolicy, scope: AuditScope, progress?: PageProgress): Promise<AuditReport> {
  return new ClusterScan(source, policy, scope, progress).run();
}
