import t from 'tap';
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.ts';
import { parsePolicy, PolicyError } from '../../src/policy/load.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { policySchema } from '../../src/policy/schema.ts';

/** The checks that need the whole policy, run through parsePolicy as the webhook and `check` run them. */
const HEAD = 'apiVersion: ecr-tenant-webhook.io/v1alpha1\nkind: TenantPolicy\n';
const A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const B = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const C = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const ROLE = 'arn:aws:iam::111111111111:role/ecr-pull-payments';
const OTHER_ROLE = 'arn:aws:iam::111111111111:role/ecr-pull-other';
const IDEMPOTENT = 'so a rewritten image would be rewritten again; rewriting must be idempotent';

function withSpec(spec: unknown): string {
  return `${HEAD}spec: ${JSON.stringify(spec)}\n`;
}

function compiled(spec: unknown): CompiledPolicy {
  return parsePolicy(withSpec(spec), 'policy.yaml');
}

/** The problem lines a spec is refused with (each already prefixed with the file name), or [] when it compiles. */
function problemsOf(spec: unknown): readonly string[] {
  try {
    compiled(spec);
    return [];
  } catch (error) {
    if (error instanceof PolicyError) return error.problems;
    throw error;
  }
}

interface RefusalCase {
  name: string;
  spec: unknown;
  problems: string[];
}

