/**
 * Docker image references, parsed as distribution/reference v0.6 parses them with ParseNormalizedNamed (what
 * containerd and the kubelet use):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain    := host [ ":" port ]
 *
 * A first component is a domain only when it contains "." or ":", is "localhost", or has upper-case letters;
 * otherwise the image lives on Docker Hub (docker.io) and a one-component name gets "library/". The path (the
 * name without its domain, "library/" included) is at most 255 characters, and an image that is nothing but 64
 * lower-case hex digits is refused, as the kubelet refuses it: it reads as an image ID, not a name.
 *
 * Where this parser deliberately differs (see test/fixtures/distribution-reference-v0.6.json): every name of
 * Docker Hub (index.docker.io, registry-1.docker.io, in any case) is folded into docker.io; the whole reference is
 * at most 1024 characters; a port is at most 65535; and each refusal says what is wrong and where.
 *
 * Every check runs in time linear in the input, whatever it holds: the grammar's nested repetitions (host labels,
 * path components) are read by the small scanners below rather than by regular expressions, and no regular
 * expression left repeats anything but a single character class, so a failing match costs one pass.
 */
export interface ImageReference {
  /** The string exactly as written in the pod. */
  readonly original: string;
  /** host[:port] as written, or "docker.io" when implicit (Docker Hub's other names are folded into it). */
  readonly domain: string;
  /** The host in lower case, without port: what identifies the registry. */
  readonly hostname: string;
  readonly port: string | undefined;
  /** Repository path, with "library/" added for Docker Hub official images. */
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export type ParsedReference =
  | { readonly ok: true; readonly ref: ImageReference }
  | { readonly ok: false; readonly reason: string };

/** distribution/reference's RepositoryNameTotalLengthMax, which v0.6 applies to the path alone. */
const MAX_PATH_LENGTH = 255;
const MAX_REFERENCE_LENGTH = 1024;
export const DOCKER_HUB = 'docker.io';
/** Names of Docker Hub that clients treat as docker.io (only without a port: with one it is another registry). */
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

export function isDockerHub(hostname: string, port: string | undefined): boolean {
  return port === undefined && DOCKER_HUB_ALIASES.has(hostname);
}

const PORT = /^[0-9]{1,5}$/;
const TAG = /^\w[\w.-]{0,127}$/;
/** distribution's anchoredIdentifierRegexp: a whole image of exactly this is an image ID. */
const IDENTIFIER = /^[0-9a-f]{64}$/;
/** The algorithms containerd accepts, with their hex length; go-digest refuses any other and upper-case hex. */
const DIGEST_HEX_LENGTH = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);
const UNPRINTABLE = /[\u0000-\u0020\u007f-\u009f\u00a0\u2000-\u200f\u2028-\u202f\u205f-\u206f\ufeff]/u;

function fail(reason: string): ParsedReference {
  return { ok: false, reason };
}

export function parseImageReference(input: unknown): ParsedReference {
  if (typeof input !== 'string') return fail('image must be a string');
  if (input === '') return fail('image is empty');
  if (input.length > MAX_REFERENCE_LENGTH) return fail(`image is ${input.length} characters long, over ${MAX_REFERENCE_LENGTH}`);
  const bad = UNPRINTABLE.exec(input);
  if (bad !== null) {
    return fail(`image contains a whitespace or control character (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) at position ${bad.index}`);
  }
  // Only the bare identifier: with a tag, a digest, library/ or a registry before it, it is a name like any other.
  if (IDENTIFIER.test(input)) {
    return fail('image is 64 hex digits alone, which the kubelet reads as an image ID and refuses as a name; to mean a repository of that name, write its registry too (docker.io/<name>)');
  }

  const at = input.indexOf('@');
  const digest = at === -1 ? undefined : input.slice(at + 1);
  const nameAndTag = at === -1 ? input : input.slice(0, at);
  if (digest !== undefined) {
    const digestProblem = checkDigest(digest);
    if (digestProblem !== undefined) return fail(digestProblem);
  }

  const colon = nameAndTag.lastIndexOf(':');
  const hasTag = colon > nameAndTag.lastIndexOf('/');
  const tag = hasTag ? nameAndTag.slice(colon + 1) : undefined;
  const name = hasTag ? nameAndTag.slice(0, colon) : nameAndTag;
  if (tag !== undefined && !TAG.test(tag)) {
    return fail(`tag ${JSON.stringify(tag.slice(0, 140))} is invalid: up to 128 of letters, digits, "_", "." and "-", not starting with "." or "-"`);
  }
  if (name === '') return fail('image has no repository name');

  return parseName(input, name, tag, digest);
}

