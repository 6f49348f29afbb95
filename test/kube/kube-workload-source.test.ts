import { KubeConfig } from '@kubernetes/client-node';
import t from 'tap';
import { KubeWorkloadSource } from '../../src/kube/kube-workload-source.ts';
import { ClusterReadError, WORKLOAD_KINDS, type KubeObject, type WorkloadKind } from '../../src/kube/workload-source.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { silentServer } from '../support/silent-server.ts';

/** The audit's listing against a real kube-apiserver: paging, the JSON it hands on, and its one-line failures (see api-error.test.ts). */
t.setTimeout(120_000);

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(() => cp.stop());
const kubectl = async (args: string[], input?: string) => {
  const result = await cp.kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};
const admin = new KubeConfig();
admin.loadFromFile(cp.adminKubeconfig);

const POD_SPEC = {
  containers: [
    {
      name: 'app',
      image: 'registry.example/app:1',
      ports: [{ name: 'http', containerPort: 8080 }],
      readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
      livenessProbe: { tcpSocket: { port: 8080 } },
      resources: { requests: { cpu: '100m', memory: '64Mi' } },
      env: [{ name: 'A', value: '1' }],
    },
  ],
  initContainers: [{ name: 'setup', image: 'registry.example/setup:1' }],
  imagePullSecrets: [{ name: 'dockerhub' }],
  restartPolicy: 'Never',
};
const selector = { matchLabels: { app: 'w' } };
const template = { metadata: { labels: { app: 'w' } }, spec: { ...POD_SPEC, restartPolicy: 'Always' } };
const SPECS: Record<WorkloadKind, object> = {
  CronJob: { schedule: '0 * * * *', jobTemplate: { spec: { template: { spec: POD_SPEC } } } },
  Deployment: { selector, template },
  StatefulSet: { serviceName: 'w', selector, template },
  DaemonSet: { selector, template },
  Job: { template: { spec: POD_SPEC } },
  ReplicaSet: { selector, template },
  Pod: POD_SPEC,
};
const KINDS = Object.keys(WORKLOAD_KINDS) as WorkloadKind[];
const NAMESPACES = ['audit-a', 'audit-b'];
const PER_NAMESPACE = 3;

const manifests = NAMESPACES.flatMap((namespace) => [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { team: namespace } } },
  ...KINDS.flatMap((kind) =>
    Array.from({ length: PER_NAMESPACE }, (_, i) => ({ apiVersion: WORKLOAD_KINDS[kind].apiVersion, kind, metadata: { name: `${kind.toLowerCase()}-${i}`, namespace }, spec: SPECS[kind] })),
  ),
]);
await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }));

async function collect<T>(pages: AsyncIterable<readonly T[]>): Promise<{ pages: number; items: T[] }> {
  const items: T[] = [];
  let count = 0;
  for await (const page of pages) {
    count++;
    items.push(...page);
  }
  return { pages: count, items };
}

const nameOf = (o: KubeObject) => `${(o.metadata as { namespace: string }).namespace}/${(o.metadata as { name: string }).name}`;

t.test('every kind is listed in all namespaces and in one, a page of the given size at a time, with nothing lost', async (t) => {
  const source = new KubeWorkloadSource(admin, 2);
  for (const kind of KINDS) {
    const all = await collect(source.objects(kind, undefined));
    const mine = all.items.filter((o) => NAMESPACES.includes((o.metadata as { namespace: string }).namespace));
    t.equal(mine.length, NAMESPACES.length * PER_NAMESPACE, `${kind}: all of them`);
    t.ok(all.pages >= 3, `${kind}: ${all.pages} pages of 2`);
    const one = await collect(source.objects(kind, 'audit-b'));
    t.same(one.items.map(nameOf).sort(), [0, 1, 2].map((i) => `audit-b/${kind.toLowerCase()}-${i}`), `${kind}: one namespace`);
    t.equal(one.pages, 2, `${kind}: 3 objects are 2 pages`);
  }
});

