import { readFileSync } from 'node:fs';
import t from 'tap';
import { parsePolicy, PolicyError } from '../../src/policy/load.ts';
import { loadPolicyFile } from '../../src/policy/policy-file.ts';

const SCHEMA_EXAMPLE = new URL('../fixtures/schema-example.yaml', import.meta.url);
const EXAMPLE_POLICY = new URL('../../examples/policy.yaml', import.meta.url);
const FIXTURES = new URL('../fixtures/policies/', import.meta.url);

const HEAD = 'apiVersion: ecr-tenant-webhook.io/v1alpha1\nkind: TenantPolicy\n';
const REGISTRY = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const ROLE = 'arn:aws:iam::111111111111:role/ecr-pull-payments';
const REGISTRY_HOST_PROBLEM = 'is not an ECR registry host (expected ACCOUNT.dkr.ecr.REGION.amazonaws.com or its FIPS, dual-stack, China, GovCloud or ISO form)';
const TENANT_NAME_PROBLEM = 'tenant name must be a valid label value: up to 63 letters, digits, "-", "_" or ".", starting and ending alphanumeric';

/** A policy whose spec is written in YAML flow style, which is JSON. */
function withSpec(spec: unknown): string {
  return `${HEAD}spec: ${JSON.stringify(spec)}\n`;
}

/** A tenant with one valid grant, to which a case adds or changes fields. */
function tenant(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { roleArn: ROLE, grants: [{ registry: REGISTRY, repositories: ['payments/*'] }], ...fields };
}

/** What parsePolicy throws for a text, or undefined when the text loads. */
function loadError(text: string, source = 'policy.yaml'): unknown {
  try {
    parsePolicy(text, source);
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The lines of the PolicyError a text is refused with; an empty list when it loads or fails otherwise. */
function problemsOf(text: string, source = 'policy.yaml'): readonly string[] {
  const error = loadError(text, source);
  return error instanceof PolicyError ? error.problems : [];
}

t.test('the schema reference example loads, warning only about its placeholder role', async (t) => {
  const policy = parsePolicy(readFileSync(SCHEMA_EXAMPLE, 'utf8'), 'schema-example.yaml');
  t.same([...policy.tenants.keys()], ['payments']);
  t.same(policy.warnings, [
    'spec.tenants.payments.grants[0].roleArn: "optional override" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); minting pull credentials with it will fail',
  ]);
  const payments = policy.tenants.get('payments')!;
  t.equal(payments.mode, 'dry-run');
  t.equal(payments.externalId, 'optional');
  t.same(payments.sessionTags, { team: 'payments' });
  t.same(
    payments.rewrites.map((r) => r.at),
    ['spec.tenants.payments.rewrites[0]', 'spec.rewrites[0]'],
    "the tenant's own rewrite comes before the global one",
  );
});

t.test('examples/policy.yaml loads without warnings and keeps what it says', async (t) => {
  const policy = parsePolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'examples/policy.yaml');
  t.same(policy.warnings, []);
  t.equal(policy.defaultMode, 'enforce');
  const payments = policy.tenants.get('payments')!;
  t.equal(payments.mode, 'dry-run');
  t.equal(payments.nonEcrImages, 'allow', 'the tenant inherits defaults.nonEcrImages');
  t.equal(payments.roleArn, 'arn:aws:iam::111111111111:role/ecr-pull-payments');
  t.equal(payments.externalId, 'payments-7f3a');
  const [grant] = payments.grantsByRegistry.get(REGISTRY)!;
  t.equal(grant?.roleArn, 'arn:aws:iam::111111111111:role/ecr-pull-payments-shared', "the grant's own role overrides the tenant's");
  t.same(grant?.globs.map((g) => g.source), ['payments/*', 'shared/**']);
});

t.test('a policy written as JSON loads like the same policy in YAML', async (t) => {
  const document = {
    apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
    kind: 'TenantPolicy',
    metadata: { name: 'production' },
    spec: { defaults: { mode: 'dry-run', nonEcrImages: 'deny' }, tenants: { payments: tenant() } },
  };
  const policy = parsePolicy(JSON.stringify(document, null, 2), 'policy.json');
  t.equal(policy.defaultMode, 'dry-run');
  t.equal(policy.document.metadata?.name, 'production');
  t.equal(policy.tenants.get('payments')?.nonEcrImages, 'deny');
  t.same([...policy.tenants.get('payments')!.grantsByRegistry.keys()], [REGISTRY]);
});

t.test('a minimal policy gets the documented defaults', async (t) => {
  const policy = parsePolicy(`${HEAD}spec: {}\n`, 'policy.yaml');
  t.equal(policy.defaultMode, 'enforce');
  t.same(policy.document.spec, { defaults: { mode: 'enforce', nonEcrImages: 'allow', onCredentialError: 'deny', missingImage: 'allow', pinDigests: false }, rewrites: [], tenants: {}, labelAdmins: { users: [], groups: ['system:masters'], serviceAccounts: [] } });
  t.equal(policy.tenants.size, 0);
  t.same(policy.warnings, []);
});

t.test('label admins listed with their own groups replace the default group; users and service accounts default to none', async (t) => {
  const policy = parsePolicy(withSpec({ labelAdmins: { groups: ['platform-team'] } }), 'policy.yaml');
  t.same(policy.document.spec.labelAdmins, { users: [], groups: ['platform-team'], serviceAccounts: [] });
  t.same(policy.warnings, []);
});

t.test('label admins naming nobody load, with a warning that no one can onboard a namespace', async (t) => {
  const policy = parsePolicy(withSpec({ labelAdmins: { groups: [] } }), 'policy.yaml');
  t.same(policy.warnings, ['spec.labelAdmins names nobody: no one can add, change or remove the tenant and mode labels of a namespace']);
});

t.test('a label-admin service account not written NAMESPACE/NAME is refused with the expected form', async (t) => {
  t.throws(() => parsePolicy(withSpec({ labelAdmins: { serviceAccounts: ['argocd-application-controller'] } }), 'policy.yaml'), {
    message: /spec\.labelAdmins\.serviceAccounts\[0\]: service account must be NAMESPACE\/NAME, e\.g\. argocd\/argocd-application-controller/,
  });
});

t.test('tenant names that are valid label values are accepted', async (t) => {
  const names = ['a', 'A1', 'team.a_b-c', '123', 'x'.repeat(63)];
  const policy = parsePolicy(withSpec({ tenants: Object.fromEntries(names.map((n) => [n, {}])) }), 'policy.yaml');
  t.same([...policy.tenants.keys()].sort(), [...names].sort());
});

t.test('a grant by repository tags alone covers every repository of its registry, subject to the tags', async (t) => {
  const policy = parsePolicy(withSpec({ defaults: { missingImage: 'keep-source', pinDigests: true }, tenants: { payments: tenant({ missingImage: 'deny', grants: [{ registry: REGISTRY, repositoryTags: { Team: 'Payments' } }] }) } }), 'policy.yaml');
  const tenant0 = policy.tenants.get('payments')!;
  const [grant] = [...tenant0.grantsByRegistry.values()].flat();
  t.same(grant!.globs.map((g) => g.source), ['**']);
  t.same(grant!.repositoryTags, { Team: 'Payments' });
  t.equal(tenant0.missingImage, 'deny', 'the tenant overrides the default');
  t.equal(tenant0.pinDigests, true, 'the default applies where the tenant says nothing');
});

t.test('exactly 50 session tags are accepted', async (t) => {
  const sessionTags = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, `value ${i}`]));
  const policy = parsePolicy(withSpec({ tenants: { payments: tenant({ sessionTags }) } }), 'policy.yaml');
  t.equal(Object.keys(policy.tenants.get('payments')!.sessionTags!).length, 50);
});

