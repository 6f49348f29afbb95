import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  awsPolicies,
  deriveAwsPolicies,
  iamPatternsIntersect,
  iamRepositoryPatterns,
  GRANTED_ACTIONS,
  PULL_ACTIONS,
  type PolicyDocumentJson,
  type TenantAwsPolicies,
} from '../../src/policy/aws-policies.ts';
import { parsePolicy, PolicyError } from '../../src/policy/load.ts';
import { compileRepositoryGlob, globCovers } from '../../src/policy/repository-glob.ts';

const A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const A_DUAL = '111111111111.dkr-ecr.eu-west-1.on.aws';
const C = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const E = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';
const CN = '555555555555.dkr.ecr.cn-north-1.amazonaws.com.cn';
const GOV = '666666666666.dkr.ecr-fips.us-gov-west-1.amazonaws.com';
const PAYMENTS_ROLE = 'arn:aws:iam::111111111111:role/ecr-pull-payments';
const TOOLS_ROLE = 'arn:aws:iam::222222222222:role/ecr-pull-payments-tools';
const ANALYTICS_ROLE = 'arn:aws:iam::333333333333:role/ecr-pull-analytics';
const CN_ROLE = 'arn:aws-cn:iam::555555555555:role/ecr-pull-cn';
const GOV_ROLE = 'arn:aws-us-gov:iam::666666666666:role/teams/ecr-pull-gov';
const WEBHOOK_ROLE = 'arn:aws:iam::444444444444:role/ecr-tenant-webhook';

/** A policy of these tenants alone. */
const tenantsPolicy = (tenants: Record<string, unknown>, source: string) =>
  parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants } }), source);

const POLICY = parsePolicy(
  JSON.stringify({
    apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
    kind: 'TenantPolicy',
    spec: {
      tenants: {
        payments: {
          roleArn: PAYMENTS_ROLE,
          externalId: 'payments-7f3a',
          sessionTags: { team: 'payments', env: 'prod' },
          grants: [
            { registry: A, repositories: ['payments/*', 'shared/**'] },
            { registry: A_DUAL, repositories: ['payments/*'] },
            { registry: C, repositories: ['tools/*'], roleArn: TOOLS_ROLE },
          ],
        },
        analytics: { roleArn: ANALYTICS_ROLE, grants: [{ registry: E, repositories: ['analytics/**', 'a/**/b', 'a/**/b'] }] },
        china: { roleArn: CN_ROLE, externalId: 'cn-ext', grants: [{ registry: CN, repositories: ['x/*'] }] },
        gov: { grants: [{ registry: GOV, repositories: ['y/*'], roleArn: GOV_ROLE }], sessionTags: { team: 'gov' } },
        idle: { roleArn: 'not-an-arn-but-unused' },
      },
    },
  }),
  'aws-policy.json',
);

const ALL = awsPolicies(POLICY, WEBHOOK_ROLE, 'policy.yaml');
const ROOT_TRUST = awsPolicies(POLICY, undefined, 'policy.yaml');

function tenantOf(all: Record<string, TenantAwsPolicies>, name: string): TenantAwsPolicies {
  const tenant = all[name];
  if (tenant === undefined) throw new Error(`no policies for tenant ${name}`);
  return tenant;
}

function ecrArn(partition: string, region: string, account: string, pattern: string): string {
  return `arn:${partition}:ecr:${region}:${account}:repository/${pattern}`;
}

/** Checks that a document has the shape IAM accepts for an identity, trust or resource policy. */
function assertIamShape(t: { ok: (v: unknown, m: string) => unknown; equal: (a: unknown, b: unknown, m: string) => unknown; same: (a: unknown, b: unknown, m: string) => unknown }, doc: PolicyDocumentJson, what: string): void {
  t.equal(doc.Version, '2012-10-17', `${what}: Version`);
  t.ok(Array.isArray(doc.Statement) && doc.Statement.length > 0, `${what}: a non-empty Statement list`);
  const sids = doc.Statement.map((s) => s.Sid);
  t.equal(new Set(sids).size, sids.length, `${what}: Sids are unique`);
  for (const statement of doc.Statement) {
    t.equal(statement.Effect, 'Allow', `${what}: Effect Allow`);
    t.ok(/^[A-Za-z0-9]+$/.test(statement.Sid), `${what}: Sid ${statement.Sid} is alphanumeric`);
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    t.ok(actions.length > 0 && actions.every((a) => /^(sts|ecr):[A-Za-z]+$/.test(a)), `${what}: actions are service:Action`);
    if (statement.Principal !== undefined) {
      const principals = Array.isArray(statement.Principal.AWS) ? statement.Principal.AWS : [statement.Principal.AWS];
      t.ok(principals.length > 0 && principals.every((p) => /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(root|role\/.+)$/.test(p)), `${what}: principals are IAM ARNs`);
    }
    if (statement.Resource !== undefined) {
      const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
      t.ok(resources.length > 0 && resources.every((r) => r === '*' || r.startsWith('arn:')), `${what}: resources are * or ARNs`);
    }
  }
  t.same(JSON.parse(JSON.stringify(doc)), doc, `${what}: survives JSON`);
}

t.test('every document printed for every tenant has a valid IAM shape', async (t) => {
  for (const all of [ALL, ROOT_TRUST]) {
    for (const [name, tenant] of Object.entries(all)) {
      for (const role of tenant.roles) {
        assertIamShape(t, role.trustPolicy, `${name} trust policy of ${role.roleArn}`);
        assertIamShape(t, role.permissionPolicy, `${name} permission policy of ${role.roleArn}`);
        t.same(
          role.trustPolicy.Statement.map((s) => s.Action),
          ['sts:AssumeRole', ...role.trustPolicy.Statement.slice(1).map(() => 'sts:TagSession')],
          'a trust policy allows sts:AssumeRole first, then sts:TagSession per tag set',
        );
        t.ok(role.trustPolicy.Statement.every((s) => s.Principal !== undefined), 'every trust statement names its principal');
        t.same(role.tenants, [name], 'a role no other tenant uses names its one tenant');
        t.equal(role.permissionPolicy.Statement[0]!.Principal, undefined, 'an identity policy has no principal');
      }
      for (const registry of tenant.registries) {
        assertIamShape(t, registry.repositoryPolicy, `${name} repository policy of ${registry.registry}`);
        t.equal(registry.repositoryPolicy.Statement[0]!.Resource, undefined, 'a repository policy names no resource');
      }
    }
  }
});

