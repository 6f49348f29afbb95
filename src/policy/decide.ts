import { LRUCache } from 'lru-cache';
import { classifyRegistryHost, type EcrRegistry } from '../image/ecr-host.ts';
import { movePrefix, prefixCovers } from '../image/registry-prefix.ts';
import { hostAsWritten, parseImageReference, registryOf, type ImageReference } from '../image/reference.ts';
import { MODE_LABEL, PULL_SECRET_PREFIX, TENANT_LABEL } from '../labels.ts';
import { clip, describeValue, formatPath, quote } from '../text.ts';
import { imageFieldOf, type ContainerView, type PodSpecView } from '../workload/pod-spec.ts';
import type { CompiledGrant, CompiledPolicy, CompiledTenant } from './compile.ts';
import { NO_FACTS, tagsHold, type Fact, type ImageQuestion, type RegistryFacts, type RegistryQuestion } from './registry-facts.ts';
import { Doorkeeper } from './doorkeeper.ts';
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
 *
 * With ECR read at admission (RegistryFacts; offline every fact is unknown and the question stays open):
 *
 * | image (granted, in ECR)                   | fact       | result                                            |
 * |-------------------------------------------|------------|---------------------------------------------------|
 * | granted by repositoryTags only            | tags hold  | granted                                           |
 * |                                           | tags differ, repository missing | not granted, the tags named  |
 * |                                           | error      | not granted, naming the failure (never assumed)   |
 * |                                           | unknown    | not granted, unjudged (the question stays open)   |
 * | rewritten, missingImage deny              | missing    | denied: not found, replication may be in progress |
 * | rewritten, missingImage keep-source       | missing    | the original kept when granted, else denied       |
 * | rewritten, missingImage allow             | (not read) | admitted as today                                 |
 * |   … read anyway by check/audit --aws      | error      | admitted, noted as not looked up (not a refusal)  |
 * | pinDigests, tag without digest            | found      | repo:tag@digest                                   |
 * |                                           | missing    | admitted unpinned, with a warning                 |
 * | any read                                  | error      | onCredentialError: deny, or admit with a warning  |
 * | a read past what one admission reads      | error      | denied, whatever onCredentialError says           |
 *
 * The existence check and pinning are for pods only: a workload's template (validated, never patched) is judged on
 * its grants, tag-based ones included, and its pods are checked and pinned when they are created.
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
  /** The digest `to` was pinned to, when it was. */
  readonly pinned: string | undefined;
  /** Not granted only because a fact it needs is not known (a tag-based grant offline). */
  readonly unjudged: boolean;
  /** ECR says `to` is not there (a rewritten image not replicated yet, or a tag to pin that does not exist). */
  readonly missing: boolean;
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
  /** Questions to ECR left unanswered: the caller may look them up and decide again. */
  readonly open: readonly RegistryQuestion[];
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
  /** What is known of ECR; absent, nothing is (offline). */
  readonly facts?: RegistryFacts | undefined;
  /**
   * Ask whether every rewritten image is in its target, whatever the tenant's missingImage (audit): a missing one
   * is marked `missing`, and decided by missingImage as always.
   */
  readonly checkRewrites?: boolean | undefined;
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
  const warnings = [...(warning === undefined ? [] : [warning]), ...(enforce ? judge.notes : judge.dryRunWarnings(base.addPullSecrets))];
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
    open: judge.lookup.open,
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
    open: [],
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
  readonly lookup: Lookup;
  /** What an admitted pod's author should know (a kept original, an unpinned tag), each at most 120 characters. */
  readonly notes: string[] = [];

  constructor(input: DecisionInput, tenantName: string, tenant: CompiledTenant | undefined) {
    this.input = input;
    this.tenantName = tenantName;
    this.tenant = tenant;
    this.imagesBefore = input.before === undefined ? undefined : imagesByContainer(input.before);
    this.lookup = { facts: input.facts ?? NO_FACTS, open: [], asked: new Set(), podChecks: input.template !== true, checkRewrites: input.checkRewrites === true, consulted: 0 };
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
    const verdict = rememberedVerdict(this.input.policy, tenant, container.image, this.lookup);
    const image: Candidate = { path, container, from, to: verdict.to };
    if (verdict.to !== from) this.changes.push({ container, image: verdict.to });
    if (!verdict.granted) return this.deny(image, verdict.detail, verdict.short, verdict.unjudged);
    if (verdict.secret !== undefined) this.needSecret(verdict.secret.grant, verdict.secret.host);
    for (const note of verdict.notes) this.notes.push(clip(`${quote(container.name, 40)}: ${note}`, WARNING_MAX));
    this.grant(image, verdict);
  }

  private needSecret(grant: CompiledGrant, host: string): void {
    const name = pullSecretName(grant.registry);
    const secret = this.secrets.get(name) ?? { name, account: grant.registry.account, region: grant.registry.region, hosts: new Set<string>(), roleArn: grant.roleArn };
    secret.hosts.add(host);
    this.secrets.set(name, secret);
  }

  private grant(image: Candidate, verdict: Granted): void {
    const { path, container, from, to } = image;
    this.images.push({ path, container: container.name, from, to, granted: true, reason: undefined, pinned: verdict.pinned, unjudged: false, missing: verdict.missing === true });
  }

  private deny(image: Candidate, detail: string, short: string, unjudged: boolean): void {
    const { container, from, to } = image;
    const kind = container.section === 'containers' ? 'container' : container.section.replace(/s$/, '');
    const rewritten = to === from ? '' : ` (rewritten to ${quote(to)})`;
    const reason =
      `${kind} ${quote(container.name, 63)} image ${quote(from)}${rewritten} ${detail} ` +
      `(tenant ${quote(this.tenantName)}, namespace ${quote(this.input.namespace)})`;
    this.images.push({ path: image.path, container: container.name, from, to, granted: false, reason, pinned: undefined, unjudged, missing: false });
    this.reasons.push(reason);
    this.shortReasons.push(`${kind} ${quote(container.name, 40)}: ${short}`);
  }

  /**
   * What enforcement would have done, one warning per action, each at most 120 characters: the denials when it
   * would deny (nothing else would happen), otherwise the rewrites and pull secrets it would add.
   */
  dryRunWarnings(addPullSecrets: readonly string[]): string[] {
    if (this.shortReasons.length > 0) return this.shortReasons.map((short) => clip(`dry-run: would deny: ${short}`, WARNING_MAX));
    const rewrites = this.images.filter((i) => i.granted && i.to !== i.from).map((i) => `would ${wouldDo(i)}`);
    return [
      ...rewrites,
      ...addPullSecrets.map((name) => `would add imagePullSecret ${name}`),
      ...this.notes,
    ].map((w) => clip(`dry-run: ${w}`, WARNING_MAX));
  }
}

