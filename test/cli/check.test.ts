import t from 'tap';
import { fixture, runCli } from './run-cli.ts';

const POLICY = fixture('policy.yaml');
const WORKLOADS = fixture('manifests/workloads.yaml');
const DENIED = fixture('manifests/denied-pod.yaml');
const PAYMENTS = 'ecr-tenant-webhook.io/tenant=payments';

t.test('check --output json prints one element per object with the documented fields and exits 0 when all are allowed', async (t) => {
  const { code, stdout, stderr } = runCli(['check', '--policy', POLICY, '--output', 'json', WORKLOADS]);
  t.equal(code, 0, stderr);
  const results = JSON.parse(stdout);
  t.equal(results.length, 2, 'the Deployment and the CronJob; the Namespace and the Service have no pod template');
  t.same(results[0], {
    kind: 'Deployment',
    name: 'api',
    namespace: 'shop',
    tenant: 'payments',
    mode: 'enforce',
    allowed: true,
    images: [
      {
        path: 'spec.template.spec.containers[0].image',
        from: '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1.2',
        to: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.2',
        granted: true,
        unjudged: false,
        missing: false,
        pinned: null,
      },
    ],
    imagePullSecrets: ['ecr-pull-111111111111-eu-west-1'],
    patch: [
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.2' },
      { op: 'add', path: '/spec/template/spec/imagePullSecrets', value: [{ name: 'ecr-pull-111111111111-eu-west-1' }] },
    ],
    reasons: [],
    unjudged: [],
    warnings: [],
    notChecked: [],
  });
  t.match(results[1], {
    kind: 'CronJob',
    name: 'report',
    imagePullSecrets: ['dockerhub', 'ecr-pull-222222222222-us-west-2'],
    patch: [{ op: 'add', path: '/spec/jobTemplate/spec/template/spec/imagePullSecrets/1', value: { name: 'ecr-pull-222222222222-us-west-2' } }],
  });
});

t.test('check exits 1 when an object is denied, and the text output names container, image, tenant and namespace', async (t) => {
  const { code, stdout } = runCli(['check', '--policy', POLICY, '--namespace-labels', PAYMENTS, DENIED]);
  t.equal(code, 1);
  t.match(stdout, /^DENY +Pod shop\/debug {2}\[tenant payments, enforce\]/);
  t.match(stdout, /reason: initContainer "setup" image "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/paymentsevil\/setup:1" is not granted.*\(tenant "payments", namespace "shop"\)/);
  t.match(stdout, /1 checked: 0 allowed, 1 denied/);
});

t.test('check reads manifests from stdin when given -', async (t) => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: nginx}]}\n';
  const { code, stdout } = runCli(['check', '--policy', POLICY, '--namespace', 'team-x', '--namespace-labels', PAYMENTS, '--output', 'json', '-'], pod);
  t.equal(code, 0);
  t.match(JSON.parse(stdout), [{ kind: 'Pod', name: 'p', namespace: 'team-x', tenant: 'payments', allowed: true, patch: [] }]);
});

t.test('check without namespace labels leaves objects of unlabelled namespaces untouched', async (t) => {
  const { code, stdout } = runCli(['check', '--policy', POLICY, DENIED]);
  t.equal(code, 0);
  t.match(stdout, /ALLOW +Pod shop\/debug {2}\[no tenant \(untouched\)\]/);
});

t.test('check in a dry-run namespace allows and prints what enforcement would do', async (t) => {
  const { code, stdout } = runCli(['check', '--policy', POLICY, '--namespace-labels', `${PAYMENTS},ecr-tenant-webhook.io/mode=dry-run`, DENIED]);
  t.equal(code, 0);
  t.match(stdout, /warning: dry-run: would deny: initContainer "setup": paymentsevil\/setup not granted/);
});

