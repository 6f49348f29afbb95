import type { CompiledGrant, CompiledTenant } from './compile.ts';

/**
 * What the decision core may ask of ECR, and how it is answered, without any I/O: the admission handler answers
 * from a cache and looks up what is missing with the tenant's role, `check` and `audit` offline answer nothing.
 *
 * A question names the tenant and the grant it is asked under: the answer is what that tenant's role sees (its
 * session, its permissions), so two tenants never share an answer unless they would mint the very same credential.
 */
export interface ImageQuestion {
  readonly kind: 'image';
  readonly tenant: CompiledTenant;
  /** The grant (registry, role) the image is pulled under. */
  readonly grant: CompiledGrant;
  readonly repository: string;
  /** A tag, or a digest (`sha256:…`). */
  readonly reference: string;
}

export interface RepositoryTagsQuestion {
  readonly kind: 'repository-tags';
  readonly tenant: CompiledTenant;
  readonly grant: CompiledGrant;
  readonly repository: string;
}

export type RegistryQuestion = ImageQuestion | RepositoryTagsQuestion;

/**
 * found: the image's digest, or the repository's tags; missing: no such image (or repository); error: AWS or the
 * session failed, by code, or (closed) the pod asked more than one admission reads, which no onCredentialError
 * admits past; unknown: not looked up (yet, or at all offline).
 */
export type Fact<T> =
  | { readonly state: 'found'; readonly value: T }
  | { readonly state: 'missing' }
  | { readonly state: 'error'; readonly code: string; readonly message: string; readonly closed?: true }
  | { readonly state: 'unknown' };

export type ImageFact = Fact<string>;
export type TagsFact = Fact<Readonly<Record<string, string>>>;

export interface RegistryFacts {
  image(question: ImageQuestion): ImageFact;
  repositoryTags(question: RepositoryTagsQuestion): TagsFact;
}

export const UNKNOWN: { readonly state: 'unknown' } = Object.freeze({ state: 'unknown' });

/** Offline: nothing is known, every question stays open. */
export const NO_FACTS: RegistryFacts = Object.freeze({ image: () => UNKNOWN, repositoryTags: () => UNKNOWN });

/**
 * Whether a repository's tags include every tag a grant asks for, with the same value (ECR tags are case-sensitive).
 * Keys are compared exactly, which is stricter than IAM (it matches aws:ResourceTag keys without case): a repository
 * tagged `team=Payments` is refused for a grant asking `Team: Payments` though IAM would let the role pull it, so the
 * webhook never grants what IAM refuses. A grant's keys never differ only in case (schema.ts).
 */
export function tagsHold(wanted: Readonly<Record<string, string>>, carried: Readonly<Record<string, string>>): boolean {
  return Object.entries(wanted).every(([key, value]) => Object.hasOwn(carried, key) && carried[key] === value);
}
