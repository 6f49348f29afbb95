import { ClusterReadError, WORKLOAD_KINDS, type KubeObject, type NamespaceInfo, type WorkloadKind, type WorkloadSource } from '../kube/workload-source.ts';
import { TENANT_LABEL } from '../labels.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { decide, type Decision } from '../policy/decide.ts';
import type { Mode } from '../policy/schema.ts';
import { decideObject, inOrder, OFFLINE, registryGaps, type RegistryReading } from '../workload/evaluate.ts';
import { isPlainObject, podSpecPathOf, readPodSpec, type PodSpecView } from '../workload/pod-spec.ts';
import { imageSignature, summarize, workloadOf, type AuditedNamespace, type AuditedTenant, type AuditedWorkload, type AuditReport, type EcrFindings, type OwnerNote } from './report.ts';

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
 *
 * Each object is decided as a pod created now, reading ECR when the RegistryReading says so (`audit --aws`), with
 * every rewritten image looked for in its target (checkRewrites). The objects of a page are decided together, their
 * reads overlapping, and then folded in the page's order, so the report does not depend on which read came back first.
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
  /** Its images whose existence check or pinning was not done (ECR not read). */
  readonly notChecked: { readonly existence: number; readonly pinning: number };
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

/** An object of a tenant namespace in scope, read and about to be decided. */
interface Pending {
  readonly object: KubeObject;
  readonly meta: Meta;
  readonly namespace: NamespaceAudit;
  readonly pod: PodSpecView;
}

class ClusterScan {
  readonly #source: WorkloadSource;
  readonly #policy: CompiledPolicy;
  readonly #scope: AuditScope;
  readonly #progress: PageProgress;
  readonly #reading: RegistryReading;
  readonly #namespaces = new Map<string, NamespaceAudit>();
  readonly #controllers = new Map<string, Judged>();
  /** Pods of an older DaemonSet or StatefulSet template, by owner and images: each reported once, with a count. */
  readonly #oldRevisionPods = new Map<string, Judged>();
  #podsUnderOwners = 0;
  #finishedPods = 0;
  #finishedJobs = 0;

  constructor(source: WorkloadSource, policy: CompiledPolicy, scope: AuditScope, progress: PageProgress, reading: RegistryReading) {
    this.#source = source;
    this.#policy = policy;
    this.#scope = scope;
    this.#progress = progress;
    this.#reading = { ...reading, checkRewrites: true };
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
      const pending = page.flatMap((object) => this.#pending(kind, object));
      const decisions = await inOrder(pending, ({ namespace, pod }) =>
        decideObject({ pod, namespace: namespace.name, namespaceLabels: namespace.labels, policy: this.#policy }, this.#reading),
      );
      pending.forEach((object, i) => this.#judge(kind, object, decisions[i]!));
      this.#progress(WORKLOAD_KINDS[kind].resource, (read += page.length));
    }
  }

  /** The object to decide, if it is one: of a tenant namespace in scope, not finished; its pod spec read. */
  #pending(kind: WorkloadKind, object: KubeObject): Pending[] {
    const meta = metaOf(object);
    const namespace = this.#namespaces.get(meta.namespace);
    if (namespace === undefined) return [];
    if (kind === 'Pod' && finished(object)) {
      this.#finishedPods++;
      return [];
    }
    if (kind === 'Job' && jobFinished(object)) {
      this.#finishedJobs++;
      return [];
    }
    const pod = readPodSpec(object, podSpecPathOf(kind)!);
    if (!pod.ok) throw new ClusterReadError(`${kind} ${meta.namespace}/${meta.name} from the API server cannot be judged: ${pod.problem}`);
    return [{ object, meta, namespace, pod: pod.view }];
  }

  #judge(kind: WorkloadKind, pending: Pending, decision: Decision): void {
    const { meta, namespace } = pending;
    if (kind === 'Pod') return this.#judgePod(pending, decision);
    const judged = this.#judged(kind, pending, decision, this.#foldTarget(kind, meta));
    if (meta.uid !== undefined) this.#controllers.set(meta.uid, judged);
    if (judged.foldedInto === undefined) namespace.reported.push(judged);
  }

  #foldTarget(kind: WorkloadKind, meta: Meta): Judged | undefined {
    if (meta.controller === undefined || FOLDS_INTO[kind] !== meta.controller.kind) return undefined;
    return this.#controllers.get(meta.controller.uid);
  }

  #judgePod(pending: Pending, decision: Decision): void {
    const { object, meta, namespace } = pending;
    const owner = meta.controller === undefined ? undefined : this.#controllers.get(meta.controller.uid);
    const pod = this.#judged('Pod', pending, decision, undefined);
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

  #judged(kind: WorkloadKind, pending: Pending, decision: Decision, foldedInto: Judged | undefined): Judged {
    const workload = workloadOf(kind, pending.meta.name, decision, pending.pod.imagePullSecrets);
    const gaps = registryGaps(decision);
    const notChecked = { existence: gaps.filter((g) => g.checks.includes('existence')).length, pinning: gaps.filter((g) => g.checks.includes('pinning')).length };
    return { workload, signature: imageSignature(kind, decision), notChecked, foldedInto, owner: undefined, runningPods: 0 };
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
    return { summary: summarize(tenants, this.#podsUnderOwners, this.#finishedPods, this.#finishedJobs), ecr: this.#ecrFindings(tenants), tenants };
  }

  #ecrFindings(tenants: readonly AuditedTenant[]): EcrFindings {
    const listed = tenants.flatMap((t) => t.namespaces).flatMap((n) => n.workloads);
    const reported = [...this.#namespaces.values()].flatMap((n) => n.reported);
    return {
      read: this.#reading.lookups !== undefined,
      unjudged: listed.filter((w) => w.verdict === 'unjudged').length,
      missing: listed.reduce((sum, w) => sum + w.missing.length, 0),
      pins: listed.reduce((sum, w) => sum + w.pins.length, 0),
      notChecked: {
        existence: reported.reduce((sum, j) => sum + j.notChecked.existence, 0),
        pinning: reported.reduce((sum, j) => sum + j.notChecked.pinning, 0),
      },
    };
  }
}

const KIND_ORDER = new Map(LIST_ORDER.map((kind, index) => [kind as string, index]));

function auditedNamespace(namespace: NamespaceAudit): AuditedNamespace {
  const all = namespace.reported.map(reportedWorkload).sort((a, b) => KIND_ORDER.get(a.kind)! - KIND_ORDER.get(b.kind)! || a.name.localeCompare(b.name));
  const workloads = all.filter((w) => w.verdict !== 'ok');
  const passed = all.filter((w) => w.verdict === 'ok').map(({ kind, name }) => ({ kind, name }));
  return { name: namespace.name, mode: namespace.mode, warnings: namespace.warnings, audited: namespace.reported.length, workloads, passed };
}

function reportedWorkload(judged: Judged): AuditedWorkload {
  if (judged.owner === undefined) return judged.workload;
  return { ...judged.workload, owner: judged.owner, ...(judged.owner.relation === 'old-revision' ? { runningPods: judged.runningPods } : {}) };
}

export function auditCluster(source: WorkloadSource, policy: CompiledPolicy, scope: AuditScope, progress: PageProgress = () => undefined, reading: RegistryReading = OFFLINE): Promise<AuditReport> {
  return new ClusterScan(source, policy, scope, progress, reading).run();
}