/** A dry-run line for an image enforcement would change: a pin alone, or a rewrite (with its pin, if any). */
function wouldDo(image: ImageResult): string {
  const pinnedOnly = image.pinned !== undefined && image.to === `${image.from}@${image.pinned}`;
  return pinnedOnly ? `pin ${quote(image.container, 40)} to ${image.pinned}` : `rewrite ${quote(image.container, 40)} to ${image.to}`;
}

/**
 * What a tenant's policy says of one image, the same in every pod that names it: where it is rewritten to, and
 * whether it is granted (with the grant and host its pull secret is for, a digest it was pinned to, and what the
 * pod's author should know) or why not. A denial's detail names the tenant but not the container or namespace,
 * which the caller adds.
 */
type Granted = {
  readonly granted: true;
  readonly to: string;
  readonly secret: { readonly grant: CompiledGrant; readonly host: string } | undefined;
  readonly pinned?: string | undefined;
  readonly missing?: boolean | undefined;
  readonly notes: readonly string[];
};
type Refused = { readonly granted: false; readonly to: string; readonly detail: string; readonly short: string; readonly unjudged: boolean };
type ImageVerdict = Granted | Refused;

function refused(to: string, detail: string, short: string, unjudged = false): Refused {
  return { granted: false, to, detail, short, unjudged };
}

/** The facts one pod's decision reads, and the questions it leaves open for the caller to look up. */
interface Lookup {
  readonly facts: RegistryFacts;
  readonly open: RegistryQuestion[];
  /** questionKey of each open question: a pod of thousands of images is collected in linear time. */
  readonly asked: Set<string>;
  /** False for a workload's template: no existence check or pinning (see the table above). */
  readonly podChecks: boolean;
  /** Check rewritten images exist even under missingImage: allow (DecisionInput.checkRewrites). */
  readonly checkRewrites: boolean;
  /** How many facts were asked for: a verdict that asked none depends on the tenant and the image alone. */
  consulted: number;
}

