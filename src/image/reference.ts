/**
 * Docker image references, parsed with the grammar of distribution/reference (what containerd and the kubelet use):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain    := host [ ":" port ]
 *
 * A first component is a domain only when it contains "." or ":", is "localhost", or has upper-case letters;
 * otherwise the image lives on Docker Hub (docker.io) and a one-component name gets "library/".
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

const MAX_NAME_LENGTH = 255;
const MAX_REFERENCE_LENGTH = 1024;
export const DOCKER_HUB = 'docker.io';
/** Names of Docker Hub that clients treat as docker.io (only without a port: with one it is another registry). */
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

export function isDockerHub(hostname: string, port: string | undefined): boolean {
  return port === undefined && DOCKER_HUB_ALIASES.has(hostname);
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])$`);
const PORT = /^[0-9]{1,5}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
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
  // Like distribution/reference, the limit applies to the normalised name, library/ and all.
  const length = domain.length + 1 + path.length;
  if (length > MAX_NAME_LENGTH) return fail(`repository name ${domain}/${path.slice(0, 40)}… is ${length} characters long, over ${MAX_NAME_LENGTH}`);
  return { ok: true, ref: { original, domain, hostname, port: hostPort.port, path, tag, digest } };
}

export function splitHostPort(domain: string): { hostname: string; port: string | undefined } | string {
  const portAt = domain.lastIndexOf(':');
  const hasPort = portAt !== -1 && !domain.slice(portAt).includes(']');
  const host = hasPort ? domain.slice(0, portAt) : domain;
  const port = hasPort ? domain.slice(portAt + 1) : undefined;
  if (!HOST.test(host)) return `registry host ${JSON.stringify(host)} is not a valid host name`;
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) {
    return `registry port ${JSON.stringify(port)} is not a number from 0 to 65535`;
  }
  return { hostname: host.toLowerCase(), port };
}

export function checkPath(path: string): string | undefined {
  for (const component of path.split('/')) {
    if (component === '') return `repository path ${JSON.stringify(path)} has an empty component`;
    if (component !== component.toLowerCase()) return `repository path ${JSON.stringify(path)} must be lower case`;
    if (!PATH_COMPONENT.test(component)) {
      return `repository path component ${JSON.stringify(component)} is invalid: lower-case letters and digits, separated by ".", "_", "__" or "-"`;
    }
  }
  return undefined;
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
