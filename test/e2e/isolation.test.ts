import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { startWebhookStack, type KubeObject } from './support/webhook-stack.ts';

/**
 * Tenant isolation through the real API server: who may set the tenant label, and every path that puts an image
 * into a tenant's pod (create, update, init containers, kubectl debug, workload templates) is judged.
 */
t.setTimeout(240_000);

const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const UNGRANTED = `${TARGET}/paymentsevil/shell:1`;
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';
const GITOPS = 'system:serviceaccount:argocd:argocd-application-controller';

const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults: { mode: enforce, nonEcrImages: allow }
  labelAdmins:
    users: [platform-admin]
    serviceAccounts: [argocd/argocd-application-controller]
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${TARGET}
          repositories: ["payments/*"]
      rewrites:
        - from: ${SOURCE}/payments
          to: ${TARGET}/payments
`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());

await stack.namespace('shop', { [TENANT]: 'payments' });
await stack.namespace('shop-canary', { [TENANT]: 'payments', [MODE]: 'dry-run' });
await stack.namespace('fresh');
// People who may edit namespaces as far as RBAC goes; the guard decides about the two labels.
await stack.kubectlOk(['create', 'clusterrole', 'namespace-editor', '--verb=get,list,watch,create,update,patch', '--resource=namespaces']);
await stack.kubectlOk(['create', 'clusterrolebinding', 'namespace-editors', '--clusterrole=namespace-editor', '--user=tenant-admin', '--user=platform-admin', `--user=${GITOPS}`]);

const as = (user: string, args: string[], input?: string) => stack.kubectl([`--as=${user}`, ...args], input);
const labelsOf = async (namespace: string) => JSON.parse(await stack.kubectlOk(['get', 'namespace', namespace, '-o', 'jsonpath={.metadata.labels}'])) as Record<string, string>;
const GUARD_DENIED = /admission webhook "namespace-labels\.ecr-tenant-webhook\.io" denied the request: "tenant-admin" may not /;

t.test('a tenant admin allowed by RBAC to edit namespaces cannot onboard one, switch one to dry-run or take one off its tenant', async (t) => {
  const attempts = [
    ['label', 'namespace', 'fresh', `${TENANT}=payments`],
    ['label', 'namespace', 'shop', `${MODE}=dry-run`],
    ['label', 'namespace', 'shop', `${TENANT}-`],
    ['label', '--overwrite', 'namespace', 'shop', `${TENANT}=other`],
  ];
  for (const args of attempts) {
    const result = await as('tenant-admin', args);
    t.not(result.code, 0, `kubectl ${args.join(' ')} fails`);
    t.match(result.stderr, GUARD_DENIED);
    t.match(result.stderr, "only the policy's spec.labelAdmins may set");
  }
  t.same(await labelsOf('shop'), { [TENANT]: 'payments', 'kubernetes.io/metadata.name': 'shop' }, 'the labels are as before');
  const created = await as('tenant-admin', ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sneaky', labels: { [TENANT]: 'payments' } } }));
  t.match(created.stderr, GUARD_DENIED, 'nor create a namespace already labelled');
});

t.test('the same tenant admin may still change other labels of a tenant namespace', async (t) => {
  const result = await as('tenant-admin', ['label', 'namespace', 'shop', 'team=checkout']);
  t.equal(result.code, 0, result.stderr);
});

t.test('a listed user, the listed GitOps service account and a cluster admin may onboard namespaces', async (t) => {
  for (const [user, namespace] of [['platform-admin', 'by-platform'], [GITOPS, 'by-gitops']] as const) {
    const result = await as(user, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [TENANT]: 'payments' } } }));
    t.equal(result.code, 0, result.stderr);
  }
  await stack.kubectlOk(['label', 'namespace', 'fresh', `${TENANT}=payments`]);
  t.equal((await labelsOf('fresh'))[TENANT], 'payments', 'system:masters is a label admin by default');
  const warned = await stack.kubectl(['label', 'namespace', 'by-platform', '--overwrite', `${TENANT}=nobody`]);
  t.match(warned.stderr, 'Warning: tenant "nobody" is not in the policy: pods in this namespace will be denied');
});

type Pod = KubeObject & { spec: { containers: { name: string; image: string }[]; initContainers?: { image: string }[]; ephemeralContainers?: { name: string; image: string }[] } };
let serial = 0;
async function createPod(namespace: string, spec: Record<string, unknown>): Promise<{ code: number; stderr: string; pod?: Pod }> {
  const result = await stack.kubectl(['create', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${++serial}`, namespace }, spec }));
  return { code: result.code, stderr: result.stderr, ...(result.code === 0 ? { pod: JSON.parse(result.stdout) as Pod } : {}) };
}
const getPod = async (namespace: string, name: string) => JSON.parse(await stack.kubectlOk(['-n', namespace, 'get', 'pod', name, '-o', 'json'])) as Pod;
const POD_DENIED = /admission webhook "pods\.ecr-tenant-webhook\.io" denied the request: /;

