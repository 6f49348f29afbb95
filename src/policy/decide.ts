import { classifyRegistryHost, type EcrRegistry } from '../image/ecr-host.ts';
import { movePrefix, prefixCovers } from '../image/registry-prefix.ts';
import { hostAsWritten, parseImageReference, registryOf, type ImageReference } from '../image/reference.ts';
import { MODE_LABEL, PULL_SECRET_PREFIX, TENANT_LABEL } from '../labels.ts';
import { clip, describeValue, formatPath, quote } from '../text.ts';
import { imageFieldOf, type ContainerView, type PodSpecView } from '../workload/pod-spec.ts';
import type { CompiledGrant, CompiledPolicy, CompiledTenant } from './compile.ts';
import { globCovers } from './repository-glob.ts';
import { MODES, type Mode } from './schema.ts';

/**
 * The decision for one pod (or pod template): pure, no I/O. The admission handler and `check` both call it.
 *
 * | namespace / tenant                        | result                                                  |
 * |-------------------------------------------|---------------------------------------------------------|
 * | no tenant label                           | allowed, untouched                                      |
 * | tenant label, tenant not in the policy    | denied: tenant "x" has no grants                        |
 * | every image granted (after rewrite)       | allowed; images rewritten, pull secrets added           |
 * | any image not granted                     | denied, each reason names container, image, tenant, ns  |
 * | mode dry-run                              | allowed, nothing changed, warnings say what enforce does|
 */
export const WARNING_MAX = 120;

export type Verdict = 'untouched' | 'allow' | 'deny' | 'would-deny';

export interface ImageResult {
  /** Field path inside the object, e.g. spec.containers[0].image. */
  readonly path: string;
  readonly container: string;
  readonly from: string;
  readonly to: string;
  readonly granted: boolean;
  readonly reason: string | undefined;
}

export interface PullSecretNeed {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly hosts: readonly string[];
  readonly roleArn: string;
}

export interface ImageChange {
  readonly container: ContainerView;
  readonly image: string;
}

export interface Decision {
  readonly allowed: boolean;
  readonly verdict: Verdict;
  readonly mode: Mode;
  readonly tenant: string | undefined;
  readonly images: readonly ImageResult[];
  readonly pullSecrets: readonly PullSecretNeed[];
  /** The full imagePullSecrets list the pod should carry: existing entries first, then the missing ones. */
  readonly imagePullSecrets: readonly string[];
  readonly reasons: readonly string[];
  readonly warnings: readonly string[];
  /** What to change; empty in dry-run, on denial and when nothing needs changing. */
  readonly changes: { readonly images: readonly ImageChange[]; readonly addPullSecrets: readonly string[] };
}

export interface DecisionInput {
  readonly pod: PodSpecView;
  readonly namespace: string;
  readonly namespaceLabels: Readonly<Record<string, string>> | undefined;
  readonly policy: CompiledPolicy;
  /** On UPDATE: the pod before. Only images that changed are judged, and pull secrets cannot be added. */
  readonly before?: PodSpecView | undefined;
  /**
   * The spec is a workload's pod template: its pods are created (and get their pull secrets) later, so an UPDATE
   * may need new pull secrets, which a pod UPDATE may not.
   */
  readonly template?: boolean | undefined;
}

const NO_CHANGES = Object.freeze({ images: [], addPullSecrets: [] });

export function pullSecretName(registry: EcrRegistry): string {
  return `${PULL_SECRET_PREFIX}${registry.account}-${registry.region}`;
}

function resolveMode(labels: Readonly<Record<string, string>>, tenant: CompiledTenant | undefined, policy: CompiledPolicy) {
  const label = labels[MODE_LABEL];
  if (label !== undefined && (MODES as readonly string[]).includes(label)) return { mode: label as Mode, warning: undefined };
  const mode = tenant?.mode ?? policy.defaultMode;
  if (label === undefined) return { mode, warning: undefined };
  // A mistyped mode label must never loosen enforcement, so it falls back to enforce, loudly.
  return { mode: 'enforce' as Mode, warning: clip(`namespace label ${MODE_LABEL}=${quote(label, 30)} is not enforce or dry-run; enforcing`, WARNING_MAX) };
}

