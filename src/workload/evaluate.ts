import type { Operation } from 'fast-json-patch';
import pino from 'pino';
import { buildPatch } from '../admission/patch.ts';
import { credentialChain } from '../aws/credential-chain.ts';
import { Budget } from '../deadline.ts';
import { parseImageReference, registryOf, type ImageReference } from '../image/reference.ts';
import type { Labels } from '../kube/namespace-directory.ts';
import { eachLimited } from '../limited.ts';
import { createMetrics } from '../metrics.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import type { Decision, DecisionInput, ImageResult } from '../policy/decide.ts';
import type { ImageQuestion } from '../policy/registry-facts.ts';
import type { Mode } from '../policy/schema.ts';
import { decideReadingRegistry } from '../registry/decide-reading-registry.ts';
import type { RegistryLookups } from '../registry/registry-lookups.ts';
import { isPlainObject, podSpecPathOf, readPodSpec } from './pod-spec.ts';

/**
 * How `check` and `audit` learn what ECR says: not at all (offline, every fact unknown), or read with each tenant's
 * role through the very credential chain `serve` uses, so that what they report is what admission would decide.
 */
export interface RegistryReading {
  /** ECR read with the tenants' roles; undefined: nothing is read. */
  readonly lookups: RegistryLookups | undefined;
  /** How long the reads of one object may take together. */
  readonly budgetMs: number;
  /** Look for every rewritten image in its target, whatever the tenant's missingImage (DecisionInput.checkRewrites). */
  readonly checkRewrites: boolean;
}

export const OFFLINE: RegistryReading = Object.freeze({ lookups: undefined, budgetMs: 0, checkRewrites: false });

/**
 * `--aws`: serve's defaults for sessions and cached answers. A read may take 10 s (a command line can wait longer
 * than an admission), and one object's reads 30 s together, so a stalled AWS fails an object rather than the run.
 * One command reads for the operator who runs it, not for tenants competing for a quota: its rate is high enough
 * never to refuse a read of its own (the SDK's retries meet AWS's throttling).
 */
export const CLI_AWS = { sessionSeconds: 3600, refreshFraction: 0.5, deadlineMs: 10_000, registryCacheMs: 60_000, registryReadsPerSecond: 1000, objectBudgetMs: 30_000 } as const;

/** Objects decided at once: with ECR read, the reads of different objects overlap instead of queueing. */
export const DECISIONS_AT_ONCE = 8;

/** What an image granted only by repository tags is, without --aws: `check` and `audit` say it in these words. */
export const UNJUDGED = 'cannot be judged without AWS (pass --aws)';

/**
 * Runs `work` with the ECR reads `--aws` asks for (every rewritten image looked for in its target), or offline; the
 * AWS clients are closed afterwards, whatever happened, so a finished command never waits on an open connection.
 */
export async function withRegistryReads<T>(aws: boolean, work: (reading: RegistryReading) => Promise<T>): Promise<T> {
  if (!aws) return work(OFFLINE);
  const chain = credentialChain({ ...CLI_AWS, metrics: createMetrics(), log: pino({ level: 'silent' }) });
  try {
    return await work({ lookups: chain.registry, budgetMs: CLI_AWS.objectBudgetMs, checkRewrites: true });
  } finally {
    chain.destroy();
  }
}

/** The decision the webhook would make, reading ECR for what it needs when `reading` says so. */
export function decideObject(input: Omit<DecisionInput, 'facts' | 'checkRewrites'>, reading: RegistryReading): Promise<Decision> {
  return decideReadingRegistry({ ...input, checkRewrites: reading.checkRewrites }, reading.lookups, new Budget(reading.budgetMs));
}

/** Checks a tenant asks of ECR for an admitted image: is a rewritten one in its target; which digest is its tag. */
export type RegistryCheck = 'existence' | 'pinning';

/** A granted image whose checks were left undone because ECR was not read. */
export interface RegistryGap {
  readonly path: string;
  readonly image: string;
  readonly checks: readonly RegistryCheck[];
}

/** The reference a question names an image by, as decide asks it: its digest, else its tag, else `latest`. */
function referenceOf(image: string): { registry: string; path: string; reference: string } {
  // A granted image's reference parsed when it was judged, so it parses again.
  const { ref } = parseImageReference(image) as { ok: true; ref: ImageReference };
  return { registry: registryOf(ref), path: ref.path, reference: ref.digest ?? ref.tag ?? 'latest' };
}

/**
 * The granted images whose existence check or pinning is among the decision's open questions: asked, not answered.
 * With ECR read there are none; offline, these are what admission would have read (a rewrite looked up where the
 * tenant's missingImage is not allow, a tag where it pins digests), whatever else `--aws` looks up besides.
 */