t.test('every tenant is listed, a tenant without grants with no roles and no registries', async (t) => {
  t.same(Object.keys(ALL), ['payments', 'analytics', 'china', 'gov', 'idle']);
  t.same(tenantOf(ALL, 'idle'), { roles: [], registries: [] }, "a tenant's unused role is not checked or printed");
});

t.test('the trust policy lets the webhook role assume the tenant role with its ExternalId, and tag sessions with exactly its tags', async (t) => {
  const [main] = tenantOf(ALL, 'payments').roles;
  t.equal(main?.roleArn, PAYMENTS_ROLE);
  t.same(main?.trustPolicy, {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'EcrTenantWebhookAssumes',
        Effect: 'Allow',
        Principal: { AWS: WEBHOOK_ROLE },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'sts:ExternalId': 'payments-7f3a' } },
      },
      {
        Sid: 'EcrTenantWebhookTagSession',
        Effect: 'Allow',
        Principal: { AWS: WEBHOOK_ROLE },
        Action: 'sts:TagSession',
        Condition: {
          StringEquals: { 'aws:RequestTag/env': 'prod', 'aws:RequestTag/team': 'payments' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'team'] },
        },
      },
    ],
  });
  t.same(Object.keys(main?.trustPolicy.Statement[1]?.Condition?.StringEquals ?? {}), ['aws:RequestTag/env', 'aws:RequestTag/team'], 'tags are printed sorted by key');
});

t.test('without session tags the trust policy allows only sts:AssumeRole, conditioned on the ExternalId', async (t) => {
  t.same(tenantOf(ALL, 'china').roles[0]?.trustPolicy.Statement, [
    { Sid: 'EcrTenantWebhookAssumes', Effect: 'Allow', Principal: { AWS: WEBHOOK_ROLE }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'cn-ext' } } },
  ]);
});

t.test('with session tags and no ExternalId the trust policy conditions only on the tags', async (t) => {
  t.same(tenantOf(ALL, 'gov').roles[0]?.trustPolicy.Statement, [
    { Sid: 'EcrTenantWebhookAssumes', Effect: 'Allow', Principal: { AWS: WEBHOOK_ROLE }, Action: 'sts:AssumeRole' },
    {
      Sid: 'EcrTenantWebhookTagSession',
      Effect: 'Allow',
      Principal: { AWS: WEBHOOK_ROLE },
      Action: 'sts:TagSession',
      Condition: { StringEquals: { 'aws:RequestTag/team': 'gov' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } },
    },
  ]);
});

t.test('without ExternalId and session tags the trust policy has no condition at all', async (t) => {
  const statement = tenantOf(ALL, 'analytics').roles[0]?.trustPolicy.Statement[0];
  t.equal(statement?.Action, 'sts:AssumeRole');
  t.notOk(statement !== undefined && 'Condition' in statement, 'no Condition key');
});

t.test("without the webhook role each role trusts its own account's root, in its own partition", async (t) => {
  const principal = (tenant: string, i = 0) => tenantOf(ROOT_TRUST, tenant).roles[i]?.trustPolicy.Statement[0]?.Principal;
  t.same(principal('payments', 0), { AWS: 'arn:aws:iam::111111111111:root' });
  t.same(principal('payments', 1), { AWS: 'arn:aws:iam::222222222222:root' }, 'the override role trusts its own account');
  t.same(principal('china'), { AWS: 'arn:aws-cn:iam::555555555555:root' });
  t.same(principal('gov'), { AWS: 'arn:aws-us-gov:iam::666666666666:root' });
});

t.test('the permission policy allows the authorization token on * and pulls on exactly the granted repositories', async (t) => {
  const [main, tools] = tenantOf(ALL, 'payments').roles;
  t.same(main?.permissionPolicy, {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      {
        Sid: 'PullGrantedRepositories',
        Effect: 'Allow',
        Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:DescribeImages'],
        // The dual-stack host's payments/* is the same repository ARN, listed once.
        Resource: [ecrArn('aws', 'eu-west-1', '111111111111', 'payments/*'), ecrArn('aws', 'eu-west-1', '111111111111', 'shared/*')],
      },
      // verify lists the whole registry: every repository's name, none of its images.
      { Sid: 'ListGrantedRegistriesForVerify', Effect: 'Allow', Action: ['ecr:DescribeRepositories'], Resource: [ecrArn('aws', 'eu-west-1', '111111111111', '*')] },
    ],
  });
  t.same(PULL_ACTIONS, ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability']);
  t.same(tools?.permissionPolicy.Statement[1]?.Resource, [ecrArn('aws', 'us-west-2', '222222222222', 'tools/*')], 'the override role pulls only its own grant');
  t.same(tools?.permissionPolicy.Statement[2]?.Resource, [ecrArn('aws', 'us-west-2', '222222222222', '*')], 'and lists only its own registry');
});

