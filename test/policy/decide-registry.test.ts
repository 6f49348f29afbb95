import t from 'tap';
import type { CompiledPolicy } from '../../src/policy/compile.ts';
import { decide, type Decision, type DecisionInput } from '../../src/policy/decide.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import type { Fact, RegistryFacts, RegistryQuestion } from '../../src/policy/registry-facts.ts';
import { tagsHold } from '../../src/policy/registry-facts.ts';
import { readPodSpec } from '../../src/workload/pod-spec.ts';

/**
 * decide() with what ECR says (RegistryFacts), rule by rule: the existence check of rewritten images (missingImage),
 * digest pinning (pinDigests) and tag-based grants (repositoryTags). Facts come from a table keyed by
 * kind|registry|repository|reference; a question the table does not answer is unknown, as offline.
 */
const A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const B = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const SECRET_A = 'ecr-pull-111111111111-eu-west-1';
const SECRET_B = 'ecr-pull-999999999999-us-east-1';
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';

const POLICY = parsePolicy(
  `
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  rewrites:
    - from: ${B}/central
      to: ${A}/replica
  tenants:
    deny:
      missingImage: deny
      roleArn: arn:aws:iam::111111111111:role/deny
      grants: [{ registry: ${A}, repositories: ["replica/*"] }]
    keep:
      missingImage: keep-source
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/keep
      grants:
        - { registry: ${A}, repositories: ["replica/*"] }
        - { registry: ${B}, repositories: ["central/*"], roleArn: "arn:aws:iam::999999999999:role/keep" }
    keep-hub:
      missingImage: keep-source
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/keep-hub
      grants: [{ registry: ${A}, repositories: ["hub/**"] }]
      rewrites: [{ from: docker.io, to: ${A}/hub }]
    keep-ungranted:
      missingImage: keep-source
      roleArn: arn:aws:iam::111111111111:role/keep-ungranted
      grants: [{ registry: ${A}, repositories: ["replica/*"] }]
    allow:
      roleArn: arn:aws:iam::111111111111:role/allow
      grants: [{ registry: ${A}, repositories: ["replica/*"] }]
    pin:
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/pin
      grants: [{ registry: ${A}, repositories: ["replica/*", "app/*"] }]
    lenient:
      pinDigests: true
      missingImage: deny
      onCredentialError: allow
      roleArn: arn:aws:iam::111111111111:role/lenient
      grants:
        - { registry: ${A}, repositories: ["replica/*"] }
        - { registry: ${A}, repositoryTags: { Team: Payments } }
    tags:
      roleArn: arn:aws:iam::111111111111:role/tags
      grants:
        - { registry: ${A}, repositoryTags: { Team: Payments, Tier: prod } }
        - { registry: ${A}, repositories: ["open/*"] }
        - { registry: ${A}, repositories: ["pay/*"], repositoryTags: { Team: Payments } }
`,
  'decide-registry.yaml',
);

type Table = Record<string, Fact<string> | Fact<Readonly<Record<string, string>>>>;

function keyOf(q: RegistryQuestion): string {
  return `${q.kind}|${q.grant.registry.host}|${q.repository}${q.kind === 'image' ? `|${q.reference}` : ''}`;
}

/** Facts from a table, remembering every question asked. */
function facts(table: Table): RegistryFacts & { asked: string[] } {
  const asked: string[] = [];
  const answer = (q: RegistryQuestion) => {
    asked.push(keyOf(q));
    return table[keyOf(q)] ?? { state: 'unknown' as const };
  };
  return { asked, image: (q) => answer(q) as Fact<string>, repositoryTags: (q) => answer(q) as Fact<Readonly<Record<string, string>>> };
}

const found = <T>(value: T) => ({ state: 'found' as const, value });
const MISSING = { state: 'missing' as const };
const DENIED = { state: 'error' as const, code: 'AccessDeniedException', message: 'User is not authorized to perform ecr:DescribeImages' };

function run(tenant: string, images: string[], table: Table | undefined, extra: Partial<DecisionInput> = {}, mode?: string, policy: CompiledPolicy = POLICY): Decision {
  const read = readPodSpec({ spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } }, ['spec']);
  if (!read.ok) throw new Error(read.problem);
  const labels: Record<string, string> = mode === undefined ? { [TENANT]: tenant } : { [TENANT]: tenant, [MODE]: mode };
  return decide({ pod: read.view, namespace: 'ns', namespaceLabels: labels, policy, ...(table === undefined ? {} : { facts: facts(table) }), ...extra });
}

