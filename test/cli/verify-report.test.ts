import t from 'tap';
import { buildReport, fixFor, formatVerifyText, judgeGrant, verifyPlan, type AwsStep, type GrantCheck, type GrantOutcome } from '../../src/cli/verify-report.ts';
import { UsageError } from '../../src/cli/usage-error.ts';
import { parsePolicy } from '../../src/policy/load.ts';

const A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const C = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const PAYMENTS_ROLE = 'arn:aws:iam::111111111111:role/ecr-pull-payments';
const TOOLS_ROLE = 'arn:aws:iam::222222222222:role/ecr-pull-tools';
const FILE = 'policy.yaml';

const policy = (tenants: Record<string, unknown>) =>
  parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants, labelAdmins: { users: ['admin'] } } }), FILE);

const POLICY = policy({
  payments: {
    roleArn: PAYMENTS_ROLE,
    externalId: 'payments-7f3a',
    sessionTags: { team: 'payments' },
    grants: [
      { registry: A, repositories: ['payments/*', 'shared/**'] },
      { registry: C, repositories: ['tools/*'], roleArn: TOOLS_ROLE },
    ],
  },
  bare: { roleArn: 'arn:aws:iam::333333333333:role/bare', grants: [] },
  plain: { roleArn: 'arn:aws:iam::444444444444:role/plain', grants: [{ registry: '444444444444.dkr.ecr.us-east-1.amazonaws.com', repositories: ['**'] }] },
});

const [paymentsA, paymentsC, plain] = verifyPlan(POLICY, undefined, 3600, FILE) as [GrantCheck, GrantCheck, GrantCheck];
/** A grant of exact names, which verify asks about one by one instead of listing the registry. */
const [exact] = verifyPlan(
  policy({ exact: { roleArn: 'arn:aws:iam::555555555555:role/exact', grants: [{ registry: '444444444444.dkr.ecr.us-east-1.amazonaws.com', repositories: ['team/api', 'team/web'] }] } }),
  undefined,
  3600,
  FILE,
) as [GrantCheck];

t.test('the plan has one check per grant, in policy order, each with the token request serve would mint with', async (t) => {
  t.same(
    verifyPlan(POLICY, undefined, 3600, FILE).map((c) => [c.tenant, c.registry, c.at]),
    [
      ['payments', A, 'spec.tenants.payments.grants[0]'],
      ['payments', C, 'spec.tenants.payments.grants[1]'],
      ['plain', '444444444444.dkr.ecr.us-east-1.amazonaws.com', 'spec.tenants.plain.grants[0]'],
    ],
  );
  t.same(paymentsA.request, {
    tenant: 'payments',
    roleArn: PAYMENTS_ROLE,
    externalId: 'payments-7f3a',
    sessionTags: { team: 'payments' },
    durationSeconds: 3600,
    registry: { account: '111111111111', region: 'eu-west-1' },
  });
  t.equal(paymentsC.request.roleArn, TOOLS_ROLE, "a grant's own role wins over the tenant's");
  t.same(verifyPlan(POLICY, 'plain', 900, FILE).map((c) => [c.tenant, c.request.durationSeconds]), [['plain', 900]], '--tenant keeps that tenant only');
});

const unknownTenants = [
  { name: 'an unknown --tenant is a usage error that lists the tenants there are', policy: POLICY, message: '--tenant "nope": policy.yaml has no such tenant (it has "payments", "bare", "plain")' },
  { name: 'an unknown --tenant in a policy without tenants says there are none', policy: policy({}), message: '--tenant "nope": policy.yaml has no such tenant (it has none)' },
];
for (const c of unknownTenants) {
  t.test(c.name, async (t) => {
    t.throws(() => verifyPlan(c.policy, 'nope', 3600, FILE), new UsageError(c.message));
  });
}