t.test("the webhook's own policy lets it assume every tenant role, and tag the sessions of the tagged ones only", async (t) => {
  const tagged = tenantsPolicy(
    {
      payments: { roleArn: PAYMENTS_ROLE, sessionTags: { team: 'payments' }, grants: [{ registry: A, repositories: ['payments/*'] }, { registry: C, repositories: ['tools/*'], roleArn: TOOLS_ROLE }] },
      billing: { roleArn: PAYMENTS_ROLE, sessionTags: { team: 'billing' }, grants: [{ registry: A, repositories: ['billing/*'] }] },
      analytics: { roleArn: 'arn:aws:iam::333333333333:role/ecr-pull-analytics', grants: [{ registry: A, repositories: ['analytics/*'] }] },
    },
    'tagged.json',
  );
  t.same(deriveAwsPolicies(tagged, WEBHOOK_ROLE, 'tagged.json').webhookPolicy, {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'AssumeTenantRoles', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: [PAYMENTS_ROLE, TOOLS_ROLE, 'arn:aws:iam::333333333333:role/ecr-pull-analytics'] },
      { Sid: 'TagTenantSessions', Effect: 'Allow', Action: 'sts:TagSession', Resource: [PAYMENTS_ROLE, TOOLS_ROLE] },
    ],
  }, 'each role once, in policy order');
  const untagged = tenantsPolicy({ a: { roleArn: TOOLS_ROLE, grants: [{ registry: C, repositories: ['x'] }] } }, 'untagged.json');
  t.same(deriveAwsPolicies(untagged, WEBHOOK_ROLE, 'untagged.json').webhookPolicy.Statement.map((s) => s.Sid), ['AssumeTenantRoles'], 'no TagSession statement without tags');
});

t.test("a repository policy names only the roles granted that repository's glob, never every role pulling from the registry", async (t) => {
  const ROLE_A = 'arn:aws:iam::111111111111:role/ecr-pull-a';
  const ROLE_B = 'arn:aws:iam::222222222222:role/ecr-pull-b';
  const policy = tenantsPolicy(
    {
      a: { roleArn: ROLE_A, grants: [{ registry: A, repositories: ['a/*', 'shared/*'] }] },
      b: { roleArn: ROLE_B, grants: [{ registry: A_DUAL, repositories: ['b/*', 'shared/*'] }] },
    },
    'two.json',
  );
  const set = deriveAwsPolicies(policy, WEBHOOK_ROLE, 'two.json');
  const principals = (document: PolicyDocumentJson) => document.Statement.map((statement) => statement.Principal?.AWS);
  const groups = set.accounts.find((account) => account.account === '111111111111')!.registries[0]!.repositoryPolicies!;
  t.same(
    groups.map((group) => [group.repositories, group.roles, principals(group.policy)]),
    [
      [['a/*'], [ROLE_A], [[ROLE_A], [ROLE_A]]],
      [['shared/*'], [ROLE_A, ROLE_B], [[ROLE_A, ROLE_B], [ROLE_A, ROLE_B]]],
      [['b/*'], [ROLE_B], [[ROLE_B], [ROLE_B]]],
    ],
    "the registry's globs by the roles granted them (the dual-stack host is the same registry)",
  );
  t.same(
    set.tenants.a!.registries.map((r) => [r.registry, r.repositories, principals(r.repositoryPolicy)]),
    [
      [A, ['a/*'], [[ROLE_A], [ROLE_A]]],
      [A, ['shared/*'], [[ROLE_A, ROLE_B], [ROLE_A, ROLE_B]]],
    ],
    "the tenant's view: its own globs, each group with the roles of every tenant granted them",
  );
  t.notOk(set.notes.some((note) => note.includes('can name the same repository')), 'globs that no repository can match both: no note');
  t.match(groups.map((group) => group.id), [/^[0-9a-f]{8}$/, /^[0-9a-f]{8}$/, /^[0-9a-f]{8}$/], 'each group named by a hash of its roles');
  t.equal(new Set(groups.map((group) => group.id)).size, 3);
  const swapped = tenantsPolicy(
    {
      b: { roleArn: ROLE_B, grants: [{ registry: A, repositories: ['shared/*', 'b/*'] }] },
      a: { roleArn: ROLE_A, grants: [{ registry: A, repositories: ['a/*', 'shared/*'] }] },
    },
    'swapped.json',
  );
  const again = deriveAwsPolicies(swapped, WEBHOOK_ROLE, 'swapped.json').accounts.find((account) => account.account === '111111111111')!.registries[0]!.repositoryPolicies!;
  t.same(
    Object.fromEntries(again.map((group) => [group.id, group.repositories])),
    Object.fromEntries(groups.map((group) => [group.id, group.repositories])),
    'tenants in another order, the same roles in another order: the same groups under the same names',
  );
});

interface IntersectCase {
  a: string;
  b: string;
  meet: boolean;
}

const intersectCases: IntersectCase[] = [
  { a: 'team/*', b: 'team/secret/db', meet: true },
  { a: 'team/*', b: 'other/*', meet: false },
  { a: 'pay*/x', b: 'payments/a/x', meet: true },
  { a: 'a/*/b', b: '*/c', meet: false },
  { a: 'a/*/b', b: '*/b', meet: true },
  { a: '*', b: 'anything/at/all', meet: true },
  { a: 'x', b: 'x', meet: true },
  { a: 'x', b: 'y', meet: false },
  { a: 'ab*', b: '*ba', meet: true },
  { a: 'a*', b: 'b*', meet: false },
  { a: '', b: '*', meet: true },
  { a: '', b: 'a', meet: false },
];
for (const c of intersectCases) {
  t.test(`IAM patterns ${c.a} and ${c.b} ${c.meet ? 'can' : 'cannot'} name one repository`, async (t) => {
    t.equal(iamPatternsIntersect(c.a, c.b), c.meet);
    t.equal(iamPatternsIntersect(c.b, c.a), c.meet, 'either way round');
  });
}

