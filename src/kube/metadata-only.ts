import { setHeaderOptions, type KubeConfig, type RequestContext } from '@kubernetes/client-node';

/**
 * Asking the API server for objects' metadata only (PartialObjectMetadata, as client-go's metadata informers do):
 * the webhook reads what it needs of Secrets from their labels and annotations, so their data (up to 1 MiB each,
 * written by anybody) never crosses the wire, let alone sits in memory.
 */
export const METADATA_ONLY_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

/** Options for a generated client-node call that replace its Accept header (client-node's own middleware). */
export function acceptOptions(accept: string) {
  return setHeaderOptions('Accept', accept);
}

/**
 * A KubeConfig for client-node's Watch whose requests ask for metadata only: Watch builds its request from the
 * config alone, so the header is added where it authenticates.
 */
export function metadataOnlyWatchConfig(kubeConfig: KubeConfig): KubeConfig {
  return new Proxy(kubeConfig, {
    get(target, property, receiver) {
      if (property !== 'applySecurityAuthentication') return Reflect.get(target, property, receiver);
      return async (context: RequestContext) => {
        await target.applySecurityAuthentication(context);
        context.setHeaderParam('Accept', METADATA_ONLY_ACCEPT);
      };
    },
  });
}
