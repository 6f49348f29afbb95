import { LRUCache } from 'lru-cache';
import { Budget, DeadlineError } from '../deadline.ts';
import { eachLimited } from '../limited.ts';
import type { EcrRegistry } from '../image/ecr-host.ts';
import { credentialIdentity, type TokenRequest } from '../credentials/registry-token.ts';
import { tokenRequest } from '../credentials/pull-secret-provisioner.ts';
import { quote } from '../text.ts';
import { ReadRate } from './read-rate.ts';
import { UNKNOWN, type Fact, type ImageQuestion, type RegistryFacts, type RegistryQuestion, type RepositoryTagsQuestion } from '../policy/registry-facts.ts';

/**
 * ECR read at admission with the tenant's role, answered from memory whenever it can be:
 *
 * | answer                                   | kept for                                                       |
 * |------------------------------------------|----------------------------------------------------------------|
 * | an image found by digest                 | digestTtlMs (long: what a digest names never changes)          |
 * | an image found by tag (its digest)       | mutableTtlMs (tags move); the digest is then kept as found too |
 * | a repository's tags                      | mutableTtlMs                                                   |
 * | not found (image or repository)          | missingTtlMs (briefly: replication lands any moment)           |
 * | an error (AWS, the session, the deadline)| errorTtlMs (a second: a burst during an outage makes one call) |
 *
 * Questions are keyed by the credential they are read with (role, external id, session tags, registry: the token
 * cache's key), so a tenant only ever sees what its own role was answered. Concurrent questions with one key share
 * one read (a thousand pods of one image cold make one DescribeImages). Entries are compact (a digest, a tag map of
 * at most 50 tags), the cache is bounded, and nothing of a pod is kept.
 */
export interface RegistryReader {
  /** The image's digest (by tag or digest), or undefined when it or its repository is not there; rejects on failure. */
  imageDigest(request: TokenRequest, registry: EcrRegistry, repository: string, reference: string, signal: AbortSignal): Promise<string | undefined>;
  /** The repository's tags, or undefined when it is not there; rejects on failure. */
  repositoryTags(request: TokenRequest, registry: EcrRegistry, repository: string, signal: AbortSignal): Promise<Readonly<Record<string, string>> | undefined>;
}

export type LookupKind = RegistryQuestion['kind'];
/**
 * hit: from memory, or joined a read already running; found / missing / error: the answer of a read this question
 * made; limited: not read, the tenant's reads a second were spent (ReadRate).
 */
export type LookupResult = 'hit' | 'found' | 'missing' | 'error' | 'limited';

export interface RegistryLookupsOptions {
  readonly reader: RegistryReader;
  /** STS DurationSeconds of tenant sessions: part of what a credential is (see tokenRequest). */
  readonly sessionSeconds: number;
  readonly maxEntries: number;
  readonly digestTtlMs: number;
  /** How long answers that can change are trusted: a tag's digest, a repository's tags. */
  readonly mutableTtlMs: number;
  readonly missingTtlMs: number;
  readonly errorTtlMs: number;
  /** One read (session included) at most; the admission's budget may cut it shorter. */
  readonly deadlineMs: number;
  /** Reads one tenant starts a second with each credential (ten seconds' worth at once); past it a read is RateLimited. */
  readonly readsPerSecond: number;
  readonly now: () => number;
  readonly onLookup?: (kind: LookupKind, result: LookupResult) => void;
}

type AnyFact = Fact<string> | Fact<Readonly<Record<string, string>>>;

interface Entry {
  readonly fact: AnyFact;
  readonly until: number;
}

export const REGISTRY_LOOKUPS = { maxEntries: 50_000, digestTtlMs: 24 * 60 * 60 * 1000, missingTtlMs: 10_000, errorTtlMs: 1000 };
/**
 * Reads one admission runs at once: a pod is a few images, but one of thousands of containers, each naming a tag of
 * its own, must not become thousands of concurrent AWS calls; what the budget leaves unread is a Timeout.
 */
export const READS_PER_ADMISSION = 8;
/**
 * Distinct reads one admission makes at most, over all its rounds: a pod asking more (thousands of containers each
 * naming a tag of its own) is denied rather than read on, or admitted unchecked by an onCredentialError: allow. What
 * was read is kept, so a retry (the ReplicaSet controller's) goes further; answers from memory are not counted.
 */
