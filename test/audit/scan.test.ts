import t from 'tap';
import { exitCodeOf, type AuditReport } from '../../src/audit/report.ts';
import { auditCluster, type AuditScope } from '../../src/audit/scan.ts';
import type { Labels } from '../../src/kube/namespace-directory.ts';
import { ClusterReadError, InMemoryWorkloadSource, type KubeObject } from '../../src/kube/workload-source.ts';
import { testPolicy } from '../admission/harness.ts';
import { ANALYTICS, MODE, object, SECRET, SOURCE, TARGET, TENANT } from './objects.ts';

/** The audit's walk over a cluster, through the in-memory source: what is reported, folded, counted and skipped. */
const PAYMENTS = { [TENANT]: 'payments' };
const NAMESPACES: Record<string, Labels> = {
  shop: PAYMENTS,
  canary: { [TENANT]: 'payments', [MODE]: 'dry-run' },
  lab: { [TENANT]: 'analytics' },
  plain: {},
};
const UNGRANTED = `${TARGET}/paymentsevil/shell:1`;
const GOOD = `${SOURCE}/payments/api:1`;
const REWRITTEN = `${TARGET}/payments/api:1`;

/** Each listed workload as `namespace Kind/name verdict[ note]`. */
function listed(report: AuditReport): string[] {
  return report.tenants.flatMap((tenant) =>
    tenant.namespaces.flatMap((ns) =>
      ns.workloads.map((w) => `${ns.name} ${w.kind}/${w.name} ${w.verdict}${w.owner === undefined ? '' : ` (${w.owner.relation} ${w.owner.kind}/${w.owner.name}${w.runningPods === undefined ? '' : ` x${w.runningPods}`})`}`),
    ),
  );
}

function namespaceIn(report: AuditReport, name: string) {
  return report.tenants.flatMap((tenant) => tenant.namespaces).find((n) => n.name === name)!;
}

interface Case {
  readonly name: string;
  readonly objects: readonly KubeObject[];
  readonly namespaces?: Record<string, Labels>;
  readonly scope?: AuditScope;
  readonly listed: readonly string[];
  readonly summary?: Partial<AuditReport['summary']>;
}

