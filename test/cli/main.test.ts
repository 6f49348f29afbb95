import t from 'tap';
import { main } from '../../src/cli/main.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { fixture } from './run-cli.ts';

/** The command line in-process, for the paths a child process makes slow to reach; run-cli.ts drives the real one. */
function io(stdin = '', failWrites = false) {
  const out = { stdout: '', stderr: '' };
  const streams: CliIo = {
    stdout: (text) => {
      if (failWrites) throw new Error('write EPIPE');
      out.stdout += text;
    },
    stderr: (text) => {
      out.stderr += text;
    },
    stdin: async () => stdin,
  };
  return { out, streams };
}

const POLICY = fixture('policy.yaml');
const PAYMENTS = 'ecr-tenant-webhook.io/tenant=payments';

const cases: { name: string; args: string[]; stdin?: string; code: number; stdout?: RegExp; stderr?: RegExp }[] = [
  {
    name: 'a Namespace in the manifests without labels leaves its objects untouched',
    args: ['check', '--policy', POLICY, '-'],
    stdin: 'kind: Namespace\nmetadata: {name: bare}\n---\nkind: Pod\nmetadata: {name: p, namespace: bare}\nspec: {containers: [{name: a, image: nginx}]}\n',
    code: 0,
    stdout: /ALLOW +Pod bare\/p +\[no tenant \(untouched\)\]/,
  },
  {
    name: 'a Namespace label that is not a string is ignored rather than trusted',
    args: ['check', '--policy', POLICY, '--output', 'json', '-'],
    stdin: 'kind: Namespace\nmetadata: {name: odd, labels: {ecr-tenant-webhook.io/tenant: 7}}\n---\nkind: Pod\nmetadata: {name: p, namespace: odd}\nspec: {containers: []}\n',
    code: 0,
    stdout: /"tenant": null/,
  },
  {
    name: 'a document without a kind is counted as skipped',
    args: ['check', '--policy', POLICY, '-'],
    stdin: 'metadata: {name: x}\n',
    code: 0,
    stdout: /0 checked: 0 allowed, 0 denied; 1 skipped without a pod template \(\(no kind\)\)/,
  },
  { name: 'empty documents are passed over', args: ['check', '--policy', POLICY, '-'], stdin: '---\n---\n', code: 0, stdout: /^0 checked/ },
  { name: 'a document that is a plain string is named', args: ['check', '--policy', POLICY, '-'], stdin: 'just text\n', code: 2, stderr: /\(stdin\), document 1: must be a Kubernetes object \(a map\), not string/ },
  {
    name: 'an alias bomb in a manifest is refused, naming the document',
    args: ['check', '--policy', POLICY, '-'],
    stdin: 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
    code: 2,
    stderr: /^error: \(stdin\), document 1: Excessive alias count/,
  },
  { name: 'a denied pod from stdin exits 1', args: ['check', '--policy', POLICY, '--namespace-labels', PAYMENTS, '-'], stdin: 'kind: Pod\nspec: {containers: [{name: a, image: "111111111111.dkr.ecr.eu-west-1.amazonaws.com/x/y:1"}]}\n', code: 1, stdout: /DENY/ },
  { name: 'aws-policies with a broken policy file names it', args: ['aws-policies', '--policy', fixture('manifests/denied-pod.yaml')], code: 2, stderr: /denied-pod\.yaml: .*apiVersion/ },
  { name: 'an empty --webhook-role-arn is refused by the option itself', args: ['aws-policies', '--policy', POLICY, '--webhook-role-arn', ''], code: 2, stderr: /must not be empty/ },
  { name: 'the top-level help lists both commands', args: ['--help'], code: 0, stdout: /check \[options\] <manifest\.\.\.>[\s\S]*aws-policies \[options\]/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { out, streams } = io(c.stdin);
    t.equal(await main(c.args, streams), c.code);
    if (c.stdout) t.match(out.stdout, c.stdout);
    if (c.stderr) t.match(out.stderr, c.stderr);
    t.notMatch(out.stderr, /\n\s+at /, 'no stack trace');
  });
}

t.test('an unexpected failure is one message and exit 2, never a stack trace', async (t) => {
  const { out, streams } = io('kind: Pod\nspec: {containers: []}\n', true);
  t.equal(await main(['check', '--policy', POLICY, '-'], streams), 2);
  t.equal(out.stderr, 'error: unexpected failure: write EPIPE\n');
});