t.test('a pod update that swaps in an ungranted image is refused, and one that names the old registry is rewritten', async (t) => {
  const { pod } = await createPod('shop', { containers: [{ name: 'app', image: `${SOURCE}/payments/api:1` }] });
  const name = pod!.metadata.name;
  const swapped = await stack.kubectl(['-n', 'shop', 'set', 'image', `pod/${name}`, `app=${UNGRANTED}`]);
  t.not(swapped.code, 0);
  t.match(swapped.stderr, POD_DENIED);
  t.equal((await getPod('shop', name)).spec.containers[0]!.image, `${TARGET}/payments/api:1`, 'the stored image is unchanged');
  await stack.kubectlOk(['-n', 'shop', 'set', 'image', `pod/${name}`, `app=${SOURCE}/payments/api:2`]);
  t.equal((await getPod('shop', name)).spec.containers[0]!.image, `${TARGET}/payments/api:2`, 'the update is rewritten like a create');
});

t.test('an init container with an ungranted image is refused at create; a granted one is rewritten', async (t) => {
  const denied = await createPod('shop', { initContainers: [{ name: 'setup', image: UNGRANTED }], containers: [{ name: 'app', image: `${TARGET}/payments/api:1` }] });
  t.not(denied.code, 0);
  t.match(denied.stderr, /initContainer "setup" image ".*paymentsevil\/shell:1" is not granted/);
  const granted = await createPod('shop', { initContainers: [{ name: 'setup', image: `${SOURCE}/payments/migrate:1` }], containers: [{ name: 'app', image: `${TARGET}/payments/api:1` }] });
  t.equal(granted.pod?.spec.initContainers?.[0]?.image, `${TARGET}/payments/migrate:1`);
});

t.test('kubectl debug cannot add an ephemeral container with an ungranted image; a granted one is rewritten', async (t) => {
  const { pod } = await createPod('shop', { containers: [{ name: 'app', image: `${TARGET}/payments/api:1` }] });
  const name = pod!.metadata.name;
  const denied = await stack.kubectl(['-n', 'shop', 'debug', name, `--image=${UNGRANTED}`, '--container=dbg']);
  t.not(denied.code, 0);
  t.match(denied.stderr, POD_DENIED);
  t.match(denied.stderr, /ephemeralContainer "dbg" image/);
  t.same((await getPod('shop', name)).spec.ephemeralContainers ?? [], [], 'no ephemeral container was added');
  const granted = await stack.kubectl(['-n', 'shop', 'debug', name, `--image=${SOURCE}/payments/debug:1`, '--container=dbg2']);
  t.equal(granted.code, 0, granted.stderr);
  t.same((await getPod('shop', name)).spec.ephemeralContainers?.map((c) => c.image), [`${TARGET}/payments/debug:1`]);
});

