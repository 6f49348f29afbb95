import type { EcrRegistry } from '../image/ecr-host.ts';
import type { CompiledGrant, CompiledPolicy, CompiledTenant } from './compile.ts';
import { PolicyError } from './policy-error.ts';
import { roleArnProblem } from './schema.ts';

/**
 * The AWS side a policy implies, per tenant: each role's trust and permission policy, and the statements the
 * registry accounts put on the granted repositories. Pure: it only derives documents.
 *
 * A role is one IAM object with one trust and one permission policy, however many tenants use it, so tenants that
 * share a role get the very same documents, naming all of them: the trust policy lets in each tenant's external id
 * and session tags, the permission policy allows the union of their grants (the webhook still holds each tenant to
 * its own). The mixes one trust policy cannot allow without weakening a tenant are refused when the policy loads
 * (see sharedRoleProblems in compile.ts), so every role here is tagged by all its tenants or by none.
 *
 * IAM wildcards cross "/", so `payments/*` becomes `repository/payments/*`, which IAM also lets match
 * `payments/a/b`; the webhook still enforces the narrower grant.
 */
export const PULL_ACTIONS = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
const IAM_VERSION = '2012-10-17';

interface Statement {
  Sid: string;
  Effect: 'Allow';
  Principal?: { AWS: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocumentJson {
  Version: string;
  Statement: Statement[];
}

export interface RolePolicies {
  roleArn: string;
  /** Every tenant whose grants use the role, in policy order: the documents are the role's, the same for each. */
  tenants: string[];
  trustPolicy: PolicyDocumentJson;
  permissionPolicy: PolicyDocumentJson;
}

export interface RegistryPolicy {
  registry: string;
  account: string;
  region: string;
  /** Repositories (patterns) the statement is to be set on, with `aws ecr set-repository-policy`. */
  repositories: string[];
  repositoryPolicy: PolicyDocumentJson;
}

export interface TenantAwsPolicies {
  roles: RolePolicies[];
  registries: RegistryPolicy[];
}

/** `arn:PARTITION:iam::ACCOUNT:root` of a role ARN already checked with roleArnProblem. */
function accountRootOf(roleArn: string): string {
  const [arn, partition, service, , account] = roleArn.split(':');
  return [arn, partition, service, '', account, 'root'].join(':');
}

/**
 * IAM resource patterns for a glob. A `**` segment that may stand for no segment at all (leading or in the middle)
 * gives two patterns, without it and with `*`: `a/**\/b` → `a/b`, `a/*\/b`; `**\/b` → `b`, `*\/b`. A trailing or
 * lone `**` is one or more segments: `*`.
 */
export function iamRepositoryPatterns(glob: string): string[] {
  const segments = glob.split('/');
  const optional = segments.findIndex((segment, i) => segment === '**' && i < segments.length - 1);
  if (optional === -1) return [glob.replace(/\*\*/g, '*')];
  const without = [...segments.slice(0, optional), ...segments.slice(optional + 1)].join('/');
  const withStar = [...segments.slice(0, optional), '*', ...segments.slice(optional + 1)].join('/');
  return [...iamRepositoryPatterns(without), ...iamRepositoryPatterns(withStar)];
}

function repositoryArns(registry: EcrRegistry, globs: readonly string[]): string[] {
  const arns = globs.flatMap(iamRepositoryPatterns).map((p) => `arn:${registry.partition}:ecr:${registry.region}:${registry.account}:repository/${p}`);
  return [...new Set(arns)];
}

/** What the tenants sharing one role bring to its documents. */
interface SharedRole {
  readonly roleArn: string;
  readonly tenants: string[];
  readonly grants: CompiledGrant[];
  /** Distinct external ids, in policy order. */
  readonly externalIds: string[];
  /** Distinct non-empty session tag sets, each sorted by key, in policy order. */
  readonly tagSets: [string, string][][];
}

/** Tag entries sorted by key (code-unit order; keys of one set are unique), so that equal sets compare equal. */
function sortedTags(tags: Readonly<Record<string, string>> | undefined): [string, string][] {
  return Object.entries(tags ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
}

function sharedRoles(policy: CompiledPolicy): Map<string, SharedRole> {
  const roles = new Map<string, SharedRole>();
  for (const [name, tenant] of policy.tenants) {
    for (const grant of grantsOf(tenant)) {
      let role = roles.get(grant.roleArn);
      if (role === undefined) {
        role = { roleArn: grant.roleArn, tenants: [], grants: [], externalIds: [], tagSets: [] };
        roles.set(grant.roleArn, role);
      }
      role.grants.push(grant);
      if (role.tenants.includes(name)) continue;
      role.tenants.push(name);
      if (tenant.externalId !== undefined && !role.externalIds.includes(tenant.externalId)) role.externalIds.push(tenant.externalId);
      const tags = sortedTags(tenant.sessionTags);
      const known = role.tagSets.some((set) => JSON.stringify(set) === JSON.stringify(tags));
      if (tags.length > 0 && !known) role.tagSets.push(tags);
    }
  }
  return roles;
}

/**
 * sts:AssumeRole, with the external id(s) as condition, and one sts:TagSession statement per distinct tag set that
 * allows exactly that set: each of its tags with its value, and no other key. AssumeRole with tags needs both
 * actions allowed, so a session gets in with one tenant's tags or (for an untagged role) none. AssumeRole itself
 * carries no tag condition: which request-tag keys AWS evaluates for the sts:AssumeRole action is not documented
 * to be relied on, and a condition it did not evaluate would refuse every mint. The trust principal is the webhook
 * alone, which always sends the tenant's tags.
 */
function trustPolicy(role: SharedRole, principal: string): PolicyDocumentJson {
  const condition: Record<string, Record<string, string | string[]>> = {};
  if (role.externalIds.length > 0) {
    condition.StringEquals = { 'sts:ExternalId': role.externalIds.length === 1 ? role.externalIds[0]! : role.externalIds };
  }
  const assume: Statement = {
    Sid: 'EcrTenantWebhookAssumes',
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: 'sts:AssumeRole',
    ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
  };
  const tagSessions = role.tagSets.map(
    (tags, i): Statement => ({
      Sid: role.tagSets.length === 1 ? 'EcrTenantWebhookTagSession' : `EcrTenantWebhookTagSession${i + 1}`,
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: 'sts:TagSession',
      Condition: {
        StringEquals: Object.fromEntries(tags.map(([key, value]) => [`aws:RequestTag/${key}`, value])),
        'ForAllValues:StringEquals': { 'aws:TagKeys': tags.map(([key]) => key) },
      },
    }),
  );
  return { Version: IAM_VERSION, Statement: [assume, ...tagSessions] };
}

function permissionPolicy(grants: readonly CompiledGrant[]): PolicyDocumentJson {
  const resources = grants.flatMap((g) => repositoryArns(g.registry, g.globs.map((glob) => glob.source)));
  return {
    Version: IAM_VERSION,
    Statement: [
      { Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      { Sid: 'PullGrantedRepositories', Effect: 'Allow', Action: PULL_ACTIONS, Resource: [...new Set(resources)] },
    ],
  };
}

function grantsOf(tenant: CompiledTenant): CompiledGrant[] {
  return [...tenant.grantsByRegistry.values()].flat();
}

/** Roles that are not ARNs (a placeholder such as "optional override") cannot go into IAM documents. */
function roleProblems(name: string, tenant: CompiledTenant): string[] {
  return grantsOf(tenant).flatMap((grant) => {
    const problem = roleArnProblem(grant.roleArn);
    return problem === undefined ? [] : [`${grant.at} (role of tenant ${JSON.stringify(name)}): ${problem}`];
  });
}

function registryPolicies(grants: readonly CompiledGrant[]): RegistryPolicy[] {
  const byRegistry = new Map<string, CompiledGrant[]>();
  for (const grant of grants) byRegistry.set(grant.registry.host, [...(byRegistry.get(grant.registry.host) ?? []), grant]);
  return [...byRegistry.values()].map((list) => {
    const { registry } = list[0]!;
    return {
      registry: registry.host,
      account: registry.account,
      region: registry.region,
      repositories: [...new Set(list.flatMap((g) => g.globs.map((glob) => glob.source)))],
      repositoryPolicy: {
        Version: IAM_VERSION,
        Statement: [
          {
            Sid: 'EcrTenantWebhookPull',
            Effect: 'Allow',
            Principal: { AWS: [...new Set(list.map((g) => g.roleArn))] },
            Action: PULL_ACTIONS,
          },
        ],
      },
    };
  });
}

/**
 * Without the webhook's role ARN the tenant role trusts its own account's root, which any principal of that
 * account with sts:AssumeRole permission can use; the webhook role ARN narrows it.
 */
export function awsPolicies(policy: CompiledPolicy, webhookRoleArn: string | undefined, source: string): Record<string, TenantAwsPolicies> {
  const problems = [...policy.tenants].flatMap(([name, tenant]) => roleProblems(name, tenant));
  if (problems.length > 0) throw new PolicyError(source, problems);
  const shared = sharedRoles(policy);
  // One set of documents per role, handed to each tenant that uses it.
  const documents = new Map<string, RolePolicies>();
  for (const role of shared.values()) {
    documents.set(role.roleArn, {
      roleArn: role.roleArn,
      tenants: role.tenants,
      trustPolicy: trustPolicy(role, webhookRoleArn ?? accountRootOf(role.roleArn)),
      permissionPolicy: permissionPolicy(role.grants),
    });
  }
  const out: Record<string, TenantAwsPolicies> = {};
  for (const [name, tenant] of policy.tenants) {
    const grants = grantsOf(tenant);
    const roles = [...new Set(grants.map((g) => g.roleArn))];
    out[name] = { roles: roles.map((roleArn) => documents.get(roleArn)!), registries: registryPolicies(grants) };
  }
  return out;
}