const usageErrors: { name: string; args: string[]; stdin?: string; stderr: RegExp }[] = [
  { name: 'a missing --policy is a usage error', args: ['check', WORKLOADS], stderr: /required option '--policy <file>' not specified/ },
  { name: 'no manifest is a usage error', args: ['check', '--policy', POLICY], stderr: /missing required argument 'manifest'/ },
  { name: 'an unknown output format is a usage error', args: ['check', '--policy', POLICY, '--output', 'yaml', WORKLOADS], stderr: /Allowed choices are text, json/ },
  { name: 'an unknown command is a usage error', args: ['frobnicate'], stderr: /unknown command 'frobnicate'/ },
  { name: 'a malformed --namespace-labels pair is named', args: ['check', '--policy', POLICY, '--namespace-labels', 'tenant', WORKLOADS], stderr: /--namespace-labels: "tenant" is not key=value/ },
  { name: 'an invalid label value is named', args: ['check', '--policy', POLICY, '--namespace-labels', 'a=b c', WORKLOADS], stderr: /value "b c" of a is not a valid label value/ },
  { name: 'an invalid label key prefix is named', args: ['check', '--policy', POLICY, '--namespace-labels', 'Bad_Prefix/x=y', WORKLOADS], stderr: /label key prefix "Bad_Prefix" is not a DNS subdomain/ },
  { name: 'an invalid label key name is named', args: ['check', '--policy', POLICY, '--namespace-labels', 'x/-y=z', WORKLOADS], stderr: /label key "x\/-y" is not a valid label name/ },
  { name: 'a label given twice is named', args: ['check', '--policy', POLICY, '--namespace-labels', 'a=1,a=2', WORKLOADS], stderr: /a is given twice/ },
  { name: 'a missing policy file is named with its path', args: ['check', '--policy', '/nonexistent/policy.yaml', WORKLOADS], stderr: /\/nonexistent\/policy\.yaml: cannot be read \(ENOENT\)/ },
  { name: 'a broken policy names file, path and problem', args: ['check', '--policy', fixture('manifests/denied-pod.yaml'), WORKLOADS], stderr: /denied-pod\.yaml: .*apiVersion: must be "ecr-tenant-webhook\.io\/v1alpha1"/ },
  { name: 'a missing manifest is named', args: ['check', '--policy', POLICY, '/nonexistent/m.yaml'], stderr: /\/nonexistent\/m\.yaml: cannot be read \(ENOENT: no such file or directory/ },
  { name: 'a YAML syntax error names the line and column', args: ['check', '--policy', POLICY, '-'], stdin: 'kind: Pod\nspec: [unclosed\n', stderr: /\(stdin\):\d+:\d+: / },
  { name: 'a document that is not a map is named', args: ['check', '--policy', POLICY, '-'], stdin: '- a\n- b\n', stderr: /\(stdin\), document 1: must be a Kubernetes object \(a map\), not a list/ },
  { name: 'a list item that is not a map is named', args: ['check', '--policy', POLICY, '-'], stdin: 'kind: List\nitems: [3]\n', stderr: /\(stdin\), document 1, items\[0\]: must be a Kubernetes object/ },
  { name: 'a pod with a malformed spec is named with its path', args: ['check', '--policy', POLICY, '-'], stdin: 'kind: Pod\nmetadata: {name: p}\nspec: {containers: {a: 1}}\n', stderr: /\(stdin\), document 1 \(Pod p\): spec\.containers: must be a list/ },
];

for (const c of usageErrors) {
  t.test(`${c.name} (exit 2, one message, no stack trace)`, async (t) => {
    const { code, stderr, stdout } = runCli(c.args, c.stdin);
    t.equal(code, 2);
    t.match(stderr, c.stderr);
    t.notMatch(stderr, /\n\s+at /, 'no stack trace');
    t.equal(stdout, '');
  });
}

t.test('a kind: List contributes its items and other kinds are counted as skipped', async (t) => {
  const list = JSON.stringify({ kind: 'List', items: [{ kind: 'ConfigMap', metadata: { name: 'c' } }, { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } }] });
  const { code, stdout } = runCli(['check', '--policy', POLICY, '-'], list);
  t.equal(code, 0);
  t.match(stdout, /1 checked: 1 allowed, 0 denied; 1 skipped without a pod template \(ConfigMap\)/);
});

t.test('--help prints usage and exits 0', async (t) => {
  const { code, stdout } = runCli(['check', '--help']);
  t.equal(code, 0);
  t.match(stdout, /--namespace-labels <k=v,...>/);
});

t.test('policy warnings go to stderr without failing the check', async (t) => {
  const { code, stderr } = runCli(['check', '--policy', fixture('schema-example.yaml'), WORKLOADS]);
  t.equal(code, 0);
  t.match(stderr, /warning: .*schema-example\.yaml: spec\.tenants\.payments\.grants\[0\]\.roleArn: "optional override" is not an IAM role ARN/);
});