const WORKLOADS: { kind: string; apiVersion: string; spec: (podSpec: object) => object }[] = [
  { kind: 'Deployment', apiVersion: 'apps/v1', spec: (pod) => ({ selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: pod } }) },
  { kind: 'StatefulSet', apiVersion: 'apps/v1', spec: (pod) => ({ serviceName: 'w', selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: pod } }) },
  { kind: 'DaemonSet', apiVersion: 'apps/v1', spec: (pod) => ({ selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: pod } }) },
  { kind: 'ReplicaSet', apiVersion: 'apps/v1', spec: (pod) => ({ selector: { matchLabels: { app: 'w' } }, template: { metadata: { labels: { app: 'w' } }, spec: pod } }) },
  { kind: 'Job', apiVersion: 'batch/v1', spec: (pod) => ({ template: { spec: { ...pod, restartPolicy: 'Never' } } }) },
  { kind: 'CronJob', apiVersion: 'batch/v1', spec: (pod) => ({ schedule: '0 * * * *', jobTemplate: { spec: { template: { spec: { ...pod, restartPolicy: 'Never' } } } } }) },
];
const apply = (namespace: string, w: (typeof WORKLOADS)[number], name: string, image: string) =>
  stack.kubectl(['apply', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: w.apiVersion, kind: w.kind, metadata: { name, namespace }, spec: w.spec({ containers: [{ name: 'app', image }] }) }));

for (const w of WORKLOADS) {
  t.test(`kubectl apply of a ${w.kind} whose pods would be denied is refused with the pod's message, in enforce mode`, async (t) => {
    const result = await apply('shop', w, `bad-${w.kind.toLowerCase()}`, UNGRANTED);
    t.not(result.code, 0);
    t.match(result.stderr, /admission webhook "workloads\.ecr-tenant-webhook\.io" denied the request: container "app" image ".*paymentsevil\/shell:1" is not granted/);
  });
}

t.test('in dry-run, kubectl apply stores the workload and prints what enforcement would deny', async (t) => {
  const result = await apply('shop-canary', WORKLOADS[0]!, 'canary', UNGRANTED);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stderr, 'Warning: dry-run: would deny: container "app": paymentsevil/shell not granted');
});

t.test('a granted workload is stored with its template as written: pods are rewritten, templates never', async (t) => {
  const result = await apply('shop', WORKLOADS[0]!, 'good', `${SOURCE}/payments/api:1`);
  t.equal(result.code, 0, result.stderr);
  t.equal(JSON.parse(result.stdout).spec.template.spec.containers[0].image, `${SOURCE}/payments/api:1`);
});

