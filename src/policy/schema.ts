import { z } from 'zod';
import { classifyRegistryHost, ECR_PARTITIONS } from '../image/ecr-host.ts';
import { hostAsWritten } from '../image/reference.ts';
import { parseRegistryPrefix } from '../image/registry-prefix.ts';
import { repositoryGlobProblem } from './repository-glob.ts';

/**
 * The TenantPolicy file. Every object is strict (unknown fields are errors, so a typo never silently
 * weakens a policy); checks that need more than one field live in compile.ts.
 */
export const API_VERSION = 'ecr-tenant-webhook.io/v1alpha1';
export const KIND = 'TenantPolicy';

export const MODES = ['enforce', 'dry-run'] as const;
export type Mode = (typeof MODES)[number];
export const NON_ECR_ACTIONS = ['allow', 'deny'] as const;
export type NonEcrAction = (typeof NON_ECR_ACTIONS)[number];
/** What admission does when a pod needs a pull secret and no valid credential can be had (AWS failing). */
export const CREDENTIAL_ERROR_ACTIONS = ['deny', 'allow'] as const;
export type CredentialErrorAction = (typeof CREDENTIAL_ERROR_ACTIONS)[number];
/**
 * What admission does when a rewritten image is not in its target registry (replication not done yet):
 * admit anyway, deny saying so, or keep the original reference when the tenant is granted it there.
 */
export const MISSING_IMAGE_ACTIONS = ['allow', 'deny', 'keep-source'] as const;
export type MissingImageAction = (typeof MISSING_IMAGE_ACTIONS)[number];

/** Kubernetes label value, because a tenant is named by the namespace label's value. */
const TENANT_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A role in any partition an ECR registry can be in (the partition names hold only letters and "-"). */
const ROLE_ARN = new RegExp(`^arn:(?:${ECR_PARTITIONS.join('|')}):iam::\\d{12}:role\\/(?:[\\w+=,.@-]+\\/)*[\\w+=,.@-]{1,64}$`);
/** STS limits: ExternalId 2–1,224 of [\w+=,.@:/-]; session tag keys ≤ 128, values ≤ 256, at most 50 tags. */
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+@-]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+@-]{0,256}$/u;
/** ECR resource tags: the same characters as IAM tags; at most 50 on a repository. */
const MAX_TAGS = 50;

function checked(problemOf: (value: string) => string | undefined) {
  return z.string().check((ctx) => {
    const problem = problemOf(ctx.value);
    if (problem !== undefined) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
  });
}

/** A grant's registry: a private ECR host in lower case, in a form known for its region's partition. */
const ecrRegistryHost = checked((host) => {
  const kind = classifyRegistryHost(host);
  if (kind.kind === 'refused') return kind.problem;
  return kind.kind === 'ecr'
    ? undefined
    : `${JSON.stringify(host)} is not an ECR registry host (expected ACCOUNT.dkr.ecr.REGION.amazonaws.com or its FIPS, dual-stack, China, GovCloud or ISO form)`;
});
const repositoryGlob = checked(repositoryGlobProblem);
/**
 * A rewrite's target is what pods will pull, so an ECR host there must be one admission accepts: in lower case and of
 * a known form. The source only matches images (in any case), so it is not held to this.
 */
function registryPrefixProblem(text: string, pulledFrom: boolean): string | undefined {
  const parsed = parseRegistryPrefix(text);
  if (typeof parsed === 'string') return parsed;
  const kind = pulledFrom ? classifyRegistryHost(hostAsWritten(parsed.domain)) : undefined;
  return kind?.kind === 'refused' ? kind.problem : undefined;
}
const rewriteSource = checked((text) => registryPrefixProblem(text, false));
const rewriteTarget = checked((text) => registryPrefixProblem(text, true));
/**
 * A role ARN is checked when the policy compiles, as a warning rather than an error: the schema's own documented
 * example carries the placeholder "optional override", and a bad ARN fails closed anyway (AssumeRole is refused).
 */
const roleArn = z.string().min(1);

export function roleArnProblem(arn: string): string | undefined {
  return ROLE_ARN.test(arn) ? undefined : `${JSON.stringify(arn)} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`;
}
const externalId = checked((id) =>
  EXTERNAL_ID.test(id) ? undefined : 'must be 2 to 1224 characters of letters, digits and +=,.@:/-_',
);

const mode = z.enum(MODES);
const nonEcrImages = z.enum(NON_ECR_ACTIONS);
const onCredentialError = z.enum(CREDENTIAL_ERROR_ACTIONS);
const missingImage = z.enum(MISSING_IMAGE_ACTIONS);

const rewrite = z.strictObject({ from: rewriteSource, to: rewriteTarget });