const refusals: RefusalCase[] = [
  // Rewrites must be idempotent
  {
    name: "a tenant rewrite whose target lies under its own source is refused, naming both paths",
    spec: { tenants: { payments: { rewrites: [{ from: `${A}/x`, to: `${A}/x/mirror` }] } } },
    problems: [`policy.yaml: spec.tenants.payments.rewrites[0].to: "${A}/x/mirror" overlaps spec.tenants.payments.rewrites[0].from "${A}/x", ${IDEMPOTENT}`],
  },
  {
    name: 'a rewrite whose target lies above its own source is refused too',
    spec: { rewrites: [{ from: `${A}/x/y`, to: `${A}/x` }] },
    problems: [`policy.yaml: spec.rewrites[0].to: "${A}/x" overlaps spec.rewrites[0].from "${A}/x/y", ${IDEMPOTENT}`],
  },
  {
    name: 'a global rewrite from a whole registry to a path in the same registry is refused',
    spec: { rewrites: [{ from: A, to: `${A}/mirror` }] },
    problems: [`policy.yaml: spec.rewrites[0].to: "${A}/mirror" overlaps spec.rewrites[0].from "${A}", ${IDEMPOTENT}`],
  },
  {
    name: "a global rewrite whose target overlaps a tenant's source is refused, naming the global and the tenant path",
    spec: { rewrites: [{ from: B, to: A }], tenants: { payments: { rewrites: [{ from: `${A}/x`, to: 'mirror.example.com/x' }] } } },
    problems: [`policy.yaml: spec.rewrites[0].to: "${A}" overlaps spec.tenants.payments.rewrites[0].from "${A}/x", ${IDEMPOTENT}`],
  },
  {
    name: "a tenant rewrite whose target overlaps a global source is refused, naming the tenant and the global path",
    spec: { rewrites: [{ from: B, to: A }], tenants: { payments: { rewrites: [{ from: 'mirror.example.com', to: `${B}/x` }] } } },
    problems: [`policy.yaml: spec.tenants.payments.rewrites[0].to: "${B}/x" overlaps spec.rewrites[0].from "${B}", ${IDEMPOTENT}`],
  },
  {
    name: 'a chain of two rewrites is refused, because the second would apply to the output of the first',
    spec: { tenants: { payments: { rewrites: [{ from: B, to: C }, { from: C, to: A }] } } },
    problems: [`policy.yaml: spec.tenants.payments.rewrites[0].to: "${C}" overlaps spec.tenants.payments.rewrites[1].from "${C}", ${IDEMPOTENT}`],
  },
  {
    name: 'a source written with :443 names the same registry as its target without a port',
    spec: { rewrites: [{ from: `${A}:443/x`, to: `${A}/x/y` }] },
    problems: [`policy.yaml: spec.rewrites[0].to: "${A}/x/y" overlaps spec.rewrites[0].from "${A}:443/x", ${IDEMPOTENT}`],
  },
  {
    name: 'a source written in upper case names the same registry as its lower-case target',
    spec: { rewrites: [{ from: `${A.toUpperCase()}/x`, to: `${A}/x/y` }] },
    problems: [`policy.yaml: spec.rewrites[0].to: "${A}/x/y" overlaps spec.rewrites[0].from "${A.toUpperCase()}/x", ${IDEMPOTENT}`],
  },
  {
    name: 'a Docker Hub alias as target names the same registry as docker.io as source',
    spec: { rewrites: [{ from: 'docker.io', to: 'index.docker.io/mirror' }] },
    problems: [`policy.yaml: spec.rewrites[0].to: "index.docker.io/mirror" overlaps spec.rewrites[0].from "docker.io", ${IDEMPOTENT}`],
  },
  {
    name: 'a loop in a global rewrite is reported once even though every tenant uses it',
    spec: { rewrites: [{ from: A, to: `${A}/mirror` }], tenants: { a: {}, b: {} } },
    problems: [`policy.yaml: spec.rewrites[0].to: "${A}/mirror" overlaps spec.rewrites[0].from "${A}", ${IDEMPOTENT}`],
  },

  // Roles
  {
    name: 'a grant with no role of its own in a tenant without a role is refused',
    spec: { tenants: { payments: { grants: [{ registry: A, repositories: ['payments/*'] }] } } },
    problems: ["policy.yaml: spec.tenants.payments.grants[0]: no role to assume: set spec.tenants.payments.roleArn or this grant's roleArn"],
  },
  {
    name: 'a grant with no role in a tenant whose name has a dot names the bracket-quoted paths',
    spec: { tenants: { 'team.a': { grants: [{ registry: A, repositories: ['a'] }] } } },
    problems: ['policy.yaml: spec.tenants["team.a"].grants[0]: no role to assume: set spec.tenants["team.a"].roleArn or this grant\'s roleArn'],
  },
  {
    name: 'two grants for the same account and region with different roles are refused, naming both',
    spec: {
      tenants: {
        payments: {
          grants: [
            { registry: A, repositories: ['a'], roleArn: ROLE },
            { registry: A, repositories: ['b'], roleArn: OTHER_ROLE },
          ],
        },
      },
    },
    problems: [
      `policy.yaml: spec.tenants.payments.grants[1].roleArn: tenant "payments" already reaches account 111111111111 in eu-west-1 with role ${ROLE} (spec.tenants.payments.grants[0]); one pull secret per registry holds one token, so use one role per registry`,
    ],
  },
  {
    name: "a grant overriding the tenant's role on the FIPS host of an account and region already granted is refused",
    spec: {
      tenants: {
        payments: {
          roleArn: ROLE,
          grants: [
            { registry: A, repositories: ['a'] },
            { registry: '111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com', repositories: ['b'], roleArn: OTHER_ROLE },
          ],
        },
      },
    },
    problems: [
      `policy.yaml: spec.tenants.payments.grants[1].roleArn: tenant "payments" already reaches account 111111111111 in eu-west-1 with role ${ROLE} (spec.tenants.payments.grants[0]); one pull secret per registry holds one token, so use one role per registry`,
    ],
  },
  // Tenants sharing a role: one trust policy must be able to allow every one of them
  {
    name: 'a tenant without session tags sharing a role with a tagged tenant is refused, naming both tenants and the role',
    spec: { tenants: { a: { roleArn: ROLE, sessionTags: { team: 'a' }, grants: [{ registry: A, repositories: ['a/*'] }] }, b: { roleArn: ROLE, grants: [{ registry: A, repositories: ['b/*'] }] } } },
    problems: [
      `policy.yaml: spec.tenants.b.sessionTags: tenant "b" assumes role ${ROLE} without session tags, but tenant "a" (spec.tenants.a.grants[0]) assumes it with session tags; ` +
        'one trust policy cannot allow both without letting untagged sessions in, so give this tenant session tags too or a role of its own',
    ],
  },
  {
    name: 'an empty session tag set is no tags, and is refused next to a tagged tenant too',
    spec: { tenants: { b: { roleArn: ROLE, sessionTags: {}, grants: [{ registry: A, repositories: ['b/*'] }] }, a: { roleArn: ROLE, sessionTags: { team: 'a' }, grants: [{ registry: A, repositories: ['a/*'] }] } } },
    problems: [
      `policy.yaml: spec.tenants.b.sessionTags: tenant "b" assumes role ${ROLE} without session tags, but tenant "a" (spec.tenants.a.grants[0]) assumes it with session tags; ` +
        'one trust policy cannot allow both without letting untagged sessions in, so give this tenant session tags too or a role of its own',
    ],
  },
  {
    name: 'a role shared only through a grant override is checked too, naming the grant that uses it',
    spec: {
      tenants: {
        a: { roleArn: OTHER_ROLE, sessionTags: { team: 'a' }, grants: [{ registry: C, repositories: ['c/*'] }, { registry: A, repositories: ['a/*'], roleArn: ROLE }] },
        'team.b': { roleArn: ROLE, grants: [{ registry: A, repositories: ['b/*'] }, { registry: A, repositories: ['b2/*'] }] },
      },
    },
    problems: [
      `policy.yaml: spec.tenants["team.b"].sessionTags: tenant "team.b" assumes role ${ROLE} without session tags, but tenant "a" (spec.tenants.a.grants[1]) assumes it with session tags; ` +
        'one trust policy cannot allow both without letting untagged sessions in, so give this tenant session tags too or a role of its own',
    ],
  },
  {
    name: 'a tenant without an external id sharing a role with one that has one is refused, naming both tenants and the role',
    spec: { tenants: { a: { roleArn: ROLE, grants: [{ registry: A, repositories: ['a/*'] }] }, b: { roleArn: ROLE, externalId: 'ext-b', grants: [{ registry: A, repositories: ['b/*'] }] } } },
    problems: [
      `policy.yaml: spec.tenants.a.externalId: tenant "a" assumes role ${ROLE} without an external id, but tenant "b" (spec.tenants.b.grants[0]) assumes it with one; ` +
        'one trust policy cannot allow both without dropping the external id condition, so give this tenant an external id too or a role of its own',
    ],
  },
  {
    name: 'every tenant without tags or an external id next to ones with them is reported',
    spec: {
      tenants: {
        a: { roleArn: ROLE, externalId: 'ext-a', sessionTags: { team: 'a' }, grants: [{ registry: A, repositories: ['a/*'] }] },
        b: { roleArn: ROLE, grants: [{ registry: A, repositories: ['b/*'] }] },
        c: { roleArn: ROLE, externalId: 'ext-c', grants: [{ registry: A, repositories: ['c/*'] }] },
      },
    },
    problems: [
      `policy.yaml: spec.tenants.b.sessionTags: tenant "b" assumes role ${ROLE} without session tags, but tenant "a" (spec.tenants.a.grants[0]) assumes it with session tags; ` +
        'one trust policy cannot allow both without letting untagged sessions in, so give this tenant session tags too or a role of its own',
      `policy.yaml: spec.tenants.b.externalId: tenant "b" assumes role ${ROLE} without an external id, but tenant "a" (spec.tenants.a.grants[0]) assumes it with one; ` +
        'one trust policy cannot allow both without dropping the external id condition, so give this tenant an external id too or a role of its own',
      `policy.yaml: spec.tenants.c.sessionTags: tenant "c" assumes role ${ROLE} without session tags, but tenant "a" (spec.tenants.a.grants[0]) assumes it with session tags; ` +
        'one trust policy cannot allow both without letting untagged sessions in, so give this tenant session tags too or a role of its own',
    ],
  },
  {
    name: 'several compile problems in different tenants are reported together',
    spec: {
      rewrites: [{ from: B, to: `${B}/mirror` }],
      tenants: {
        a: { grants: [{ registry: A, repositories: ['a'] }] },
        b: { grants: [{ registry: C, repositories: ['c'] }] },
      },
    },
    problems: [
      `policy.yaml: spec.rewrites[0].to: "${B}/mirror" overlaps spec.rewrites[0].from "${B}", ${IDEMPOTENT}`,
      "policy.yaml: spec.tenants.a.grants[0]: no role to assume: set spec.tenants.a.roleArn or this grant's roleArn",
      "policy.yaml: spec.tenants.b.grants[0]: no role to assume: set spec.tenants.b.roleArn or this grant's roleArn",
    ],
  },
];