function changed(decision: Decision): string[] {
  return decision.changes.images.map((c) => c.image);
}

t.test('a rewritten image found in its target is admitted, rewritten, under missingImage deny', async (t) => {
  const d = run('deny', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: found(D1) });
  t.equal(d.verdict, 'allow');
  t.same(changed(d), [`${A}/replica/api:1.0`]);
  t.same(d.open, []);
  t.same(d.changes.addPullSecrets, [SECRET_A]);
});

t.test('a rewritten image missing in its target is denied under missingImage deny, naming image, registry and replication', async (t) => {
  const d = run('deny', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: MISSING });
  t.equal(d.verdict, 'deny');
  t.match(d.reasons[0], `container "c0" image "${B}/central/api:1.0" (rewritten to "${A}/replica/api:1.0") is not in registry ${A}: not found — replication may still be in progress; try again once it is there (missingImage: deny) (tenant "deny", namespace "ns")`);
  t.same(changed(d), []);
});

t.test('missingImage keep-source keeps the original when the tenant is granted it there, pinned in the source registry', async (t) => {
  const d = run('keep', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: MISSING, [`image|${B}|central/api|1.0`]: found(D2) });
  t.equal(d.verdict, 'allow');
  t.same(changed(d), [`${B}/central/api:1.0@${D2}`]);
  t.same(d.changes.addPullSecrets, [SECRET_B]);
  t.same(d.warnings, ['"c0": kept the original: replica/api:1.0 not in 111111111111 eu-west-1 yet']);
});

t.test('missingImage keep-source keeps an original outside ECR as it is: no pull secret, nothing to pin', async (t) => {
  const d = run('keep-hub', ['nginx:1.27'], { [`image|${A}|hub/library/nginx|1.27`]: MISSING });
  t.equal(d.verdict, 'allow');
  t.same(changed(d), []);
  t.same(d.changes.addPullSecrets, []);
  t.same(d.open, []);
});

t.test('missingImage keep-source asks one round at a time: the target first, then the original', async (t) => {
  const first = run('keep', [`${B}/central/api:1.0`], {});
  t.same(first.open.map(keyOf), [`image|${A}|replica/api|1.0`]);
  const second = run('keep', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: MISSING });
  t.same(second.open.map(keyOf), [`image|${B}|central/api|1.0`]);
  t.same(changed(second), [], 'the original is kept as written while its digest is not known');
  t.equal(second.verdict, 'allow');
});

t.test('missingImage keep-source denies when the tenant is not granted the original', async (t) => {
  const d = run('keep-ungranted', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: MISSING });
  t.equal(d.verdict, 'deny');
  t.match(d.reasons[0], /not found — replication may still be in progress, and the original ".*central\/api:1.0" cannot be kept: it is not granted: tenant "keep-ungranted" has no grant for registry 999999999999/);
});

t.test('missingImage allow reads nothing, as before', async (t) => {
  const table = facts({});
  const read = readPodSpec({ spec: { containers: [{ name: 'c0', image: `${B}/central/api:1.0` }] } }, ['spec']);
  const d = decide({ pod: (read as unknown as { view: never }).view, namespace: 'ns', namespaceLabels: { [TENANT]: 'allow' }, policy: POLICY, facts: table });
  t.equal(d.verdict, 'allow');
  t.same(table.asked, []);
  t.same(d.open, []);
});

t.test('checkRewrites marks a missing rewritten image under missingImage allow, and still admits it', async (t) => {
  const d = run('allow', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: MISSING }, { checkRewrites: true });
  t.equal(d.verdict, 'allow');
  t.equal(d.images[0]!.missing, true);
  t.same(d.warnings, ['"c0": replica/api:1.0 not in 111111111111 eu-west-1 yet (missingImage: allow)']);
});

t.test('a read made only because check or audit asks (missingImage allow) notes a failure instead of refusing', async (t) => {
  const closed = { state: 'error' as const, code: 'TooManyReads', message: 'too many', closed: true as const };
  for (const fact of [DENIED, closed]) {
    const d = run('allow', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: fact }, { checkRewrites: true });
    t.equal(d.verdict, 'allow', fact.code);
    t.same(changed(d), [`${A}/replica/api:1.0`]);
    t.same(d.warnings, [`"c0": not looked up in ECR (${fact.code})`], 'admission would not have read it');
  }
  const pinning = run('pin', [`${A}/app/web:2.1`], { [`image|${A}|app/web|2.1`]: DENIED }, { checkRewrites: true });
  t.equal(pinning.verdict, 'deny', 'a read admission makes too (pinning) fails as at admission');
});