const cases: Case[] = [
  {
    name: 'a Deployment with an ungranted image in an enforce namespace is a denial and the audit exits 1',
    objects: [object('Deployment', 'shop', 'bad', UNGRANTED)],
    listed: ['shop Deployment/bad deny'],
    summary: { workloads: 1, deny: 1, wouldDeny: 0, ok: 0 },
  },
  {
    name: 'the same Deployment in a namespace labelled dry-run is a would-deny',
    objects: [object('Deployment', 'canary', 'bad', UNGRANTED)],
    listed: ['canary Deployment/bad would-deny'],
    summary: { deny: 0, wouldDeny: 1 },
  },
  {
    name: "a non-ECR image of a tenant that is dry-run by policy and denies non-ECR images is a would-deny",
    objects: [object('CronJob', 'lab', 'etl', 'python:3'), object('CronJob', 'lab', 'fine', `${ANALYTICS}/analytics/etl:1`)],
    listed: ['lab CronJob/etl would-deny', 'lab CronJob/fine change'],
  },
  {
    name: 'objects in a namespace without a tenant label are neither judged nor listed',
    objects: [object('Deployment', 'plain', 'bad', UNGRANTED), object('Pod', 'plain', 'p', UNGRANTED)],
    namespaces: { plain: {} },
    listed: [],
    summary: { tenants: 0, namespaces: 0, workloads: 0 },
  },
  {
    name: 'a ReplicaSet owned by a Deployment and the pods it runs are counted under the Deployment',
    objects: [
      object('Deployment', 'shop', 'api', GOOD),
      object('ReplicaSet', 'shop', 'api-1', GOOD, { owner: ['Deployment', 'api'] }),
      object('Pod', 'shop', 'api-1-a', GOOD, { owner: ['ReplicaSet', 'api-1'] }),
      object('Pod', 'shop', 'api-1-b', REWRITTEN, { owner: ['ReplicaSet', 'api-1'], pullSecrets: [SECRET] }),
    ],
    listed: ['shop Deployment/api change'],
    summary: { workloads: 1, change: 1, podsUnderOwners: 2 },
  },
  {
    name: "a ReplicaSet of an older revision with running pods is reported once, with the number of pods, while one without pods is not",
    objects: [
      object('Deployment', 'shop', 'api', GOOD),
      object('ReplicaSet', 'shop', 'api-new', GOOD, { owner: ['Deployment', 'api'] }),
      object('ReplicaSet', 'shop', 'api-old', UNGRANTED, { owner: ['Deployment', 'api'] }),
      object('ReplicaSet', 'shop', 'api-older', `${TARGET}/other/x:1`, { owner: ['Deployment', 'api'] }),
      object('Pod', 'shop', 'api-old-a', UNGRANTED, { owner: ['ReplicaSet', 'api-old'] }),
      object('Pod', 'shop', 'api-old-b', UNGRANTED, { owner: ['ReplicaSet', 'api-old'] }),
    ],
    listed: ['shop Deployment/api change', 'shop ReplicaSet/api-old deny (old-revision Deployment/api x2)'],
    summary: { workloads: 2, podsUnderOwners: 2 },
  },
  {
    name: 'a pod whose images are not its owner’s (an ephemeral debug container) is reported on its own',
    objects: [
      object('StatefulSet', 'shop', 'db', REWRITTEN),
      object('Pod', 'shop', 'db-0', REWRITTEN, { owner: ['StatefulSet', 'db'], ephemeral: UNGRANTED }),
      object('Pod', 'shop', 'db-1', REWRITTEN, { owner: ['StatefulSet', 'db'] }),
    ],
    listed: ['shop StatefulSet/db change', 'shop Pod/db-0 deny (differs StatefulSet/db)'],
    summary: { workloads: 2, podsUnderOwners: 1 },
  },
  {
    name: 'a bare pod, a pod owned by a kind the audit does not list and one whose owner is gone are reported as pods',
    objects: [
      object('Pod', 'shop', 'bare', UNGRANTED),
      object('Pod', 'shop', 'custom', UNGRANTED, { owner: ['Workflow', 'wf'] }),
      object('Pod', 'shop', 'orphan', UNGRANTED, { owner: ['ReplicaSet', 'gone'] }),
      object('Pod', 'shop', 'not-controlled', UNGRANTED, { owner: ['DaemonSet', 'agent'], controller: false }),
      object('DaemonSet', 'shop', 'agent', UNGRANTED),
    ],
    listed: ['shop DaemonSet/agent deny', 'shop Pod/bare deny', 'shop Pod/custom deny', 'shop Pod/not-controlled deny', 'shop Pod/orphan deny'],
  },
  {
    name: 'a ReplicaSet whose Deployment is not there is reported on its own, and its pods under it',
    objects: [object('ReplicaSet', 'shop', 'rs', UNGRANTED, { owner: ['Deployment', 'gone'] }), object('Pod', 'shop', 'rs-a', UNGRANTED, { owner: ['ReplicaSet', 'rs'] })],
    listed: ['shop ReplicaSet/rs deny'],
    summary: { podsUnderOwners: 1 },
  },
  {
    name: 'a Job owned by a CronJob is counted under the CronJob, and its pods too',
    objects: [
      object('CronJob', 'shop', 'report', UNGRANTED),
      object('Job', 'shop', 'report-1', UNGRANTED, { owner: ['CronJob', 'report'] }),
      object('Pod', 'shop', 'report-1-a', UNGRANTED, { owner: ['Job', 'report-1'] }),
      object('Job', 'shop', 'once', GOOD),
    ],
    listed: ['shop CronJob/report deny', 'shop Job/once change'],
    summary: { workloads: 2, podsUnderOwners: 1 },
  },
  {
    name: 'pods that have finished are counted and not judged',
    objects: [object('Pod', 'shop', 'done', UNGRANTED, { phase: 'Succeeded' }), object('Pod', 'shop', 'failed', UNGRANTED, { phase: 'Failed' }), object('Pod', 'shop', 'running', UNGRANTED, { phase: 'Running' })],
    listed: ['shop Pod/running deny'],
    summary: { workloads: 1, finishedPods: 2 },
  },
  {
    name: 'a Job that has completed or failed makes no more pods: counted, not judged, and no reason to exit 1',
    objects: [
      object('Job', 'shop', 'migrate-2024', UNGRANTED, { condition: ['Complete', 'True'] }),
      object('Job', 'shop', 'backfill', UNGRANTED, { condition: ['Failed', 'True'] }),
      object('Pod', 'shop', 'migrate-2024-a', UNGRANTED, { owner: ['Job', 'migrate-2024'], phase: 'Succeeded' }),
      object('Job', 'shop', 'running', UNGRANTED, { condition: ['Complete', 'False'] }),
    ],
    listed: ['shop Job/running deny'],
    summary: { workloads: 1, finishedJobs: 2, finishedPods: 1 },
  },
  {
    name: 'pods of an older DaemonSet or StatefulSet template are reported once per owner and images, with their number',
    objects: [
      object('DaemonSet', 'shop', 'agent', GOOD),
      object('Pod', 'shop', 'agent-a', UNGRANTED, { owner: ['DaemonSet', 'agent'] }),
      object('Pod', 'shop', 'agent-b', UNGRANTED, { owner: ['DaemonSet', 'agent'] }),
      object('Pod', 'shop', 'agent-c', UNGRANTED, { owner: ['DaemonSet', 'agent'] }),
      object('Pod', 'shop', 'agent-d', REWRITTEN, { owner: ['DaemonSet', 'agent'] }),
      object('StatefulSet', 'shop', 'db', REWRITTEN),
      object('Pod', 'shop', 'db-0', `${TARGET}/payments/db:1`, { owner: ['StatefulSet', 'db'] }),
      object('Pod', 'shop', 'db-1', `${TARGET}/payments/db:2`, { owner: ['StatefulSet', 'db'] }),
    ],
    listed: ['shop StatefulSet/db change', 'shop DaemonSet/agent change', 'shop Pod/agent-a deny (old-revision DaemonSet/agent x3)', 'shop Pod/db-0 change (old-revision StatefulSet/db x1)', 'shop Pod/db-1 change (old-revision StatefulSet/db x1)'],
    summary: { podsUnderOwners: 1 },
  },
  {
    name: 'a pod that already carries its rewritten image and pull secret is ok and only counted',
    objects: [object('Pod', 'shop', 'admitted', REWRITTEN, { pullSecrets: [SECRET] })],
    listed: [],
    summary: { workloads: 1, ok: 1, change: 0 },
  },
  {
    name: 'a namespace labelled with a tenant the policy does not name denies every workload in it',
    objects: [object('Deployment', 'ghost-town', 'api', GOOD)],
    namespaces: { 'ghost-town': { [TENANT]: 'ghost' } },
    listed: ['ghost-town Deployment/api deny'],
  },
  {
    name: '--tenant keeps only the namespaces of that tenant',
    objects: [object('Deployment', 'shop', 'bad', UNGRANTED), object('CronJob', 'lab', 'etl', 'python:3')],
    scope: { tenant: 'analytics' },
    listed: ['lab CronJob/etl would-deny'],
    summary: { tenants: 1, namespaces: 1 },
  },
  {
    name: '--namespace judges that namespace only',
    objects: [object('Deployment', 'shop', 'bad', UNGRANTED), object('Deployment', 'canary', 'bad', UNGRANTED)],
    scope: { namespace: 'canary' },
    listed: ['canary Deployment/bad would-deny'],
  },
  {
    name: 'an object without metadata belongs to no namespace and is passed over',
    objects: [{ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'app', image: UNGRANTED }] } }],
    listed: [],
    summary: { workloads: 0 },
  },
  {
    name: 'a controller without a UID cannot be found by its pods, which are then reported as pods',
    objects: [object('Deployment', 'shop', 'odd', GOOD, { uid: null }), object('Pod', 'shop', 'odd-a', UNGRANTED, { owner: ['Deployment', 'odd'] })],
    listed: ['shop Deployment/odd change', 'shop Pod/odd-a deny'],
  },
  {
    name: 'workloads are listed by kind, owners first, then by name, and namespaces and tenants by name',
    objects: [
      object('Pod', 'shop', 'b', UNGRANTED),
      object('Pod', 'shop', 'a', UNGRANTED),
      object('Deployment', 'shop', 'z', UNGRANTED),
      object('CronJob', 'lab', 'c', 'python:3'),
      object('Deployment', 'canary', 'y', UNGRANTED),
    ],
    listed: ['lab CronJob/c would-deny', 'canary Deployment/y would-deny', 'shop Deployment/z deny', 'shop Pod/a deny', 'shop Pod/b deny'],
    summary: { tenants: 2, namespaces: 3 },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const source = new InMemoryWorkloadSource(c.namespaces ?? NAMESPACES, c.objects);
    const report = await auditCluster(source, testPolicy, c.scope ?? {});
    t.same(listed(report), c.listed);
    if (c.summary) t.match(report.summary, c.summary);
    const anyDenied = c.listed.some((entry) => / (deny|would-deny)( |$)/.test(entry));
    t.equal(exitCodeOf(report.summary, report.ecr), anyDenied ? 1 : 0, anyDenied ? 'exit 1: something would be denied' : 'exit 0');
  });
}