t.test("globs of different roles that IAM lets name one repository are noted, naming both tenants; disjoint ones and a role's own are not", async (t) => {
  const policy = tenantsPolicy(
    {
      a: { roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-a', grants: [{ registry: A, repositories: ['team/*', 'a/**'] }] },
      b: { roleArn: 'arn:aws:iam::222222222222:role/ecr-pull-b', grants: [{ registry: A, repositories: ['team/secret/db', 'b/x'] }] },
      c: { roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-a', grants: [{ registry: C, repositories: ['team/secret/db'] }] },
    },
    'overlap.json',
  );
  const notes = deriveAwsPolicies(policy, WEBHOOK_ROLE, 'overlap.json').notes.filter((note) => note.includes('can name the same repository'));
  t.same(notes.length, 1, 'one pair: team/* and team/secret/db; a/** meets neither b glob, and another registry is another matter');
  t.match(notes[0], /^in 111111111111\/eu-west-1, team\/\* \(a, c\) and team\/secret\/db \(b\) can name the same repository in IAM: each of their roles may pull it .*make the globs disjoint/);
});

t.test('a grant that overrides the role gives the tenant a second role with its own policies', async (t) => {
  t.same(
    tenantOf(ALL, 'payments').roles.map((r) => r.roleArn),
    [PAYMENTS_ROLE, TOOLS_ROLE],
  );
});

t.test('a double star in the middle of a glob becomes both the direct and the nested IAM pattern, each once', async (t) => {
  t.same(tenantOf(ALL, 'analytics').roles[0]?.permissionPolicy.Statement[1]?.Resource, [
    ecrArn('aws', 'eu-central-1', '333333333333', 'analytics/*'),
    ecrArn('aws', 'eu-central-1', '333333333333', 'a/b'),
    ecrArn('aws', 'eu-central-1', '333333333333', 'a/*/b'),
  ]);
});

t.test('repository ARNs use the aws-cn partition for China registries and aws-us-gov for GovCloud', async (t) => {
  t.same(tenantOf(ALL, 'china').roles[0]?.permissionPolicy.Statement[1]?.Resource, [ecrArn('aws-cn', 'cn-north-1', '555555555555', 'x/*')]);
  t.same(tenantOf(ALL, 'gov').roles[0]?.permissionPolicy.Statement[1]?.Resource, [ecrArn('aws-us-gov', 'us-gov-west-1', '666666666666', 'y/*')]);
});

t.test('the ISO partitions and the European Sovereign Cloud print ARNs in their own partition, for roles and repositories alike', async (t) => {
  const registries: [string, string, string][] = [
    ['aws-iso', 'us-iso-east-1', '777777777771.dkr.ecr.us-iso-east-1.c2s.ic.gov'],
    ['aws-iso-b', 'us-isob-east-1', '777777777772.dkr.ecr-fips.us-isob-east-1.sc2s.sgov.gov'],
    ['aws-iso-e', 'eu-isoe-west-1', '777777777773.dkr-ecr.eu-isoe-west-1.on.cloud-aws.adc-e.uk'],
    ['aws-iso-f', 'us-isof-south-1', '777777777774.dkr.ecr.us-isof-south-1.csp.hci.ic.gov'],
    ['aws-eusc', 'eusc-de-east-1', '777777777775.dkr.ecr.eusc-de-east-1.amazonaws.eu'],
  ];
  const tenants = Object.fromEntries(
    registries.map(([partition, , registry]) => [partition, { roleArn: `arn:${partition}:iam::${registry.slice(0, 12)}:role/ecr-pull`, grants: [{ registry, repositories: ['app/*'] }] }]),
  );
  const policy = parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants } }), 'iso.json');
  const root = awsPolicies(policy, undefined, 'iso.json');
  for (const [partition, region, registry] of registries) {
    const account = registry.slice(0, 12);
    const [role] = tenantOf(root, partition).roles;
    t.same(role?.permissionPolicy.Statement[1]?.Resource, [ecrArn(partition, region, account, 'app/*')], `${partition}: the repository ARN`);
    t.same(role?.trustPolicy.Statement[0]?.Principal, { AWS: `arn:${partition}:iam::${account}:root` }, `${partition}: the account root the role trusts`);
    t.same(tenantOf(root, partition).registries.map((r) => [r.registry, r.account, r.region]), [[registry, account, region]], `${partition}: the registry entry`);
  }
});

t.test('registries list, per host, the granted repository globs and a pull statement for the roles that use them', async (t) => {
  const statementFor = (principals: string[]) => ({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'EcrTenantWebhookPull', Effect: 'Allow', Principal: { AWS: principals }, Action: GRANTED_ACTIONS },
      { Sid: 'EcrTenantWebhookVerify', Effect: 'Allow', Principal: { AWS: principals }, Action: ['ecr:DescribeRepositories'] },
    ],
  });
  t.same(tenantOf(ALL, 'payments').registries, [
    { registry: A, account: '111111111111', region: 'eu-west-1', repositories: ['payments/*', 'shared/**'], repositoryPolicy: statementFor([PAYMENTS_ROLE]) },
    { registry: A_DUAL, account: '111111111111', region: 'eu-west-1', repositories: ['payments/*'], repositoryPolicy: statementFor([PAYMENTS_ROLE]) },
    { registry: C, account: '222222222222', region: 'us-west-2', repositories: ['tools/*'], repositoryPolicy: statementFor([TOOLS_ROLE]) },
  ]);
  t.same(tenantOf(ALL, 'analytics').registries[0]?.repositories, ['analytics/**', 'a/**/b'], 'a glob listed twice is listed once');
  t.same(
    tenantOf(ROOT_TRUST, 'payments').registries,
    tenantOf(ALL, 'payments').registries,
    'the registry side does not depend on the webhook role',
  );
});