t.test('pinDigests pins a tag to the digest ECR reports, keeping the tag', async (t) => {
  const d = run('pin', [`${A}/app/web:2.1`], { [`image|${A}|app/web|2.1`]: found(D1) });
  t.same(changed(d), [`${A}/app/web:2.1@${D1}`]);
  t.equal(d.images[0]!.pinned, D1);
});

t.test('pinDigests pins an image without tag as latest, and keeps a reference that has a digest', async (t) => {
  const d = run('pin', [`${A}/app/web`, `${A}/app/db:1@${D2}`, `${A}/app/cache@${D2}`], { [`image|${A}|app/web|latest`]: found(D1) });
  t.same(changed(d), [`${A}/app/web:latest@${D1}`]);
  t.same(d.open, []);
});

t.test('pinDigests leaves a pinned pod as it is: re-admission changes nothing and reads nothing', async (t) => {
  const table = facts({});
  const read = readPodSpec({ spec: { containers: [{ name: 'c0', image: `${A}/app/web:2.1@${D1}` }] } }, ['spec']);
  const d = decide({ pod: (read as unknown as { view: never }).view, namespace: 'ns', namespaceLabels: { [TENANT]: 'pin' }, policy: POLICY, facts: table });
  t.same(changed(d), []);
  t.same(table.asked, []);
});

t.test('pinDigests with a rewrite pins in the target registry', async (t) => {
  const d = run('pin', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: found(D1) });
  t.same(changed(d), [`${A}/replica/api:1.0@${D1}`]);
});

t.test('pinDigests admits a tag ECR does not have unpinned, with a warning', async (t) => {
  const d = run('pin', [`${A}/app/web:gone`], { [`image|${A}|app/web|gone`]: MISSING });
  t.equal(d.verdict, 'allow');
  t.same(changed(d), []);
  t.same(d.warnings, ['"c0": not pinned: app/web:gone not found in 111111111111 eu-west-1']);
  t.equal(d.images[0]!.missing, true);
});

t.test('a failed read denies under onCredentialError deny, naming the step and the code', async (t) => {
  const d = run('pin', [`${A}/app/web:2.1`], { [`image|${A}|app/web|2.1`]: DENIED });
  t.equal(d.verdict, 'deny');
  t.match(d.reasons[0], /cannot be checked: reading app\/web:2.1 in 111111111111.dkr.ecr.eu-west-1.amazonaws.com with the tenant's role failed: User is not authorized to perform ecr:DescribeImages \(onCredentialError: deny\)/);
});

t.test('a failed read admits unchecked and unpinned under onCredentialError allow, with a warning', async (t) => {
  const d = run('lenient', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: DENIED });
  t.equal(d.verdict, 'allow');
  t.same(changed(d), [`${A}/replica/api:1.0`]);
  t.same(d.warnings, ['"c0": not checked in ECR (AccessDeniedException); admitted by onCredentialError: allow']);
});

t.test('a failed read of repository tags never grants, whatever onCredentialError says, and names the failure', async (t) => {
  for (const tenant of ['lenient', 'tags']) {
    const d = run(tenant, [`${A}/team/api:1`], { [`repository-tags|${A}|team/api`]: DENIED, [`image|${A}|team/api|1`]: found(D1) });
    t.equal(d.verdict, 'deny', tenant);
    t.match(
      d.reasons[0],
      /is granted only by repository tags \(Team=Payments(,Tier=prod)?\), and reading the tags of repository "team\/api" in 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com with the tenant's role failed: User is not authorized to perform ecr:DescribeImages; a tag grant is never assumed on a failed read/,
      tenant,
    );
    t.same(d.warnings, [], `${tenant}: nothing admitted, nothing to warn of`);
  }
  const timedOut = run('lenient', [`${A}/team/api:1`], { [`repository-tags|${A}|team/api`]: { state: 'error', code: 'Timeout', message: 'no answer within 2000 ms' } });
  t.equal(timedOut.verdict, 'deny', 'a read the admission ran out of time for refuses too');
});