export function registryGaps(decision: Decision): RegistryGap[] {
  // By registry, repository and reference (a grant is of the registry its images are matched by), so that
  // thousands of images are matched in linear time; set from the last, so the first question asked of a key is kept.
  const asked = new Map(
    decision.open
      .filter((q): q is ImageQuestion => q.kind === 'image')
      .reverse()
      .map((q) => [`${q.grant.registry.host}\n${q.repository}\n${q.reference}`, q]),
  );
  if (asked.size === 0) return [];
  const gaps: RegistryGap[] = [];
  for (const image of decision.images.filter((i) => i.granted)) {
    const { registry, path, reference } = referenceOf(image.to);
    const question = asked.get(`${registry}\n${path}\n${reference}`);
    if (question === undefined) continue;
    const checks: RegistryCheck[] = [];
    if (image.to !== image.from && question.tenant.missingImage !== 'allow') checks.push('existence');
    if (question.tenant.pinDigests && !reference.includes(':')) checks.push('pinning');
    if (checks.length > 0) gaps.push({ path: image.path, image: image.to, checks });
  }
  return gaps;
}

/**
 * A decision's refusals, split: those that stand whatever ECR says, and the images refused only because a grant by
 * repository tags was not judged (ECR not read), which are neither granted nor denied.
 */
export function splitRefusals(decision: Decision): { readonly reasons: readonly string[]; readonly unjudged: readonly ImageResult[] } {
  const unjudged = decision.images.filter((i) => !i.granted && i.unjudged);
  const theirs = new Set(unjudged.map((i) => i.reason));
  return { reasons: decision.reasons.filter((reason) => !theirs.has(reason)), unjudged };
}

/** Whether pinning is all that changed an image (a tag pinned where it is pulled from, without a rewrite). */
export function pinnedOnly(image: ImageResult): boolean {
  return image.pinned !== undefined && (image.to === `${image.from}@${image.pinned}` || image.to === `${image.from}:latest@${image.pinned}`);
}

export interface ImageOutcome {
  readonly path: string;
  readonly from: string;
  readonly to: string;
  readonly granted: boolean;
  /** Refused only because a tag-based grant could not be judged without reading ECR. */
  readonly unjudged: boolean;
  /** ECR says `to` is not in its registry (admitted anyway, by the tenant's missingImage: allow). */
  readonly missing: boolean;
  /** The digest `to` was pinned to. */
  readonly pinned: string | null;
}

/** One object judged as if its pods were admitted now: what `check` prints. */
export interface ObjectResult {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly tenant: string | null;
  readonly mode: Mode;
  readonly allowed: boolean;
  readonly images: readonly ImageOutcome[];
  readonly imagePullSecrets: readonly string[];
  readonly patch: readonly Operation[];
  /** Refusals that stand whatever ECR says. */
  readonly reasons: readonly string[];
  /** Refusals of images granted only by repository tags, which were not read: neither granted nor denied. */
  readonly unjudged: readonly string[];
  readonly warnings: readonly string[];
  /** What the tenant asks of ECR that was not done because ECR was not read. */
  readonly notChecked: readonly RegistryCheck[];
}

export type Evaluation = { readonly ok: true; readonly result: ObjectResult } | { readonly ok: false; readonly problem: string };

export function kindOf(object: unknown): string | undefined {
  return isPlainObject(object) && typeof object.kind === 'string' ? object.kind : undefined;
}

export function metadataOf(object: unknown): { name: string; namespace: string | undefined } {
  const metadata = isPlainObject(object) && isPlainObject(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '';
  return { name, namespace: typeof metadata.namespace === 'string' ? metadata.namespace : undefined };
}

export async function evaluateObject(object: unknown, namespace: string, labels: Labels | undefined, policy: CompiledPolicy, reading: RegistryReading = OFFLINE): Promise<Evaluation> {
  const kind = kindOf(object) ?? '';
  const at = podSpecPathOf(kind);
  if (at === undefined) return { ok: false, problem: `kind ${JSON.stringify(kind)} has no pod template` };
  const pod = readPodSpec(object, at);
  if (!pod.ok) return { ok: false, problem: pod.problem };
  const decision = await decideObject({ pod: pod.view, namespace, namespaceLabels: labels, policy }, reading);
  const { reasons, unjudged } = splitRefusals(decision);
  const notChecked = new Set(registryGaps(decision).flatMap((gap) => gap.checks));
  return {
    ok: true,
    result: {
      kind,
      name: metadataOf(object).name,
      namespace,
      tenant: decision.tenant ?? null,
      mode: decision.mode,
      allowed: decision.allowed,
      images: decision.images.map(({ path, from, to, granted, unjudged, missing, pinned }) => ({ path, from, to, granted, unjudged, missing, pinned: pinned ?? null })),
      imagePullSecrets: decision.imagePullSecrets,
      patch: decision.allowed ? buildPatch(object, pod.view, decision.changes) : [],
      reasons,
      unjudged: unjudged.map((i) => i.reason!),
      warnings: decision.warnings,
      notChecked: (['existence', 'pinning'] as const).filter((check) => notChecked.has(check)),
    },
  };
}

/**
 * `work` over every item, DECISIONS_AT_ONCE at a time, with the answers in the items' order: what is reported, and
 * the first problem found, do not depend on which read came back first.
 */
export async function inOrder<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  await eachLimited(items, DECISIONS_AT_ONCE, async (item, index) => {
    results[index] = await work(item);
  });
  return results;
}