t.test('two grants on one host list both globs in one registry entry', async (t) => {
  const policy = parsePolicy(
    JSON.stringify({
      apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
      kind: 'TenantPolicy',
      spec: { tenants: { p: { roleArn: PAYMENTS_ROLE, grants: [{ registry: A, repositories: ['a/*'] }, { registry: A, repositories: ['b/*', 'a/*'] }] } } },
    }),
    'p.json',
  );
  const p = tenantOf(awsPolicies(policy, WEBHOOK_ROLE, 'policy.yaml'), 'p');
  t.equal(p.registries.length, 1);
  t.same(p.registries[0]?.repositories, ['a/*', 'b/*']);
  t.same(p.registries[0]?.repositoryPolicy.Statement[0]?.Principal, { AWS: [PAYMENTS_ROLE] });
  t.same(p.roles[0]?.permissionPolicy.Statement[1]?.Resource, [ecrArn('aws', 'eu-west-1', '111111111111', 'a/*'), ecrArn('aws', 'eu-west-1', '111111111111', 'b/*')]);
});

const SHARED_ROLE = 'arn:aws:iam::111111111111:role/ecr-pull-shared';

/** A policy of the tenants given, each granted `<name>/*` on registry A with SHARED_ROLE unless it says otherwise. */
function sharingPolicy(tenants: Record<string, Record<string, unknown>>) {
  const spec = Object.fromEntries(
    Object.entries(tenants).map(([name, fields]) => [name, { roleArn: SHARED_ROLE, grants: [{ registry: A, repositories: [`${name}/*`] }], ...fields }]),
  );
  return parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: spec } }), 'shared.json');
}

type Conditions = Record<string, Record<string, string | string[]>>;


function assumeStatement(condition?: Conditions) {
  return { Sid: 'EcrTenantWebhookAssumes', Effect: 'Allow', Principal: { AWS: WEBHOOK_ROLE }, Action: 'sts:AssumeRole', ...(condition === undefined ? {} : { Condition: condition }) };
}

function tagSessionStatement(sid: string, tags: Record<string, string>) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Principal: { AWS: WEBHOOK_ROLE },
    Action: 'sts:TagSession',
    Condition: {
      StringEquals: Object.fromEntries(Object.entries(tags).map(([key, value]) => [`aws:RequestTag/${key}`, value])),
      'ForAllValues:StringEquals': { 'aws:TagKeys': Object.keys(tags) },
    },
  };
}

interface SharingCase {
  name: string;
  tenants: Record<string, Record<string, unknown>>;
  trust: unknown[];
}

const sharingCases: SharingCase[] = [
  {
    name: 'two tenants sharing a role with two tag sets get one trust policy with a TagSession statement per set',
    tenants: { a: { sessionTags: { team: 'a' } }, b: { sessionTags: { team: 'b', env: 'prod' } } },
    trust: [
      assumeStatement(),
      tagSessionStatement('EcrTenantWebhookTagSession1', { team: 'a' }),
      tagSessionStatement('EcrTenantWebhookTagSession2', { env: 'prod', team: 'b' }),
    ],
  },
  {
    name: 'tenants sharing a role with the same tag set, written in another order, get one TagSession statement',
    tenants: { a: { sessionTags: { team: 'x', env: 'prod' } }, b: { sessionTags: { env: 'prod', team: 'x' } } },
    trust: [assumeStatement(), tagSessionStatement('EcrTenantWebhookTagSession', { env: 'prod', team: 'x' })],
  },
  {
    name: 'a tag set that differs in one value only is a statement of its own',
    tenants: { a: { sessionTags: { team: 'x', env: 'prod' } }, b: { sessionTags: { team: 'x', env: 'dev' } } },
    trust: [
      assumeStatement(),
      tagSessionStatement('EcrTenantWebhookTagSession1', { env: 'prod', team: 'x' }),
      tagSessionStatement('EcrTenantWebhookTagSession2', { env: 'dev', team: 'x' }),
    ],
  },
  {
    name: 'tenants sharing a role with one external id get it as a single value',
    tenants: { a: { externalId: 'ext-1' }, b: { externalId: 'ext-1' } },
    trust: [assumeStatement({ StringEquals: { 'sts:ExternalId': 'ext-1' } })],
  },
  {
    name: 'tenants sharing a role with different external ids get each allowed once, in policy order',
    tenants: { a: { externalId: 'ext-b' }, b: { externalId: 'ext-a' }, c: { externalId: 'ext-b' } },
    trust: [assumeStatement({ StringEquals: { 'sts:ExternalId': ['ext-b', 'ext-a'] } })],
  },
  {
    name: 'external ids and tag sets together: the ids on AssumeRole, a TagSession statement per set',
    tenants: { a: { externalId: 'ext-a', sessionTags: { team: 'a' } }, b: { externalId: 'ext-b', sessionTags: { team: 'b' } } },
    trust: [
      assumeStatement({ StringEquals: { 'sts:ExternalId': ['ext-a', 'ext-b'] } }),
      tagSessionStatement('EcrTenantWebhookTagSession1', { team: 'a' }),
      tagSessionStatement('EcrTenantWebhookTagSession2', { team: 'b' }),
    ],
  },
  {
    name: 'tenants sharing a role without external ids or tags get a trust policy without conditions',
    tenants: { a: {}, b: { sessionTags: {} } },
    trust: [assumeStatement()],
  },
];

for (const c of sharingCases) {
  t.test(c.name, async (t) => {
    const all = awsPolicies(sharingPolicy(c.tenants), WEBHOOK_ROLE, 'shared.json');
    const names = Object.keys(c.tenants);
    for (const name of names) {
      const { roles } = tenantOf(all, name);
      t.equal(roles.length, 1, `${name} prints the one role`);
      t.equal(roles[0]?.roleArn, SHARED_ROLE);
      t.same(roles[0]?.tenants, names, 'the role names every tenant that shares it');
      t.same(roles[0]?.trustPolicy.Statement, c.trust);
      assertIamShape(t, roles[0]!.trustPolicy, `${name} trust policy`);
      t.same(roles, tenantOf(all, names[0]!).roles, 'every tenant sharing the role prints the very same documents');
    }
  });
}