const SIDE_DOOR_DENIED = /admission webhook "namespace-labels\.ecr-tenant-webhook\.io" denied the request: "(status-writer|tenant-admin)" may not /;
const asJson = (value: unknown) => JSON.stringify(value);
/** The namespace as stored, with its tenant label set to `tenant` (or removed), for replace and finalize. */
async function relabelled(namespace: string, tenant: string | undefined) {
  const object = JSON.parse(await stack.kubectlOk(['get', 'namespace', namespace, '-o', 'json']));
  if (tenant === undefined) delete object.metadata.labels[TENANT];
  else object.metadata.labels[TENANT] = tenant;
  return asJson(object);
}
const applied = (namespace: string, labels: Record<string, string>) => asJson({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels } });
const TENANT_PATH = `/metadata/labels/${TENANT.replace('/', '~1')}`;
/** Every way to write a namespace's labels: each patch type, server-side apply and update, on the namespace and its subresources. */
const SIDE_DOORS: { name: string; user: string; run: (ns: string) => Promise<{ args: string[]; input?: string }> }[] = [
  ...(['', 'status'] as const).flatMap((sub) => {
    const user = sub === '' ? 'tenant-admin' : 'status-writer';
    const via = sub === '' ? [] : [`--subresource=${sub}`];
    const where = sub === '' ? 'the namespace' : `namespaces/${sub}`;
    return [
      { name: `merge patch on ${where} changing the tenant`, user, run: async (ns: string) => ({ args: ['patch', 'namespace', ns, ...via, '--type=merge', '-p', asJson({ metadata: { labels: { [TENANT]: 'beta' } } })] }) },
      { name: `JSON patch on ${where} changing the tenant`, user, run: async (ns: string) => ({ args: ['patch', 'namespace', ns, ...via, '--type=json', '-p', asJson([{ op: 'replace', path: TENANT_PATH, value: 'beta' }])] }) },
      { name: `JSON patch on ${where} removing the tenant`, user, run: async (ns: string) => ({ args: ['patch', 'namespace', ns, ...via, '--type=json', '-p', asJson([{ op: 'remove', path: TENANT_PATH }])] }) },
      { name: `strategic merge patch on ${where} removing the tenant`, user, run: async (ns: string) => ({ args: ['patch', 'namespace', ns, ...via, '--type=strategic', '-p', asJson({ metadata: { labels: { [TENANT]: null } } })] }) },
      { name: `server-side apply on ${where} changing the tenant`, user, run: async (ns: string) => ({ args: ['apply', '--server-side', '--force-conflicts', '--field-manager=side-door', ...via, '-f', '-'], input: applied(ns, { [TENANT]: 'beta' }) }) },
      { name: `update (replace) on ${where} changing the tenant`, user, run: async (ns: string) => ({ args: ['replace', ...via, '-f', '-'], input: await relabelled(ns, 'beta') }) },
    ];
  }),
  { name: 'update on namespaces/finalize changing the tenant', user: 'status-writer', run: async (ns) => ({ args: ['replace', '--raw', `/api/v1/namespaces/${ns}/finalize`, '-f', '-'], input: await relabelled(ns, 'beta') }) },
  { name: 'update on namespaces/finalize removing the tenant', user: 'status-writer', run: async (ns) => ({ args: ['replace', '--raw', `/api/v1/namespaces/${ns}/finalize`, '-f', '-'], input: await relabelled(ns, undefined) }) },
  { name: 'merge patch on namespaces/status onboarding an unlabelled namespace', user: 'status-writer', run: async () => ({ args: ['patch', 'namespace', 'side-door', '--subresource=status', '--type=merge', '-p', asJson({ metadata: { labels: { [TENANT]: 'payments' } } })] }) },
];

t.test('no subresource, patch type or apply lets a user who is not a label admin relabel a namespace', async (t) => {
  // May write a namespace's status and finalizers (as a namespace controller does), not the namespace itself.
  await stack.kubectlOk(['apply', '-f', '-'], asJson({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'namespace-status-writer' },
    rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }, { apiGroups: [''], resources: ['namespaces/status', 'namespaces/finalize'], verbs: ['get', 'update', 'patch'] }],
  }));
  await stack.kubectlOk(['create', 'clusterrolebinding', 'namespace-status-writers', '--clusterrole=namespace-status-writer', '--user=status-writer', '--user=platform-admin']);
  await stack.namespace('side-door');
  const before = await labelsOf('shop');
  for (const door of SIDE_DOORS) {
    const { args, input } = await door.run('shop');
    const result = await as(door.user, args, input);
    t.not(result.code, 0, `${door.name} fails`);
    t.match(result.stderr, SIDE_DOOR_DENIED, `${door.name} is refused by the guard, not by RBAC`);
  }
  t.same(await labelsOf('shop'), before, 'the tenant namespace kept its labels');
  t.notOk(TENANT in (await labelsOf('side-door')), 'the unlabelled namespace is still unlabelled');
});

t.test('the status subresource does write labels: a label admin may relabel through it', async (t) => {
  const result = await as('platform-admin', ['patch', 'namespace', 'side-door', '--subresource=status', '--type=merge', '-p', asJson({ metadata: { labels: { [TENANT]: 'payments' } } })]);
  t.equal(result.code, 0, result.stderr);
  t.equal((await labelsOf('side-door'))[TENANT], 'payments', 'so refusing it to anyone else is what keeps the guard whole');
});