t.test('a PolicyError with one problem is that one line; with several, a count and then every line', async (t) => {
  const one = new PolicyError('p.yaml', ['spec: is required']);
  t.equal(one.name, 'PolicyError');
  t.ok(one instanceof Error);
  t.equal(one.message, 'p.yaml: spec: is required');
  t.same(one.problems, ['p.yaml: spec: is required']);
  const two = new PolicyError('p.yaml', ['a: x', 'b: y']);
  t.equal(two.message, 'p.yaml: 2 problems\np.yaml: a: x\np.yaml: b: y');
  t.same(two.problems, ['p.yaml: a: x', 'p.yaml: b: y']);
});

t.test('grant registries of every partition load without warnings, each in its partition', async (t) => {
  const grants = [
    ['111111111111.dkr.ecr.us-iso-east-1.c2s.ic.gov', 'aws-iso'],
    ['111111111112.dkr.ecr-fips.us-isob-east-1.sc2s.sgov.gov', 'aws-iso-b'],
    ['111111111113.dkr-ecr.eu-isoe-west-1.on.cloud-aws.adc-e.uk', 'aws-iso-e'],
    ['111111111114.dkr.ecr.us-isof-south-1.csp.hci.ic.gov', 'aws-iso-f'],
    ['111111111115.dkr.ecr.eusc-de-east-1.amazonaws.eu', 'aws-eusc'],
    ['111111111116.dkr.ecr.cn-north-1.amazonaws.com.cn', 'aws-cn'],
    ['111111111117.dkr-ecr-fips.us-gov-west-1.on.aws', 'aws-us-gov'],
  ];
  const tenants = Object.fromEntries(
    grants.map(([registry, partition], i) => [`t${i}`, { roleArn: `arn:${partition}:iam::${registry!.slice(0, 12)}:role/pull`, grants: [{ registry, repositories: ['a/*'] }] }]),
  );
  const policy = parsePolicy(withSpec({ tenants }), 'policy.yaml');
  t.same(policy.warnings, [], 'no role ARN of these partitions is warned about');
  t.same(
    grants.map((_, i) => [...policy.tenants.get(`t${i}`)!.grantsByRegistry.values()][0]![0]!.registry.partition),
    grants.map(([, partition]) => partition),
  );
});