for (const c of refusals) {
  t.test(c.name, async (t) => t.same(problemsOf(c.spec), c.problems));
}

interface AcceptCase {
  name: string;
  spec: unknown;
}

const accepted: AcceptCase[] = [
  { name: 'a rewrite to a sibling path that only shares a prefix of characters is idempotent', spec: { tenants: { payments: { rewrites: [{ from: `${A}/x`, to: `${A}/xy` }] } } } },
  { name: 'a rewrite from one registry to another is idempotent', spec: { rewrites: [{ from: B, to: A }] } },
  { name: 'a rewrite to the same path on another port of the same host is idempotent', spec: { rewrites: [{ from: 'registry.example.com:5000/x', to: 'registry.example.com/x' }] } },
  {
    name: "tenants' rewrites are checked per tenant, so two tenants may rewrite in opposite directions",
    spec: { tenants: { a: { rewrites: [{ from: B, to: C }] }, b: { rewrites: [{ from: C, to: B }] } } },
  },
  {
    name: 'two grants for the same account and region with the same role are one pull secret and accepted',
    spec: { tenants: { payments: { grants: [{ registry: A, repositories: ['a'], roleArn: ROLE }, { registry: A, repositories: ['b'], roleArn: ROLE }] } } },
  },
  {
    name: 'grants for the same account in different regions may use different roles',
    spec: {
      tenants: {
        payments: {
          grants: [
            { registry: A, repositories: ['a'], roleArn: ROLE },
            { registry: '111111111111.dkr.ecr.eu-central-1.amazonaws.com', repositories: ['a'], roleArn: OTHER_ROLE },
          ],
        },
      },
    },
  },
  { name: 'a tenant without grants needs no role', spec: { tenants: { payments: {} } } },
  {
    name: 'tenants sharing a role with different session tags and external ids are accepted: one statement each',
    spec: {
      tenants: {
        a: { roleArn: ROLE, externalId: 'ext-a', sessionTags: { team: 'a' }, grants: [{ registry: A, repositories: ['a/*'] }] },
        b: { roleArn: ROLE, externalId: 'ext-b', sessionTags: { team: 'b' }, grants: [{ registry: A, repositories: ['b/*'] }] },
      },
    },
  },
  {
    name: 'tenants sharing a role with neither session tags nor external ids are accepted',
    spec: { tenants: { a: { roleArn: ROLE, grants: [{ registry: A, repositories: ['a/*'] }] }, b: { roleArn: ROLE, grants: [{ registry: A, repositories: ['b/*'] }] } } },
  },
  {
    name: "an untagged tenant whose grants use another role than the tagged tenant's is accepted, even if its own roleArn is that role",
    spec: {
      tenants: {
        a: { roleArn: ROLE, sessionTags: { team: 'a' }, grants: [{ registry: A, repositories: ['a/*'] }] },
        b: { roleArn: ROLE, grants: [{ registry: A, repositories: ['b/*'], roleArn: OTHER_ROLE }] },
      },
    },
  },
];