export function decide(input: DecisionInput): Decision {
  const labels = input.namespaceLabels ?? {};
  const tenantName = labels[TENANT_LABEL];
  if (tenantName === undefined) return untouched(input.policy.defaultMode, input.pod);
  const tenant = input.policy.tenants.get(tenantName);
  const { mode, warning } = resolveMode(labels, tenant, input.policy);
  const judge = new Judge(input, tenantName, tenant);
  const base = judge.run();
  const denied = base.reasons.length > 0;
  const enforce = mode === 'enforce';
  const warnings = [...(warning === undefined ? [] : [warning]), ...(enforce ? [] : judge.dryRunWarnings(base.addPullSecrets))];
  return {
    allowed: !enforce || !denied,
    verdict: denied ? (enforce ? 'deny' : 'would-deny') : 'allow',
    mode,
    tenant: tenantName,
    images: base.images,
    pullSecrets: base.pullSecrets,
    imagePullSecrets: [...input.pod.imagePullSecrets, ...base.addPullSecrets],
    reasons: base.reasons,
    warnings,
    changes: enforce && !denied ? { images: base.changes, addPullSecrets: base.addPullSecrets } : NO_CHANGES,
  };
}

function untouched(mode: Mode, pod: PodSpecView): Decision {
  return {
    allowed: true,
    verdict: 'untouched',
    mode,
    tenant: undefined,
    images: [],
    pullSecrets: [],
    imagePullSecrets: pod.imagePullSecrets,
    reasons: [],
    warnings: [],
    changes: NO_CHANGES,
  };
}

/** A container's section and name in one string; section names hold no "/", so no two containers share a key. */
function containerKey(container: ContainerView): string {
  return `${container.section}/${container.name}`;
}

/**
 * The images of a pod's containers by section and name, so that an update looks each container up once: searching
 * the old list for each new container cost containers², seconds for a pod of tens of thousands of containers.
 * Built from the end, so that of two containers with one name the first counts, as a search finds it.
 */
function imagesByContainer(pod: PodSpecView): Map<string, unknown> {
  return new Map(pod.containers.map((container) => [containerKey(container), container.image] as const).reverse());
}

/** Judges the images of one pod for one tenant, collecting results, reasons and pull secrets. */
class Judge {
  readonly images: ImageResult[] = [];
  readonly reasons: string[] = [];
  /** The same denials in a form short enough for a 120-character warning. */
  readonly shortReasons: string[] = [];
  readonly changes: ImageChange[] = [];
  readonly secrets = new Map<string, { name: string; account: string; region: string; hosts: Set<string>; roleArn: string }>();
  readonly input: DecisionInput;
  readonly tenantName: string;
  readonly tenant: CompiledTenant | undefined;
  /** On UPDATE, each container's image before, by section and name. */
  readonly imagesBefore: ReadonlyMap<string, unknown> | undefined;

  constructor(input: DecisionInput, tenantName: string, tenant: CompiledTenant | undefined) {
    this.input = input;
    this.tenantName = tenantName;
    this.tenant = tenant;
    this.imagesBefore = input.before === undefined ? undefined : imagesByContainer(input.before);
  }