t.test("the permission policy of a shared role allows the union of its tenants' grants; registries stay per tenant", async (t) => {
  const policy = sharingPolicy({
    a: { grants: [{ registry: A, repositories: ['a/*'] }, { registry: E, repositories: ['e/**'], roleArn: SHARED_ROLE }] },
    b: { roleArn: PAYMENTS_ROLE, grants: [{ registry: A_DUAL, repositories: ['b/*', 'a/*'], roleArn: SHARED_ROLE }, { registry: C, repositories: ['c/*'], roleArn: TOOLS_ROLE }] },
    c: { roleArn: ANALYTICS_ROLE, grants: [] },
  });
  const all = awsPolicies(policy, WEBHOOK_ROLE, 'shared.json');
  const [sharedOfA] = tenantOf(all, 'a').roles;
  const [sharedOfB, toolsOfB] = tenantOf(all, 'b').roles;
  t.same(sharedOfA?.tenants, ['a', 'b'], 'a tenant that uses the role only through a grant override shares it too');
  t.same(sharedOfA?.permissionPolicy.Statement[1]?.Resource, [
    ecrArn('aws', 'eu-west-1', '111111111111', 'a/*'),
    ecrArn('aws', 'eu-central-1', '333333333333', 'e/*'),
    ecrArn('aws', 'eu-west-1', '111111111111', 'b/*'),
  ]);
  t.same(sharedOfB, sharedOfA, 'one permission policy for the role, whichever tenant prints it');
  t.same(toolsOfB?.tenants, ['b'], "the sharing tenant's other role is its own");
  t.same(toolsOfB?.permissionPolicy.Statement[1]?.Resource, [ecrArn('aws', 'us-west-2', '222222222222', 'c/*')]);
  t.same(tenantOf(all, 'c'), { roles: [], registries: [] }, 'a tenant without grants shares nothing');
  t.same(
    tenantOf(all, 'a').registries.map((r) => [r.registry, r.repositories]),
    [
      [A, ['a/*']],
      [E, ['e/**']],
    ],
    "a registry entry lists only that tenant's repositories",
  );
});

t.test('without the webhook role a shared role trusts its own account root in every statement', async (t) => {
  const all = awsPolicies(sharingPolicy({ a: { sessionTags: { team: 'a' } }, b: { sessionTags: { team: 'b' } } }), undefined, 'shared.json');
  t.same(
    tenantOf(all, 'a').roles[0]?.trustPolicy.Statement.map((s) => s.Principal),
    [{ AWS: 'arn:aws:iam::111111111111:root' }, { AWS: 'arn:aws:iam::111111111111:root' }, { AWS: 'arn:aws:iam::111111111111:root' }],
  );
});

interface RefusedSharingCase {
  name: string;
  tenants: Record<string, Record<string, unknown>>;
  message: string;
}

const refusedSharing: RefusedSharingCase[] = [
  {
    name: 'a tenant without session tags sharing a role with a tagged tenant stops the policy from loading',
    tenants: { a: { sessionTags: { team: 'a' } }, b: {} },
    message:
      `shared.json: spec.tenants.b.sessionTags: tenant "b" assumes role ${SHARED_ROLE} without session tags, but tenant "a" (spec.tenants.a.grants[0]) ` +
      'assumes it with session tags; one trust policy cannot allow both without letting untagged sessions in, so give this tenant session tags too or a role of its own',
  },
  {
    name: 'a tenant without an external id sharing a role with one that has one stops the policy from loading',
    tenants: { a: {}, b: { externalId: 'ext-b' } },
    message:
      `shared.json: spec.tenants.a.externalId: tenant "a" assumes role ${SHARED_ROLE} without an external id, but tenant "b" (spec.tenants.b.grants[0]) ` +
      'assumes it with one; one trust policy cannot allow both without dropping the external id condition, so give this tenant an external id too or a role of its own',
  },
];

for (const c of refusedSharing) {
  t.test(c.name, async (t) => {
    t.throws(() => sharingPolicy(c.tenants), { name: 'PolicyError', message: c.message });
  });
}

interface BadRoleCase {
  name: string;
  tenant: Record<string, unknown>;
  message: string;
}

const badRoles: BadRoleCase[] = [
  {
    name: "a tenant role that is not an ARN stops the derivation, naming the grant that uses it",
    tenant: { roleArn: 'ecr-pull-z', grants: [{ registry: A, repositories: ['a'] }] },
    message: 'spec.tenants.z.grants[0] (role of tenant "z"): "ecr-pull-z" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)',
  },
  {
    name: 'a grant role that is not an ARN stops the derivation, naming that grant',
    tenant: { roleArn: PAYMENTS_ROLE, grants: [{ registry: A, repositories: ['a'] }, { registry: C, repositories: ['c'], roleArn: 'arn:aws:iam::22:role/x' }] },
    message: 'spec.tenants.z.grants[1] (role of tenant "z"): "arn:aws:iam::22:role/x" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)',
  },
];

for (const c of badRoles) {
  t.test(c.name, async (t) => {
    const policy = parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: { z: c.tenant } } }), 'z.json');
    t.not(policy.warnings.length, 0, 'loading only warned');
    t.throws(() => awsPolicies(policy, WEBHOOK_ROLE, 'z.json'), { name: 'PolicyError', message: `z.json: ${c.message}` });
    t.throws(() => awsPolicies(policy, undefined, 'z.json'), PolicyError);
  });
}

t.test("the schema reference example's placeholder role stops the derivation, naming its path", async (t) => {
  const policy = parsePolicy(readFileSync(new URL('../fixtures/schema-example.yaml', import.meta.url), 'utf8'), 'schema-example.yaml');
  t.throws(() => awsPolicies(policy, WEBHOOK_ROLE, 'schema-example.yaml'), {
    name: 'PolicyError',
    message: 'schema-example.yaml: spec.tenants.payments.grants[0] (role of tenant "payments"): "optional override" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)',
  });
});

