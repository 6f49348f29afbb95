import { KubeConfig } from '@kubernetes/client-node';
import { isIPv6 } from 'node:net';

/**
 * Where `serve` finds the API server: a kubeconfig file when one is given, else the pod's in-cluster service
 * account (whose projected token client-node re-reads as the kubelet rotates it).
 */
export type KubeConfigSource =
  | { readonly kubeconfigPath: string }
  | { readonly inCluster: { readonly host: string | undefined; readonly port: string | undefined } };

/** Where the kubelet mounts the pod's service account: its CA and its projected, rotating token. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const config = new KubeConfig();
  if ('kubeconfigPath' in source) {
    try {
      config.loadFromFile(source.kubeconfigPath);
    } catch (error) {
      throw new KubeConfigError(`kubeconfig ${source.kubeconfigPath} cannot be loaded: ${(error as Error).message}`);
    }
    if (config.getCurrentCluster() === null) {
      throw new KubeConfigError(`kubeconfig ${source.kubeconfigPath} has no current context with a cluster`);
    }
    return config;
  }
  const { host, port } = source.inCluster;
  if (host === undefined || host === '') {
    throw new KubeConfigError('not running in a cluster (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig FILE');
  }
  // What client-node's loadFromCluster does, from values read once at the command line rather than from the
  // environment here; the token file is re-read by client-node as the kubelet rotates it.
  config.loadFromClusterAndUser(
    { name: 'in-cluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port ?? '443'}`, caFile: `${SERVICE_ACCOUNT_DIR}/ca.crt`, skipTLSVerify: false },
    { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: `${SERVICE_ACCOUNT_DIR}/token` } } },
  );
  return config;
}