  run() {
    if (this.tenant === undefined) {
      this.shortReasons.push(`tenant ${quote(this.tenantName, 60)} has no grants`);
      this.reasons.push(
        `tenant ${quote(this.tenantName, 70)} has no grants: namespace ${quote(this.input.namespace)} is labelled ` +
          `${TENANT_LABEL}=${quote(this.tenantName, 70)} but the policy names no such tenant`,
      );
    } else {
      for (const container of this.input.pod.containers) this.judgeContainer(this.tenant, container);
    }
    const pullSecrets: PullSecretNeed[] = [...this.secrets.values()].map((s) => ({ ...s, hosts: [...s.hosts].sort() }));
    const have = new Set(this.input.pod.imagePullSecrets);
    const addPullSecrets = pullSecrets.map((s) => s.name).filter((name) => !have.has(name));
    if (this.input.before !== undefined && this.input.template !== true) this.refuseNewSecretsOnUpdate(addPullSecrets);
    const canAdd = this.input.before === undefined;
    return { images: this.images, reasons: this.reasons, changes: this.changes, pullSecrets, addPullSecrets: canAdd ? addPullSecrets : [] };
  }

  /** Kubernetes forbids changing imagePullSecrets on a pod UPDATE, so an image needing a new secret cannot be admitted. */
  private refuseNewSecretsOnUpdate(missing: readonly string[]): void {
    for (const name of missing) {
      this.shortReasons.push(`pod update needs new pull secret ${name}`);
      this.reasons.push(
        `the updated pod needs pull secret ${quote(name)} for tenant ${quote(this.tenantName)} in namespace ` +
          `${quote(this.input.namespace)}, but imagePullSecrets cannot change on a pod update; recreate the pod instead`,
      );
    }
  }

  private unchangedSinceBefore(container: ContainerView): boolean {
    const key = containerKey(container);
    return this.imagesBefore !== undefined && this.imagesBefore.has(key) && this.imagesBefore.get(key) === container.image;
  }

  private judgeContainer(tenant: CompiledTenant, container: ContainerView): void {
    // No image yet (a template may leave it to a later mutator): nothing to pull, nothing to judge.
    if (container.image === undefined || container.image === null || container.image === '' || this.unchangedSinceBefore(container)) return;
    const path = formatPath([...this.input.pod.at, container.section, container.index, ...imageFieldOf(container.section)]);
    const from = typeof container.image === 'string' ? container.image : describeValue(container.image);
    const verdict = judgeImage(tenant, container.image);
    const image: Candidate = { path, container, from, to: verdict.to };
    if (verdict.to !== from) this.changes.push({ container, image: verdict.to });
    if (!verdict.granted) return this.deny(image, verdict.detail, verdict.short);
    if (verdict.secret !== undefined) this.needSecret(verdict.secret.grant, verdict.secret.host);
    this.grant(image);
  }

  private needSecret(grant: CompiledGrant, host: string): void {
    const name = pullSecretName(grant.registry);
    const secret = this.secrets.get(name) ?? { name, account: grant.registry.account, region: grant.registry.region, hosts: new Set<string>(), roleArn: grant.roleArn };
    secret.hosts.add(host);
    this.secrets.set(name, secret);
  }

  private grant(image: Candidate): void {
    this.images.push({ path: image.path, container: image.container.name, from: image.from, to: image.to, granted: true, reason: undefined });
  }

  private deny(image: Candidate, detail: string, short: string): void {
    const { container, from, to } = image;
    const kind = container.section === 'containers' ? 'container' : container.section.replace(/s$/, '');
    const rewritten = to === from ? '' : ` (rewritten to ${quote(to)})`;
    const reason =
      `${kind} ${quote(container.name, 63)} image ${quote(from)}${rewritten} ${detail} ` +
      `(tenant ${quote(this.tenantName)}, namespace ${quote(this.input.namespace)})`;
    this.images.push({ path: image.path, container: container.name, from, to, granted: false, reason });
    this.reasons.push(reason);
    this.shortReasons.push(`${kind} ${quote(container.name, 40)}: ${short}`);
  }

