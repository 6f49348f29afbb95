import type { AccountAwsPolicies, AwsPolicySet, PolicyDocumentJson, RegistryAccountPolicy, RolePolicies } from './aws-policies.ts';

/**
 * The per-account view of deriveAwsPolicies rendered as what people deploy with: CloudFormation templates and
 * Terraform JSON modules. Renderings only: every document comes from the one derivation, so the formats cannot
 * drift apart. Pure: files are written by the caller.
 *
 * Without the webhook's role ARN the documents are derived with WEBHOOK_ROLE_PLACEHOLDER as the trust principal,
 * which each format turns into an input of its own (a CloudFormation Parameter, a Terraform variable) instead of
 * trusting the account root.
 */
export const WEBHOOK_ROLE_PLACEHOLDER = '${WebhookRoleArn}';
const INLINE_POLICY_NAME = 'ecr-tenant-webhook-pull';
const ROLE_ARN_PATTERN = '^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$';
const WEBHOOK_ROLE_DESCRIPTION = "ARN of the webhook's own IAM role, which every tenant role trusts";

/** Role name and path of a role ARN already checked with roleArnProblem: `role/teams/x` is path `/teams/`, name `x`. */
export function roleNameAndPath(roleArn: string): { name: string; path: string } {
  const resource = roleArn.slice(roleArn.indexOf(':role/') + ':role/'.length);
  const slash = resource.lastIndexOf('/');
  return { name: resource.slice(slash + 1), path: `/${resource.slice(0, slash + 1)}` };
}

/** Identifiers from names, made unique by a numeric suffix: Role names may differ only in characters an id drops. */
function uniqueIds(names: readonly string[], sanitize: (name: string) => string): string[] {
  const seen = new Set<string>();
  return names.map((name) => {
    const base = sanitize(name);
    let id = base;
    for (let n = 2; seen.has(id); n++) id = `${base}${n}`;
    seen.add(id);
    return id;
  });
}

const pascal = (name: string) => name.split(/[^A-Za-z0-9]+/).map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
const snake = (name: string) => name.replace(/[^A-Za-z0-9]+/g, '_').replace(/^(?=[0-9])/, '_');

/** A copy of a document with every string equal to `from` replaced by `to` (any JSON value). */
function replaceString(value: unknown, from: string, to: unknown): unknown {
  if (value === from) return to;
  if (Array.isArray(value)) return value.map((item) => replaceString(item, from, to));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceString(v, from, to)]));
  return value;
}

function usesPlaceholder(roles: readonly RolePolicies[]): boolean {
  return roles.some((role) => JSON.stringify(role.trustPolicy).includes(JSON.stringify(WEBHOOK_ROLE_PLACEHOLDER)));
}

/** How to set a repository policy on a repository that exists, for the note that goes with one. */
function setRepositoryPolicyCommand(registry: RegistryAccountPolicy): string {
  return `aws ecr set-repository-policy --region ${registry.region} --repository-name REPOSITORY --policy-text file://policy.json`;
}

export interface CloudFormationOutput {
  /** Templates by stack: the account id, or `ACCOUNT-REGION` for a further region's registry policy. */
  templates: Record<string, Record<string, unknown>>;
  /**
   * Repository policies by `ACCOUNT-REGION`: CloudFormation sets one only on a repository the stack itself creates
   * (AWS::ECR::Repository RepositoryPolicyText), and granted repositories exist already, so these are documents to
   * set with `aws ecr set-repository-policy`; --registry-policy makes them part of the templates instead.
   */
  repositoryPolicies: Record<string, { description: string; repositories: string[]; registries: string[]; command: string; policy: PolicyDocumentJson }>;
}

interface Stack {
  key: string;
  account: string;
  region: string | undefined;
  roles: RolePolicies[];
  registryPolicies: RegistryAccountPolicy[];
}

/**
 * A stack is regional and IAM is global: an account whose registry policies are all in one region is one stack (to
 * deploy in that region); with several regions the roles are stack `ACCOUNT` and each region's registry policy a
 * stack `ACCOUNT-REGION`. A stack with nothing to create is left out.
 */
