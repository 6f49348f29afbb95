import t from 'tap';
import { TENANT_LABEL } from '../../src/labels.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { decideObject, evaluateObject, kindOf, metadataOf, OFFLINE, registryGaps } from '../../src/workload/evaluate.ts';
import { readPodSpec, type PodSpecView } from '../../src/workload/pod-spec.ts';
import { testPolicy } from '../admission/harness.ts';

const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1';
const PAYMENTS = { [TENANT_LABEL]: 'payments' };
const podTemplate = (image: string) => ({ spec: { containers: [{ name: 'api', image }] } });

function readPodSpecOk(object: unknown): PodSpecView {
  const read = readPodSpec(object, ['spec']);
  if (!read.ok) throw new Error(read.problem);
  return read.view;
}

t.test('a StatefulSet template is judged at spec.template.spec and patched there', async (t) => {
  const object = { kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop' }, spec: { template: podTemplate(SOURCE) } };
  const evaluation = await evaluateObject(object, 'shop', PAYMENTS, testPolicy);
  t.match(evaluation, {
    ok: true,
    result: {
      kind: 'StatefulSet',
      name: 'db',
      namespace: 'shop',
      tenant: 'payments',
      mode: 'enforce',
      allowed: true,
      images: [{ path: 'spec.template.spec.containers[0].image', from: SOURCE, to: TARGET, granted: true }],
      imagePullSecrets: ['ecr-pull-111111111111-eu-west-1'],
      patch: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: TARGET }, { op: 'add', path: '/spec/template/spec/imagePullSecrets' }],
    },
  });
});

t.test('a denied object carries its reasons and no patch', async (t) => {
  const object = { kind: 'Pod', metadata: { name: 'p' }, ...podTemplate('111111111111.dkr.ecr.eu-west-1.amazonaws.com/other/x:1') };
  const evaluation = await evaluateObject(object, 'shop', PAYMENTS, testPolicy);
  t.match(evaluation, { ok: true, result: { allowed: false, patch: [], reasons: [/container "api" image .* is not granted/] } });
});

t.test('an object without a tenant is reported with tenant null', async (t) => {
  const evaluation = await evaluateObject({ kind: 'Pod', ...podTemplate('nginx') }, 'default', undefined, testPolicy);
  t.match(evaluation, { ok: true, result: { tenant: null, name: '', allowed: true, images: [] } });
});

t.test('a kind without a pod template is a problem, named', async (t) => {
  t.same(await evaluateObject({ kind: 'Service' }, 'shop', PAYMENTS, testPolicy), { ok: false, problem: 'kind "Service" has no pod template' });
  t.same(await evaluateObject('just text', 'shop', PAYMENTS, testPolicy), { ok: false, problem: 'kind "" has no pod template' });
});

t.test('a malformed pod template is a problem naming its path', async (t) => {
  t.same(await evaluateObject({ kind: 'Job', spec: { template: { spec: { containers: 'x' } } } }, 'shop', PAYMENTS, testPolicy), {
    ok: false,
    problem: 'spec.template.spec.containers: must be a list',
  });
});

const metadataCases: { name: string; object: unknown; want: { name: string; namespace: string | undefined } }[] = [
  { name: 'name and namespace are read from metadata', object: { metadata: { name: 'a', namespace: 'b' } }, want: { name: 'a', namespace: 'b' } },
  { name: 'a generateName stands for the name, marked with a star', object: { metadata: { generateName: 'web-' } }, want: { name: 'web-*', namespace: undefined } },
  { name: 'metadata of the wrong types is ignored', object: { metadata: { name: 7, namespace: [] } }, want: { name: '', namespace: undefined } },
  { name: 'an object without metadata has neither', object: {}, want: { name: '', namespace: undefined } },
];

for (const c of metadataCases) t.test(c.name, async (t) => t.same(metadataOf(c.object), c.want));

t.test('kindOf reads a string kind and nothing else', async (t) => {
  t.equal(kindOf({ kind: 'Pod' }), 'Pod');
  t.equal(kindOf({ kind: 1 }), undefined);
  t.equal(kindOf(null), undefined);
});

/** A tenant that looks rewritten images up and pins tags, judged offline: what ECR would have been asked. */
const READING = parsePolicy(
  `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      missingImage: deny
      pinDigests: true
      nonEcrImages: allow
      roleArn: arn:aws:iam::111111111111:role/payments
      grants: [{ registry: 111111111111.dkr.ecr.eu-west-1.amazonaws.com, repositories: ["payments/*"] }]
      rewrites: [{ from: 999999999999.dkr.ecr.us-east-1.amazonaws.com/payments, to: 111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments }]
`,
  'reading.yaml',
);

t.test('offline, the checks a tenant asks of ECR are named per image: a rewrite looked for, a tag pinned, a digest only looked for', async (t) => {
  const digest = `sha256:${'c'.repeat(64)}`;
  const pod = {
    spec: {
      containers: [
        { name: 'by-digest', image: `999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/a@${digest}` },
        { name: 'no-tag', image: '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/b' },
        { name: 'in-place', image: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/c:1' },
        // Not ECR: nothing to ask of it, in a pod whose other images ask.
        { name: 'elsewhere', image: 'docker.io/library/nginx:1' },
      ],
    },
  };
  const decision = await decideObject({ pod: readPodSpecOk(pod), namespace: 'shop', namespaceLabels: PAYMENTS, policy: READING }, OFFLINE);
  t.same(registryGaps(decision), [
    { path: 'spec.containers[0].image', image: `111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/a@${digest}`, checks: ['existence'] },
    { path: 'spec.containers[1].image', image: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/b', checks: ['existence', 'pinning'] },
    { path: 'spec.containers[2].image', image: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/c:1', checks: ['pinning'] },
  ]);
  const evaluation = await evaluateObject({ kind: 'Pod', ...pod }, 'shop', PAYMENTS, READING);
  t.match(evaluation, { ok: true, result: { allowed: true, notChecked: ['existence', 'pinning'] } });
});

t.test('a tenant that asks nothing of ECR leaves nothing undone offline', async (t) => {
  const decision = await decideObject({ pod: readPodSpecOk(podTemplate(SOURCE)), namespace: 'shop', namespaceLabels: PAYMENTS, policy: testPolicy }, OFFLINE);
  t.same(registryGaps(decision), []);
});