interface ErrorCase {
  name: string;
  text: string;
  source?: string;
  /** Every problem line, in order. */
  problems: (string | RegExp)[];
}

const errorCases: ErrorCase[] = [
  // What the README shows
  {
    name: 'a grant registry that is not an ECR host is named by file, path and problem',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY, repositories: ['a'] }, { registry: 'foo', repositories: ['a'] }] }) } }),
    problems: [`policy.yaml: spec.tenants.payments.grants[1].registry: "foo" ${REGISTRY_HOST_PROBLEM}`],
  },
  {
    name: 'the two problems of the README example are both reported',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY, repositories: ['a'] }, { registry: 'foo', repositories: ['a'] }], grant: [] }) } }),
    problems: [`policy.yaml: spec.tenants.payments.grants[1].registry: "foo" ${REGISTRY_HOST_PROBLEM}`, 'policy.yaml: spec.tenants.payments: unknown field "grant"'],
  },
  {
    name: 'the source given by the caller is the name every line starts with',
    source: '/etc/webhook/policy.yaml',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: 'public.ecr.aws', repositories: ['a'] }] }) } }),
    problems: [`/etc/webhook/policy.yaml: spec.tenants.payments.grants[0].registry: "public.ecr.aws" ${REGISTRY_HOST_PROBLEM}`],
  },

  // Unknown fields, at every level
  { name: 'an unknown top-level field is refused', text: `${HEAD}spec: {}\nextra: 1\n`, problems: ['policy.yaml: (top level): unknown field "extra"'] },
  { name: 'several unknown fields at one level are named together', text: `${HEAD}spec: {}\nextra: 1\nmore: 2\n`, problems: ['policy.yaml: (top level): unknown fields "extra", "more"'] },
  { name: 'an unknown metadata field is refused', text: `${HEAD}metadata: {name: x, labels: {}}\nspec: {}\n`, problems: ['policy.yaml: metadata: unknown field "labels"'] },
  { name: 'an unknown spec field is refused', text: withSpec({ tenant: {} }), problems: ['policy.yaml: spec: unknown field "tenant"'] },
  { name: 'an unknown defaults field is refused', text: withSpec({ defaults: { mode: 'enforce', nonEcr: 'deny' } }), problems: ['policy.yaml: spec.defaults: unknown field "nonEcr"'] },
  { name: 'an unknown tenant field is refused', text: withSpec({ tenants: { payments: tenant({ role: 'x' }) } }), problems: ['policy.yaml: spec.tenants.payments: unknown field "role"'] },
  {
    name: 'an unknown grant field is refused',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY, repositories: ['a'], repos: ['b'] }] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.grants[0]: unknown field "repos"'],
  },
  {
    name: 'an unknown field of a global rewrite is refused',
    text: withSpec({ rewrites: [{ from: 'a.example.com', to: 'b.example.com', via: 'c' }] }),
    problems: ['policy.yaml: spec.rewrites[0]: unknown field "via"'],
  },
  {
    name: "an unknown field of a tenant's rewrite is refused",
    text: withSpec({ tenants: { payments: tenant({ rewrites: [{ from: 'a.example.com', to: 'b.example.com', prefix: true }] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.rewrites[0]: unknown field "prefix"'],
  },

  // The envelope
  {
    name: 'a wrong apiVersion is refused naming the one expected',
    text: 'apiVersion: v1\nkind: TenantPolicy\nspec: {}\n',
    problems: ['policy.yaml: apiVersion: must be "ecr-tenant-webhook.io/v1alpha1", not the string "v1"'],
  },
  {
    name: 'a wrong kind is refused naming the one expected',
    text: 'apiVersion: ecr-tenant-webhook.io/v1alpha1\nkind: Policy\nspec: {}\n',
    problems: ['policy.yaml: kind: must be "TenantPolicy", not the string "Policy"'],
  },
  { name: 'a missing spec is required', text: HEAD, problems: ['policy.yaml: spec: is required'] },
  {
    name: 'a map of something else reports every missing and unknown field at once',
    text: 'foo: 1\n',
    problems: [
      'policy.yaml: apiVersion: must be "ecr-tenant-webhook.io/v1alpha1", not nothing',
      'policy.yaml: kind: must be "TenantPolicy", not nothing',
      'policy.yaml: spec: is required',
      'policy.yaml: (top level): unknown field "foo"',
    ],
  },
  { name: 'a spec that is a string is refused as not a map', text: `${HEAD}spec: hello\n`, problems: ['policy.yaml: spec: must be a map, not the string "hello"'] },

  // Enumerations
  {
    name: 'a default mode other than enforce or dry-run is refused',
    text: withSpec({ defaults: { mode: 'audit' } }),
    problems: ['policy.yaml: spec.defaults.mode: must be "enforce" or "dry-run", not the string "audit"'],
  },
  {
    name: "a tenant's mode other than enforce or dry-run is refused",
    text: withSpec({ tenants: { payments: tenant({ mode: 'Enforce' }) } }),
    problems: ['policy.yaml: spec.tenants.payments.mode: must be "enforce" or "dry-run", not the string "Enforce"'],
  },
  {
    name: 'a default nonEcrImages other than allow or deny is refused',
    text: withSpec({ defaults: { nonEcrImages: 'warn' } }),
    problems: ['policy.yaml: spec.defaults.nonEcrImages: must be "allow" or "deny", not the string "warn"'],
  },
  {
    name: "a tenant's nonEcrImages other than allow or deny is refused",
    text: withSpec({ tenants: { payments: tenant({ nonEcrImages: 'maybe' }) } }),
    problems: ['policy.yaml: spec.tenants.payments.nonEcrImages: must be "allow" or "deny", not the string "maybe"'],
  },
  {
    name: 'a mode given as a boolean is named as one',
    text: withSpec({ defaults: { mode: true } }),
    problems: ['policy.yaml: spec.defaults.mode: must be "enforce" or "dry-run", not boolean true'],
  },
  {
    name: 'a very long wrong value is clipped in the message',
    text: withSpec({ defaults: { mode: 'x'.repeat(80) } }),
    problems: [`policy.yaml: spec.defaults.mode: must be "enforce" or "dry-run", not the string "${'x'.repeat(59)}…"`],
  },

  // Tenant names are namespace label values
  { name: 'a tenant name starting with a dash is not a label value', text: withSpec({ tenants: { '-bad': {} } }), problems: [`policy.yaml: spec.tenants: "-bad": ${TENANT_NAME_PROBLEM}`] },
  { name: 'a tenant name ending with a dot is not a label value', text: withSpec({ tenants: { 'bad.': {} } }), problems: [`policy.yaml: spec.tenants: "bad.": ${TENANT_NAME_PROBLEM}`] },
  { name: 'a tenant name with a space is not a label value', text: withSpec({ tenants: { 'a b': {} } }), problems: [`policy.yaml: spec.tenants: "a b": ${TENANT_NAME_PROBLEM}`] },
  { name: 'a tenant name with a slash is not a label value', text: withSpec({ tenants: { 'a/b': {} } }), problems: [`policy.yaml: spec.tenants: "a/b": ${TENANT_NAME_PROBLEM}`] },
  { name: 'a tenant name of 64 characters is too long for a label value', text: withSpec({ tenants: { ['x'.repeat(64)]: {} } }), problems: [`policy.yaml: spec.tenants: "${'x'.repeat(64)}": ${TENANT_NAME_PROBLEM}`] },
  { name: 'an empty tenant name is not a label value the webhook can match', text: withSpec({ tenants: { '': {} } }), problems: [`policy.yaml: spec.tenants: "": ${TENANT_NAME_PROBLEM}`] },
  {
    name: 'a problem inside a tenant whose name has a dot is reported on a bracket-quoted path',
    text: withSpec({ tenants: { 'team.a': tenant({ grants: [{ registry: 'foo', repositories: ['a'] }] }) } }),
    problems: [`policy.yaml: spec.tenants["team.a"].grants[0].registry: "foo" ${REGISTRY_HOST_PROBLEM}`],
  },
  {
    name: 'an unknown field of a tenant whose name starts with a digit is reported on a bracket-quoted path',
    text: withSpec({ tenants: { '9lives': tenant({ grant: [] }) } }),
    problems: ['policy.yaml: spec.tenants["9lives"]: unknown field "grant"'],
  },

  // YAML itself
  {
    name: 'a YAML syntax error reports its line and column',
    text: `${HEAD}spec:\n  rewrites: [a, b]]\n`,
    problems: [/^policy\.yaml: line 4, column 19: Unexpected flow-seq-end token/],
  },
  {
    name: 'a YAML syntax error message is one line, without the source excerpt the parser appends',
    text: `${HEAD}spec:\n  defaults:\n    mode: "enforce\n`,
    problems: ['policy.yaml: line 6, column 1: Missing closing "quote'],
  },
  {
    name: 'a JSON syntax error is a YAML syntax error with its position',
    text: '{"apiVersion": 1, ',
    problems: [/^policy\.yaml: line 1, column 19: Flow map must end with a \}/],
  },
  {
    name: 'tabs used as indentation are refused with their position',
    text: `${HEAD}spec:\n\ttenants: {}\n`,
    problems: ['policy.yaml: line 4, column 1: Tabs are not allowed as indentation'],
  },
  { name: 'a duplicate top-level key is refused with its position', text: `${HEAD}spec: {}\nspec: {}\n`, problems: ['policy.yaml: line 4, column 1: Map keys must be unique'] },
  {
    name: 'a duplicate tenant is refused rather than the later one silently winning',
    text: `${HEAD}spec:\n  tenants:\n    a: {}\n    a: {mode: dry-run}\n`,
    problems: ['policy.yaml: line 6, column 5: Map keys must be unique'],
  },
  {
    name: 'a duplicate key inside a flow map is refused with its position',
    text: `${HEAD}spec:\n  tenants:\n    payments: {mode: enforce, mode: dry-run}\n`,
    problems: ['policy.yaml: line 5, column 31: Map keys must be unique'],
  },
  { name: 'a file of two YAML documents is refused', text: `${HEAD}spec: {}\n---\n${HEAD}spec: {}\n`, problems: ['policy.yaml: holds 2 YAML documents; a policy file holds one'] },
  { name: 'two empty YAML documents are still two documents', text: '---\n---\n', problems: ['policy.yaml: holds 2 YAML documents; a policy file holds one'] },
  { name: 'a document that is only a start marker is empty', text: '---\n', problems: ['policy.yaml: is empty'] },
  { name: 'a document that is an explicit null is empty', text: 'null\n', problems: ['policy.yaml: is empty'] },
  { name: 'a document that is a list is not a map', text: '- a\n- b\n', problems: ['policy.yaml: (top level): must be a map, not a list'] },
  { name: 'a document that is a string is not a map', text: 'hello\n', problems: ['policy.yaml: (top level): must be a map, not the string "hello"'] },
  { name: 'a document that is a number is not a map', text: '42\n', problems: ['policy.yaml: (top level): must be a map, not number 42'] },

  // Shapes and limits inside the spec
  {
    name: 'wrong container types in the spec are each named',
    text: withSpec({ tenants: [], rewrites: {}, defaults: [] }),
    problems: ['policy.yaml: spec.defaults: must be a map, not a list', 'policy.yaml: spec.rewrites: must be a list, not a map', 'policy.yaml: spec.tenants: must be a map, not a list'],
  },
  { name: 'a tenant that is null is not a map', text: withSpec({ tenants: { payments: null } }), problems: ['policy.yaml: spec.tenants.payments: must be a map, not null'] },
  {
    name: 'grants that are not maps are each named by index',
    text: withSpec({ tenants: { payments: tenant({ grants: [null, true, [1]] }) } }),
    problems: [
      'policy.yaml: spec.tenants.payments.grants[0]: must be a map, not null',
      'policy.yaml: spec.tenants.payments.grants[1]: must be a map, not boolean true',
      'policy.yaml: spec.tenants.payments.grants[2]: must be a map, not a list',
    ],
  },
  {
    name: 'a grant without a registry is told the registry is required',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ repositories: ['a'] }] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.grants[0].registry: is required'],
  },
  {
    name: 'a grant registry given as a number and repositories given as a string are both named',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: 5, repositories: 'a' }] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.grants[0].registry: must be a string, not number 5', 'policy.yaml: spec.tenants.payments.grants[0].repositories: must be a list, not the string "a"'],
  },
  {
    name: 'a grant with an empty repositories list is refused',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY, repositories: [] }] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.grants[0].repositories: must list at least 1 item'],
  },
  {
    name: 'a grant with neither repositories nor repositoryTags is refused, saying it needs one',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY }] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.grants[0]: a grant needs repositories, repositoryTags or both'],
  },
  {
    name: 'repositoryTags that name no tag, or tags ECR refuses, are named at their path',
    text: withSpec({
      tenants: {
        payments: tenant({ grants: [{ registry: REGISTRY, repositoryTags: {} }, { registry: REGISTRY, repositoryTags: { 'bad!': 'v' } }, { registry: REGISTRY, repositoryTags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }] }),
      },
    }),
    problems: [
      'policy.yaml: spec.tenants.payments.grants[0].repositoryTags: names no tags; leave it out or name at least one',
      'policy.yaml: spec.tenants.payments.grants[1].repositoryTags: "bad!": repository tag key must be 1 to 128 letters, digits, spaces or _.:/=+-@',
      'policy.yaml: spec.tenants.payments.grants[2].repositoryTags: has 51 repository tags; ECR allows at most 50',
    ],
  },
  {
    name: 'tag keys that differ only in case are refused, since IAM matches tag keys without case',
    text: withSpec({ tenants: { payments: tenant({ sessionTags: { team: 'a', Other: 'b', TEAM: 'c' }, grants: [{ registry: REGISTRY, repositoryTags: { Team: 'Payments', team: 'Ops' } }] }) } }),
    problems: [
      'policy.yaml: spec.tenants.payments.sessionTags: session tag keys "team" and "TEAM" differ only in case; IAM matches tag keys (session tags, aws:ResourceTag) without case, so they would be one key',
      'policy.yaml: spec.tenants.payments.grants[0].repositoryTags: repository tag keys "Team" and "team" differ only in case; IAM matches tag keys (session tags, aws:ResourceTag) without case, so they would be one key',
    ],
  },
  {
    name: 'missingImage and pinDigests take only their documented values',
    text: withSpec({ defaults: { missingImage: 'skip' }, tenants: { payments: tenant({ pinDigests: 'yes' }) } }),
    problems: [/^policy\.yaml: spec\.defaults\.missingImage: .*"allow".*"deny".*"keep-source"/, /^policy\.yaml: spec\.tenants\.payments\.pinDigests: must be a boolean/],
  },
  {
    name: 'invalid repository globs are each named by index with their problem',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY, repositories: ['ok/*', 'Payments/*', 'a**', '**/**'] }] }) } }),
    problems: [
      'policy.yaml: spec.tenants.payments.grants[0].repositories[1]: repository pattern "Payments/*" may hold only lower-case letters, digits, ".", "_", "-", "/" and "*"',
      'policy.yaml: spec.tenants.payments.grants[0].repositories[2]: repository pattern "a**": "**" must be a whole path segment',
      'policy.yaml: spec.tenants.payments.grants[0].repositories[3]: repository pattern "**/**": "**/**" says nothing more than "**"',
    ],
  },
  {
    name: 'an empty role ARN is refused at its path',
    text: withSpec({ tenants: { payments: tenant({ roleArn: '' }) } }),
    problems: [/^policy\.yaml: spec\.tenants\.payments\.roleArn: .*1 character/],
  },
  {
    name: 'more than 50 session tags are refused, as STS would refuse them',
    text: withSpec({ tenants: { payments: tenant({ sessionTags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }) } }),
    problems: ['policy.yaml: spec.tenants.payments.sessionTags: has 51 session tags; STS allows at most 50'],
  },
  {
    name: 'a session tag key and a session tag value with characters STS refuses are each named',
    text: withSpec({ tenants: { payments: tenant({ sessionTags: { 'bad!': 'v', ok: 'bad!' } }) } }),
    problems: [
      'policy.yaml: spec.tenants.payments.sessionTags: "bad!": session tag key must be 1 to 128 letters, digits, spaces or _.:/=+-@',
      'policy.yaml: spec.tenants.payments.sessionTags.ok: session tag value must be up to 256 letters, digits, spaces or _.:/=+-@',
    ],
  },
  {
    name: 'session tags given as a list are not a map',
    text: withSpec({ tenants: { payments: tenant({ sessionTags: ['team'] }) } }),
    problems: ['policy.yaml: spec.tenants.payments.sessionTags: must be a map, not a list'],
  },
  {
    name: 'an externalId of one character is too short for STS',
    text: withSpec({ tenants: { payments: tenant({ externalId: 'x' }) } }),
    problems: ['policy.yaml: spec.tenants.payments.externalId: must be 2 to 1224 characters of letters, digits and +=,.@:/-_'],
  },
  {
    name: 'an externalId of 1225 characters is too long for STS',
    text: withSpec({ tenants: { payments: tenant({ externalId: 'x'.repeat(1225) }) } }),
    problems: ['policy.yaml: spec.tenants.payments.externalId: must be 2 to 1224 characters of letters, digits and +=,.@:/-_'],
  },
  {
    name: 'an externalId with a space is refused',
    text: withSpec({ tenants: { payments: tenant({ externalId: 'a b' }) } }),
    problems: ['policy.yaml: spec.tenants.payments.externalId: must be 2 to 1224 characters of letters, digits and +=,.@:/-_'],
  },
  {
    name: 'an externalId written as a number is not a string',
    text: withSpec({ tenants: { payments: tenant({ externalId: 12 }) } }),
    problems: ['policy.yaml: spec.tenants.payments.externalId: must be a string, not number 12'],
  },

  // Rewrite prefixes
  {
    name: 'bad global rewrite prefixes are each named with their problem',
    text: withSpec({
      rewrites: [
        { from: '', to: 'a.example.com:99999' },
        { from: 'a.example.com/x:1', to: 'a.example.com/X' },
        { from: 'bad_host/x', to: 'b.example.com' },
      ],
    }),
    problems: [
      'policy.yaml: spec.rewrites[0].from: is empty',
      'policy.yaml: spec.rewrites[0].to: "a.example.com:99999": registry port "99999" is not a number from 0 to 65535',
      'policy.yaml: spec.rewrites[1].from: "a.example.com/x:1": repository path component "x:1" is invalid: lower-case letters and digits, separated by ".", "_", "__" or "-"',
      'policy.yaml: spec.rewrites[1].to: "a.example.com/X": repository path "X" must be lower case',
      'policy.yaml: spec.rewrites[2].from: "bad_host/x": registry host "bad_host" is not a valid host name',
    ],
  },
  {
    name: "a tenant's rewrite with a digest or a space is refused",
    text: withSpec({ tenants: { payments: tenant({ rewrites: [{ from: 'a.example.com@sha256', to: 'b.example.com/x y' }] }) } }),
    problems: [
      'policy.yaml: spec.tenants.payments.rewrites[0].from: "a.example.com@sha256" must be host[/path-prefix], without tag, digest or spaces',
      'policy.yaml: spec.tenants.payments.rewrites[0].to: "b.example.com/x y" must be host[/path-prefix], without tag, digest or spaces',
    ],
  },
  {
    name: 'a rewrite prefix with an empty path segment is refused',
    text: withSpec({ rewrites: [{ from: 'a.example.com/x//y', to: 'b.example.com' }] }),
    problems: ['policy.yaml: spec.rewrites[0].from: "a.example.com/x//y": repository path "x//y" has an empty component'],
  },
  {
    name: 'a rewrite prefix ending with a bare slash is refused',
    text: withSpec({ rewrites: [{ from: 'a.example.com/', to: 'b.example.com' }] }),
    problems: [/^policy\.yaml: spec\.rewrites\[0\]\.from: "a\.example\.com\/" ends with "\/"/],
  },
  {
    name: 'a rewrite missing its target is told the target is required',
    text: withSpec({ rewrites: [{ from: 'a.example.com' }] }),
    problems: ['policy.yaml: spec.rewrites[0].to: is required'],
  },

  // ECR hosts as a policy writes them: in lower case, and of a known form
  {
    name: 'a grant registry written in upper case is refused, telling how to write it',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: REGISTRY.toUpperCase(), repositories: ['a'] }] }) } }),
    problems: [
      `policy.yaml: spec.tenants.payments.grants[0].registry: registry host "${REGISTRY.toUpperCase()}" is a private ECR registry written with upper-case letters; ` +
        `write it in lower case (${REGISTRY}): the kubelet matches a pull secret only to the host exactly as written, and pull secrets name ECR hosts in lower case`,
    ],
  },
  {
    name: 'a grant registry with a single upper-case letter is refused like an all upper-case one',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: '111111111111.Dkr.ecr.eu-west-1.amazonaws.com', repositories: ['a'] }] }) } }),
    problems: [/grants\[0\]\.registry: registry host "111111111111\.Dkr\.ecr\.eu-west-1\.amazonaws\.com" is a private ECR registry written with upper-case letters; write it in lower case \(111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\)/],
  },
  {
    name: 'a grant registry shaped like ECR in a region of another partition is refused, naming the partition and its domain',
    text: withSpec({ tenants: { payments: tenant({ grants: [{ registry: '111111111111.dkr.ecr.us-iso-east-1.amazonaws.com', repositories: ['a'] }] }) } }),
    problems: [
      'policy.yaml: spec.tenants.payments.grants[0].registry: registry host "111111111111.dkr.ecr.us-iso-east-1.amazonaws.com" looks like a private ECR registry ' +
        'but is not a form this webhook knows (region us-iso-east-1 is in partition aws-iso, whose registries are under c2s.ic.gov, not "amazonaws.com"); ' +
        'refused rather than treated as a non-ECR registry',
    ],
  },
  {
    name: 'a rewrite target naming an ECR host in upper case is refused, since every image rewritten to it would be denied',
    text: withSpec({ rewrites: [{ from: 'mirror.example.com', to: `${REGISTRY.toUpperCase()}/mirror` }] }),
    problems: [/^policy\.yaml: spec\.rewrites\[0\]\.to: registry host "111111111111\.DKR\.ECR\.EU-WEST-1\.AMAZONAWS\.COM" is a private ECR registry written with upper-case letters; write it in lower case/],
  },
  {
    name: 'a rewrite target shaped like ECR but of no known form is refused',
    text: withSpec({ rewrites: [{ from: 'mirror.example.com', to: '111111111111.dkr.ecr.eu-west-1.amazonaws.com.cn' }] }),
    problems: [/^policy\.yaml: spec\.rewrites\[0\]\.to: registry host "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\.cn" looks like a private ECR registry but is not a form this webhook knows \(region eu-west-1 is in partition aws, whose registries are under amazonaws\.com, not "amazonaws\.com\.cn"\)/],
  },

  // Many problems at once
  {
    name: 'problems in different places of one file are all reported together, in document order',
    text: withSpec({
      defaults: { mode: 'audit' },
      rewrites: [{ from: 'a.example.com', to: '' }],
      tenants: {
        payments: tenant({ externalId: 'x', grants: [{ registry: 'foo', repositories: [] }], typo: 1 }),
        'bad name': {},
      },
    }),
    problems: [
      'policy.yaml: spec.defaults.mode: must be "enforce" or "dry-run", not the string "audit"',
      'policy.yaml: spec.rewrites[0].to: is empty',
      'policy.yaml: spec.tenants.payments.externalId: must be 2 to 1224 characters of letters, digits and +=,.@:/-_',
      `policy.yaml: spec.tenants.payments.grants[0].registry: "foo" ${REGISTRY_HOST_PROBLEM}`,
      'policy.yaml: spec.tenants.payments.grants[0].repositories: must list at least 1 item',
      'policy.yaml: spec.tenants.payments: unknown field "typo"',
      `policy.yaml: spec.tenants: "bad name": ${TENANT_NAME_PROBLEM}`,
    ],
  },
  {
    name: 'compile problems of a schema-valid policy are PolicyError lines naming the file as well',
    text: withSpec({ tenants: { payments: { grants: [{ registry: REGISTRY, repositories: ['a'] }] } } }),
    problems: ["policy.yaml: spec.tenants.payments.grants[0]: no role to assume: set spec.tenants.payments.roleArn or this grant's roleArn"],
  },
];