t.test('a read past what one admission reads is denied whatever onCredentialError says', async (t) => {
  const closed: Fact<never> = { state: 'error', code: 'TooManyReads', message: 'the pod needs more than the 64 ECR reads one admission makes', closed: true };
  const d = run('lenient', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: closed });
  t.equal(d.verdict, 'deny');
  t.match(d.reasons[0], /\(rewritten to "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/replica\/api:1\.0"\) cannot be checked: the pod needs more than the 64 ECR reads one admission makes/);
  const open: Fact<never> = { state: 'error', code: 'Throttling', message: 'slow down' };
  t.equal(run('lenient', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: open }).verdict, 'allow', 'an AWS failure of the same read is admitted by onCredentialError: allow');
});

t.test('offline, a tenant that checks or pins is admitted unchanged and the questions stay open', async (t) => {
  const d = run('deny', [`${B}/central/api:1.0`, `${B}/central/api:1.0`], {});
  t.equal(d.verdict, 'allow');
  t.same(changed(d), [`${A}/replica/api:1.0`, `${A}/replica/api:1.0`]);
  t.same(d.open.map(keyOf), [`image|${A}|replica/api|1.0`], 'one question for two containers of one image');
  const none = run('deny', [`${B}/central/api:1.0`], undefined);
  t.same(none.open.map(keyOf), [`image|${A}|replica/api|1.0`], 'no facts at all is offline too');
  const tags = run('tags', [`${A}/team/api:1`], undefined);
  t.equal(tags.images[0]!.unjudged, true);
  t.same(tags.open.map(keyOf), [`repository-tags|${A}|team/api`]);
});

const TAG_CASES: { name: string; image: string; table: Table; granted: boolean; reason?: RegExp; open?: string[]; unjudged?: boolean }[] = [
  { name: 'a repository carrying every tag of a tags-only grant is granted', image: `${A}/team/api:1`, table: { [`repository-tags|${A}|team/api`]: found({ Team: 'Payments', Tier: 'prod', Other: 'x' }) }, granted: true },
  {
    name: 'a repository carrying only some of the tags is refused, naming the tags asked for',
    image: `${A}/team/api:1`,
    table: { [`repository-tags|${A}|team/api`]: found({ Team: 'Payments', Tier: 'dev' }) },
    granted: false,
    reason: /repository "team\/api" does not carry the tags tenant "tags"'s grants ask for \(Team=Payments,Tier=prod\)/,
  },
  { name: 'tag values are compared exactly, case and all', image: `${A}/team/api:1`, table: { [`repository-tags|${A}|team/api`]: found({ Team: 'payments', Tier: 'prod' }) }, granted: false, reason: /does not carry the tags/ },
  { name: 'a repository that is not there carries no tags', image: `${A}/team/api:1`, table: { [`repository-tags|${A}|team/api`]: MISSING }, granted: false, reason: /repository "team\/api" is not in 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com, so it carries none of the tags/ },
  { name: 'a glob grant needs no read of tags', image: `${A}/open/api:1`, table: {}, granted: true, open: [] },
  {
    name: 'with globs and tags both must hold: tags alone are not enough outside the globs',
    image: `${A}/pay/api:1`,
    table: { [`repository-tags|${A}|pay/api`]: found({ Team: 'Payments' }) },
    granted: true,
  },
  {
    name: 'offline, a tag-based grant cannot be judged: refused as unjudged, its question open',
    image: `${A}/team/api:1`,
    table: {},
    granted: false,
    unjudged: true,
    reason: /is granted only by repository tags \(Team=Payments,Tier=prod\), which cannot be judged without reading ECR/,
    open: [`repository-tags|${A}|team/api`],
  },
];

for (const c of TAG_CASES) {
  t.test(c.name, async (t) => {
    const d = run('tags', [c.image], c.table);
    t.equal(d.images[0]!.granted, c.granted);
    if (c.reason !== undefined) t.match(d.reasons[0], c.reason);
    if (c.open !== undefined) t.same(d.open.map(keyOf), c.open);
    t.equal(d.images[0]!.unjudged, c.unjudged === true);
    if (c.granted) t.same(d.changes.addPullSecrets, [SECRET_A]);
  });
}

