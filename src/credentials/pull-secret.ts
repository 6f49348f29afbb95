import { parseEcrHost } from '../image/ecr-host.ts';
import { DOMAIN, PULL_SECRET_PREFIX, TENANT_LABEL } from '../labels.ts';
import type { RegistryToken } from './registry-token.ts';

/**
 * The pull Secret the webhook manages for one ECR registry in one namespace, what the webhook keeps of a stored
 * one, and the rules for touching one that exists (pure: no I/O).
 *
 * Written: `kubernetes.io/dockerconfigjson` with `auths` keyed by every host form the namespace's pods use, user
 * `AWS`; labelled managed-by and with the tenant (for selection and display only), annotated with its expiry, its
 * hosts and its provenance seal. The seal is a MAC, under a key only the webhook can read, over the namespace, the
 * name, the tenant, the credential it was minted with, the expiry and the hosts: it is how the webhook tells a
 * Secret it wrote for this namespace's current tenant from one written for a tenant the namespace has left, or
 * one anybody else created with the same labels. Nothing on a stored Secret is believed without it.
 *
 * Kept: a compact projection (`StoredPullSecret`) read from the Secret's metadata alone, each field bounded, so a
 * Secret of any size or shape costs the same few hundred bytes, and token data never sits in the webhook's memory.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'ecr-tenant-webhook';
export const EXPIRES_ANNOTATION = `${DOMAIN}/expires-at`;
export const HOSTS_ANNOTATION = `${DOMAIN}/hosts`;
export const PROVENANCE_ANNOTATION = `${DOMAIN}/provenance`;
export const DOCKER_CONFIG_KEY = '.dockerconfigjson';

/** A Secret as the API server sends it (or its PartialObjectMetadata: no type, no data). */
export interface SecretObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly type?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly labels?: Readonly<Record<string, string>>; readonly annotations?: Readonly<Record<string, string>>; readonly resourceVersion?: string };
  readonly data?: Readonly<Record<string, string>>;
}

/** A Secret about to be written: it always names itself. */
export type WritableSecret = SecretObject & { readonly metadata: { readonly name: string; readonly namespace: string } };

/** What the webhook keeps of a stored Secret: metadata only, every field bounded. */
export interface StoredPullSecret {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string;
  /** Carries the managed-by label: selects the Secret for the webhook's attention, proves nothing. */
  readonly managed: boolean;
  /** The tenant label as written (display; part of what the seal covers). */
  readonly tenantLabel: string | undefined;
  /** Milliseconds since the epoch; undefined when missing or unreadable (treated as expired). */
  readonly expiresAt: number | undefined;
  readonly hosts: readonly string[];
  readonly seal: string | undefined;
}

/** Who a stored Secret was written for, once its seal has been checked. */
export interface Origin {
  readonly tenant: string;
  /** Digest of the credential identity (role, external id, session tags, duration, registry). */
  readonly credential: string;
}

/** Checks seals; the real one holds the webhook's key (provenance.ts). */
export interface SealChecker {
  /** The origin a Secret's seal proves, or undefined when it has none or it does not verify. */
  originOf(stored: StoredPullSecret): Origin | undefined;
}

/** Makes seals for Secrets about to be written. */
export interface Sealer extends SealChecker {
  seal(fields: SealedFields): string;
}

/** What a seal covers. */
export interface SealedFields {
  readonly namespace: string;
  readonly name: string;
  readonly tenant: string;
  readonly credential: string;
  readonly expiresAt: string;
  readonly hosts: readonly string[];
}

export interface PullSecretSpec {
  readonly name: string;
  readonly namespace: string;
  readonly tenant: string;
  /** Digest of the credential identity the token is minted with (see Origin). */
  readonly credential: string;
  readonly hosts: readonly string[];
}

/** Longest values kept from a stored Secret's metadata; anything longer is treated as missing. */
const MAX_EXPIRY_CHARS = 40;
const MAX_SEAL_CHARS = 128;
const MAX_HOSTS_CHARS = 4096;
/** More host forms than one registry has (plain, FIPS, dual-stack, with ports) ever needs; the writer refuses more. */
export const MAX_HOSTS = 32;
const MAX_NAME_CHARS = 253;

