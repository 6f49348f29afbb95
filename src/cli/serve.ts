import { InvalidArgumentError } from 'commander';
import { homedir, hostname } from 'node:os';
import { createLogger } from '../log.ts';
import { startServer, type ServeConfig } from '../server.ts';

/**
 * `serve`: runs the webhook until SIGTERM or SIGINT, then shuts down gracefully and exits 0.
 * Startup problems (policy, TLS files, kubeconfig) are one message on stderr and exit 2.
 */
export interface ServeOptions {
  readonly policy: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly port: number;
  readonly metricsPort: number;
  /** Undefined: both IPv6 and IPv4 where the host has IPv6 (listen.ts). */
  readonly address?: string | undefined;
  readonly kubeconfig?: string | undefined;
  readonly shutdownDelay: number;
  readonly filePoll: number;
  readonly logLevel: string;
  readonly awsSessionDuration: number;
  readonly credentialDeadline: number;
  readonly admissionDeadline: number;
  readonly leaseNamespace?: string | undefined;
  readonly identity?: string | undefined;
  readonly refreshInterval: number;
  readonly leaseDuration: number;
  readonly tokenRefreshAt: number;
  readonly registryCache: number;
  readonly registryReads: number;
  readonly deletionGrace: number;
  readonly maxDeletionsPerRound: number;
}

/** What serve takes from the process: the in-cluster hint and the signals it stops on. */
export interface ServeEnvironment {
  readonly kubernetesServiceHost: string | undefined;
  readonly kubernetesServicePort: string | undefined;
  /** The pod's namespace and name (the Deployment passes them through the downward API), and the host name. */
  readonly podNamespace: string | undefined;
  readonly podName: string | undefined;
  readonly hostname: string;
  readonly onStopSignal: (stop: (signal: string) => void) => void;
  /** $KUBECONFIG and the home directory, where `audit` looks for a kubeconfig as kubectl does. */
  readonly kubeconfigEnv?: string | undefined;
  readonly home?: string | undefined;
}

export const processEnvironment: ServeEnvironment = {
  kubernetesServiceHost: process.env.KUBERNETES_SERVICE_HOST,
  kubernetesServicePort: process.env.KUBERNETES_SERVICE_PORT,
  podNamespace: process.env.POD_NAMESPACE,
  podName: process.env.POD_NAME,
  hostname: hostname(),
  kubeconfigEnv: process.env.KUBECONFIG,
  home: homedir(),
  onStopSignal(stop) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop(signal));
  },
};

/** Where manifests/ installs the webhook, and so where its Lease lives unless told otherwise. */
const DEFAULT_NAMESPACE = 'ecr-tenant-webhook';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** commander argument parser for a TCP port; 0 means any free port. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return port;
}

/** commander argument parser for a non-negative number of seconds, returned in milliseconds. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0 || seconds > 3600) throw new InvalidArgumentError('must be a number of seconds from 0 to 3600');
  return Math.round(seconds * 1000);
}

/**
 * commander argument parser for the admission deadline: seconds above 0 and under 30 (the longest timeoutSeconds
 * the API server allows), returned in milliseconds.
 */
export function parseAdmissionDeadline(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !(seconds >= 0.1 && seconds < 30)) throw new InvalidArgumentError("must be seconds from 0.1 to under 30 (a webhook's timeoutSeconds is at most 30)");
  return Math.round(seconds * 1000);
}

/** commander argument parser for the deletion grace period: seconds up to a week, returned in milliseconds. */
export function parseGraceSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds > 604_800) throw new InvalidArgumentError('must be whole seconds from 0 to 604800 (a week)');
  return seconds * 1000;
}

/** commander argument parser for a positive whole count. */
export function parseCount(value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value) || count < 1 || count > 1_000_000) throw new InvalidArgumentError('must be a whole number from 1 to 1000000');
  return count;
}

/** commander argument parser for STS DurationSeconds, which AWS accepts from 900 to 43,200. */
export function parseSessionSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 900 || seconds > 43_200) throw new InvalidArgumentError('must be whole seconds from 900 to 43200 (what STS accepts)');
  return seconds;
}

/** commander argument parser for the fraction of a token's life after which it is refreshed. */
export function parseFraction(value: string): number {
  const fraction = Number(value);
  if (value.trim() === '' || !(fraction > 0 && fraction <= 1)) throw new InvalidArgumentError('must be a fraction above 0 and at most 1, e.g. 0.5');
  return fraction;
}

export function serveConfig(options: ServeOptions, env: ServeEnvironment): ServeConfig {
  return Object.freeze({
    policyPath: options.policy,
    tlsCertPath: options.tlsCert,
    tlsKeyPath: options.tlsKey,
    address: options.address,
    port: options.port,
    metricsPort: options.metricsPort,
    kube: options.kubeconfig === undefined ? { inCluster: { host: env.kubernetesServiceHost, port: env.kubernetesServicePort } } : { kubeconfigPath: options.kubeconfig },
    shutdownDelayMs: options.shutdownDelay,
    filePollMs: Math.max(options.filePoll, 100),
    awsSessionSeconds: options.awsSessionDuration,
    credentialDeadlineMs: Math.max(options.credentialDeadline, 100),
    admissionDeadlineMs: options.admissionDeadline,
    tokenRefreshFraction: options.tokenRefreshAt,
    registryCacheMs: options.registryCache,
    registryReadsPerSecond: options.registryReads,
    refresher: {
      leaseNamespace: options.leaseNamespace ?? env.podNamespace ?? DEFAULT_NAMESPACE,
      identity: options.identity ?? env.podName ?? env.hostname,
      intervalMs: Math.max(options.refreshInterval, 100),
      leaseDurationMs: Math.max(options.leaseDuration, 1000),
      deletionGraceMs: options.deletionGrace,
      maxDeletionsPerRound: options.maxDeletionsPerRound,
    },
  });
}

export async function runServe(options: ServeOptions, env: ServeEnvironment = processEnvironment): Promise<number> {
  const log = createLogger({ level: options.logLevel });
  const server = await startServer(serveConfig(options, env), log);
  const signal = await new Promise<string>((resolve) => env.onStopSignal(resolve));
  await server.shutdown(signal);
  return 0;
}
