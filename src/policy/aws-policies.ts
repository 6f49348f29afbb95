import type { EcrRegistry } from '../image/ecr-host.ts';
import type { CompiledGrant, CompiledPolicy, CompiledTenant } from './compile.ts';
import { PolicyError } from './policy-error.ts';
import { roleArnProblem } from './schema.ts';

/**
 * The AWS side a policy implies, per tenant: each role's trust and permission policy, and the statements the
 * registry accounts put on the granted repositories. Pure: it only derives documents.
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
  Condition?: Record<string, Record<string, string>>;
}

export interface PolicyDocumentJson {
  Version: string;
  Statement: Statement[];
}

export interface RolePolicies {
  roleArn: string;
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

function trustPolicy(tenant: CompiledTenant, principal: string): PolicyDocumentJson {
  const tags = Object.entries(tenant.sessionTags ?? {});
  const condition: Record<string, Record<string, string>> = {};
  if (tenant.externalId !== undefined) condition.StringEquals = { 'sts:ExternalId': tenant.externalId };
  if (tags.length > 0) {
    condition.StringEquals = { ...condition.StringEquals, ...Object.fromEntries(tags.map(([k, v]) => [`aws:RequestTag/${k}`, v])) };
  }
  return {
    Version: IAM_VERSION,
    Statement: [
      {
        Sid: 'EcrTenantWebhookAssumes',
        Effect: 'Allow',
        Principal: { AWS: principal },
        Action: tags.length > 0 ? ['sts:AssumeRole', 'sts:TagSession'] : 'sts:AssumeRole',
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      },
    ],
  };
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
  const out: Record<string, TenantAwsPolicies> = {};
  for (const [name, tenant] of policy.tenants) {
    const grants = grantsOf(tenant);
    const roles = [...new Set(grants.map((g) => g.roleArn))];
    out[name] = {
      roles: roles.map((roleArn) => ({
        roleArn,
        trustPolicy: trustPolicy(tenant, webhookRoleArn ?? accountRootOf(roleArn)),
        permissionPolicy: permissionPolicy(grants.filter((g) => g.roleArn === roleArn)),
      })),
      registries: registryPolicies(grants),
    };
  }
  return out;
}