const fixes: { name: string; check: GrantCheck; step: AwsStep; code: string; fix: RegExp }[] = [
  {
    name: 'a refused AssumeRole points at the trust policy, with the external id and session tags it must allow',
    check: paymentsA,
    step: 'AssumeRole',
    code: 'AccessDenied',
    fix: /^the trust policy of arn:aws:iam::111111111111:role\/ecr-pull-payments must allow the webhook's identity sts:AssumeRole with its external id and sts:TagSession with its session tags, and the webhook's own policy must allow it sts:AssumeRole and sts:TagSession on the role: apply roles\[\]\.trustPolicy of tenant "payments" and webhookPolicy from aws-policies --policy policy\.yaml$/,
  },
  {
    name: 'a refused AssumeRole of a tenant without external id or tags asks for neither',
    check: plain,
    step: 'AssumeRole',
    code: 'AccessDenied',
    fix: /must allow the webhook's identity sts:AssumeRole, and the webhook's own policy must allow it sts:AssumeRole on the role: .*tenant "plain" and webhookPolicy/,
  },
  {
    name: 'a refused GetAuthorizationToken points at the permission policy',
    check: paymentsC,
    step: 'GetAuthorizationToken',
    code: 'AccessDeniedException',
    fix: /^the permission policy of arn:aws:iam::222222222222:role\/ecr-pull-tools must allow ecr:GetAuthorizationToken: apply roles\[\]\.permissionPolicy of tenant "payments" from aws-policies --policy policy\.yaml$/,
  },
  {
    name: 'a refused DescribeRepositories points at the permission and repository policies of that registry',
    check: paymentsA,
    step: 'DescribeRepositories',
    code: 'AccessDeniedException',
    fix: /must be allowed ecr:DescribeRepositories on the repositories of 111111111111\/eu-west-1 by its permission policy \(statement ListGrantedRegistriesForVerify\) and by the registry's side \(statement EcrTenantWebhookVerify; a grant with a wildcard lists the whole registry, which from another account takes the registry policy \(--registry-policy\)\) of tenant "payments"/,
  },
  {
    name: 'a refused DescribeRepositories of a grant of exact names points at the repository policy, which is enough for those',
    check: exact,
    step: 'DescribeRepositories',
    code: 'AccessDenied',
    fix: /\(statement EcrTenantWebhookVerify; from another account, the repository's policy too\) of tenant "exact"/,
  },
  { name: 'throttling is to be tried again, not fixed', check: paymentsA, step: 'AssumeRole', code: 'Throttling', fix: /^STS in eu-west-1 answered Throttling: nothing to change on the AWS side; run verify again \(--tenant payments makes fewer calls\)$/ },
  { name: 'an internal failure of ECR is to be tried again too', check: paymentsC, step: 'GetAuthorizationToken', code: 'ServerException', fix: /^ECR in us-west-2 answered ServerException: nothing to change/ },
  { name: 'an invalid AssumeRole names the session duration', check: paymentsA, step: 'AssumeRole', code: 'ValidationError', fix: /^STS refused the request as invalid .*lower --aws-session-duration/ },
  { name: 'a refusal that is not AccessDenied is not blamed on a policy', check: paymentsA, step: 'AssumeRole', code: 'RegionDisabledException', fix: /^STS refused AssumeRole of arn:aws:iam::111111111111:role\/ecr-pull-payments with RegionDisabledException: --output json has AWS's message$/ },
  { name: 'an STS that does not answer is a network matter, not a policy one', check: paymentsA, step: 'AssumeRole', code: 'ECONNREFUSED', fix: /^STS in eu-west-1 did not answer: .*AWS_ENDPOINT_URL_STS\) or raise --deadline/ },
  { name: 'an ECR past the deadline is a network matter too', check: paymentsC, step: 'DescribeRepositories', code: 'Timeout', fix: /^ECR in us-west-2 did not answer: .*AWS_ENDPOINT_URL_ECR/ },
  { name: "no AWS identity of the webhook's own is named as such", check: paymentsA, step: 'AssumeRole', code: 'CredentialsProviderError', fix: /^the webhook's own AWS identity is missing or refused/ },
  { name: "the webhook's own expired credentials are named as such", check: paymentsA, step: 'GetAuthorizationToken', code: 'ExpiredTokenException', fix: /^the webhook's own AWS identity/ },
];
for (const c of fixes) {
  t.test(c.name, async (t) => {
    t.match(fixFor(c.check, c.step, c.code, FILE), c.fix);
  });
}

const LISTED = ['payments/api', 'payments/web', 'payments/a/b', 'shared/base/node', 'paymentsevil/x'];
const PAST = new Date('2015-01-01T00:00:00Z');
const judged: { name: string; check: GrantCheck; outcome: GrantOutcome; result: object }[] = [
  {
    name: 'a grant whose every glob matches is ok, with the count per glob',
    check: paymentsA,
    outcome: { tokenExpiresAt: PAST, repositories: LISTED },
    result: { registry: A, roleArn: PAYMENTS_ROLE, ok: true, tokenExpiresAt: '2015-01-01T00:00:00.000Z', repositories: { 'payments/*': 2, 'shared/**': 1 } },
  },
  {
    name: 'a glob that matches no repository fails the grant, naming the registry, the glob and where to correct it',
    check: paymentsC,
    outcome: { tokenExpiresAt: PAST, repositories: LISTED },
    result: {
      registry: C,
      ok: false,
      step: 'MatchRepositories',
      code: 'NoMatchingRepository',
      message: 'no repository in 222222222222/us-west-2 matches tools/*',
      fix: 'create the repository in 222222222222/us-west-2, or correct the pattern at spec.tenants.payments.grants[1].repositories (tenant "payments")',
      repositories: { 'tools/*': 0 },
    },
  },
  {
    name: 'one glob of several matching nothing fails the grant, and the others still show their counts',
    check: paymentsA,
    outcome: { tokenExpiresAt: PAST, repositories: ['payments/api'] },
    result: { ok: false, message: 'no repository in 111111111111/eu-west-1 matches shared/**', repositories: { 'payments/*': 1, 'shared/**': 0 } },
  },
  {
    name: 'a failed step carries its code, message and fix, and no repositories',
    check: paymentsA,
    outcome: { failed: { step: 'AssumeRole', code: 'AccessDenied', message: 'not authorized' } },
    result: { ok: false, step: 'AssumeRole', code: 'AccessDenied', message: 'not authorized', fix: /trust policy/, repositories: {} },
  },
];
for (const c of judged) {
  t.test(c.name, async (t) => {
    t.match(judgeGrant(c.check, c.outcome, FILE), c.result);
  });
}

t.test('the report keeps tenants without grants, and is ok only when every grant is', async (t) => {
  const ok = judgeGrant(paymentsA, { tokenExpiresAt: PAST, repositories: LISTED }, FILE);
  const failed = judgeGrant(paymentsC, { failed: { step: 'AssumeRole', code: 'AccessDenied', message: 'no' } }, FILE);
  t.same(buildReport(POLICY, undefined, [[paymentsA, ok], [paymentsC, failed]]), { ok: false, tenants: { payments: { grants: [ok, failed] }, bare: { grants: [] }, plain: { grants: [] } } });
  t.same(buildReport(POLICY, 'payments', [[paymentsA, ok]]), { ok: true, tenants: { payments: { grants: [ok] } } });
});

t.test('the text report is one line per tenant and grant, then a summary', async (t) => {
  const future = new Date('2100-01-01T00:00:00Z');
  const report = buildReport(POLICY, undefined, [
    [paymentsA, judgeGrant(paymentsA, { tokenExpiresAt: PAST, repositories: LISTED }, FILE)],
    [paymentsC, judgeGrant(paymentsC, { failed: { step: 'AssumeRole', code: 'AccessDenied', message: 'no' } }, FILE)],
    [plain, judgeGrant(plain, { tokenExpiresAt: future, repositories: LISTED }, FILE)],
  ]);
  const lines = formatVerifyText(report, new Date('2026-01-01T00:00:00Z')).split('\n');
  t.equal(lines[0], `ok    payments  ${A}  payments/*: 2, shared/**: 1 (token obtained; ECR states an expiry already past, 2015-01-01T00:00:00.000Z)`);
  t.match(lines[1], /^FAIL {2}payments {2}222222222222\.dkr\.ecr\.us-west-2\.amazonaws\.com {2}AssumeRole arn:aws:iam::222222222222:role\/ecr-pull-tools failed \(AccessDenied\): the trust policy of /);
  t.equal(lines[2], '-     bare  no grants');
  t.equal(lines[3], 'ok    plain  444444444444.dkr.ecr.us-east-1.amazonaws.com  **: 5', 'a future expiry is not mentioned');
  t.equal(lines[4], "3 grants verified: 2 ok, 1 failed (--output json has AWS's messages)");
  t.equal(lines[5], '');
  t.equal(formatVerifyText(buildReport(POLICY, 'bare', []), new Date()), '-     bare  no grants\n0 grants verified: 0 ok, 0 failed\n');
});

t.test('a repository match failure prints its own message rather than a step and role', async (t) => {
  const report = buildReport(POLICY, 'payments', [[paymentsC, judgeGrant(paymentsC, { tokenExpiresAt: PAST, repositories: [] }, FILE)]]);
  t.match(formatVerifyText(report, new Date()), /^FAIL {2}payments {2}\S+ {2}no repository in 222222222222\/us-west-2 matches tools\/\*: create the repository/);
});