t.test('a denied workload carries the denied image, its rewrite target and the reason naming container, image, tenant and namespace', async (t) => {
  const report = await auditCluster(new InMemoryWorkloadSource(NAMESPACES, [object('Deployment', 'shop', 'bad', `${SOURCE}/paymentsevil/shell:1`)]), testPolicy, {});
  t.same(namespaceIn(report, 'shop').workloads, [
    {
      kind: 'Deployment',
      name: 'bad',
      verdict: 'deny',
      denied: [{ path: 'spec.template.spec.containers[0].image', image: `${SOURCE}/paymentsevil/shell:1`, to: UNGRANTED }],
      reasons: [
        `container "app" image "${SOURCE}/paymentsevil/shell:1" (rewritten to "${UNGRANTED}") is not granted: repository "paymentsevil/shell" matches none of tenant "payments"'s patterns (payments/*, shared/**) (tenant "payments", namespace "shop")`,
      ],
      unjudged: [],
      rewrites: [],
      missing: [],
      pins: [],
      pullSecretsNeeded: [],
    },
  ]);
  t.equal(exitCodeOf(report.summary, report.ecr), 1);
});

t.test('a workload to change carries each rewrite and the pull secrets its pods need beyond those it lists', async (t) => {
  const deployment = object('Deployment', 'shop', 'api', GOOD, { pullSecrets: ['dockerhub'] });
  const report = await auditCluster(new InMemoryWorkloadSource(NAMESPACES, [deployment]), testPolicy, {});
  t.same(namespaceIn(report, 'shop').workloads, [
    {
      kind: 'Deployment',
      name: 'api',
      verdict: 'change',
      denied: [],
      reasons: [],
      unjudged: [],
      rewrites: [{ path: 'spec.template.spec.containers[0].image', from: GOOD, to: REWRITTEN }],
      missing: [],
      pins: [],
      pullSecretsNeeded: [SECRET],
    },
  ]);
  t.equal(exitCodeOf(report.summary, report.ecr), 0);
});