/** Longest image remembered; a longer one (no real image is) is judged every time. */
const MAX_REMEMBERED_IMAGE_CHARS = 512;
/** What one policy's remembered verdicts may hold, in characters of their keys and texts (a few times that in bytes). */
const REMEMBERED_CHARS = 2 * 1024 * 1024;

/**
 * Verdicts remembered per policy (a reload compiles a new policy, so nothing outlives the policy it was judged by):
 * replicas of one Deployment, and the sidecar every pod carries, name the same images again and again. Only a
 * verdict that read no fact about ECR is kept, since facts change; only from an image's second sighting, so one-off
 * images do not churn the cache (doorkeeper.ts); and bounded by the characters it holds, since tenants choose the
 * images.
 */
const rememberedVerdicts = new WeakMap<CompiledPolicy, { readonly verdicts: LRUCache<string, ImageVerdict>; readonly seen: Doorkeeper }>();

function verdictChars(verdict: ImageVerdict, key: string): number {
  const texts = verdict.granted ? verdict.notes.reduce((n, note) => n + note.length, 0) : verdict.detail.length + verdict.short.length;
  return key.length + verdict.to.length + texts + 64;
}

function rememberedVerdict(policy: CompiledPolicy, tenant: CompiledTenant, image: unknown, lookup: Lookup): ImageVerdict {
  if (typeof image !== 'string' || image.length > MAX_REMEMBERED_IMAGE_CHARS) return judgeImage(tenant, image, lookup);
  let remembered = rememberedVerdicts.get(policy);
  if (remembered === undefined) rememberedVerdicts.set(policy, (remembered = { verdicts: new LRUCache({ maxSize: REMEMBERED_CHARS, sizeCalculation: verdictChars }), seen: new Doorkeeper() }));
  // Whether the pod is checked in ECR changes what a verdict may hold, so it is part of the key; within one policy
  // a tenant is known by its name, which holds no line break.
  const key = `${lookup.podChecks ? 'pod' : 'template'}${lookup.checkRewrites ? '+rewrites' : ''}\n${tenant.name}\n${image}`;
  const hit = remembered.verdicts.get(key);
  if (hit !== undefined) return hit;
  const before = lookup.consulted;
  const verdict = judgeImage(tenant, image, lookup);
  if (lookup.consulted === before && remembered.seen.seenBefore(key)) remembered.verdicts.set(key, verdict);
  return verdict;
}

/** The fact, noting the question when it is not known yet (once, however many containers ask it). */
function known<T>(lookup: Lookup, question: RegistryQuestion, fact: Fact<T>): Fact<T> {
  lookup.consulted++;
  if (fact.state !== 'unknown') return fact;
  const key = questionKey(question);
  if (!lookup.asked.has(key)) {
    lookup.asked.add(key);
    lookup.open.push(question);
  }
  return fact;
}

/**
 * One question of one decision: a decision is of one tenant, whose grants are told apart by where they are written;
 * a repository name and a reference hold no line break.
 */
function questionKey(question: RegistryQuestion): string {
  return `${question.kind}\n${question.grant.at}\n${question.repository}\n${question.kind === 'image' ? question.reference : ''}`;
}

function judgeImage(tenant: CompiledTenant, image: unknown, lookup: Lookup): ImageVerdict {
  const from = typeof image === 'string' ? image : describeValue(image);
  const parsed = parseImageReference(image);
  if (!parsed.ok) return refused(from, `is not a valid image reference: ${parsed.reason}`, 'invalid image reference');
  const rewrite = tenant.rewrites.find((r) => prefixCovers(r.from, parsed.ref));
  const target = rewrite === undefined ? parsed : parseImageReference(movePrefix(parsed.ref, rewrite.from, rewrite.to));
  if (!target.ok) return refused(from, `cannot be rewritten by ${rewrite!.at}: ${target.reason}`, 'rewrite gives an invalid reference');
  const verdict = judgeTarget(tenant, target.ref, lookup);
  if (!verdict.granted || verdict.secret === undefined || !lookup.podChecks) return verdict;
  const source = target.ref.original === from ? undefined : parsed.ref;
  return checkInRegistry(tenant, verdict, target.ref, source, lookup);
}

/** The tag an image is pulled by: its own, or `latest` when it names neither tag nor digest. */
function tagOf(ref: ImageReference): string {
  return ref.tag ?? 'latest';
}

function imageQuestion(tenant: CompiledTenant, grant: CompiledGrant, ref: ImageReference): ImageQuestion {
  return { kind: 'image', tenant, grant, repository: ref.path, reference: ref.digest ?? tagOf(ref) };
}