const PULL_SECRET_NAME = new RegExp(`^${PULL_SECRET_PREFIX}(\\d{12})-([a-z0-9-]{1,40})$`);

/** The registry a managed Secret's name stands for, or undefined when the name is not one the webhook writes. */
export function registryOfName(name: string): { readonly account: string; readonly region: string } | undefined {
  const match = name.length <= MAX_NAME_CHARS ? PULL_SECRET_NAME.exec(name) : null;
  return match === null ? undefined : { account: match[1] as string, region: match[2] as string };
}

const PORT = /^:(\d{1,5})$/;

/**
 * Only hosts of this registry (every ECR form of that account and region, with or without a port, as images name
 * them and the kubelet matches them): never another host a token could leak to.
 */
export function hostsOfRegistry(hosts: readonly string[], registry: { readonly account: string; readonly region: string }): string[] {
  return hosts.filter((host) => {
    const colon = host.indexOf(':');
    const name = colon === -1 ? host : host.slice(0, colon);
    const port = colon === -1 ? undefined : PORT.exec(host.slice(colon))?.[1];
    if (colon !== -1 && (port === undefined || Number(port) > 65_535)) return false;
    const parsed = parseEcrHost(name);
    return parsed !== undefined && parsed.host === name && parsed.account === registry.account && parsed.region === registry.region;
  });
}

function bounded(value: string | undefined, max: number): string | undefined {
  return value !== undefined && typeof value === 'string' && value.length <= max ? value : undefined;
}

function hostsAnnotation(value: string | undefined): readonly string[] {
  const text = bounded(value, MAX_HOSTS_CHARS);
  if (text === undefined || text === '') return [];
  const hosts = text.split(',');
  return hosts.length <= MAX_HOSTS ? Object.freeze(hosts) : [];
}

/** The compact projection of a Secret (full or metadata only); undefined when it does not name itself. */
export function projectSecret(secret: SecretObject): StoredPullSecret | undefined {
  const metadata = secret.metadata;
  const { name, namespace } = metadata ?? {};
  if (typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const labels = metadata?.labels ?? {};
  const annotations = metadata?.annotations ?? {};
  const expiryText = bounded(annotations[EXPIRES_ANNOTATION], MAX_EXPIRY_CHARS);
  const expiry = expiryText === undefined ? Number.NaN : Date.parse(expiryText);
  return Object.freeze({
    namespace,
    name,
    resourceVersion: String(metadata?.resourceVersion ?? ''),
    managed: labels[MANAGED_BY_LABEL] === MANAGED_BY,
    tenantLabel: bounded(labels[TENANT_LABEL], 63),
    expiresAt: Number.isNaN(expiry) ? undefined : expiry,
    hosts: hostsAnnotation(annotations[HOSTS_ANNOTATION]),
    seal: bounded(annotations[PROVENANCE_ANNOTATION], MAX_SEAL_CHARS),
  });
}

export function buildPullSecret(spec: PullSecretSpec, token: RegistryToken, sealer: Sealer): WritableSecret {
  const hosts = [...new Set(spec.hosts)].sort();
  // What could not be read back could not be verified either: the Secret would be rewritten at every admission.
  if (hosts.length > MAX_HOSTS || hosts.join(',').length > MAX_HOSTS_CHARS) throw new Error(`a pull Secret holds at most ${MAX_HOSTS} host forms of one registry; ${spec.namespace}/${spec.name} would need ${hosts.length}`);
  const auth = Buffer.from(`${token.username}:${token.password}`).toString('base64');
  const auths = Object.fromEntries(hosts.map((host) => [host, { username: token.username, password: token.password, auth }]));
  const expiresAt = token.expiresAt.toISOString();
  const seal = sealer.seal({ namespace: spec.namespace, name: spec.name, tenant: spec.tenant, credential: spec.credential, expiresAt, hosts });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [TENANT_LABEL]: spec.tenant },
      annotations: { [EXPIRES_ANNOTATION]: expiresAt, [HOSTS_ANNOTATION]: hosts.join(','), [PROVENANCE_ANNOTATION]: seal },
    },
    data: { [DOCKER_CONFIG_KEY]: Buffer.from(JSON.stringify({ auths })).toString('base64') },
  };
}