t.test('every tenant namespace in scope is in the report with its mode and how many workloads it holds, even without findings', async (t) => {
  const report = await auditCluster(new InMemoryWorkloadSource(NAMESPACES, [object('Pod', 'shop', 'admitted', REWRITTEN, { pullSecrets: [SECRET] })]), testPolicy, {});
  t.same(
    report.tenants.map((tenant) => [tenant.name, tenant.inPolicy, tenant.namespaces.map((n) => `${n.name}:${n.mode}:${n.audited}`)]),
    [
      ['analytics', true, ['lab:dry-run:0']],
      ['payments', true, ['canary:dry-run:0', 'shop:enforce:1']],
    ],
  );
  t.same(report.summary, { tenants: 2, namespaces: 3, workloads: 1, deny: 0, wouldDeny: 0, change: 0, ok: 1, podsUnderOwners: 0, finishedPods: 0, finishedJobs: 0 });
});

t.test("a mistyped mode label is the namespace's warning, and the namespace is audited as enforcing", async (t) => {
  const report = await auditCluster(new InMemoryWorkloadSource({ typo: { [TENANT]: 'payments', [MODE]: 'dryrun' } }, [object('Deployment', 'typo', 'bad', UNGRANTED)]), testPolicy, {});
  const [namespace] = report.tenants[0]!.namespaces;
  t.equal(namespace!.mode, 'enforce');
  t.same(namespace!.warnings, ['namespace label ecr-tenant-webhook.io/mode="dryrun" is not enforce or dry-run; enforcing']);
  t.equal(namespace!.workloads[0]!.verdict, 'deny');
});