for (const c of errorCases) {
  t.test(c.name, async (t) => {
    const source = c.source ?? 'policy.yaml';
    const error = loadError(c.text, source) as PolicyError;
    t.type(error, PolicyError, 'the policy is refused with a PolicyError');
    t.equal(error.problems.length, c.problems.length, 'one line per problem');
    c.problems.forEach((want, i) => {
      if (typeof want === 'string') t.equal(error.problems[i], want);
      else t.match(error.problems[i], want);
      t.ok(error.problems[i]?.startsWith(`${source}: `), 'the line starts with the source');
    });
    if (c.problems.length === 1) t.equal(error.message, error.problems[0], 'one problem is the whole message');
    else t.equal(error.message, `${source}: ${c.problems.length} problems\n${error.problems.join('\n')}`);
  });
}

t.test('an empty file is refused as empty, naming the file', async (t) => {
  for (const text of ['', '# only a comment\n', '\n\n']) {
    const error = loadError(text) as PolicyError;
    t.type(error, PolicyError, JSON.stringify(text));
    t.equal(error.problems.length, 1);
    t.ok(error.problems[0]?.startsWith('policy.yaml: '), 'the problem names the file');
    t.equal(error.problems[0], 'policy.yaml: is empty');
  }
});

t.test('a tenant named __proto__ is refused, never silently dropped', async (t) => {
  // JSON.parse makes __proto__ an own key, as the YAML parser does; an object literal would set the prototype.
  const tenants = JSON.parse(`{"__proto__": ${JSON.stringify(tenant())}}`) as unknown;
  const blockStyle = `${HEAD}spec:\n  tenants:\n    __proto__:\n      mode: enforce\n`;
  for (const text of [withSpec({ tenants }), blockStyle]) {
    t.same(problemsOf(text), ['policy.yaml: spec.tenants: the key "__proto__" is not allowed']);
  }
});

