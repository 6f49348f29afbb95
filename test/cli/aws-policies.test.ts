import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { fixture, runCli } from './run-cli.ts';

const POLICY = fixture('policy.yaml');
const WEBHOOK_ROLE = 'arn:aws:iam::444444444444:role/ecr-tenant-webhook';
const IAM_NOTE =
  `IAM's "*" also matches "/", so the IAM patterns of payments/*, tools/* allow deeper repositories than the webhook's globs ` +
  '(payments/* also allows payments/a/b in IAM); the webhook still refuses those images';

t.test('aws-policies prints valid IAM JSON per tenant: trust, permission and repository policies', async (t) => {
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE]);
  t.equal(code, 0, stderr);
  t.notMatch(stderr, /account root/, 'no placeholder note when the webhook role is given');
  t.equal(stderr, `note: ${IAM_NOTE}\n`, 'only the note where IAM allows more than the webhook');
  const { tenants } = JSON.parse(stdout);
  t.same(Object.keys(tenants), ['payments', 'analytics']);
  const [main, tools] = tenants.payments.roles;
  t.equal(main.roleArn, 'arn:aws:iam::111111111111:role/ecr-pull-payments');
  t.same(main.tenants, ['payments'], 'each role names the tenants that use it');
  t.same(main.trustPolicy, {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'EcrTenantWebhookAssumes',
        Effect: 'Allow',
        Principal: { AWS: WEBHOOK_ROLE },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'payments-7f3a' } },
      },
    ],
  });
  t.same(main.permissionPolicy.Statement, [
    { Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
    {
      Sid: 'PullGrantedRepositories',
      Effect: 'Allow',
      Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:DescribeImages'],
      Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/payments/*', 'arn:aws:ecr:eu-west-1:111111111111:repository/shared/*'],
    },
    { Sid: 'ListGrantedRegistriesForVerify', Effect: 'Allow', Action: ['ecr:DescribeRepositories'], Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/*'] },
  ]);
  t.equal(tools.roleArn, 'arn:aws:iam::222222222222:role/ecr-pull-payments-tools', 'a grant role override is a role of its own');
  t.same(tools.permissionPolicy.Statement[1].Resource, ['arn:aws:ecr:us-west-2:222222222222:repository/tools/*']);
  t.match(tenants.payments.registries, [
    { registry: '111111111111.dkr.ecr.eu-west-1.amazonaws.com', account: '111111111111', repositories: ['payments/*', 'shared/**'], repositoryPolicy: { Statement: [{ Principal: { AWS: ['arn:aws:iam::111111111111:role/ecr-pull-payments'] } }] } },
    { registry: '222222222222.dkr.ecr.us-west-2.amazonaws.com', repositoryPolicy: { Statement: [{ Principal: { AWS: ['arn:aws:iam::222222222222:role/ecr-pull-payments-tools'] } }] } },
  ]);
});

t.test('without --webhook-role-arn each role trusts its own account root, and a note says so', async (t) => {
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', POLICY]);
  t.equal(code, 0);
  t.match(stderr, /trusts its own account root/);
  t.equal(JSON.parse(stdout).tenants.analytics.roles[0].trustPolicy.Statement[0].Principal.AWS, 'arn:aws:iam::333333333333:root');
});

t.test('tenants sharing a role get one trust policy with a TagSession statement per tag set, printed under each and noted', async (t) => {
  const role = 'arn:aws:iam::111111111111:role/ecr-pull-shared';
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', fixture('aws-policies/shared-role.yaml'), '--webhook-role-arn', WEBHOOK_ROLE]);
  t.equal(code, 0, stderr);
  t.match(stderr, `note: tenants payments, billing share role ${role}: its trust and permission policies allow all of them\n`);
  const { tenants } = JSON.parse(stdout);
  t.same(tenants.billing.roles, tenants.payments.roles, 'the same documents under each tenant');
  const [shared] = tenants.payments.roles;
  t.same(shared.tenants, ['payments', 'billing']);
  t.same(shared.trustPolicy.Statement, [
    {
      Sid: 'EcrTenantWebhookAssumes',
      Effect: 'Allow',
      Principal: { AWS: WEBHOOK_ROLE },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:ExternalId': ['payments-7f3a', 'billing-91c2'] } },
    },
    {
      Sid: 'EcrTenantWebhookTagSession1',
      Effect: 'Allow',
      Principal: { AWS: WEBHOOK_ROLE },
      Action: 'sts:TagSession',
      Condition: { StringEquals: { 'aws:RequestTag/team': 'payments' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } },
    },
    {
      Sid: 'EcrTenantWebhookTagSession2',
      Effect: 'Allow',
      Principal: { AWS: WEBHOOK_ROLE },
      Action: 'sts:TagSession',
      Condition: { StringEquals: { 'aws:RequestTag/team': 'billing' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } },
    },
  ]);
  t.same(shared.permissionPolicy.Statement[1].Resource, ['arn:aws:ecr:eu-west-1:111111111111:repository/payments/*', 'arn:aws:ecr:eu-west-1:111111111111:repository/billing/*']);
});

t.test('a tenant without session tags sharing a tagged tenant\'s role stops aws-policies, naming both and the role', async (t) => {
  const file = fixture('aws-policies/shared-role-untagged.yaml');
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', file, '--webhook-role-arn', WEBHOOK_ROLE]);
  t.equal(code, 2);
  t.equal(stdout, '', 'no documents are printed');
  t.match(stderr, 'spec.tenants.billing.sessionTags: tenant "billing" assumes role arn:aws:iam::111111111111:role/ecr-pull-shared without session tags, but tenant "payments" (spec.tenants.payments.grants[0]) assumes it with session tags');
});

t.test('a placeholder role in the policy stops aws-policies with the path named', async (t) => {
  const { code, stderr } = runCli(['aws-policies', '--policy', fixture('schema-example.yaml')]);
  t.equal(code, 2);
  t.match(stderr, /schema-example\.yaml: spec\.tenants\.payments\.grants\[0\] \(role of tenant "payments"\): "optional override" is not an IAM role ARN/);
});

t.test('an invalid --webhook-role-arn is a usage error', async (t) => {
  const { code, stderr } = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', 'arn:aws:iam::1:user/x']);
  t.equal(code, 2);
  t.match(stderr, /--webhook-role-arn: "arn:aws:iam::1:user\/x" is not an IAM role ARN/);
});

t.test('the json document carries the notes it prints on stderr', async (t) => {
  const { code, stdout } = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE]);
  t.equal(code, 0);
  t.same(JSON.parse(stdout).notes, [IAM_NOTE]);
});

t.test('with --registry-policy the json document has one registry policy per registry and no repository policies', async (t) => {
  const args = ['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE, '--registry-policy', '--org-id', 'o-abcdefghij', '--org-path', 'o-abcdefghij/r-ab12/ou-ab12-11111111/'];
  const { code, stdout, stderr } = runCli(args);
  t.equal(code, 0, stderr);
  t.match(stderr, /note: a registry has one registry policy per region: setting this one replaces/);
  const document = JSON.parse(stdout);
  t.same(document.tenants.payments.registries[0], { registry: '111111111111.dkr.ecr.eu-west-1.amazonaws.com', account: '111111111111', region: 'eu-west-1', repositories: ['payments/*', 'shared/**'] });
  t.same(document.registryPolicies.map((r: { account: string; region: string }) => `${r.account} ${r.region}`), ['111111111111 eu-west-1', '222222222222 us-west-2', '333333333333 eu-central-1']);
  t.same(document.registryPolicies[0].registryPolicy.Statement, [
    {
      Sid: 'EcrTenantWebhookPull',
      Effect: 'Allow',
      Principal: { AWS: ['arn:aws:iam::111111111111:role/ecr-pull-payments'] },
      Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:DescribeImages'],
      Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/payments/*', 'arn:aws:ecr:eu-west-1:111111111111:repository/shared/*'],
      Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' }, 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': 'o-abcdefghij/r-ab12/ou-ab12-11111111/*' } },
    },
    {
      Sid: 'EcrTenantWebhookVerify',
      Effect: 'Allow',
      Principal: { AWS: ['arn:aws:iam::111111111111:role/ecr-pull-payments'] },
      Action: ['ecr:DescribeRepositories'],
      Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/*'],
      Condition: { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' }, 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': 'o-abcdefghij/r-ab12/ou-ab12-11111111/*' } },
    },
  ]);
});

t.test('with --org-only the registry side names no roles: Principal * held by the organization condition, and a note', async (t) => {
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE, '--org-path', 'o-abcdefghij/r-ab12/', '--org-only']);
  t.equal(code, 0, stderr);
  t.match(stderr, /note: the registry side names no roles: every principal the organization condition admits may pull .*in the registry's own account that needs no IAM policy at all/);
  t.same(JSON.parse(stdout).tenants.analytics.registries[0].repositoryPolicy.Statement[0], {
    Sid: 'EcrTenantWebhookPull',
    Effect: 'Allow',
    Principal: { AWS: '*' },
    Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:DescribeImages'],
    Condition: { 'ForAnyValue:StringLike': { 'aws:PrincipalOrgPaths': 'o-abcdefghij/r-ab12/*' } },
  });
});

t.test('--format cloudformation prints the templates and the repository policies apart, with a note on how to set those', async (t) => {
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', POLICY, '--format', 'cloudformation']);
  t.equal(code, 0, stderr);
  t.match(stderr, 'note: without --webhook-role-arn the templates take the webhook role ARN as an input (parameter WebhookRoleArn)');
  t.match(stderr, 'note: CloudFormation sets a repository policy only on a repository the stack creates');
  const { templates, repositoryPolicies } = JSON.parse(stdout);
  t.same(Object.keys(templates), ['111111111111', '222222222222', '333333333333']);
  t.same(Object.keys(repositoryPolicies), ['111111111111-eu-west-1-7d43faad', '222222222222-us-west-2-3885d8c6', '333333333333-eu-central-1-59f46026']);
  t.same(templates['111111111111'].Metadata.EcrTenantWebhook.notes, [IAM_NOTE]);
});

t.test('--format terraform --out writes a module per account directory; cloudformation --out a file per stack and repository policy', async (t) => {
  const dir = t.testdir();
  const terraform = runCli(['aws-policies', '--policy', POLICY, '--format', 'terraform', '--out', `${dir}/tf`, '--registry-policy']);
  t.equal(terraform.code, 0, terraform.stderr);
  t.equal(terraform.stdout, '', 'nothing on stdout');
  t.match(terraform.stderr, `note: without --webhook-role-arn the templates take the webhook role ARN as an input (variable webhook_role_arn)`);
  t.same(readdirSync(`${dir}/tf`), ['111111111111', '222222222222', '333333333333']);
  const module = JSON.parse(readFileSync(`${dir}/tf/111111111111/ecr-tenant-webhook.tf.json`, 'utf8'));
  t.same(Object.keys(module.resource), ['aws_iam_role', 'aws_iam_role_policy', 'aws_ecr_registry_policy']);
  t.match(terraform.stderr, `wrote ${dir}/tf/111111111111/ecr-tenant-webhook.tf.json\n`);
  const cloudformation = runCli(['aws-policies', '--policy', POLICY, '--format', 'cloudformation', '--out', `${dir}/cfn`, '--webhook-role-arn', WEBHOOK_ROLE]);
  t.equal(cloudformation.code, 0, cloudformation.stderr);
  t.same(readdirSync(`${dir}/cfn`).sort(), [
    '111111111111-eu-west-1-7d43faad.repository-policy.json',
    '111111111111.template.json',
    '222222222222-us-west-2-3885d8c6.repository-policy.json',
    '222222222222.template.json',
    '333333333333-eu-central-1-59f46026.repository-policy.json',
    '333333333333.template.json',
  ]);
  t.same(JSON.parse(readFileSync(`${dir}/cfn/111111111111-eu-west-1-7d43faad.repository-policy.json`, 'utf8')).Statement[0].Sid, 'EcrTenantWebhookPull', 'the bare policy, for --policy-text file://');
  t.match(
    cloudformation.stderr,
    `wrote ${dir}/cfn/111111111111-eu-west-1-7d43faad.repository-policy.json: to set with aws ecr set-repository-policy --region eu-west-1 --repository-name REPOSITORY --policy-text file://policy.json, set on each repository of 111111111111 in eu-west-1 matching payments/*, shared/**\n`,
    'with the command that sets it',
  );
});

t.test('--out with the json format writes each document bare, per account: trust and permission policy per role, the registry side per region', async (t) => {
  const dir = t.testdir();
  const repositories = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE, '--out', `${dir}/iam`]);
  t.equal(repositories.code, 0, repositories.stderr);
  t.equal(repositories.stdout, '', 'nothing on stdout');
  const files = (account: string) => readdirSync(`${dir}/iam/${account}`).sort();
  t.same(readdirSync(`${dir}/iam`).sort(), ['111111111111', '222222222222', '333333333333', 'webhook-policy.json']);
  t.same(files('111111111111'), ['ecr-pull-payments.permission-policy.json', 'ecr-pull-payments.trust-policy.json', 'eu-west-1.repository-policy-7d43faad.json']);
  const { tenants, webhookPolicy } = JSON.parse(runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE]).stdout);
  const read = (path: string) => JSON.parse(readFileSync(`${dir}/${path}`, 'utf8'));
  t.same(read('iam/webhook-policy.json'), webhookPolicy, "the webhook role's own policy, on top");
  t.same(read('iam/111111111111/ecr-pull-payments.trust-policy.json'), tenants.payments.roles[0].trustPolicy, 'the trust policy the document prints');
  t.same(read('iam/111111111111/ecr-pull-payments.permission-policy.json'), tenants.payments.roles[0].permissionPolicy);
  t.same(read('iam/111111111111/eu-west-1.repository-policy-7d43faad.json'), tenants.payments.registries[0].repositoryPolicy, 'one registry, one tenant: its repository policy');
  t.match(repositories.stderr, `wrote ${dir}/iam/111111111111/eu-west-1.repository-policy-7d43faad.json: for the repositories matching payments/*, shared/**\n`, 'which repositories a policy goes on');
  t.notMatch(repositories.stderr, /was not written by this run/, 'a new directory has nothing left over');
  const again = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE, '--out', `${dir}/iam`, '--registry-policy']);
  t.equal(again.code, 0, again.stderr);
  t.match(
    again.stderr,
    `note: ${dir}/iam/111111111111/eu-west-1.repository-policy-7d43faad.json was not written by this run (left from an earlier one?): delete it before applying ${dir}/iam\n`,
    'a repository policy an earlier run wrote, and this one (with a registry policy) did not, is named',
  );
  const registry = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE, '--out', `${dir}/registry`, '--registry-policy']);
  t.equal(registry.code, 0, registry.stderr);
  t.same(readdirSync(`${dir}/registry/111111111111`).sort(), ['ecr-pull-payments.permission-policy.json', 'ecr-pull-payments.trust-policy.json', 'eu-west-1.registry-policy.json']);
  t.same(read('registry/111111111111/eu-west-1.registry-policy.json').Statement.map((s: { Sid: string }) => s.Sid), ['EcrTenantWebhookPull', 'EcrTenantWebhookVerify']);
});

interface UsageCase {
  name: string;
  args: string[];
  message: string | RegExp;
}

const usageCases: UsageCase[] = [
  { name: 'an --org-id that is not an organization id', args: ['--org-id', 'o-abc'], message: '--org-id: "o-abc" is not an AWS Organizations id ("o-" and 10 to 32 lower-case letters or digits)' },
  {
    name: 'an --org-path without its trailing slash',
    args: ['--org-path', 'o-abcdefghij/r-ab12/ou-ab12-11111111'],
    message: '--org-path: "o-abcdefghij/r-ab12/ou-ab12-11111111" is not an organization path (o-ORG/r-ROOT/ and any ou-…/ below it, ending in "/")',
  },
  {
    name: 'an --org-path in another organization than --org-id',
    args: ['--org-id', 'o-abcdefghij', '--org-path', 'o-zzzzzzzzzz/r-ab12/'],
    message: '--org-path: "o-zzzzzzzzzz/r-ab12/" is not in organization o-abcdefghij given with --org-id',
  },
  { name: '--org-only without an organization condition', args: ['--org-only', '--registry-policy'], message: '--org-only: needs --org-id or --org-path, the condition that then admits the principals' },
  { name: 'an unknown --format', args: ['--format', 'yaml'], message: /option '--format <format>' argument 'yaml' is invalid/ },
  { name: 'an --out below a file', args: ['--format', 'terraform', '--out', `${POLICY}/dir`], message: new RegExp(`--out: cannot write ${POLICY}/dir/111111111111/ecr-tenant-webhook.tf.json: `) },
];

for (const c of usageCases) {
  t.test(`${c.name} is a usage error`, async (t) => {
    const { code, stdout, stderr } = runCli(['aws-policies', '--policy', POLICY, ...c.args]);
    t.equal(code, 2);
    t.equal(stdout, '');
    t.match(stderr, c.message);
  });
}