function parseName(original: string, name: string, tag: string | undefined, digest: string | undefined): ParsedReference {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const hasDomain = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  const hostPort = splitHostPort(hasDomain ? first : DOCKER_HUB);
  if (typeof hostPort === 'string') return fail(hostPort);
  const hub = isDockerHub(hostPort.hostname, hostPort.port);
  const domain = hub ? DOCKER_HUB : first;
  const hostname = hub ? DOCKER_HUB : hostPort.hostname;
  const written = hasDomain ? name.slice(slash + 1) : name;
  const path = hub && !written.includes('/') ? `library/${written}` : written;

  const pathProblem = checkPath(path);
  if (pathProblem !== undefined) return fail(pathProblem);
  // Like distribution/reference v0.6, the limit is on the normalised path (library/ and all), not on the host.
  if (path.length > MAX_PATH_LENGTH) {
    return fail(`repository path ${JSON.stringify(`${path.slice(0, 40)}…`)} is ${path.length} characters long, over ${MAX_PATH_LENGTH} (the registry host is not counted)`);
  }
  return { ok: true, ref: { original, domain, hostname, port: hostPort.port, path, tag, digest } };
}

/** The host of a domain (host[:port]) exactly as written: case kept, port dropped. */
export function hostAsWritten(domain: string): string {
  const portAt = domain.lastIndexOf(':');
  return portAt !== -1 && !domain.slice(portAt).includes(']') ? domain.slice(0, portAt) : domain;
}

export function splitHostPort(domain: string): { hostname: string; port: string | undefined } | string {
  const host = hostAsWritten(domain);
  const port = host.length === domain.length ? undefined : domain.slice(host.length + 1);
  if (!isHost(host)) return `registry host ${JSON.stringify(host)} is not a valid host name`;
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    return `registry port ${JSON.stringify(port)} is not a number from 0 to 65535`;
  }
  return { hostname: host.toLowerCase(), port };
}

export function checkPath(path: string): string | undefined {
  for (const component of path.split('/')) {
    if (component === '') return `repository path ${JSON.stringify(path)} has an empty component`;
    if (component !== component.toLowerCase()) return `repository path ${JSON.stringify(path)} must be lower case`;
    if (!isPathComponent(component)) {
      return `repository path component ${JSON.stringify(component)} is invalid: lower-case letters and digits, separated by ".", "_", "__" or "-"`;
    }
  }
  return undefined;
}

const DOT = 0x2e;
const HYPHEN = 0x2d;
const UNDERSCORE = 0x5f;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isHexOrColon = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c === 0x3a;

/**
 * host := domain-component ("." domain-component)* | "[" IPv6 hex and colons "]", where a domain-component is
 * ASCII letters, digits and "-", neither starting nor ending with "-". One pass over the characters.
 */
function isHost(host: string): boolean {
  if (host.startsWith('[')) {
    if (host.length < 3 || !host.endsWith(']')) return false;
    for (let i = 1; i < host.length - 1; i++) if (!isHexOrColon(host.charCodeAt(i))) return false;
    return true;
  }
  let labelStart = 0;
  for (let i = 0; i <= host.length; i++) {
    const c = i === host.length ? DOT : host.charCodeAt(i);
    if (c === DOT) {
      if (i === labelStart || host.charCodeAt(labelStart) === HYPHEN || host.charCodeAt(i - 1) === HYPHEN) return false;
      labelStart = i + 1;
    } else if (!isDigit(c) && !isLower(c) && !isUpper(c) && c !== HYPHEN) {
      return false;
    }
  }
  return true;
}

/**
 * path-component := alphanumeric (separator alphanumeric)*, where alphanumeric is lower-case ASCII letters and
 * digits and a separator is ".", "_", "__" or a run of "-". One pass over the characters.
 */
function isPathComponent(component: string): boolean {
  let i = 0;
  for (;;) {
    const start = i;
    while (i < component.length && (isDigit(component.charCodeAt(i)) || isLower(component.charCodeAt(i)))) i++;
    if (i === start) return false;
    if (i === component.length) return true;
    const c = component.charCodeAt(i);
    if (c === DOT) i += 1;
    else if (c === UNDERSCORE) i += component.charCodeAt(i + 1) === UNDERSCORE ? 2 : 1;
    else if (c === HYPHEN) while (component.charCodeAt(i) === HYPHEN) i++;
    else return false;
  }
}

function checkDigest(digest: string): string | undefined {
  const colon = digest.indexOf(':');
  const algorithm = colon === -1 ? '' : digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const expected = DIGEST_HEX_LENGTH.get(algorithm);
  if (expected === undefined) {
    return `digest ${JSON.stringify(digest.slice(0, 140))} is invalid: expected sha256:<64 hex digits> (or sha384, sha512)`;
  }
  if (hex.length !== expected || !/^[0-9a-f]+$/.test(hex)) return `${algorithm} digest must be ${expected} lower-case hex digits`;
  return undefined;
}

/** Registry identity used to compare an image with a grant: ":443" is the default HTTPS port, so it names the same registry. */
export function registryOf(ref: ImageReference): string {
  return ref.port === undefined || ref.port === '443' ? ref.hostname : `${ref.hostname}:${ref.port}`;
}

/** Writes a reference back; tag and digest are kept exactly as they were and no tag is ever added. */
export function formatReference(domain: string, path: string, tag: string | undefined, digest: string | undefined): string {
  return `${domain}/${path}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
}