t.test('a tenant named like another Object.prototype member is an ordinary tenant', async (t) => {
  const policy = parsePolicy(withSpec({ tenants: { constructor: tenant(), toString: {} } }), 'policy.yaml');
  t.same([...policy.tenants.keys()], ['constructor', 'toString']);
  t.equal(policy.tenants.get('constructor')?.roleArn, ROLE);
});

t.test('an alias bomb is refused as a policy problem naming the file', async (t) => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
  const caught = loadError(bomb);
  t.type(caught, PolicyError, 'the bomb is not expanded into a policy');
  t.match((caught as Error).message, /^policy\.yaml: Excessive alias count/);
});

t.test('an alias to an anchor that does not exist is refused as a policy problem naming the file', async (t) => {
  const caught = loadError(`${HEAD}spec: *nowhere\n`);
  t.type(caught, PolicyError, 'the policy does not load');
  t.match((caught as Error).message, /^policy\.yaml: .*nowhere/);
});

t.test('a binary scalar where the spec map belongs is refused as not a map', async (t) => {
  t.same(problemsOf(`${HEAD}spec: !!binary aGVsbG8=\n`), ['policy.yaml: spec: must be a map, not the string "aGVsbG8="']);
});

t.test('loadPolicyFile reads and compiles a policy file', async (t) => {
  const policy = await loadPolicyFile(new URL('valid.yaml', FIXTURES).pathname);
  t.same([...policy.tenants.keys()], ['payments']);
  t.same(policy.warnings, []);
});