export const READ_LIMIT_PER_ADMISSION = 64;

export class RegistryLookups {
  readonly #options: RegistryLookupsOptions;
  readonly #cache: LRUCache<string, Entry>;
  readonly #reading = new Map<string, Promise<AnyFact>>();
  /**
   * The credential identity of each grant (a grant is one tenant's, with one role and registry), computed once per
   * policy generation rather than once per question: a compiled policy's grants are frozen objects that a reload
   * replaces, so the map forgets them with the policy.
   */
  readonly #identities = new WeakMap<object, string>();
  readonly #rate: ReadRate;

  constructor(options: RegistryLookupsOptions) {
    this.#options = options;
    this.#cache = new LRUCache({ max: options.maxEntries });
    this.#rate = new ReadRate(options.readsPerSecond, options.now);
  }

  /** One read's deadline: what a fetch waits at most, when the admission's budget leaves more. */
  get deadlineMs(): number {
    return this.#options.deadlineMs;
  }

  /** The facts of one admission: what it has read stays the same for it, however many times it decides. */
  forAdmission(): AdmissionFacts {
    return new AdmissionFacts(this);
  }

  /**
   * The cache key: the question's kind, the credential it is read with, the repository and the reference, one per
   * line. The identity is JSON (no raw line break), and a repository or reference from a parsed image reference holds
   * none either, so no two questions share a key.
   */
  keyOf(question: RegistryQuestion): string {
    return `${question.kind}\n${this.#identityOf(question)}\n${question.repository}\n${question.kind === 'image' ? question.reference : ''}`;
  }

  #identityOf(question: RegistryQuestion): string {
    let identity = this.#identities.get(question.grant);
    if (identity === undefined) {
      identity = credentialIdentity(this.#request(question));
      this.#identities.set(question.grant, identity);
    }
    return identity;
  }

  #request(question: RegistryQuestion): TokenRequest {
    return tokenRequest(question.tenant, question.grant.roleArn, question.grant.registry, this.#options.sessionSeconds);
  }

  /** What memory holds for the key, if it is still to be trusted. */
  peek(key: string): AnyFact | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (this.#options.now() < entry.until) return entry.fact;
    this.#cache.delete(key);
    return undefined;
  }

  /**
   * Reads the answer (or joins the read already running for the key, or takes what another admission has kept since
   * this one looked), counts it, and keeps it. A read past the tenant's rate is not made and its answer is not kept:
   * it is a closed RateLimited error, denied whatever onCredentialError says, since the tenant's own pods spent the
   * rate and must not switch its checks off by doing so.
   */
  read(key: string, question: RegistryQuestion): Promise<AnyFact> {
    const running = this.#reading.get(key);
    const kept = running === undefined ? this.peek(key) : undefined;
    if (running !== undefined || kept !== undefined) {
      this.#options.onLookup?.(question.kind, 'hit');
      return running ?? Promise.resolve(kept!);
    }
    // By tenant as well as credential: tenants sharing a role have a bucket each, so none spends another's reads.
    if (!this.#rate.take(`${question.tenant.name}\n${this.#identityOf(question)}`)) {
      this.#options.onLookup?.(question.kind, 'limited');
      const { perSecond, burst } = this.#rate.limits;
      return Promise.resolve({ state: 'error', code: 'RateLimited', message: `tenant ${quote(question.tenant.name)} started more than ${perSecond} ECR reads a second (${burst} at once); try again shortly`, closed: true });
    }
    const reading = this.#readNow(key, question).finally(() => this.#reading.delete(key));
    this.#reading.set(key, reading);
    return reading;
  }

  /** Called for an answer found in memory (AdmissionFacts counts each question once). */
  counted(kind: LookupKind): void {
    this.#options.onLookup?.(kind, 'hit');
  }