t.test('an image volume is judged like a container image: an ungranted one is refused, a granted one rewritten', async (t) => {
  const app = { name: 'app', image: `${TARGET}/payments/api:1`, volumeMounts: [{ name: 'data', mountPath: '/data' }] };
  const denied = await createPod('shop', { containers: [app], volumes: [{ name: 'data', image: { reference: UNGRANTED, pullPolicy: 'IfNotPresent' } }] });
  t.not(denied.code, 0, 'a pod mounting an ungranted image is not admitted');
  t.match(denied.stderr, POD_DENIED);
  t.match(denied.stderr, /volume "data" image ".*paymentsevil\/shell:1" is not granted/);
  const granted = await createPod('shop', { containers: [app], volumes: [{ name: 'data', image: { reference: `${SOURCE}/payments/models:1` } }] });
  t.equal(granted.code, 0, granted.stderr);
  const volumes = (granted.pod?.spec as { volumes?: { image?: { reference: string } }[] }).volumes;
  t.equal(volumes?.[0]?.image?.reference, `${TARGET}/payments/models:1`, 'the volume is rewritten to the granted registry');
});

const HOST_CASES = [
  {
    name: 'an ECR registry host written in upper case is refused, saying how to write it',
    image: `${TARGET.toUpperCase()}/payments/api:1`,
    message: /is a private ECR registry written with upper-case letters; write it in lower case \(111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\)/,
  },
  {
    name: 'an ECR-shaped host of no known form is refused, not taken for a public registry (nonEcrImages: allow)',
    image: '111111111111.dkr.ecr.us-iso-east-1.amazonaws.com/payments/api:1',
    message: /looks like a private ECR registry but is not a form this webhook knows \(region us-iso-east-1 is in partition aws-iso/,
  },
  {
    name: 'an ISO-partition registry is ECR, and without a grant it is refused (nonEcrImages: allow)',
    image: '111111111111.dkr.ecr.us-iso-east-1.c2s.ic.gov/payments/api:1',
    message: /is not granted: tenant "payments" has no grant for registry 111111111111\.dkr\.ecr\.us-iso-east-1\.c2s\.ic\.gov/,
  },
];

for (const c of HOST_CASES) {
  t.test(c.name, async (t) => {
    const result = await createPod('shop', { containers: [{ name: 'app', image: c.image }] });
    t.not(result.code, 0, 'the pod is not admitted');
    t.match(result.stderr, POD_DENIED);
    t.match(result.stderr, c.message);
  });
}

t.test('a public registry is still admitted untouched under nonEcrImages: allow', async (t) => {
  const result = await createPod('shop', { containers: [{ name: 'app', image: 'public.ecr.aws/nginx/nginx:1.27' }] });
  t.equal(result.code, 0, result.stderr);
  t.equal(result.pod?.spec.containers[0]?.image, 'public.ecr.aws/nginx/nginx:1.27');
});

t.test('with the webhook down, a tenant pod’s labels and finalizers can still change, and its image cannot', async (t) => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'held', namespace: 'shop', finalizers: ['example.com/hold'] }, spec: { containers: [{ name: 'app', image: `${TARGET}/payments/api:1` }] } };
  await stack.kubectlOk(['create', '-f', '-'], asJson(pod));
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await stack.retarget(deadPort);
  t.teardown(() => stack.retarget(stack.serve.port));

  const swapped = await stack.kubectl(['-n', 'shop', 'set', 'image', 'pod/held', `app=${TARGET}/payments/api:2`]);
  t.not(swapped.code, 0, 'an image change still needs the webhook');
  t.match(swapped.stderr, /failed calling webhook "pods\.ecr-tenant-webhook\.io"/);
  const labelled = await stack.kubectl(['-n', 'shop', 'label', 'pod', 'held', 'stage=draining']);
  t.equal(labelled.code, 0, labelled.stderr);
  const deleted = await stack.kubectl(['-n', 'shop', 'delete', 'pod', 'held', '--wait=false']);
  t.equal(deleted.code, 0, deleted.stderr);
  const released = await stack.kubectl(['-n', 'shop', 'patch', 'pod', 'held', '--type=json', '-p', asJson([{ op: 'remove', path: '/metadata/finalizers' }])]);
  t.equal(released.code, 0, `the finalizer comes off, so the pod does not hang in Terminating: ${released.stderr}`);
  const gone = await stack.kubectl(['-n', 'shop', 'get', 'pod', 'held']);
  t.match(gone.stderr, /NotFound/, 'and the pod is gone');
});