for (const c of accepted) {
  t.test(c.name, async (t) => t.same(problemsOf(c.spec), []));
}

t.test('role ARNs that IAM will refuse are warnings naming their path, not errors', async (t) => {
  const policy = compiled({
    tenants: {
      payments: {
        roleArn: 'ecr-pull-payments',
        grants: [
          { registry: A, repositories: ['a'] },
          { registry: C, repositories: ['c'], roleArn: 'arn:aws:iam::2222:role/short-account' },
          { registry: B, repositories: ['b'], roleArn: 'arn:aws:iam::999999999999:role/fine' },
        ],
      },
    },
  });
  t.same(policy.warnings, [
    'spec.tenants.payments.roleArn: "ecr-pull-payments" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); minting pull credentials with it will fail',
    'spec.tenants.payments.grants[1].roleArn: "arn:aws:iam::2222:role/short-account" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); minting pull credentials with it will fail',
  ]);
  t.equal(policy.tenants.get('payments')?.grantsByRegistry.get(A)?.[0]?.roleArn, 'ecr-pull-payments', 'the grant still uses the role as written');
});

t.test("a tenant's unused role ARN is still checked and warned about", async (t) => {
  const policy = compiled({ tenants: { payments: { roleArn: 'not-an-arn' } } });
  t.same(policy.warnings, ['spec.tenants.payments.roleArn: "not-an-arn" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); minting pull credentials with it will fail']);
});

