import { DOMAIN, TENANT_LABEL } from '../labels.ts';
import type { RegistryToken } from './registry-token.ts';

/**
 * The pull Secret the webhook manages for one ECR registry in one namespace, and the rules for touching one that
 * exists (pure: no I/O). `kubernetes.io/dockerconfigjson` with `auths` keyed by every host form the namespace's
 * pods use, user `AWS`, labelled as the webhook's with its tenant, annotated with its expiry.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ecr-tenant-webhook';
export const EXPIRES_ANNOTATION = `${DOMAIN}/expires-at`;
export const DOCKER_CONFIG_KEY = '.dockerconfigjson';

export interface SecretObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly type?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>>; readonly resourceVersion?: string };
  readonly data?: Readonly<Record<string, string>>;
}

/** A Secret about to be written: it always names itself. */
export type WritableSecret = SecretObject & { readonly metadata: { readonly name: string; readonly namespace: string } };

export interface PullSecretSpec {
  readonly name: string;
  readonly namespace: string;
  readonly tenant: string;
  readonly hosts: readonly string[];
}

export function buildPullSecret(spec: PullSecretSpec, token: RegistryToken): WritableSecret {
  const auth = Buffer.from(`${token.username}:${token.password}`).toString('base64');
  const auths = Object.fromEntries([...spec.hosts].sort().map((host) => [host, { username: token.username, password: token.password, auth }]));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [TENANT_LABEL]: spec.tenant },
      annotations: { [EXPIRES_ANNOTATION]: token.expiresAt.toISOString() },
    },
    data: { [DOCKER_CONFIG_KEY]: Buffer.from(JSON.stringify({ auths })).toString('base64') },
  };
}

export function isManaged(secret: SecretObject): boolean {
  return secret.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
}

/** The expiry a managed Secret declares; undefined when missing or unreadable (treated as expired). */
export function expiryOf(secret: SecretObject): Date | undefined {
  const text = secret.metadata?.annotations?.[EXPIRES_ANNOTATION];
  const time = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(time) ? undefined : new Date(time);
}

/**
 * Hosts decoded from a Secret's data, remembered per Secret object. Every admission judges the stored Secret of its
 * namespace, and decoding it each time was a tenth of an admission's CPU; a store hands out the same object until
 * the Secret changes, and the encoded text is compared so an object changed in place is decoded again.
 */
const decodedHosts = new WeakMap<SecretObject, { readonly encoded: string; readonly hosts: readonly string[] }>();

function decodeHosts(encoded: string): readonly string[] {
  try {
    const config = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as { auths?: Record<string, unknown> };
    return Object.freeze(Object.keys(config.auths ?? {}));
  } catch {
    return [];
  }
}

/** The registry hosts a Secret holds credentials for. */
export function hostsOf(secret: SecretObject): readonly string[] {
  const encoded = secret.data?.[DOCKER_CONFIG_KEY];
  if (encoded === undefined) return [];
  const known = decodedHosts.get(secret);
  if (known !== undefined && known.encoded === encoded) return known.hosts;
  const hosts = decodeHosts(encoded);
  decodedHosts.set(secret, { encoded, hosts });
  return hosts;
}

export type SecretVerdict =
  /** Nothing to write: it is ours, holds every host, and stays valid long enough. */
  | { readonly action: 'keep' }
  | { readonly action: 'create' }
  /** Rewrite it, with these hosts (the union, so other pods' host forms keep working). */
  | { readonly action: 'update'; readonly hosts: readonly string[]; readonly why: string }
  /** A Secret of that name that the webhook does not manage: never overwritten. */
  | { readonly action: 'conflict' };

/** What to do about the Secret a pod needs, given what exists; `freshUntil` is the earliest acceptable expiry. */
export function judgeExisting(existing: SecretObject | undefined, spec: PullSecretSpec, freshUntil: Date): SecretVerdict {
  if (existing === undefined) return { action: 'create' };
  if (!isManaged(existing)) return { action: 'conflict' };
  const held = hostsOf(existing);
  const expiry = expiryOf(existing);
  const expiresTooSoon = expiry === undefined || expiry < freshUntil;
  const missesAHost = spec.hosts.some((host) => !held.includes(host));
  if (!expiresTooSoon && !missesAHost) return { action: 'keep' };
  const hosts = [...new Set([...held, ...spec.hosts])].sort();
  return { action: 'update', hosts, why: expiresTooSoon ? 'expires too soon' : 'a host is missing' };
}

/**
 * A write may replace what is stored only with a credential that lasts longer (or adds hosts): a slower replica or
 * a failed mint must never put an older or emptier Secret over a better one.
 */
export function isImprovement(stored: SecretObject, candidate: SecretObject): boolean {
  if (!isManaged(stored)) return false;
  const storedExpiry = expiryOf(stored)?.getTime() ?? 0;
  const candidateExpiry = expiryOf(candidate)?.getTime() ?? 0;
  const newHosts = hostsOf(candidate).some((host) => !hostsOf(stored).includes(host));
  return candidateExpiry > storedExpiry || (candidateExpiry === storedExpiry && newHosts);
}