  /**
   * What enforcement would have done, one warning per action, each at most 120 characters: the denials when it
   * would deny (nothing else would happen), otherwise the rewrites and pull secrets it would add.
   */
  dryRunWarnings(addPullSecrets: readonly string[]): string[] {
    if (this.shortReasons.length > 0) return this.shortReasons.map((short) => clip(`dry-run: would deny: ${short}`, WARNING_MAX));
    const rewrites = this.images.filter((i) => i.granted && i.to !== i.from).map((i) => `would rewrite ${quote(i.container, 40)} to ${i.to}`);
    return [
      ...rewrites,
      ...addPullSecrets.map((name) => `would add imagePullSecret ${name}`),
    ].map((w) => clip(`dry-run: ${w}`, WARNING_MAX));
  }
}

/**
 * What a tenant's policy says of one image, the same in every pod that names it: where it is rewritten to, and
 * whether it is granted (with the grant and host its pull secret is for) or why not. A denial's detail names the
 * tenant but not the container or namespace, which the caller adds.
 */
type ImageVerdict =
  | { readonly granted: true; readonly to: string; readonly secret: { readonly grant: CompiledGrant; readonly host: string } | undefined }
  | { readonly granted: false; readonly to: string; readonly detail: string; readonly short: string };

function refused(to: string, detail: string, short: string): ImageVerdict {
  return { granted: false, to, detail, short };
}

function judgeImage(tenant: CompiledTenant, image: unknown): ImageVerdict {
  const from = typeof image === 'string' ? image : describeValue(image);
  const parsed = parseImageReference(image);
  if (!parsed.ok) return refused(from, `is not a valid image reference: ${parsed.reason}`, 'invalid image reference');
  const rewrite = tenant.rewrites.find((r) => prefixCovers(r.from, parsed.ref));
  const target = rewrite === undefined ? parsed : parseImageReference(movePrefix(parsed.ref, rewrite.from, rewrite.to));
  if (!target.ok) return refused(from, `cannot be rewritten by ${rewrite!.at}: ${target.reason}`, 'rewrite gives an invalid reference');
  return judgeTarget(tenant, target.ref);
}

/**
 * The registry is judged by its host exactly as the image writes it, since that is what the kubelet pulls from and
 * matches pull secrets to: an ECR host in upper case, or one shaped like ECR but of no known form, is refused.
 */
function judgeTarget(tenant: CompiledTenant, ref: ImageReference): ImageVerdict {
  const to = ref.original;
  const host = classifyRegistryHost(hostAsWritten(ref.domain));
  if (host.kind === 'refused') return refused(to, `is not admitted: ${host.problem}`, host.short);
  if (host.kind === 'not-ecr') {
    if (tenant.nonEcrImages === 'allow') return { granted: true, to, secret: undefined };
    return refused(
      to,
      `is not in a private ECR registry, and tenant ${quote(tenant.name)} may pull only from ECR (nonEcrImages: deny)`,
      'image not in ECR (nonEcrImages: deny)',
    );
  }
  const grants = tenant.grantsByRegistry.get(registryOf(ref)) ?? [];
  const grant = grants.find((g) => g.globs.some((glob) => globCovers(glob, ref.path)));
  if (grant === undefined) return refused(to, noGrantDetail(tenant.name, ref, grants), `${ref.path} not granted`);
  // The kubelet matches pull secrets by host and port exactly as the image writes them (the host is lower case, as
  // checked above), so the secret is keyed by the domain as written, port and all (e.g. :443).
  return { granted: true, to, secret: { grant, host: ref.domain } };
}

function noGrantDetail(tenantName: string, ref: ImageReference, grants: readonly CompiledGrant[]): string {
  if (grants.length === 0) return `is not granted: tenant ${quote(tenantName)} has no grant for registry ${registryOf(ref)}`;
  const patterns = grants.flatMap((g) => g.globs.map((glob) => glob.source)).join(', ');
  return `is not granted: repository ${quote(ref.path)} matches none of tenant ${quote(tenantName)}'s patterns (${clip(patterns, 200)})`;
}

type Candidate = { readonly path: string; readonly container: ContainerView; readonly from: string; readonly to: string };
