import { readFileSync } from 'node:fs';
import t from 'tap';
import { deriveAwsPolicies, GRANTED_ACTIONS, VERIFY_ACTIONS, type RegistrySideOptions } from '../../src/policy/aws-policies.ts';
import { cloudFormationTemplates, terraformModules, WEBHOOK_ROLE_PLACEHOLDER } from '../../src/policy/aws-templates.ts';
import { parsePolicy } from '../../src/policy/load.ts';

const WEBHOOK_ROLE = 'arn:aws:iam::444444444444:role/ecr-tenant-webhook';
const ACCOUNTS = parsePolicy(readFileSync(new URL('../fixtures/aws-policies/accounts.yaml', import.meta.url), 'utf8'), 'accounts.yaml');
const derive = (options: RegistrySideOptions, principal: string = WEBHOOK_ROLE) => deriveAwsPolicies(ACCOUNTS, principal, 'accounts.yaml', options);
const ORG = { orgId: 'o-abcdefghij', orgPath: 'o-abcdefghij/r-ab12/ou-ab12-11111111/' };

type Json = Record<string, any>;

/**
 * The AWS provider's arguments for each resource type emitted (hashicorp/aws 5.x), with their types; there is no
 * terraform binary here, so the shapes are checked against these.
 */
const TERRAFORM_SCHEMA: Record<string, Record<string, 'string' | 'policy'>> = {
  aws_iam_role: { name: 'string', path: 'string', description: 'string', assume_role_policy: 'policy' },
  aws_iam_role_policy: { name: 'string', role: 'string', policy: 'policy' },
  aws_ecr_registry_policy: { provider: 'string', policy: 'policy' },
  aws_ecr_repository_policy: { provider: 'string', for_each: 'string', repository: 'string', policy: 'policy' },
};