/** A set of AWS tags (session tags, repository tags): keys and values as IAM and ECR allow, at most 50. */
function tagSet(what: string, service: string) {
  return z
    .record(
      z.string().regex(TAG_KEY, { error: `${what} key must be 1 to 128 letters, digits, spaces or _.:/=+-@` }),
      z.string().regex(TAG_VALUE, { error: `${what} value must be up to 256 letters, digits, spaces or _.:/=+-@` }),
    )
    .check((ctx) => {
      const keys = Object.keys(ctx.value);
      if (keys.length > MAX_TAGS) ctx.issues.push({ code: 'custom', message: `has ${keys.length} ${what}s; ${service} allows at most ${MAX_TAGS}`, input: ctx.value });
      const twins = sameButCase(keys);
      if (twins !== undefined) {
        ctx.issues.push({ code: 'custom', message: `${what} keys ${JSON.stringify(twins[0])} and ${JSON.stringify(twins[1])} differ only in case; IAM matches tag keys (session tags, aws:ResourceTag) without case, so they would be one key`, input: ctx.value });
      }
    });
}

/** The first two keys that differ only in case (at most 50 keys are checked; more are refused by count). */
function sameButCase(keys: readonly string[]): readonly [string, string] | undefined {
  const seen = new Map<string, string>();
  for (const key of keys.slice(0, MAX_TAGS)) {
    const folded = key.toLowerCase();
    const first = seen.get(folded);
    if (first !== undefined) return [first, key];
    seen.set(folded, key);
  }
  return undefined;
}

/**
 * A grant names repositories by glob, by the tags they carry in ECR (read with the tenant's role at admission), or
 * both, when both must hold. Tags alone grant every repository of the registry that carries them.
 */
const grant = z
  .strictObject({
    registry: ecrRegistryHost,
    repositories: z.array(repositoryGlob).min(1).optional(),
    repositoryTags: tagSet('repository tag', 'ECR')
      .check((ctx) => {
        if (Object.keys(ctx.value).length === 0) ctx.issues.push({ code: 'custom', message: 'names no tags; leave it out or name at least one', input: ctx.value });
      })
      .optional(),
    roleArn: roleArn.optional(),
  })
  .check((ctx) => {
    if (ctx.value.repositories === undefined && ctx.value.repositoryTags === undefined) {
      ctx.issues.push({ code: 'custom', message: 'a grant needs repositories, repositoryTags or both', input: ctx.value });
    }
  });

const sessionTags = tagSet('session tag', 'STS');

const tenant = z.strictObject({
  mode: mode.optional(),
  /** Overrides spec.defaults.nonEcrImages for this tenant (an addition to the documented schema). */
  nonEcrImages: nonEcrImages.optional(),
  /** Overrides spec.defaults.onCredentialError for this tenant (an addition to the documented schema). */
  onCredentialError: onCredentialError.optional(),
  /** Overrides spec.defaults.missingImage for this tenant. */
  missingImage: missingImage.optional(),
  /** Overrides spec.defaults.pinDigests for this tenant. */
  pinDigests: z.boolean().optional(),
  roleArn: roleArn.optional(),
  externalId: externalId.optional(),
  sessionTags: sessionTags.optional(),
  grants: z.array(grant).default([]),
  rewrites: z.array(rewrite).default([]),
});

const tenantName = z.string().regex(TENANT_NAME, {
  error: 'tenant name must be a valid label value: up to 63 letters, digits, "-", "_" or ".", starting and ending alphanumeric',
});

const defaults = z.strictObject({
  mode: mode.default('enforce'),
  nonEcrImages: nonEcrImages.default('allow'),
  onCredentialError: onCredentialError.default('deny'),
  missingImage: missingImage.default('allow'),
  pinDigests: z.boolean().default(false),
});

/** A Kubernetes ServiceAccount as NAMESPACE/NAME; the API server names it system:serviceaccount:NAMESPACE:NAME. */
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
export const DEFAULT_LABEL_ADMIN_GROUPS = ['system:masters'] as const;

/**
 * Who may add, change or remove the tenant and mode labels of a namespace (the namespace-label guard). Groups
 * default to system:masters when not given; a list given replaces the default.
 */
const labelAdmins = z.strictObject({
  users: z.array(z.string().min(1)).default([]),
  groups: z.array(z.string().min(1)).default([...DEFAULT_LABEL_ADMIN_GROUPS]),
  serviceAccounts: z
    .array(z.string().regex(SERVICE_ACCOUNT, { error: 'service account must be NAMESPACE/NAME, e.g. argocd/argocd-application-controller' }))
    .default([]),
});

export const policySchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: z.strictObject({ name: z.string().optional() }).optional(),
  spec: z.strictObject({
    defaults: defaults.default({ mode: 'enforce', nonEcrImages: 'allow', onCredentialError: 'deny', missingImage: 'allow', pinDigests: false }),
    rewrites: z.array(rewrite).default([]),
    tenants: z.record(tenantName, tenant).default({}),
    labelAdmins: labelAdmins.default({ users: [], groups: [...DEFAULT_LABEL_ADMIN_GROUPS], serviceAccounts: [] }),
  }),
});

export type PolicyDocument = z.infer<typeof policySchema>;
export type TenantSpec = z.infer<typeof tenant>;
export type GrantSpec = z.infer<typeof grant>;
export type RewriteSpec = z.infer<typeof rewrite>;
export type LabelAdmins = z.infer<typeof labelAdmins>;