  async #readNow(key: string, question: RegistryQuestion): Promise<AnyFact> {
    const { reader, deadlineMs } = this.#options;
    const request = this.#request(question);
    const signal = AbortSignal.timeout(deadlineMs);
    let fact: AnyFact;
    try {
      const value =
        question.kind === 'image'
          ? await reader.imageDigest(request, question.grant.registry, question.repository, question.reference, signal)
          : await reader.repositoryTags(request, question.grant.registry, question.repository, signal);
      fact = value === undefined ? { state: 'missing' } : { state: 'found', value } as AnyFact;
    } catch (error) {
      const { code, message } = error as { code?: unknown; message: string };
      fact = { state: 'error', code: signal.aborted ? 'Timeout' : typeof code === 'string' ? code : 'Error', message: signal.aborted ? `no answer within ${deadlineMs} ms` : String(message) };
    }
    this.#options.onLookup?.(question.kind, fact.state as LookupResult);
    this.#keep(key, question, fact);
    return fact;
  }

  #keep(key: string, question: RegistryQuestion, fact: AnyFact): void {
    const { now, digestTtlMs, mutableTtlMs, missingTtlMs, errorTtlMs } = this.#options;
    const at = now();
    if (fact.state === 'found' && question.kind === 'image') {
      // What a tag points at moves; what a digest names never does, so the digest is kept as found, for long.
      const digestKey = this.keyOf({ ...question, reference: fact.value as string });
      this.#cache.set(digestKey, { fact, until: at + digestTtlMs });
      if (question.reference.includes(':')) return;
    }
    const ttl = fact.state === 'found' ? mutableTtlMs : fact.state === 'missing' ? missingTtlMs : errorTtlMs;
    this.#cache.set(key, { fact, until: at + ttl });
  }
}

/**
 * One admission's view of the lookups: each question is answered once (from memory or by a read) and then stays
 * answered the same, so deciding again after a fetch sees a consistent world, and each answer is counted once.
 */
export class AdmissionFacts implements RegistryFacts {
  readonly #lookups: RegistryLookups;
  readonly #answers = new Map<string, AnyFact>();
  #reads = 0;

  constructor(lookups: RegistryLookups) {
    this.#lookups = lookups;
  }

  image(question: ImageQuestion): Fact<string> {
    return this.#answer(question) as Fact<string>;
  }

  repositoryTags(question: RepositoryTagsQuestion): Fact<Readonly<Record<string, string>>> {
    return this.#answer(question) as Fact<Readonly<Record<string, string>>>;
  }

  #answer(question: RegistryQuestion): AnyFact {
    const key = this.#lookups.keyOf(question);
    const answered = this.#answers.get(key);
    if (answered !== undefined) return answered;
    const cached = this.#lookups.peek(key);
    if (cached === undefined) return UNKNOWN;
    this.#lookups.counted(question.kind);
    this.#answers.set(key, cached);
    return cached;
  }

  /**
   * Reads every question, together, within what is left of the admission's budget; a question without an answer
   * when the budget ends is answered with a Timeout error (its read goes on, and fills the cache for the next pod).
   */
  async fetch(questions: readonly RegistryQuestion[], budget: Budget): Promise<void> {
    const allowed = Math.max(0, READ_LIMIT_PER_ADMISSION - this.#reads);
    const keyed = questions.slice(0, allowed).map((question) => ({ question, key: this.#lookups.keyOf(question) }));
    this.#reads += keyed.length;
    if (questions.length > allowed) {
      const message = `the pod needs more than the ${READ_LIMIT_PER_ADMISSION} ECR reads one admission makes; what was read is kept, so a retry goes further`;
      for (const question of questions.slice(allowed)) this.#answers.set(this.#lookups.keyOf(question), { state: 'error', code: 'TooManyReads', message, closed: true });
    }
    let open = true;
    // A read that ends after the budget does not change what this admission was answered (its Timeout).
    const reads = eachLimited(keyed, READS_PER_ADMISSION, async ({ question, key }) => {
      const fact = await this.#lookups.read(key, question);
      if (!this.#answers.has(key)) this.#answers.set(key, fact);
    }, () => open);
    try {
      await budget.wait(reads, 'reading ECR', this.#lookups.deadlineMs);
    } catch (error) {
      const message = (error as DeadlineError).message;
      for (const { key } of keyed) if (!this.#answers.has(key)) this.#answers.set(key, { state: 'error', code: 'Timeout', message });
    } finally {
      open = false;
    }
  }
}