function stacksOf(account: AccountAwsPolicies): Stack[] {
  const withPolicy = account.registries.filter((r) => r.registryPolicy !== undefined);
  const regions = [...new Set(withPolicy.map((r) => r.region))];
  const stacks: Stack[] =
    regions.length <= 1
      ? [{ key: account.account, account: account.account, region: regions[0], roles: account.roles, registryPolicies: withPolicy }]
      : [
          { key: account.account, account: account.account, region: undefined, roles: account.roles, registryPolicies: [] },
          ...regions.map((region) => ({ key: `${account.account}-${region}`, account: account.account, region, roles: [], registryPolicies: withPolicy.filter((r) => r.region === region) })),
        ];
  return stacks.filter((stack) => stack.roles.length > 0 || stack.registryPolicies.length > 0);
}

function cloudFormationTemplate(stack: Stack, notes: readonly string[]): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  const roleIds = uniqueIds(stack.roles.map((role) => roleNameAndPath(role.roleArn).name), (name) => `TenantRole${pascal(name)}`);
  stack.roles.forEach((role, i) => {
    const { name, path } = roleNameAndPath(role.roleArn);
    resources[roleIds[i]!] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        RoleName: name,
        Path: path,
        Description: `ECR pulls for tenants ${role.tenants.join(', ')}, assumed by ecr-tenant-webhook`,
        AssumeRolePolicyDocument: replaceString(role.trustPolicy, WEBHOOK_ROLE_PLACEHOLDER, { Ref: 'WebhookRoleArn' }),
        Policies: [{ PolicyName: INLINE_POLICY_NAME, PolicyDocument: role.permissionPolicy }],
      },
    };
  });
  // ECR checks that the principals of a registry policy exist: the roles of the same stack come first. Roles of other
  // accounts must exist already (deploy the tenant-role accounts' stacks first).
  const dependsOn = roleIds.length > 0 ? { DependsOn: roleIds } : {};
  for (const registry of stack.registryPolicies) {
    resources.EcrRegistryPolicy = { Type: 'AWS::ECR::RegistryPolicy', ...dependsOn, Properties: { PolicyText: registry.registryPolicy } };
  }
  const where = stack.region === undefined ? 'deploy in any one region (IAM is global)' : `deploy in ${stack.region}`;
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `ecr-tenant-webhook: tenant pull roles and registry access of account ${stack.account}; ${where}`,
    Metadata: { EcrTenantWebhook: { notes } },
    ...(usesPlaceholder(stack.roles)
      ? { Parameters: { WebhookRoleArn: { Type: 'String', Description: WEBHOOK_ROLE_DESCRIPTION, AllowedPattern: ROLE_ARN_PATTERN } } }
      : {}),
    ...(stack.registryPolicies.length > 0
      ? {
          Rules: {
            RegistryRegion: {
              Assertions: [{ Assert: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, stack.region] }, AssertDescription: `the registry policy is for ${stack.region}: deploy this stack there` }],
            },
          },
        }
      : {}),
    Resources: resources,
  };
}

export function cloudFormationTemplates(set: AwsPolicySet): CloudFormationOutput {
  const templates: CloudFormationOutput['templates'] = {};
  const repositoryPolicies: CloudFormationOutput['repositoryPolicies'] = {};
  for (const account of set.accounts) {
    for (const stack of stacksOf(account)) templates[stack.key] = cloudFormationTemplate(stack, set.notes);
    for (const registry of account.registries) {
      for (const group of registry.repositoryPolicies ?? []) {
        repositoryPolicies[`${registry.account}-${registry.region}-${group.id}`] = {
          description: `set on each repository of ${registry.account} in ${registry.region} matching ${group.repositories.join(', ')}`,
          repositories: group.repositories,
          registries: registry.registries,
          command: setRepositoryPolicyCommand(registry),
          policy: group.policy,
        };
      }
    }
  }
  return { templates, repositoryPolicies };
}

