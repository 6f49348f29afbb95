import { checkPath, DOCKER_HUB, formatReference, isDockerHub, registryOf, splitHostPort, type ImageReference } from './reference.ts';

/**
 * `host[/path-prefix]`, the two sides of a rewrite. Matching is on whole path segments, so the prefix
 * `x/pay` never matches `x/payments`.
 */
export interface RegistryPrefix {
  readonly text: string;
  /** host[:port] to write into rewritten references. */
  readonly domain: string;
  /** Registry identity as compared with images (lower case, ":443" dropped). */
  readonly registry: string;
  readonly path: string;
}

export function parseRegistryPrefix(text: string): RegistryPrefix | string {
  if (text === '') return 'is empty';
  if (/[@\s]/.test(text)) return `${JSON.stringify(text)} must be host[/path-prefix], without tag, digest or spaces`;
  const slash = text.indexOf('/');
  const domainText = slash === -1 ? text : text.slice(0, slash);
  const path = slash === -1 ? '' : text.slice(slash + 1);
  if (slash !== -1 && path === '') return `${JSON.stringify(text)} ends with "/"; write the host alone`;
  const hostPort = splitHostPort(domainText);
  if (typeof hostPort === 'string') return `${JSON.stringify(text)}: ${hostPort}`;
  if (path !== '') {
    const problem = checkPath(path);
    if (problem !== undefined) return `${JSON.stringify(text)}: ${problem}`;
  }
  if (isDockerHub(hostPort.hostname, hostPort.port)) return { text, domain: DOCKER_HUB, registry: DOCKER_HUB, path };
  const port = hostPort.port === undefined || hostPort.port === '443' ? '' : `:${hostPort.port}`;
  return { text, domain: domainText, registry: hostPort.hostname + port, path };
}

/** True when the image lies under the prefix: same registry, and the path equal to it or below it. */
export function prefixCovers(prefix: RegistryPrefix, ref: ImageReference): boolean {
  if (registryOf(ref) !== prefix.registry) return false;
  return prefix.path === '' || ref.path === prefix.path || ref.path.startsWith(`${prefix.path}/`);
}

/** True when one prefix lies under the other: an image rewritten to one could then match the other. */
export function prefixesOverlap(a: RegistryPrefix, b: RegistryPrefix): boolean {
  if (a.registry !== b.registry) return false;
  const under = (x: string, y: string): boolean => y === '' || x === y || x.startsWith(`${y}/`);
  return under(a.path, b.path) || under(b.path, a.path);
}

/** Moves an image from under `from` to under `to`, keeping the rest of the path, the tag and the digest. */
export function movePrefix(ref: ImageReference, from: RegistryPrefix, to: RegistryPrefix): string {
  const rest = ref.path.slice(from.path.length).replace(/^\//, '');
  const path = [to.path, rest].filter((part) => part !== '').join('/');
  return formatReference(to.domain, path, ref.tag, ref.digest);
}
