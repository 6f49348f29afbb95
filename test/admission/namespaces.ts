import { MODE_LABEL, TENANT_LABEL } from '../../src/labels.ts';

/** The namespaces the admission tests run against, by their labels. */
export const NAMESPACES = {
  shop: { [TENANT_LABEL]: 'payments' },
  'shop-canary': { [TENANT_LABEL]: 'payments', [MODE_LABEL]: 'dry-run' },
  lab: { [TENANT_LABEL]: 'analytics' },
  ghost: { [TENANT_LABEL]: 'ghost' },
  plain: { 'kubernetes.io/metadata.name': 'plain' },
};