/**
 * `repo:tag@digest`: the tag stays for people (an image that named none gets `latest`, which is what it pulled),
 * the digest is what the kubelet pulls, and a reference with a digest is never pinned again.
 */
function pinnedReference(ref: ImageReference, digest: string): string {
  return ref.tag === undefined ? `${ref.original}:latest@${digest}` : `${ref.original}@${digest}`;
}

/**
 * What ECR says of a granted image in the registry it will be pulled from: whether a rewritten one is there (the
 * tenant's missingImage), and the digest its tag is pinned to (pinDigests).
 */
function checkInRegistry(tenant: CompiledTenant, verdict: Granted, ref: ImageReference, source: ImageReference | undefined, lookup: Lookup): ImageVerdict {
  // Only a rewritten image is checked: one pulled as written fails the same way with or without this webhook.
  const checkExists = source !== undefined && (tenant.missingImage !== 'allow' || lookup.checkRewrites);
  const pin = tenant.pinDigests && ref.digest === undefined;
  if (!checkExists && !pin) return verdict;
  const { grant } = verdict.secret!;
  const question = imageQuestion(tenant, grant, ref);
  const fact = known(lookup, question, lookup.facts.image(question));
  // Warnings are at most 120 characters: the registry by account and region, not by its long host name.
  const image = `${clip(ref.path, 40)}:${clip(question.reference, 20)}`;
  const registry = `${grant.registry.account} ${grant.registry.region}`;
  switch (fact.state) {
    case 'unknown':
      return verdict;
    case 'found':
      return pin ? { ...verdict, to: pinnedReference(ref, fact.value), pinned: fact.value } : verdict;
    case 'error':
      // Looked for only because check or audit asks (missingImage: allow, no pinning): admission would not have read
      // it, so a failed read is a gap to report, not a refusal.
      if (!pin && tenant.missingImage === 'allow') return { ...verdict, notes: [...verdict.notes, `not looked up in ECR (${fact.code})`] };
      return lookupFailed(tenant, verdict, `reading ${ref.path}:${question.reference} in ${registryOf(ref)}`, fact);
    case 'missing':
      if (!checkExists) return { ...verdict, missing: true, notes: [...verdict.notes, `not pinned: ${image} not found in ${registry}`] };
      if (tenant.missingImage === 'allow') return { ...verdict, missing: true, notes: [...verdict.notes, `${image} not in ${registry} yet (missingImage: allow)`] };
      return missingTarget(tenant, ref, `${image} not in ${registry} yet`, source!, lookup);
  }
}

/** A rewritten image that is not in its target registry, by the tenant's missingImage (deny or keep-source). */
function missingTarget(tenant: CompiledTenant, ref: ImageReference, short: string, source: ImageReference, lookup: Lookup): ImageVerdict {
  const where = `is not in registry ${registryOf(ref)}: not found — replication may still be in progress`;
  if (tenant.missingImage === 'deny') return refused(ref.original, `${where}; try again once it is there (missingImage: deny)`, short);
  const kept = judgeTarget(tenant, source, lookup);
  if (!kept.granted) return refused(ref.original, `${where}, and the original ${quote(source.original)} cannot be kept: it ${kept.detail} (missingImage: keep-source)`, short, kept.unjudged);
  const note = `kept the original: ${short}`;
  const original = { ...kept, notes: [...kept.notes, note] };
  // The original is pulled as written, so it is only pinned, never checked for existence.
  return original.secret === undefined ? original : checkInRegistry(tenant, original, source, undefined, lookup);
}

/**
 * A read that failed: the tenant's onCredentialError denies, or admits with a warning (unchecked, unpinned). A read
 * refused because the pod asked too many (closed) is denied whatever onCredentialError says: the pod's shape, which
 * its author chose, must not turn checks off.
 */
function lookupFailed(tenant: CompiledTenant, verdict: Granted, what: string, fact: { readonly code: string; readonly message: string; readonly closed?: true }): ImageVerdict {
  if (fact.closed === true) return refused(verdict.to, `cannot be checked: ${clip(fact.message, 300)}`, `ECR read refused (${fact.code})`);
  if (tenant.onCredentialError === 'allow') return { ...verdict, notes: [...verdict.notes, `not checked in ECR (${fact.code}); admitted by onCredentialError: allow`] };
  return refused(verdict.to, `cannot be checked: ${what} with the tenant's role failed: ${clip(fact.message, 300)} (onCredentialError: deny)`, `ECR read failed (${fact.code})`);
}

