import t from 'tap';
import { fixture, runCli } from './run-cli.ts';

const POLICY = fixture('policy.yaml');
const WEBHOOK_ROLE = 'arn:aws:iam::444444444444:role/ecr-tenant-webhook';

t.test('aws-policies prints valid IAM JSON per tenant: trust, permission and repository policies', async (t) => {
  const { code, stdout, stderr } = runCli(['aws-policies', '--policy', POLICY, '--webhook-role-arn', WEBHOOK_ROLE]);
  t.equal(code, 0, stderr);
  t.equal(stderr, '', 'no placeholder note when the webhook role is given');
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
      Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/payments/*', 'arn:aws:ecr:eu-west-1:111111111111:repository/shared/*'],
    },
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
  t.equal(stderr, `note: tenants payments, billing share role ${role}: its trust and permission policies, printed under each, allow all of them\n`);
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
