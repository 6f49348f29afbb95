import { CustomObjectsApi, type ApiException, type KubeConfig } from '@kubernetes/client-node';
import type { PolicyReport } from '../audit/policy-report.ts';
import { describeFailure } from './api-error.ts';

/** Where `audit --write-reports` puts its PolicyReports (the API server; the seam lets reportAudit take another). */
export interface PolicyReportSink {
  /** Creates the report, or replaces the one of that name in its namespace; says which. */
  write(report: PolicyReport): Promise<'created' | 'updated'>;
}

const WHERE = { group: 'wgpolicyk8s.io', version: 'v1alpha2', plural: 'policyreports' } as const;

/**
 * PolicyReports through the API server: read, then replace at the resourceVersion read, or create when there is
 * none. A report another run wrote in between is a conflict, reported rather than overwritten (run the audit again).
 * A 404 on create means the CRD is missing.
 */
export class KubePolicyReportSink implements PolicyReportSink {
  readonly #api: CustomObjectsApi;
  readonly #server: string;

  constructor(kubeConfig: KubeConfig) {
    this.#api = kubeConfig.makeApiClient(CustomObjectsApi);
    // loadKubeConfig refuses a kubeconfig without a current cluster.
    this.#server = kubeConfig.getCurrentCluster()!.server;
  }

  async write(report: PolicyReport): Promise<'created' | 'updated'> {
    const { namespace, name } = report.metadata;
    try {
      return await this.#write(report);
    } catch (error) {
      const missing = codeOf(error) === 404 ? '; is the PolicyReport CRD (policyreports.wgpolicyk8s.io, v1alpha2) installed?' : '';
      throw new Error(`writing PolicyReport ${namespace}/${name} failed: ${describeFailure(error, this.#server)}${missing}`);
    }
  }

  async #write(report: PolicyReport): Promise<'created' | 'updated'> {
    const { namespace, name } = report.metadata;
    const existing = await this.#api.getNamespacedCustomObject({ ...WHERE, namespace, name }).catch((error: unknown) => (codeOf(error) === 404 ? undefined : Promise.reject(error)));
    if (existing === undefined) {
      await this.#api.createNamespacedCustomObject({ ...WHERE, namespace, body: report });
      return 'created';
    }
    const resourceVersion = (existing as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    await this.#api.replaceNamespacedCustomObject({ ...WHERE, namespace, name, body: { ...report, metadata: { ...report.metadata, resourceVersion } } });
    return 'updated';
  }
}

/** The HTTP status of an API server's answer; anything else (the network) has none that is a number. */
function codeOf(error: unknown): unknown {
  return (error as ApiException<unknown>).code;
}