t.test('role ARNs in every partition with ECR registries, and with a role path, are not warned about', async (t) => {
  const policy = compiled({
    tenants: {
      cn: { roleArn: 'arn:aws-cn:iam::333333333333:role/ecr-pull' },
      gov: { roleArn: 'arn:aws-us-gov:iam::444444444444:role/team/ecr-pull' },
      iso: { roleArn: 'arn:aws-iso:iam::555555555555:role/ecr-pull' },
      isob: { roleArn: 'arn:aws-iso-b:iam::555555555555:role/ecr-pull' },
      isoe: { roleArn: 'arn:aws-iso-e:iam::555555555555:role/ecr-pull' },
      isof: { roleArn: 'arn:aws-iso-f:iam::555555555555:role/ecr-pull' },
      eusc: { roleArn: 'arn:aws-eusc:iam::555555555555:role/ecr-pull' },
    },
  });
  t.same(policy.warnings, []);
});

t.test('a role ARN in a partition AWS does not have is warned about', async (t) => {
  const policy = compiled({ tenants: { x: { roleArn: 'arn:aws-iso-z:iam::555555555555:role/ecr-pull' } } });
  t.same(policy.warnings, ['spec.tenants.x.roleArn: "arn:aws-iso-z:iam::555555555555:role/ecr-pull" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); minting pull credentials with it will fail']);
});

t.test("a tenant's own rewrites come before the global ones, each remembering where it was written", async (t) => {
  const policy = compiled({
    rewrites: [{ from: B, to: A }],
    tenants: { payments: { rewrites: [{ from: `${B}/payments`, to: `${C}/payments` }, { from: 'mirror.example.com', to: C }] }, other: {} },
  });
  const payments = policy.tenants.get('payments')!;
  t.same(
    payments.rewrites.map((r) => [r.at, r.from.text, r.to.text]),
    [
      ['spec.tenants.payments.rewrites[0]', `${B}/payments`, `${C}/payments`],
      ['spec.tenants.payments.rewrites[1]', 'mirror.example.com', C],
      ['spec.rewrites[0]', B, A],
    ],
  );
  t.same(
    policy.tenants.get('other')!.rewrites.map((r) => r.at),
    ['spec.rewrites[0]'],
    'a tenant without rewrites of its own gets the global ones',
  );
});