t.test('objects come as the JSON kubectl prints, with kind and apiVersion set and the pod spec unchanged', async (t) => {
  const source = new KubeWorkloadSource(admin, 500);
  for (const kind of KINDS) {
    const [listed] = (await collect(source.objects(kind, 'audit-a'))).items;
    const stored = JSON.parse(await kubectl(['get', WORKLOAD_KINDS[kind].resource, `${kind.toLowerCase()}-0`, '-n', 'audit-a', '-o', 'json']));
    t.equal(listed!.kind, kind);
    t.equal(listed!.apiVersion, WORKLOAD_KINDS[kind].apiVersion);
    t.same(listed!.spec, stored.spec, `${kind}: spec as stored`);
    t.same((listed!.metadata as { uid: string }).uid, stored.metadata.uid);
    t.equal(typeof (listed!.metadata as { creationTimestamp: unknown }).creationTimestamp, 'string', 'timestamps are strings again, not Date objects');
    t.notOk(JSON.stringify(listed, (_, value) => (value === undefined ? '<undefined>' : value)).includes('<undefined>'), `${kind}: no field set to undefined`);
  }
});

t.test('namespaces are listed page by page with their labels, and one is read by name', async (t) => {
  const source = new KubeWorkloadSource(admin, 1);
  const { pages, items } = await collect(source.namespaces());
  t.equal(pages, items.length, 'one namespace per page');
  t.match(items.find((n) => n.name === 'audit-a'), { labels: { team: 'audit-a' } });
  t.match(await source.namespace('audit-b'), { name: 'audit-b', labels: { team: 'audit-b', 'kubernetes.io/metadata.name': 'audit-b' } });
  await t.rejects(source.namespace('nowhere'), new ClusterReadError('reading namespace nowhere: not found (HTTP 404): namespaces "nowhere" not found'));
});

t.test('an identity without RBAC gets a one-line message naming the resource, the scope and the reason', async (t) => {
  const weak = new KubeConfig();
  weak.loadFromFile(await cp.serviceAccountKubeconfig('default', 'nobody'));
  const source = new KubeWorkloadSource(weak, 500);
  await t.rejects(collect(source.objects('Deployment', undefined)), {
    name: 'ClusterReadError',
    message: 'listing deployments.apps in all namespaces: forbidden (HTTP 403): deployments.apps is forbidden: User "system:serviceaccount:default:nobody" cannot list resource "deployments" in API group "apps" at the cluster scope',
  });
  await t.rejects(collect(source.objects('Pod', 'audit-a')), { message: /^listing pods in namespace audit-a: forbidden \(HTTP 403\): pods is forbidden: .* in the namespace "audit-a"$/ });
  await t.rejects(collect(source.namespaces()), { message: /^listing namespaces: forbidden \(HTTP 403\)/ });
});

t.test('a token the API server does not know is unauthorized', async (t) => {
  const stranger = new KubeConfig();
  stranger.loadFromClusterAndUser({ name: 'c', server: cp.url, caData: Buffer.from(cp.caPem).toString('base64'), skipTLSVerify: false }, { name: 'u', token: 'not-a-token' });
  await t.rejects(collect(new KubeWorkloadSource(stranger, 500).namespaces()), { message: 'listing namespaces: unauthorized (HTTP 401)' });
});

t.test('an API server that stops answering fails the audit after the request deadline instead of hanging it', async (t) => {
  const stalled = await silentServer();
  t.teardown(stalled.close);
  const silent = new KubeConfig();
  silent.loadFromClusterAndUser({ name: 'c', server: stalled.url, skipTLSVerify: true }, { name: 'u', token: 'x' });
  const source = new KubeWorkloadSource(silent, 500, 200);
  await t.rejects(collect(source.namespaces()), new ClusterReadError('listing namespaces: the request took longer than 200 ms'));
  await t.rejects(source.namespace('shop'), new ClusterReadError('reading namespace shop: the request took longer than 200 ms'));
});
