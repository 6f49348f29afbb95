import { KubeConfig } from '@kubernetes/client-node';

/**
 * Where `serve` finds the API server: a kubeconfig file when one is given, else the pod's in-cluster service
 * account (whose projected token client-node re-reads as the kubelet rotates it).
 */
export type KubeConfigSource = { readonly kubeconfigPath: string } | { readonly inCluster: { readonly host: string | undefined } };

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
  if (source.inCluster.host === undefined || source.inCluster.host === '') {
    throw new KubeConfigError('not running in a cluster (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig FILE');
  }
  config.loadFromCluster();
  return config;
}