/**
 * The registry is judged by its host exactly as the image writes it, since that is what the kubelet pulls from and
 * matches pull secrets to: an ECR host in upper case, or one shaped like ECR but of no known form, is refused.
 */
function judgeTarget(tenant: CompiledTenant, ref: ImageReference, lookup: Lookup): ImageVerdict {
  const to = ref.original;
  const host = classifyRegistryHost(hostAsWritten(ref.domain));
  if (host.kind === 'refused') return refused(to, `is not admitted: ${host.problem}`, host.short);
  if (host.kind === 'not-ecr') {
    if (tenant.nonEcrImages === 'allow') return { granted: true, to, secret: undefined, notes: [] };
    return refused(
      to,
      `is not in a private ECR registry, and tenant ${quote(tenant.name)} may pull only from ECR (nonEcrImages: deny)`,
      'image not in ECR (nonEcrImages: deny)',
    );
  }
  const grants = tenant.grantsByRegistry.get(registryOf(ref)) ?? [];
  const matching = grants.filter((g) => g.globs.some((glob) => globCovers(glob, ref.path)));
  // A grant by globs alone needs no lookup, so it is tried before any grant that reads the repository's tags.
  const plain = matching.find((g) => g.repositoryTags === undefined);
  // The kubelet matches pull secrets by host and port exactly as the image writes them (the host is lower case, as
  // checked above), so the secret is keyed by the domain as written, port and all (e.g. :443).
  const granted = (grant: CompiledGrant, notes: readonly string[] = []): Granted => ({ granted: true, to, secret: { grant, host: ref.domain }, notes });
  if (plain !== undefined) return granted(plain);
  if (matching.length === 0) return refused(to, noGrantDetail(tenant.name, ref, grants), `${ref.path} not granted`);
  // Grants of one registry share its role (compile.ts), so one read of the repository's tags serves them all.
  const question = { kind: 'repository-tags' as const, tenant, grant: matching[0]!, repository: ref.path };
  const fact = known(lookup, question, lookup.facts.repositoryTags(question));
  const wanted = matching.map((g) => formatTags(g.repositoryTags!)).join('; ');
  switch (fact.state) {
    case 'unknown':
      return refused(to, `is granted only by repository tags (${clip(wanted, 200)}), which cannot be judged without reading ECR`, 'tag-based grant not judged', true);
    case 'error':
      // Never granted on a failed read, whatever onCredentialError says: a tenant can make the read fail (throttling,
      // AccessDenied on a repository of another account, the admission's read budget), so a failure that granted
      // would grant every repository the globs match.
      return refused(
        to,
        `is granted only by repository tags (${clip(wanted, 200)}), and reading the tags of repository ${quote(ref.path)} in ${registryOf(ref)} with the tenant's role failed: ${clip(fact.message, 300)}; a tag grant is never assumed on a failed read (onCredentialError does not apply)`,
        `repository tags unread (${fact.code})`,
      );
    case 'missing':
      return refused(to, `is not granted: repository ${quote(ref.path)} is not in ${registryOf(ref)}, so it carries none of the tags tenant ${quote(tenant.name)}'s grants ask for (${clip(wanted, 200)})`, `${ref.path} not granted (no repository)`);
    case 'found': {
      const grant = matching.find((g) => tagsHold(g.repositoryTags!, fact.value));
      if (grant !== undefined) return granted(grant);
      return refused(to, `is not granted: repository ${quote(ref.path)} does not carry the tags tenant ${quote(tenant.name)}'s grants ask for (${clip(wanted, 200)})`, `${ref.path} not granted (repository tags)`);
    }
  }
}

function formatTags(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags).map(([key, value]) => `${key}=${value}`).join(',');
}

function noGrantDetail(tenantName: string, ref: ImageReference, grants: readonly CompiledGrant[]): string {
  if (grants.length === 0) return `is not granted: tenant ${quote(tenantName)} has no grant for registry ${registryOf(ref)}`;
  const patterns = grants.flatMap((g) => g.globs.map((glob) => glob.source)).join(', ');
  return `is not granted: repository ${quote(ref.path)} matches none of tenant ${quote(tenantName)}'s patterns (${clip(patterns, 200)})`;
}

type Candidate = { readonly path: string; readonly container: ContainerView; readonly from: string; readonly to: string };