t.test('a tenant the policy does not name is marked so, and the reason says so', async (t) => {
  const report = await auditCluster(new InMemoryWorkloadSource({ x: { [TENANT]: 'ghost' } }, [object('Pod', 'x', 'p', GOOD)]), testPolicy, {});
  t.equal(report.tenants[0]!.inPolicy, false);
  t.match(report.tenants[0]!.namespaces[0]!.workloads[0]!.reasons, [/^tenant "ghost" has no grants/]);
});

t.test('nothing is listed but namespaces when no namespace in scope belongs to a tenant', async (t) => {
  const source = new InMemoryWorkloadSource({ plain: {}, other: { team: 'x' }, third: {} }, [object('Pod', 'plain', 'p', UNGRANTED)]);
  await auditCluster(source, testPolicy, {});
  t.same(source.listed, ['namespaces', 'namespaces']);
  const one = new InMemoryWorkloadSource({ plain: {} }, []);
  await auditCluster(one, testPolicy, { namespace: 'plain' });
  t.same(one.listed, [], 'with --namespace only that namespace is read');
});

t.test('with --namespace every kind is listed in that namespace only, controllers before what they own', async (t) => {
  const objects = ['CronJob', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet', 'Pod'].map((kind) => object(kind, 'shop', kind.toLowerCase(), GOOD));
  const source = new InMemoryWorkloadSource(NAMESPACES, objects);
  await auditCluster(source, testPolicy, { namespace: 'shop' });
  t.same(source.listed, ['cronjobs.batch namespace shop', 'deployments.apps namespace shop', 'statefulsets.apps namespace shop', 'daemonsets.apps namespace shop', 'jobs.batch namespace shop', 'replicasets.apps namespace shop', 'pods namespace shop']);
});

t.test('progress is reported after each page with the running count of the resource', async (t) => {
  const pods = ['a', 'b', 'c'].map((name) => object('Pod', 'shop', name, GOOD));
  const seen: string[] = [];
  await auditCluster(new InMemoryWorkloadSource({ shop: PAYMENTS }, pods, 2), testPolicy, {}, (resource, read) => seen.push(`${resource} ${read}`));
  t.same(seen, ['namespaces 1', 'pods 2', 'pods 3']);
});

t.test('a namespace that does not exist is a ClusterReadError naming it', async (t) => {
  await t.rejects(auditCluster(new InMemoryWorkloadSource(NAMESPACES, []), testPolicy, { namespace: 'nowhere' }), new ClusterReadError('reading namespace nowhere: not found (HTTP 404): namespaces "nowhere" not found'));
});

t.test('an object whose pod spec cannot be read is a ClusterReadError naming the object and the path', async (t) => {
  const broken = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'odd', namespace: 'shop' }, spec: { template: { spec: { containers: 'x' } } } };
  await t.rejects(auditCluster(new InMemoryWorkloadSource(NAMESPACES, [broken]), testPolicy, {}), {
    name: 'ClusterReadError',
    message: 'Deployment shop/odd from the API server cannot be judged: spec.template.spec.containers: must be a list',
  });
});