t.test('examples/policy.yaml gives the documents the README shows', async (t) => {
  const policy = parsePolicy(readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8'), 'examples/policy.yaml');
  const shared = 'arn:aws:iam::111111111111:role/ecr-pull-payments-shared';
  t.same(awsPolicies(policy, WEBHOOK_ROLE, 'policy.yaml'), {
    payments: {
      roles: [
        {
          roleArn: shared,
          tenants: ['payments'],
          trustPolicy: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'EcrTenantWebhookAssumes',
                Effect: 'Allow',
                Principal: { AWS: WEBHOOK_ROLE },
                Action: 'sts:AssumeRole',
                Condition: { StringEquals: { 'sts:ExternalId': 'payments-7f3a' } },
              },
              {
                Sid: 'EcrTenantWebhookTagSession',
                Effect: 'Allow',
                Principal: { AWS: WEBHOOK_ROLE },
                Action: 'sts:TagSession',
                Condition: { StringEquals: { 'aws:RequestTag/team': 'payments' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } },
              },
            ],
          },
          permissionPolicy: {
            Version: '2012-10-17',
            Statement: [
              { Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
              {
                Sid: 'PullGrantedRepositories',
                Effect: 'Allow',
                Action: GRANTED_ACTIONS,
                Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/payments/*', 'arn:aws:ecr:eu-west-1:111111111111:repository/shared/*'],
              },
              { Sid: 'ListGrantedRegistriesForVerify', Effect: 'Allow', Action: ['ecr:DescribeRepositories'], Resource: ['arn:aws:ecr:eu-west-1:111111111111:repository/*'] },
            ],
          },
        },
      ],
      registries: [
        {
          registry: A,
          account: '111111111111',
          region: 'eu-west-1',
          repositories: ['payments/*', 'shared/**'],
          repositoryPolicy: {
            Version: '2012-10-17',
            Statement: [
              { Sid: 'EcrTenantWebhookPull', Effect: 'Allow', Principal: { AWS: [shared] }, Action: GRANTED_ACTIONS },
              { Sid: 'EcrTenantWebhookVerify', Effect: 'Allow', Principal: { AWS: [shared] }, Action: ['ecr:DescribeRepositories'] },
            ],
          },
        },
      ],
    },
  });
});

interface PatternCase {
  name: string;
  glob: string;
  patterns: string[];
}


const patternCases: PatternCase[] = [
  { name: 'a glob without a double star is kept as it is', glob: 'payments/*', patterns: ['payments/*'] },
  { name: 'a glob without any star is kept as it is', glob: 'payments/api', patterns: ['payments/api'] },
  { name: 'a star inside a segment is kept as it is', glob: 'app-*', patterns: ['app-*'] },
  { name: 'a trailing double star becomes one IAM star, which crosses slashes', glob: 'shared/**', patterns: ['shared/*'] },
  { name: 'a lone double star becomes a lone IAM star', glob: '**', patterns: ['*'] },
  { name: 'a middle double star becomes the pattern without it and the pattern with a star segment', glob: 'a/**/b', patterns: ['a/b', 'a/*/b'] },
  { name: 'two middle double stars give every combination', glob: 'a/**/b/**/c', patterns: ['a/b/c', 'a/b/*/c', 'a/*/b/c', 'a/*/b/*/c'] },
  { name: 'a leading double star also covers the top level', glob: '**/b', patterns: ['b', '*/b'] },
  { name: 'a leading and a trailing double star cover the middle segment at the top level too', glob: '**/x/**', patterns: ['x/*', '*/x/*'] },
];

for (const c of patternCases) {
  t.test(c.name, async (t) => t.same(iamRepositoryPatterns(c.glob), c.patterns));
}

/** IAM ARN matching: "*" any run of characters (slashes too), "?" one character. */
function iamMatches(pattern: string, repository: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(repository);
}

const SAMPLE_REPOSITORIES = ['b', 'x', 'a', 'a/b', 'a/x/b', 'a/x/y/b', 'x/b', 'x/y/b', 'shared/a', 'shared/a/b', 'payments/api', 'x/a', 'b/x/a', 'app-web'];

/** The repositories a glob covers that none of its IAM patterns allows. */
function refusedByIam(glob: string): string[] {
  const compiled = compileRepositoryGlob(glob);
  const patterns = iamRepositoryPatterns(glob);
  return SAMPLE_REPOSITORIES.filter((repository) => globCovers(compiled, repository) && !patterns.some((p) => iamMatches(p, repository)));
}

t.test('IAM allows at least every repository the webhook grants, so a granted pull is never refused by AWS', async (t) => {
  for (const glob of ['payments/*', 'shared/**', 'a/**/b', '**', 'app-*', 'x/**/b']) t.same(refusedByIam(glob), [], glob);
});

t.test('IAM allows every repository a glob with a leading double star grants', async (t) => {
  for (const glob of ['**/b', '**/x/**']) t.same(refusedByIam(glob), [], glob);
});

/** Grants by repository tags: the tenant-side and registry-side documents of test/fixtures/aws-policies/tag-grants.yaml. */
const TAGS = parsePolicy(readFileSync(new URL('../fixtures/aws-policies/tag-grants.yaml', import.meta.url), 'utf8'), 'tag-grants.yaml');
const TAG_PAYMENTS = 'arn:aws:iam::222222222222:role/ecr-pull-payments';
const TAG_OPS = 'arn:aws:iam::333333333333:role/ecr-pull-ops';
const tagArn = (pattern: string) => ecrArn('aws', 'eu-west-1', '111111111111', pattern);

t.test('a grant by repository tags pulls and reads images only under an aws:ResourceTag condition per tag, in a statement of its own', async (t) => {
  const set = deriveAwsPolicies(TAGS, WEBHOOK_ROLE, 'tag-grants.yaml');
  const payments = set.accounts.find((a) => a.account === '222222222222')!.roles[0]!;
  t.same(payments.permissionPolicy.Statement, [
    { Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
    { Sid: 'PullGrantedRepositories', Effect: 'Allow', Action: GRANTED_ACTIONS, Resource: [tagArn('payments/*')] },
    { Sid: 'PullTaggedRepositories1', Effect: 'Allow', Action: GRANTED_ACTIONS, Resource: [tagArn('team/*')], Condition: { StringEquals: { 'aws:ResourceTag/Team': 'Payments' } } },
    // A grant of tags alone: every repository of the registry, if it carries both (the keys sorted).
    {
      Sid: 'PullTaggedRepositories2',
      Effect: 'Allow',
      Action: GRANTED_ACTIONS,
      Resource: [tagArn('*')],
      Condition: { StringEquals: { 'aws:ResourceTag/Env': 'prod', 'aws:ResourceTag/Team': 'Payments' } },
    },
    // Tags are read without the condition, so a repository without them is refused for that, not for AccessDenied.
    { Sid: 'ReadTagsOfTaggedRepositories', Effect: 'Allow', Action: ['ecr:ListTagsForResource'], Resource: [tagArn('team/*'), tagArn('*')] },
    { Sid: 'ListGrantedRegistriesForVerify', Effect: 'Allow', Action: ['ecr:DescribeRepositories'], Resource: [tagArn('*')] },
  ]);
  t.same(GRANTED_ACTIONS, [...PULL_ACTIONS, 'ecr:DescribeImages'], 'the image reads of admission go with the pulls, on the same repositories and conditions');
});

t.test("a repository policy holds each tenant's tag grant under its own condition, and the tag reads of both roles", async (t) => {
  const set = deriveAwsPolicies(TAGS, WEBHOOK_ROLE, 'tag-grants.yaml');
  const groups = set.accounts.find((a) => a.account === '111111111111')!.registries[0]!.repositoryPolicies!;
  const team = groups.find((group) => group.repositories.includes('team/*'))!;
  t.same(team.roles, [TAG_PAYMENTS, TAG_OPS]);
  t.same(
    team.policy.Statement.map((s) => [s.Sid, s.Principal?.AWS, s.Condition]),
    [
      ['EcrTenantWebhookPullTagged1', [TAG_PAYMENTS], { StringEquals: { 'aws:ResourceTag/Team': 'Payments' } }],
      ['EcrTenantWebhookPullTagged2', [TAG_OPS], { StringEquals: { 'aws:ResourceTag/Team': 'Ops' } }],
      ['EcrTenantWebhookReadTags', [TAG_PAYMENTS, TAG_OPS], undefined],
      ['EcrTenantWebhookVerify', [TAG_PAYMENTS, TAG_OPS], undefined],
    ],
  );
  const plain = groups.find((group) => group.repositories.includes('payments/*'))!;
  t.same(
    plain.policy.Statement.map((s) => s.Sid),
    ['EcrTenantWebhookPull', 'EcrTenantWebhookVerify'],
    'a glob granted without tags has no tag statements',
  );
  t.ok(
    set.notes.some((note) => note.startsWith('grants by repository tags (spec.tenants.payments.grants[1], spec.tenants.payments.grants[2], spec.tenants.ops.grants[0]) reach repositories by the tags')),
    'the step per tagged repository is said, naming the grants',
  );
  t.ok(
    set.notes.includes(
      'in 111111111111/eu-west-1, team/* (payments by tags Team=Payments; ops by tags Team=Ops) and ** (payments by tags Env=prod, Team=Payments) can name the same repository in IAM: ' +
        'one that carries the tags is granted to the roles of both, and its repository policy must hold the statements of both (merge the two files for it, or use --registry-policy); ' +
        'where that is not meant, make the globs disjoint or the tags distinct',
    ),
    'globs of different tenants meeting under tags are noted',
  );
});

t.test('a registry policy carries the tag conditions beside the organization condition', async (t) => {
  const set = deriveAwsPolicies(TAGS, WEBHOOK_ROLE, 'tag-grants.yaml', { registryPolicy: true, orgId: 'o-abcdefghij' });
  const statements = set.accounts.find((a) => a.account === '111111111111')!.registries[0]!.registryPolicy!.Statement;
  const tagged = statements.filter((s) => s.Sid.startsWith('EcrTenantWebhookPullTagged'));
  t.same(
    tagged.map((s) => [s.Principal?.AWS, s.Resource, s.Condition]),
    [
      [[TAG_PAYMENTS], [tagArn('team/*')], { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij', 'aws:ResourceTag/Team': 'Payments' } }],
      [[TAG_PAYMENTS], [tagArn('*')], { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij', 'aws:ResourceTag/Env': 'prod', 'aws:ResourceTag/Team': 'Payments' } }],
      [[TAG_OPS], [tagArn('team/*')], { StringEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij', 'aws:ResourceTag/Team': 'Ops' } }],
    ],
  );
  t.same(new Set(statements.map((s) => s.Sid)).size, statements.length, 'Sids stay unique');
  t.notOk(set.notes.some((note) => note.startsWith('grants by repository tags')), 'a registry policy needs no step per tagged repository');
});

t.test('a glob granted by name to one tenant that a tag grant of another can reach is noted, naming which is by tags', async (t) => {
  const policy = tenantsPolicy(
    {
      a: { roleArn: 'arn:aws:iam::222222222222:role/a', grants: [{ registry: A, repositories: ['team/*'] }] },
      b: { roleArn: 'arn:aws:iam::333333333333:role/b', grants: [{ registry: A, repositoryTags: { Team: 'B' } }] },
    },
    'mixed.json',
  );
  const notes = deriveAwsPolicies(policy, WEBHOOK_ROLE, 'mixed.json', { registryPolicy: true }).notes.filter((note) => note.includes('can name the same repository'));
  t.same(notes, [
    'in 111111111111/eu-west-1, team/* (a) and ** (b by tags Team=B) can name the same repository in IAM: one that carries the tags is granted to the roles of both; where that is not meant, make the globs disjoint or the tags distinct',
  ]);
});