t.test('a tag-and-glob grant refuses a repository outside its globs without reading its tags', async (t) => {
  const policy = parsePolicy(
    `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    t1:
      roleArn: arn:aws:iam::111111111111:role/t1
      grants: [{ registry: ${A}, repositories: ["pay/*"], repositoryTags: { Team: Payments } }]
`,
    'tags-and-globs.yaml',
  );
  const table = facts({});
  const read = readPodSpec({ spec: { containers: [{ name: 'c0', image: `${A}/other/api:1` }] } }, ['spec']);
  const d = decide({ pod: (read as unknown as { view: never }).view, namespace: 'ns', namespaceLabels: { [TENANT]: 't1' }, policy, facts: table });
  t.equal(d.verdict, 'deny');
  t.match(d.reasons[0], /matches none of tenant "t1"'s patterns \(pay\/\*\)/);
  t.same(table.asked, []);
});

t.test('dry-run says what would be pinned and what would be denied for a missing image', async (t) => {
  const pinned = run('pin', [`${A}/app/web:2.1`], { [`image|${A}|app/web|2.1`]: found(D1) }, {}, 'dry-run');
  t.same(pinned.warnings, [`dry-run: would pin "c0" to ${D1}`, 'dry-run: would add imagePullSecret ecr-pull-111111111111-eu-west-1']);
  t.same(changed(pinned), []);
  const rewritten = run('pin', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: found(D1) }, {}, 'dry-run');
  t.match(rewritten.warnings[0], `dry-run: would rewrite "c0" to ${A}/replica/api:1.0@sha256:`);
  const missing = run('deny', [`${B}/central/api:1.0`], { [`image|${A}|replica/api|1.0`]: MISSING }, {}, 'dry-run');
  t.equal(missing.verdict, 'would-deny');
  t.same(missing.warnings, ['dry-run: would deny: container "c0": replica/api:1.0 not in 111111111111 eu-west-1 yet']);
  const notPinned = run('pin', [`${A}/app/web:gone`], { [`image|${A}|app/web|gone`]: MISSING }, {}, 'dry-run');
  t.same(notPinned.warnings, ['dry-run: would add imagePullSecret ecr-pull-111111111111-eu-west-1', 'dry-run: "c0": not pinned: app/web:gone not found in 111111111111 eu-west-1']);
});

t.test("a workload's template reads repository tags but is neither checked for existence nor pinned", async (t) => {
  const table = facts({ [`repository-tags|${A}|team/api`]: found({ Team: 'Payments' }) });
  const read = readPodSpec({ spec: { containers: [{ name: 'c0', image: `${A}/team/api:1` }, { name: 'c1', image: `${B}/central/x:1` }] } }, ['spec']);
  const d = decide({ pod: (read as unknown as { view: never }).view, namespace: 'ns', namespaceLabels: { [TENANT]: 'lenient' }, policy: POLICY, facts: table, template: true });
  t.equal(d.verdict, 'allow');
  t.same(table.asked, [`repository-tags|${A}|team/api`]);
  t.same(d.open, []);
});

t.test('tagsHold wants every tag with its exact value, and ignores tags it does not ask for', async (t) => {
  t.equal(tagsHold({ Team: 'Payments' }, { Team: 'Payments', Other: '1' }), true);
  t.equal(tagsHold({ Team: 'Payments' }, {}), false);
  t.equal(tagsHold({ Team: '' }, { Team: '' }), true);
  t.equal(tagsHold({ toString: 'x' }, {}), false, 'an inherited name is not a tag');
});

// --- verdicts remembered between pods ------------------------------------------------------------------------

t.test('a verdict that read ECR is never remembered: the next pod asks again and gets what ECR says now', async (t) => {
  const image = `${A}/replica/remembered:1.0`;
  const first = run('pin', [image], {});
  t.same(first.open.map((q) => q.repository), ['replica/remembered'], 'unknown at first');
  const table = { [`image|${A}|replica/remembered|1.0`]: found(D1) };
  const answers = facts(table);
  const read = readPodSpec({ spec: { containers: [{ name: 'c0', image }] } }, ['spec']);
  if (!read.ok) throw new Error(read.problem);
  const second = decide({ pod: read.view, namespace: 'ns', namespaceLabels: { [TENANT]: 'pin' }, policy: POLICY, facts: answers });
  t.same(changed(second), [`${image}@${D1}`], 'pinned with the answer');
  t.same(answers.asked, [`image|${A}|replica/remembered|1.0`]);
});

t.test('a template verdict, which reads nothing, is not what a pod of the same image gets', async (t) => {
  const image = `${A}/replica/template-first:2.0`;
  const template = run('pin', [image], { [`image|${A}|replica/template-first|2.0`]: found(D2) }, { template: true });
  t.same(changed(template), [], 'a template is never pinned');
  const pod = run('pin', [image], { [`image|${A}|replica/template-first|2.0`]: found(D2) });
  t.same(changed(pod), [`${image}@${D2}`], 'the pod is pinned');
});
