import type { Logger } from 'pino';

/**
 * Where `serve` listens when no --address is given: `::`, one socket for IPv6 and IPv4 alike. Node (libuv) opens
 * it with IPV6_V6ONLY off whatever the host's net.ipv6.bindv6only says, so IPv4 clients arrive on it too (as
 * ::ffff:a.b.c.d); the webhook and its probes then answer on IPv4, IPv6 (IPv6 EKS clusters) and dual-stack clusters
 * alike, with nothing to configure.
 *
 * A host with no IPv6 at all (the kernel booted with ipv6.disable=1 refuses IPv6 sockets: EAFNOSUPPORT; or no IPv6
 * address can be bound: EADDRNOTAVAIL) gets 0.0.0.0 instead, said once at warn, since IPv4 is all it can serve.
 * Any other failure (a port in use) stands. An --address given explicitly is used as given, without fallback: who
 * asked for `::` wants to hear that it cannot be had.
 */
export const DEFAULT_ADDRESS = '::';
export const IPV4_ADDRESS = '0.0.0.0';
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL']);

/** The address to listen on instead after `error`, or undefined when the failure stands. */
export function fallbackAddress(explicit: string | undefined, error: unknown): string | undefined {
  if (explicit !== undefined) return undefined;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && NO_IPV6.has(code) ? IPV4_ADDRESS : undefined;
}

/**
 * Listens with `listen` on the explicit address, else on the default with the IPv4 fallback above; resolves with
 * the address listened on, for the other listeners to use.
 */
export async function listenOn(listen: (host: string) => Promise<unknown>, explicit: string | undefined, log: Logger): Promise<string> {
  const address = explicit ?? DEFAULT_ADDRESS;
  try {
    await listen(address);
    return address;
  } catch (error) {
    const fallback = fallbackAddress(explicit, error);
    if (fallback === undefined) throw error;
    log.warn({ address: fallback, tried: address, code: (error as { code: string }).code }, 'this host has no IPv6: listening on IPv4 only');
    await listen(fallback);
    return fallback;
  }
}