t.test('loadPolicyFile names the file in every problem of an invalid policy', async (t) => {
  const path = new URL('unknown-field.yaml', FIXTURES).pathname;
  await t.rejects(loadPolicyFile(path), { name: 'PolicyError', problems: [`${path}: spec.tenants.payments: unknown field "grant"`] });
});

t.test('loadPolicyFile reports a missing file as a PolicyError naming the path and ENOENT', async (t) => {
  const path = new URL('does-not-exist.yaml', FIXTURES).pathname;
  const error = await loadPolicyFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, PolicyError);
  const { message, problems } = error as PolicyError;
  t.ok(message.startsWith(`${path}: cannot be read (ENOENT): `), message);
  t.match(message, /no such file or directory/);
  t.equal(problems.length, 1);
});

t.test('loadPolicyFile reports a directory as a PolicyError naming the path and EISDIR', async (t) => {
  const path = new URL('.', FIXTURES).pathname;
  await t.rejects(loadPolicyFile(path), { name: 'PolicyError', message: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot be read \\(EISDIR\\): `) });
});

// fs errors always carry a code today; the fallback is proven with fs replaced for this one module.
t.test('a read failure without an error code is still a PolicyError naming the file', async (t) => {
  const { loadPolicyFile: load } = await t.mockImport<typeof import('../../src/policy/policy-file.ts')>('../../src/policy/policy-file.ts', {
    'node:fs/promises': {
      readFile: async () => {
        throw new Error('device gone');
      },
    },
  });
  await t.rejects(load('/etc/webhook/policy.yaml'), { name: 'PolicyError', message: '/etc/webhook/policy.yaml: cannot be read (error): device gone' });
});