/** The JSON a policy string holds once Terraform has read it: `$${` is a literal `${`. */
const policyOf = (text: string) => JSON.parse(text.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{'));

t.test('every Terraform module has the top-level blocks, resources, arguments and references of a valid root module', async (t) => {
  for (const options of [{}, { registryPolicy: true }, { registryPolicy: true, ...ORG, orgOnly: true }]) {
    for (const principal of [WEBHOOK_ROLE, WEBHOOK_ROLE_PLACEHOLDER]) {
      const modules = terraformModules(derive(options, principal));
      t.same(Object.keys(modules), ['111111111111', '222222222222', '333333333333', '555555555555'], 'one module per account');
      for (const [account, module] of Object.entries(modules) as [string, Json][]) {
        const text = JSON.stringify(module);
        t.same(JSON.parse(text), module, `${account}: plain JSON`);
        t.ok(Object.keys(module).every((key) => ['//', 'terraform', 'provider', 'variable', 'resource'].includes(key)), `${account}: top-level blocks`);
        t.same(module.terraform, { required_providers: { aws: { source: 'hashicorp/aws', version: '>= 5.0' } } });
        const aliases = (module.provider?.aws ?? []).map((p: Json) => `aws.${p.alias}`);
        for (const [type, instances] of Object.entries(module.resource as Json)) {
          const schema = TERRAFORM_SCHEMA[type];
          t.ok(schema, `${account}: ${type} is a known resource type`);
          for (const [name, body] of Object.entries(instances as Json)) {
            t.match(name, /^[A-Za-z_][A-Za-z0-9_-]*$/, `${type}.${name}: a valid name`);
            for (const [argument, value] of Object.entries(body as Json)) {
              if (argument === 'depends_on') {
                // Terraform's meta-argument: addresses of resources the module declares.
                for (const address of value as string[]) {
                  const [kind, id] = address.split('.');
                  t.ok(module.resource[kind!]?.[id!], `${type}.${name} depends on ${address}, which is declared`);
                }
                continue;
              }
              t.equal(typeof value, 'string', `${type}.${name}.${argument} is a string`);
              if (schema?.[argument] === 'policy') t.equal(policyOf(value as string).Version, '2012-10-17', `${type}.${name}.${argument} is a policy`);
              else t.ok(schema?.[argument], `${type}.${name}.${argument} is an argument of ${type}`);
            }
            if ('provider' in (body as Json)) t.ok(aliases.includes((body as Json).provider), `${type}.${name}: its provider is declared`);
          }
        }
        for (const [, reference] of text.matchAll(/(?<!\$)\$\{([^}]*)\}/g)) {
          const [kind, name] = reference!.replace(/^toset\((.*)\)$/, '$1').split('.');
          if (kind === 'var') t.ok(module.variable?.[name!], `${account}: variable ${name} is declared`);
          else if (kind === 'aws_iam_role') t.ok(module.resource.aws_iam_role[name!], `${account}: role ${name} is declared`);
          else t.equal(reference, 'each.value', `${account}: ${reference}`);
        }
      }
    }
  }
});

t.test('a Terraform module grants pulls through a registry policy per region, or repository policies on listed repositories', async (t) => {
  const registry = terraformModules(derive({ registryPolicy: true }))['111111111111']!;
  t.same(registry.provider, { aws: [{ alias: 'eu_west_1', region: 'eu-west-1' }, { alias: 'us_east_1', region: 'us-east-1' }] });
  t.same(Object.keys(registry.resource as Json), ['aws_ecr_registry_policy']);
  const policy = policyOf((registry.resource as Json).aws_ecr_registry_policy.eu_west_1.policy);
  t.same(policy.Statement.map((s: Json) => [s.Sid, s.Principal.AWS, s.Resource]), [
    ['EcrTenantWebhookPull1', ['arn:aws:iam::222222222222:role/ecr-pull-shared'], ['payments/*', 'shared/*', 'billing/api'].map((p) => `arn:aws:ecr:eu-west-1:111111111111:repository/${p}`)],
    ['EcrTenantWebhookPull2', ['arn:aws:iam::333333333333:role/teams/ecr-pull-analytics'], ['arn:aws:ecr:eu-west-1:111111111111:repository/analytics/*']],
    ['EcrTenantWebhookVerify', ['arn:aws:iam::222222222222:role/ecr-pull-shared', 'arn:aws:iam::333333333333:role/teams/ecr-pull-analytics'], ['arn:aws:ecr:eu-west-1:111111111111:repository/*']],
  ]);
  const repositories = terraformModules(derive({}))['111111111111']!;
  // eu-west-1's globs are granted to two roles: each group of them takes a policy naming only its own role.
  t.same(repositories.variable as Json, {
    repositories_eu_west_1_c1ace707: { type: 'list(string)', description: 'names of the existing repositories in eu-west-1 matching payments/*, shared/**, billing/api', default: [] },
    repositories_eu_west_1_c856e576: { type: 'list(string)', description: 'names of the existing repositories in eu-west-1 matching analytics/**', default: [] },
    repositories_us_east_1_c1ace707: { type: 'list(string)', description: 'names of the existing repositories in us-east-1 matching a/**/b', default: [] },
  });
  const policies = (repositories.resource as Json).aws_ecr_repository_policy;
  t.same(Object.keys(policies), ['eu_west_1_c1ace707', 'eu_west_1_c856e576', 'us_east_1_c1ace707']);
  t.same(policyOf(policies.eu_west_1_c1ace707.policy).Statement[0].Principal.AWS, ['arn:aws:iam::222222222222:role/ecr-pull-shared']);
  t.same(policyOf(policies.eu_west_1_c856e576.policy).Statement[0].Principal.AWS, ['arn:aws:iam::333333333333:role/teams/ecr-pull-analytics']);
  t.same(policies.eu_west_1_c856e576.for_each, '${toset(var.repositories_eu_west_1_c856e576)}');
  t.same(policies.us_east_1_c1ace707.for_each, '${toset(var.repositories_us_east_1_c1ace707)}', 'a group keeps its name in every region: it is named by its roles');
});

t.test('a module and a stack make their own roles before the registry side that names them', async (t) => {
  const ownRegistry = parsePolicy(
    JSON.stringify({
      apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
      kind: 'TenantPolicy',
      spec: { tenants: { a: { roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-a', grants: [{ registry: '111111111111.dkr.ecr.eu-west-1.amazonaws.com', repositories: ['a/*'] }] } } },
    }),
    'own.json',
  );
  const set = (options: RegistrySideOptions) => deriveAwsPolicies(ownRegistry, WEBHOOK_ROLE, 'own.json', options);
  t.same((terraformModules(set({ registryPolicy: true }))['111111111111']!.resource as Json).aws_ecr_registry_policy.eu_west_1.depends_on, ['aws_iam_role.ecr_pull_a']);
  t.same(Object.values((terraformModules(set({}))['111111111111']!.resource as Json).aws_ecr_repository_policy as Record<string, Json>).map((p) => p.depends_on), [['aws_iam_role.ecr_pull_a']]);
  t.same((cloudFormationTemplates(set({ registryPolicy: true })).templates['111111111111'] as Json).Resources.EcrRegistryPolicy.DependsOn, ['TenantRoleEcrPullA']);
  t.notOk('depends_on' in (terraformModules(derive({}))['111111111111']!.resource as Json).aws_ecr_repository_policy.us_east_1_c1ace707, 'an account without roles depends on none');
});

t.test('a Terraform module takes the webhook role as a variable when it is not given, and keeps other ${ literal', async (t) => {
  const module = terraformModules(derive({}, WEBHOOK_ROLE_PLACEHOLDER))['222222222222']!;
  t.same(module.variable, { webhook_role_arn: { type: 'string', description: "ARN of the webhook's own IAM role, which every tenant role trusts" } });
  const role = (module.resource as Json).aws_iam_role.ecr_pull_shared;
  t.match(role.assume_role_policy, '"Principal":{"AWS":"${var.webhook_role_arn}"}');
  t.match(role.assume_role_policy, '"aws:RequestTag/env":"prod"');
  t.same((module.resource as Json).aws_iam_role_policy.ecr_pull_shared.role, '${aws_iam_role.ecr_pull_shared.id}');
  const literal = terraformModules(derive({}, 'arn:aws:iam::444444444444:role/${odd}%{x}'))['222222222222']!;
  t.match((literal.resource as Json).aws_iam_role.ecr_pull_shared.assume_role_policy, '"AWS":"arn:aws:iam::444444444444:role/$${odd}%%{x}"');
});

t.test('CloudFormation has one stack per account, the registry policies of a two-region account in a stack per region', async (t) => {
  const { templates, repositoryPolicies } = cloudFormationTemplates(derive({ registryPolicy: true }));
  t.same(Object.keys(templates), ['111111111111-eu-west-1', '111111111111-us-east-1', '222222222222', '333333333333', '555555555555']);
  t.same(repositoryPolicies, {}, 'no repository policies with registry policies');
  const west = templates['111111111111-eu-west-1'] as Json;
  t.same(Object.keys(west.Resources), ['EcrRegistryPolicy']);
  t.same(west.Rules.RegistryRegion.Assertions[0].Assert, { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] });
  const analytics = templates['333333333333'] as Json;
  t.match(analytics.Description, /account 333333333333; deploy in eu-central-1$/);
  t.same(analytics.Resources.TenantRoleEcrPullAnalytics.Properties.Path, '/teams/');
  t.same(analytics.Resources.TenantRoleEcrPullAnalytics.Properties.RoleName, 'ecr-pull-analytics');
  t.notOk('Parameters' in analytics, 'no parameter when the webhook role is given');
  const roles = templates['222222222222'] as Json;
  t.match(roles.Description, /deploy in any one region \(IAM is global\)$/);
  t.notOk('Rules' in roles, 'a roles-only stack may go in any region');
});

t.test('CloudFormation without registry policies leaves registry-only accounts out and gives the repository policies apart', async (t) => {
  const { templates, repositoryPolicies } = cloudFormationTemplates(derive({}, WEBHOOK_ROLE_PLACEHOLDER));
  t.same(Object.keys(templates), ['222222222222', '333333333333', '555555555555']);
  t.same(Object.keys(repositoryPolicies), ['111111111111-eu-west-1-c1ace707', '111111111111-eu-west-1-c856e576', '111111111111-us-east-1-c1ace707', '333333333333-eu-central-1-c856e576', '555555555555-cn-north-1-ed1993ef']);
  t.same(
    [repositoryPolicies['111111111111-eu-west-1-c1ace707']!.repositories, repositoryPolicies['111111111111-eu-west-1-c856e576']!.repositories],
    [['payments/*', 'shared/**', 'billing/api'], ['analytics/**']],
    'a registry whose globs two roles are granted takes a policy per role',
  );
  t.same(repositoryPolicies['111111111111-us-east-1-c1ace707'], {
    description: 'set on each repository of 111111111111 in us-east-1 matching a/**/b',
    repositories: ['a/**/b'],
    registries: ['111111111111.dkr.ecr.us-east-1.amazonaws.com'],
    command: 'aws ecr set-repository-policy --region us-east-1 --repository-name REPOSITORY --policy-text file://policy.json',
    policy: {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'EcrTenantWebhookPull', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam::222222222222:role/ecr-pull-shared'] }, Action: GRANTED_ACTIONS },
        { Sid: 'EcrTenantWebhookVerify', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam::222222222222:role/ecr-pull-shared'] }, Action: VERIFY_ACTIONS },
      ],
    },
  });
  const shared = templates['222222222222'] as Json;
  t.same(shared.Parameters.WebhookRoleArn.Type, 'String');
  const trust = shared.Resources.TenantRoleEcrPullShared.Properties.AssumeRolePolicyDocument;
  t.ok(trust.Statement.every((s: Json) => JSON.stringify(s.Principal) === '{"AWS":{"Ref":"WebhookRoleArn"}}'), 'every trust statement refers to the parameter');
  t.same(shared.Metadata.EcrTenantWebhook.notes[1], 'tenants payments, billing share role arn:aws:iam::222222222222:role/ecr-pull-shared: its trust and permission policies allow all of them');
});

t.test('roles whose names differ only in characters an identifier drops get distinct logical ids and resource names', async (t) => {
  const grant = (role: string) => ({ roleArn: `arn:aws:iam::111111111111:role/${role}`, grants: [{ registry: '111111111111.dkr.ecr.eu-west-1.amazonaws.com', repositories: ['a'] }] });
  const policy = parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: { a: grant('pull.x'), b: grant('pull-x'), c: grant('x/pull_x') } } }), 'p.json');
  const set = deriveAwsPolicies(policy, WEBHOOK_ROLE, 'p.json', { registryPolicy: true });
  t.same(Object.keys((cloudFormationTemplates(set).templates['111111111111'] as Json).Resources), ['TenantRolePullX', 'TenantRolePullX2', 'TenantRolePullX3', 'EcrRegistryPolicy']);
  t.same(Object.keys((terraformModules(set)['111111111111']!.resource as Json).aws_iam_role), ['pull_x', 'pull_x2', 'pull_x3']);
});