/** A string Terraform takes literally: `${` and `%{` start templates in every Terraform string. */
const terraformLiteral = (text: string) => text.replace(/([$%])\{/g, (_, sign: string) => `${sign}${sign}{`);

/** A policy document as the JSON string the AWS provider takes, the webhook placeholder becoming the variable. */
function terraformPolicy(document: PolicyDocumentJson): string {
  return terraformLiteral(JSON.stringify(document)).replaceAll(terraformLiteral(WEBHOOK_ROLE_PLACEHOLDER), '${var.webhook_role_arn}');
}

const providerAlias = (region: string) => `aws.${snake(region)}`;

/**
 * One Terraform JSON root module per account (apply it with that account's credentials). IAM uses the default
 * provider; each registry region has a provider alias. Repository policies go on the repositories listed in a
 * variable per region, as IAM patterns cannot name existing repositories to Terraform.
 */
function terraformModule(account: AccountAwsPolicies, notes: readonly string[]): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  const resources: Record<string, Record<string, unknown>> = {};
  const add = (type: string, name: string, body: Record<string, unknown>) => {
    resources[type] = { ...resources[type], [name]: body };
  };
  if (usesPlaceholder(account.roles)) variables.webhook_role_arn = { type: 'string', description: WEBHOOK_ROLE_DESCRIPTION };
  const roleIds = uniqueIds(account.roles.map((role) => roleNameAndPath(role.roleArn).name), snake);
  account.roles.forEach((role, i) => {
    const { name, path } = roleNameAndPath(role.roleArn);
    const id = roleIds[i]!;
    add('aws_iam_role', id, {
      name,
      path,
      description: `ECR pulls for tenants ${role.tenants.join(', ')}, assumed by ecr-tenant-webhook`,
      assume_role_policy: terraformPolicy(role.trustPolicy),
    });
    add('aws_iam_role_policy', id, { name: INLINE_POLICY_NAME, role: `\${aws_iam_role.${id}.id}`, policy: terraformPolicy(role.permissionPolicy) });
  });
  const regions = [...new Set(account.registries.map((r) => r.region))];
  // ECR checks that a policy's principals exist: this account's roles are made first.
  const dependsOn = roleIds.length > 0 ? { depends_on: roleIds.map((id) => `aws_iam_role.${id}`) } : {};
  for (const registry of account.registries) {
    const id = snake(registry.region);
    const provider = providerAlias(registry.region);
    if (registry.registryPolicy !== undefined) {
      add('aws_ecr_registry_policy', id, { provider, policy: terraformPolicy(registry.registryPolicy), ...dependsOn });
      continue;
    }
    for (const group of registry.repositoryPolicies!) {
      const name = `${id}_${group.id}`;
      const variable = `repositories_${name}`;
      variables[variable] = {
        type: 'list(string)',
        description: terraformLiteral(`names of the existing repositories in ${registry.region} matching ${group.repositories.join(', ')}`),
        default: [],
      };
      add('aws_ecr_repository_policy', name, { provider, for_each: `\${toset(var.${variable})}`, repository: '${each.value}', policy: terraformPolicy(group.policy), ...dependsOn });
    }
  }
  return {
    '//': terraformLiteral(`ecr-tenant-webhook: tenant pull roles and registry access of account ${account.account}. ${notes.join('. ')}`),
    terraform: { required_providers: { aws: { source: 'hashicorp/aws', version: '>= 5.0' } } },
    ...(regions.length > 0 ? { provider: { aws: regions.map((region) => ({ alias: snake(region), region })) } } : {}),
    ...(Object.keys(variables).length > 0 ? { variable: variables } : {}),
    resource: resources,
  };
}

/** Terraform modules by account id. */
export function terraformModules(set: AwsPolicySet): Record<string, Record<string, unknown>> {
  return Object.fromEntries(set.accounts.map((account) => [account.account, terraformModule(account, set.notes)]));
}