/** True when the stored Secret is proven to be the webhook's, for this tenant and credential. */
export function servesSpec(stored: StoredPullSecret, spec: Pick<PullSecretSpec, 'tenant' | 'credential'>, seals: SealChecker): boolean {
  const origin = seals.originOf(stored);
  return origin !== undefined && origin.tenant === spec.tenant && origin.credential === spec.credential;
}

export type SecretVerdict =
  /** Nothing to write: proven ours for this tenant and credential, holds every host, and stays valid long enough. */
  | { readonly action: 'keep' }
  | { readonly action: 'create' }
  /** Rewrite it, with these hosts (the union with what it held for this registry, so other pods' host forms keep working). */
  | { readonly action: 'update'; readonly hosts: readonly string[]; readonly why: string }
  /** A Secret of that name without the managed-by label: somebody else's, never overwritten. */
  | { readonly action: 'conflict' };

/**
 * What to do about the Secret a pod needs, given what exists; `freshUntil` is the earliest acceptable expiry.
 *
 * | stored Secret                                                  | verdict                                 |
 * |----------------------------------------------------------------|-----------------------------------------|
 * | none                                                           | create                                  |
 * | no managed-by label                                            | conflict: somebody else's, left alone   |
 * | seal missing or not verifying, or for another tenant/credential| update: rewritten for this tenant       |
 * | expires before freshUntil                                      | update                                  |
 * | lacks a host the pod pulls from                                | update, with the union of hosts         |
 * | otherwise                                                      | keep                                    |
 */
export function judgeExisting(existing: StoredPullSecret | undefined, spec: PullSecretSpec, freshUntil: Date, seals: SealChecker): SecretVerdict {
  if (existing === undefined) return { action: 'create' };
  if (!existing.managed) return { action: 'conflict' };
  // Only an update needs the union of hosts; a kept Secret (most admissions) is not parsed host by host.
  const update = (why: string): SecretVerdict => {
    const registry = registryOfName(spec.name);
    const held = registry === undefined ? [] : hostsOfRegistry(existing.hosts, registry);
    return { action: 'update', hosts: [...new Set([...held, ...spec.hosts])].sort(), why };
  };
  if (!servesSpec(existing, spec, seals)) return update('not proven to be written for this tenant and credential');
  const expiresTooSoon = existing.expiresAt === undefined || existing.expiresAt < freshUntil.getTime();
  const missesAHost = spec.hosts.some((host) => !existing.hosts.includes(host));
  if (!expiresTooSoon && !missesAHost) return { action: 'keep' };
  return update(expiresTooSoon ? 'expires too soon' : 'a host is missing');
}

/**
 * A write may replace what is stored only with a credential that lasts longer (or adds hosts), unless what is
 * stored is not proven to serve this tenant and credential: then anything of ours for the right tenant is better.
 * A slower replica or a failed mint must never put an older or emptier Secret over a better one.
 */
export function isImprovement(stored: StoredPullSecret, candidate: { readonly spec: PullSecretSpec; readonly expiresAt: Date }, seals: SealChecker): boolean {
  if (!stored.managed) return false;
  if (!servesSpec(stored, candidate.spec, seals)) return true;
  const storedExpiry = stored.expiresAt ?? 0;
  const candidateExpiry = candidate.expiresAt.getTime();
  const newHosts = candidate.spec.hosts.some((host) => !stored.hosts.includes(host));
  return candidateExpiry > storedExpiry || (candidateExpiry === storedExpiry && newHosts);
}

/** The stored Secret still works for this pod: proven ours for this tenant, not expired, holding every host it pulls from. */
export function usableAsIs(existing: StoredPullSecret | undefined, spec: PullSecretSpec, now: Date, seals: SealChecker): boolean {
  if (existing === undefined || !existing.managed || !servesSpec(existing, spec, seals)) return false;
  return existing.expiresAt !== undefined && existing.expiresAt > now.getTime() && spec.hosts.every((host) => existing.hosts.includes(host));
}