t.test('grantsByRegistry is keyed by the registry host, each host keeping its grants in order', async (t) => {
  const policy = compiled({
    tenants: {
      payments: {
        roleArn: ROLE,
        grants: [
          { registry: A, repositories: ['payments/*'] },
          { registry: C, repositories: ['tools/*'], roleArn: 'arn:aws:iam::222222222222:role/tools' },
          { registry: A, repositories: ['shared/**'] },
          { registry: '111111111111.dkr-ecr.eu-west-1.on.aws', repositories: ['dual/*'] },
        ],
      },
    },
  });
  const byRegistry = policy.tenants.get('payments')!.grantsByRegistry;
  t.same([...byRegistry.keys()], [A, C, '111111111111.dkr-ecr.eu-west-1.on.aws']);
  t.same(
    byRegistry.get(A)!.map((g) => [g.at, g.roleArn, g.globs.map((glob) => glob.source)]),
    [
      ['spec.tenants.payments.grants[0]', ROLE, ['payments/*']],
      ['spec.tenants.payments.grants[2]', ROLE, ['shared/**']],
    ],
  );
  t.same(byRegistry.get(C)!.map((g) => g.roleArn), ['arn:aws:iam::222222222222:role/tools'], "a grant's own role overrides the tenant's");
  t.match(byRegistry.get('111111111111.dkr-ecr.eu-west-1.on.aws')![0]!.registry, { account: '111111111111', region: 'eu-west-1', dualStack: true });
});

t.test("tenants keep mode, nonEcrImages, role, externalId and session tags, inheriting defaults.nonEcrImages only when unset", async (t) => {
  const policy = compiled({
    defaults: { mode: 'dry-run', nonEcrImages: 'deny' },
    tenants: {
      strict: { mode: 'enforce', roleArn: ROLE, externalId: 'ext-1', sessionTags: { team: 'strict' } },
      open: { nonEcrImages: 'allow' },
      plain: {},
    },
  });
  t.equal(policy.defaultMode, 'dry-run');
  t.match(policy.tenants.get('strict'), { name: 'strict', mode: 'enforce', nonEcrImages: 'deny', roleArn: ROLE, externalId: 'ext-1', sessionTags: { team: 'strict' } });
  t.match(policy.tenants.get('open'), { name: 'open', mode: undefined, nonEcrImages: 'allow', roleArn: undefined, externalId: undefined, sessionTags: undefined });
  t.equal(policy.tenants.get('plain')?.nonEcrImages, 'deny');
  t.ok(Object.isFrozen(policy), 'the compiled policy is frozen');
  t.ok(Object.isFrozen(policy.tenants.get('plain')), 'each compiled tenant is frozen');
});

t.test('onCredentialError defaults to deny, and a tenant may override the default either way', async (t) => {
  t.equal(compiled({ tenants: { plain: {} } }).tenants.get('plain')?.onCredentialError, 'deny', 'fail closed unless told otherwise');
  const policy = compiled({ defaults: { onCredentialError: 'allow' }, tenants: { lenient: {}, strict: { onCredentialError: 'deny' } } });
  t.equal(policy.tenants.get('lenient')?.onCredentialError, 'allow');
  t.equal(policy.tenants.get('strict')?.onCredentialError, 'deny');
  t.match(problemsOf({ defaults: { onCredentialError: 'retry' } }), [/spec\.defaults\.onCredentialError: .*"deny".*"allow"/]);
});

t.test('compilePolicy used directly throws one PolicyError listing every problem, each naming the source', async (t) => {
  const document = policySchema.parse({
    apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
    kind: 'TenantPolicy',
    spec: { rewrites: [{ from: A, to: `${A}/m` }], tenants: { payments: { grants: [{ registry: A, repositories: ['a'] }] } } },
  });
  let caught: unknown;
  try {
    compilePolicy(document, 'policy.yaml');
  } catch (error) {
    caught = error;
  }
  t.type(caught, PolicyError);
  const error = caught as PolicyError;
  t.equal(error.name, 'PolicyError');
  t.equal(error.problems.length, 2);
  t.ok(error.problems.every((p) => p.startsWith('policy.yaml: ')));
  t.equal(error.message, `policy.yaml: 2 problems\n${error.problems.join('\n')}`);
});

t.test('a fixed policy source always hands out the policy it was given', async (t) => {
  const policy = compiled({});
  const source = fixedPolicy(policy);
  t.equal(source.current(), policy);
  t.equal(source.current(), policy, 'and the same one again');
});
