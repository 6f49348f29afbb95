/** Every label and annotation key the webhook reads or writes, in one place. */
export const DOMAIN = 'ecr-tenant-webhook.io';

/** Namespace label that onboards a namespace to a tenant. */
export const TENANT_LABEL = `${DOMAIN}/tenant`;

/** Namespace label that overrides the tenant's mode for one namespace. */
export const MODE_LABEL = `${DOMAIN}/mode`;

/** Audit annotation keys (the API server prefixes them with the webhook's name). */
export const AUDIT_DECISION = 'decision';
export const AUDIT_TENANT = 'tenant';
export const AUDIT_REWRITES = 'rewrites';

/** Prefix of the pull secrets the webhook manages: `ecr-pull-<account>-<region>`. */
export const PULL_SECRET_PREFIX = 'ecr-pull-';
