import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { fixture, runCli } from '../cli/run-cli.ts';

/**
 * `audit` through the real command line against a real kube-apiserver: workloads of every audited kind in an
 * enforce namespace, a dry-run namespace of the same tenant, a dry-run tenant and an unlabelled namespace. No
 * controller-manager runs, so the pods and ReplicaSets controllers would make are created by hand, with owner
 * references, as those controllers write them.
 */
t.setTimeout(120_000);

const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const ANALYTICS = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';
const GOOD = `${SOURCE}/payments/api:1`;
const REWRITTEN = `${TARGET}/payments/api:1`;
const UNGRANTED = `${TARGET}/paymentsevil/shell:1`;
const SECRET = 'ecr-pull-111111111111-eu-west-1';
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';

// The CLI tests' policy: payments enforces and rewrites, analytics is dry-run and allows only ECR images.
const CANDIDATE = fixture('policy.yaml');
const dir = mkdtempSync(join(tmpdir(), 'audit-e2e-'));
const PERMISSIVE = join(dir, 'permissive.yaml');
writeFileSync(PERMISSIVE, readFileSync(CANDIDATE, 'utf8').replace('nonEcrImages: deny', 'nonEcrImages: allow'));

const cp = await startControlPlane({ log: (line) => t.comment(line) });
t.teardown(async () => {
  await cp.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Manifest = { apiVersion: string; kind: string; metadata: Record<string, unknown>; spec?: unknown };

async function apply(items: Manifest[]): Promise<Map<string, string>> {
  const result = await cp.kubectl(['apply', '-o', 'json', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`);
  const applied = JSON.parse(result.stdout) as { items: { kind: string; metadata: { namespace?: string; name: string; uid: string } }[] };
  return new Map(applied.items.map((o) => [`${o.metadata.namespace}/${o.kind}/${o.metadata.name}`, o.metadata.uid]));
}

const podSpec = (image: string, more: Record<string, unknown> = {}) => ({ containers: [{ name: 'app', image }], restartPolicy: 'Never', ...more });
const selector = { matchLabels: { app: 'w' } };
const template = (image: string) => ({ metadata: { labels: { app: 'w' } }, spec: { ...podSpec(image), restartPolicy: 'Always' } });
const SPEC: Record<string, (image: string) => unknown> = {
  Deployment: (image) => ({ selector, template: template(image) }),
  ReplicaSet: (image) => ({ selector, template: template(image) }),
  StatefulSet: (image) => ({ serviceName: 'w', selector, template: template(image) }),
  DaemonSet: (image) => ({ selector, template: template(image) }),
  Job: (image) => ({ template: { spec: podSpec(image) } }),
  CronJob: (image) => ({ schedule: '0 * * * *', jobTemplate: { spec: { template: { spec: podSpec(image) } } } }),
};
const API_VERSION: Record<string, string> = { Deployment: 'apps/v1', ReplicaSet: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', Job: 'batch/v1', CronJob: 'batch/v1' };

function workload(kind: string, namespace: string, name: string, image: string, owner?: { kind: string; name: string; uid: string }): Manifest {
  const ownerReferences = owner === undefined ? [] : [{ apiVersion: API_VERSION[owner.kind], kind: owner.kind, name: owner.name, uid: owner.uid, controller: true }];
  return { apiVersion: API_VERSION[kind]!, kind, metadata: { name, namespace, ownerReferences }, spec: SPEC[kind]!(image) };
}

function pod(namespace: string, name: string, image: string, owner?: { kind: string; name: string; uid: string }, more: Record<string, unknown> = {}): Manifest {
  const ownerReferences = owner === undefined ? [] : [{ apiVersion: API_VERSION[owner.kind], kind: owner.kind, name: owner.name, uid: owner.uid, controller: true }];
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ownerReferences, labels: { app: 'w' } }, spec: podSpec(image, more) };
}

// Namespaces and the workloads that own nothing; then what they own, which needs their UIDs.
const owners = await apply([
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { [TENANT]: 'payments' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'canary', labels: { [TENANT]: 'payments', [MODE]: 'dry-run' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab', labels: { [TENANT]: 'analytics' } } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } },
  workload('Deployment', 'shop', 'api', GOOD),
  workload('StatefulSet', 'shop', 'db', UNGRANTED),
  workload('DaemonSet', 'shop', 'agent', 'nginx:1.27'),
  workload('Job', 'shop', 'migrate', GOOD),
  workload('CronJob', 'shop', 'report', UNGRANTED),
  workload('ReplicaSet', 'shop', 'standalone', GOOD),
  workload('Deployment', 'canary', 'web', UNGRANTED),
  workload('CronJob', 'lab', 'etl', 'python:3.13'),
  workload('Deployment', 'lab', 'model', `${ANALYTICS}/analytics/model:2`),
  workload('Deployment', 'plain', 'bad', UNGRANTED),
  workload('CronJob', 'plain', 'bad', 'python:3.13'),
]);
const ref = (namespace: string, kind: string, name: string) => ({ kind, name, uid: owners.get(`${namespace}/${kind}/${name}`)! });
const replicaSets = await apply([
  workload('ReplicaSet', 'shop', 'api-new', GOOD, ref('shop', 'Deployment', 'api')),
  workload('ReplicaSet', 'shop', 'api-old', UNGRANTED, ref('shop', 'Deployment', 'api')),
  workload('ReplicaSet', 'shop', 'api-oldest', `${TARGET}/other/thing:1`, ref('shop', 'Deployment', 'api')),
  workload('Job', 'shop', 'report-28', UNGRANTED, ref('shop', 'CronJob', 'report')),
]);
const rsRef = (name: string) => ({ kind: 'ReplicaSet', name, uid: replicaSets.get(`shop/ReplicaSet/${name}`)! });
await apply([
  // As the webhook admitted them: rewritten and with the pull secret.
  pod('shop', 'api-new-1', REWRITTEN, rsRef('api-new'), { imagePullSecrets: [{ name: SECRET }] }),
  pod('shop', 'api-new-2', REWRITTEN, rsRef('api-new'), { imagePullSecrets: [{ name: SECRET }] }),
  pod('shop', 'api-new-3', REWRITTEN, rsRef('api-new'), { imagePullSecrets: [{ name: SECRET }] }),
  pod('shop', 'api-old-1', UNGRANTED, rsRef('api-old')),
  pod('shop', 'api-old-2', UNGRANTED, rsRef('api-old')),
  pod('shop', 'db-0', UNGRANTED, ref('shop', 'StatefulSet', 'db')),
  pod('shop', 'agent-x', 'nginx:1.27', ref('shop', 'DaemonSet', 'agent')),
  pod('shop', 'report-28-a', UNGRANTED, { kind: 'Job', name: 'report-28', uid: replicaSets.get('shop/Job/report-28')! }),
  pod('shop', 'standalone-1', GOOD, ref('shop', 'ReplicaSet', 'standalone')),
  pod('shop', 'debug', UNGRANTED),
  pod('shop', 'pinned', REWRITTEN, undefined, { imagePullSecrets: [{ name: SECRET }] }),
  pod('canary', 'web-1', UNGRANTED, ref('canary', 'Deployment', 'web')),
  pod('plain', 'bad', UNGRANTED),
]);

type Workload = { kind: string; name: string; verdict: string; denied: { path: string; image: string }[]; rewrites: { from: string; to: string }[]; pullSecretsNeeded: string[]; owner?: { kind: string; name: string; relation: string }; runningPods?: number };
type Report = { policy: string; scope: unknown; summary: Record<string, number>; tenants: { name: string; inPolicy: boolean; namespaces: { name: string; mode: string; audited: number; workloads: Workload[] }[] }[] };

function audit(args: string[]) {
  return runCli(['audit', '--kubeconfig', cp.adminKubeconfig, ...args]);
}

/** Every finding of a JSON report as one line, to compare whole sets. */
function findings(report: Report): string[] {
  return report.tenants
    .flatMap((tenant) =>
      tenant.namespaces.flatMap((ns) =>
        ns.workloads.flatMap((w) => {
          const at = `${tenant.name} ${ns.name} ${ns.mode} ${w.kind}/${w.name}`;
          return [
            ...(w.owner === undefined ? [] : [`${at} ${w.owner.relation} of ${w.owner.kind}/${w.owner.name}${w.runningPods === undefined ? '' : `, ${w.runningPods} pods`}`]),
            ...w.denied.map((d) => `${at} ${w.verdict} ${d.image}`),
            ...w.rewrites.map((r) => `${at} rewrite ${r.from} -> ${r.to}`),
            ...w.pullSecretsNeeded.map((s) => `${at} pull-secret ${s}`),
          ];
        }),
      ),
    )
    .sort();
}

const EXPECTED = [
  `payments shop enforce Deployment/api rewrite ${GOOD} -> ${REWRITTEN}`,
  `payments shop enforce Deployment/api pull-secret ${SECRET}`,
  `payments shop enforce ReplicaSet/api-old old-revision of Deployment/api, 2 pods`,
  `payments shop enforce ReplicaSet/api-old deny ${UNGRANTED}`,
  `payments shop enforce StatefulSet/db deny ${UNGRANTED}`,
  `payments shop enforce Job/migrate rewrite ${GOOD} -> ${REWRITTEN}`,
  `payments shop enforce Job/migrate pull-secret ${SECRET}`,
  `payments shop enforce CronJob/report deny ${UNGRANTED}`,
  `payments shop enforce ReplicaSet/standalone rewrite ${GOOD} -> ${REWRITTEN}`,
  `payments shop enforce ReplicaSet/standalone pull-secret ${SECRET}`,
  `payments shop enforce Pod/debug deny ${UNGRANTED}`,
  `payments canary dry-run Deployment/web would-deny ${UNGRANTED}`,
  `analytics lab dry-run CronJob/etl would-deny python:3.13`,
  `analytics lab dry-run Deployment/model pull-secret ecr-pull-333333333333-eu-central-1`,
].sort();

t.test('a cluster audit finds exactly the denials, would-be denials, rewrites and pull secrets of every tenant namespace, and exits 1', async (t) => {
  const { code, stdout, stderr } = audit(['--policy', CANDIDATE, '--output', 'json']);
  t.equal(code, 1, stderr);
  t.equal(stderr, '', 'no progress when stderr is not a terminal');
  const report = JSON.parse(stdout) as Report;
  t.same(findings(report), EXPECTED);
  t.same(report.scope, { namespace: null, tenant: null });
  t.equal(report.policy, CANDIDATE);
  t.same(
    report.tenants.map((tenant) => [tenant.name, tenant.inPolicy, tenant.namespaces.map((n) => `${n.name}:${n.mode}:${n.audited}`)]),
    [['analytics', true, ['lab:dry-run:2']], ['payments', true, ['canary:dry-run:1', 'shop:enforce:9']]],
    'the unlabelled namespace is not in the report at all',
  );
  // shop: api, db, agent, migrate, report, standalone, api-old (old revision), debug, pinned; canary: web.
  t.same(report.summary, { tenants: 2, namespaces: 3, workloads: 12, deny: 4, wouldDeny: 2, change: 4, ok: 2, podsUnderOwners: 10, finishedPods: 0, finishedJobs: 0 });
});

t.test('paging two objects at a time finds the same, all of them', async (t) => {
  const { code, stdout } = audit(['--policy', CANDIDATE, '--output', 'json', '--page-size', '2']);
  t.equal(code, 1);
  const report = JSON.parse(stdout) as Report;
  t.same(findings(report), EXPECTED);
  t.match(report.summary, { workloads: 12, podsUnderOwners: 10 });
});

t.test('the text report is one row per finding with the summary last', async (t) => {
  const { code, stdout } = audit(['--policy', CANDIDATE, '--all-namespaces']);
  t.equal(code, 1);
  const lines = stdout.trimEnd().split('\n');
  t.match(lines[0], /^TENANT +NAMESPACE +MODE +WORKLOAD +FINDING +DETAIL$/);
  t.equal(lines.length, 1 + EXPECTED.length + 1, 'header, one row per finding, summary');
  t.match(stdout, /\nanalytics +lab +dry-run +CronJob\/etl +would-deny +container "app" image "python:3\.13" is not in a private ECR registry/);
  t.match(stdout, /\npayments +shop +enforce +ReplicaSet\/api-old +note +old revision of Deployment\/api, still running 2 pods\n/);
  t.match(stdout, /\npayments +shop +enforce +Pod\/debug +deny +container "app" image ".*paymentsevil\/shell:1" is not granted/);
  t.notMatch(stdout, /plain/);
  t.equal(lines.at(-1), '12 workloads audited in 3 namespaces of 2 tenants: 4 deny, 2 would deny (dry-run), 4 change, 2 ok; 10 pods counted under their owners');
});

t.test('--namespace and --tenant narrow the audit', async (t) => {
  const canary = audit(['--policy', CANDIDATE, '--output', 'json', '--namespace', 'canary']);
  t.equal(canary.code, 1);
  t.same(findings(JSON.parse(canary.stdout)), [`payments canary dry-run Deployment/web would-deny ${UNGRANTED}`]);
  const analytics = audit(['--policy', CANDIDATE, '--output', 'json', '--tenant', 'analytics']);
  t.equal(analytics.code, 1);
  t.same(findings(JSON.parse(analytics.stdout)), EXPECTED.filter((line) => line.startsWith('analytics ')));
});

t.test('a candidate policy under which a tenant has no denials exits 0', async (t) => {
  const { code, stdout } = audit(['--policy', PERMISSIVE, '--output', 'json', '--tenant', 'analytics']);
  t.equal(code, 0);
  t.same(findings(JSON.parse(stdout)), [`analytics lab dry-run Deployment/model pull-secret ecr-pull-333333333333-eu-central-1`]);
});

t.test('an unlabelled namespace is audited to nothing, said on stderr, exit 0', async (t) => {
  const { code, stdout, stderr } = audit(['--policy', CANDIDATE, '-n', 'plain']);
  t.equal(code, 0);
  t.equal(stderr, 'note: namespace plain is not labelled ecr-tenant-webhook.io/tenant: nothing to audit\n');
  t.match(stdout, /^0 workloads audited in 0 namespaces of 0 tenants/);
});

type PolicyReportObject = {
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; labels: Record<string, string> };
  summary: Record<string, number>;
  results: { policy: string; rule: string; result: string; message: string; resources: { kind: string; name: string; namespace: string }[]; properties: Record<string, string> }[];
};

async function policyReportsInCluster(): Promise<Map<string, PolicyReportObject>> {
  const listed = await cp.kubectl(['get', 'policyreports.wgpolicyk8s.io', '-A', '-o', 'json']);
  if (listed.code !== 0) throw new Error(listed.stderr);
  return new Map((JSON.parse(listed.stdout).items as PolicyReportObject[]).map((r) => [r.metadata.namespace, r]));
}

t.test('without the PolicyReport CRD, --write-reports stops naming it, exit 2', async (t) => {
  const { code, stderr } = audit(['--policy', CANDIDATE, '--write-reports', '-n', 'canary']);
  t.equal(code, 2);
  t.equal(stderr, 'error: writing PolicyReport canary/ecr-tenant-webhook failed: not found (HTTP 404); is the PolicyReport CRD (policyreports.wgpolicyk8s.io, v1alpha2) installed?\nerror: 1 of 1 PolicyReports could not be written\n');
});

t.test('--write-reports creates one PolicyReport per audited namespace: fail, warn and pass per workload, with the message, the tenant and the resource', async (t) => {
  const crd = await cp.kubectl(['apply', '-f', fixture('crds/wgpolicyk8s.io_policyreports.yaml')]);
  t.equal(crd.code, 0, crd.stderr);
  const established = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/policyreports.wgpolicyk8s.io']);
  t.equal(established.code, 0, established.stderr);
  const { code, stdout, stderr } = audit(['--policy', CANDIDATE, '--write-reports', '--output', 'json']);
  t.equal(code, 1, 'the exit code is the audit’s');
  t.same(stderr.trim().split('\n').sort(), ['policyreport canary/ecr-tenant-webhook created', 'policyreport lab/ecr-tenant-webhook created', 'policyreport shop/ecr-tenant-webhook created']);
  const report = JSON.parse(stdout) as Report & { tenants: { namespaces: { passed: { kind: string; name: string }[] }[] }[] };
  const reports = await policyReportsInCluster();
  t.same([...reports.keys()].sort(), ['canary', 'lab', 'shop'], 'the unlabelled namespace gets none');
  const RESULT: Record<string, string> = { deny: 'fail', 'would-deny': 'warn', unjudged: 'skip', change: 'pass' };
  for (const tenant of report.tenants) {
    for (const ns of tenant.namespaces) {
      const polr = reports.get(ns.name)!;
      t.same(polr.metadata.labels, { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' });
      const expected = [...ns.workloads.map((w) => `${w.kind}/${w.name} ${RESULT[w.verdict]}`), ...ns.passed.map((w) => `${w.kind}/${w.name} pass`)].sort();
      t.same(polr.results.map((r) => `${r.resources[0]!.kind}/${r.resources[0]!.name} ${r.result}`).sort(), expected, `${ns.name}: one result per workload audited`);
      t.equal(polr.results.length, ns.audited);
      for (const r of polr.results) {
        t.equal(r.rule, `tenant ${tenant.name}`);
        t.equal(r.resources[0]!.namespace, ns.name);
        t.same(r.properties.mode, ns.mode);
      }
      const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
      for (const r of polr.results) summary[r.result as keyof typeof summary]++;
      t.same(polr.summary, summary, `${ns.name}: the summary counts the results`);
    }
  }
  const shop = reports.get('shop')!;
  const debug = shop.results.find((r) => r.resources[0]!.name === 'debug')!;
  t.equal(debug.result, 'fail');
  t.match(debug.message, /container "app" image ".*paymentsevil\/shell:1" is not granted/);
  const web = reports.get('canary')!.results.find((r) => r.resources[0]!.name === 'web')!;
  t.match(web.message, /^dry-run: its pods get warnings now, and are refused once enforced: container "app"/);
  t.ok(shop.results.some((r) => r.result === 'pass' && r.message === 'admitted as it is'), 'workloads admitted as they are pass');
  t.ok(shop.results.some((r) => r.result === 'pass' && /^admitted; the webhook rewrites /.test(r.message)), 'a rewritten workload passes, saying what enforcement changes');
});

t.test('a second run updates each PolicyReport in place', async (t) => {
  const before = await policyReportsInCluster();
  const { code, stderr } = audit(['--policy', PERMISSIVE, '--write-reports']);
  t.equal(code, 1);
  t.same(stderr.trim().split('\n').sort(), ['policyreport canary/ecr-tenant-webhook updated', 'policyreport lab/ecr-tenant-webhook updated', 'policyreport shop/ecr-tenant-webhook updated']);
  const after = await policyReportsInCluster();
  for (const [namespace, polr] of after) {
    t.equal(polr.metadata.uid, before.get(namespace)!.metadata.uid, `${namespace}: the same object`);
    t.not(polr.metadata.resourceVersion, before.get(namespace)!.metadata.resourceVersion, `${namespace}: rewritten`);
  }
  t.equal(after.get('lab')!.results.find((r) => r.resources[0]!.name === 'etl')!.result, 'pass', 'the permissive policy admits python:3.13 (nonEcrImages: allow): warn became pass');
});

t.test('an auditor RBAC lets read workloads but not PolicyReports gets its report, then a one-line error naming the report, exit 2', async (t) => {
  const reader = await cp.serviceAccountKubeconfig('default', 'reporter');
  const role = await cp.kubectl(['create', 'clusterrole', 'workload-reader', '--verb=get,list', '--resource=namespaces,pods,deployments.apps,replicasets.apps,statefulsets.apps,daemonsets.apps,jobs.batch,cronjobs.batch']);
  t.equal(role.code, 0, role.stderr);
  await cp.kubectl(['create', 'clusterrolebinding', 'workload-reader', '--clusterrole=workload-reader', '--serviceaccount=default:reporter']);
  const { code, stdout, stderr } = runCli(['audit', '--policy', CANDIDATE, '--kubeconfig', reader, '--write-reports', '-n', 'shop']);
  t.equal(code, 2);
  t.match(stdout, /\n9 workloads audited in 1 namespace of 1 tenant: 4 deny/, 'the report is printed before the write');
  t.equal(stderr, 'error: writing PolicyReport shop/ecr-tenant-webhook failed: forbidden (HTTP 403): policyreports.wgpolicyk8s.io "ecr-tenant-webhook" is forbidden: User "system:serviceaccount:default:reporter" cannot get resource "policyreports" in API group "wgpolicyk8s.io" in the namespace "shop"\nerror: 1 of 1 PolicyReports could not be written\n');
});

t.test('a report that cannot be written does not keep the other namespaces’ from being written; exit 2 after all', async (t) => {
  const reader = await cp.serviceAccountKubeconfig('default', 'reporter');
  const role = await cp.kubectl(['-n', 'lab', 'create', 'role', 'reports', '--verb=get,create,update', '--resource=policyreports.wgpolicyk8s.io']);
  t.equal(role.code, 0, role.stderr);
  await cp.kubectl(['-n', 'lab', 'create', 'rolebinding', 'reports', '--role=reports', '--serviceaccount=default:reporter']);
  const { code, stderr } = runCli(['audit', '--policy', CANDIDATE, '--kubeconfig', reader, '--write-reports']);
  t.equal(code, 2);
  const lines = stderr.trim().split('\n');
  t.same(lines.filter((l) => l.startsWith('policyreport ')), ['policyreport lab/ecr-tenant-webhook updated']);
  t.equal(lines.filter((l) => /^error: writing PolicyReport (canary|shop)\/ecr-tenant-webhook failed: forbidden \(HTTP 403\)/.test(l)).length, 2);
  t.equal(lines.at(-1), 'error: 2 of 3 PolicyReports could not be written');
});

t.test('--output policyreport prints the PolicyReports as YAML the API server accepts', async (t) => {
  const { code, stdout } = audit(['--policy', CANDIDATE, '--output', 'policyreport', '-n', 'shop']);
  t.equal(code, 1);
  t.match(stdout, /^apiVersion: wgpolicyk8s\.io\/v1alpha2\nkind: PolicyReport\nmetadata:\n  name: ecr-tenant-webhook\n  namespace: shop\n/);
  const applied = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: stdout });
  t.equal(applied.code, 0, applied.stderr);
  t.match(applied.stdout, 'policyreport.wgpolicyk8s.io/ecr-tenant-webhook configured (server dry run)');
});

t.test('errors are one line and exit 2: a missing namespace, a kubeconfig that does not load, a resource RBAC forbids', async (t) => {
  const missing = audit(['--policy', CANDIDATE, '--namespace', 'nowhere']);
  t.equal(missing.code, 2);
  t.equal(missing.stderr, 'error: reading namespace nowhere: not found (HTTP 404): namespaces "nowhere" not found\n');

  const broken = runCli(['audit', '--policy', CANDIDATE, '--kubeconfig', join(dir, 'nope')]);
  t.equal(broken.code, 2);
  t.match(broken.stderr, /^error: kubeconfig .*nope cannot be loaded: ENOENT/);

  const reader = await cp.serviceAccountKubeconfig('default', 'auditor');
  const granted = await cp.kubectl(['create', 'clusterrole', 'partial-auditor', '--verb=get,list', '--resource=namespaces,pods,deployments.apps']);
  t.equal(granted.code, 0, granted.stderr);
  await cp.kubectl(['create', 'clusterrolebinding', 'partial-auditor', '--clusterrole=partial-auditor', '--serviceaccount=default:auditor']);
  const forbidden = runCli(['audit', '--policy', CANDIDATE, '--kubeconfig', reader]);
  t.equal(forbidden.code, 2);
  t.equal(
    forbidden.stderr,
    'error: listing cronjobs.batch in all namespaces: forbidden (HTTP 403): cronjobs.batch is forbidden: User "system:serviceaccount:default:auditor" cannot list resource "cronjobs" in API group "batch" at the cluster scope\n',
  );
  t.equal(forbidden.stdout, '', 'no partial report');
});

t.test('an API server that is gone is named with the address it was reached at, exit 2', async (t) => {
  // stop() removes the control plane's directory, kubeconfig and all.
  const kubeconfig = join(dir, 'admin.kubeconfig');
  writeFileSync(kubeconfig, readFileSync(cp.adminKubeconfig));
  await cp.stop();
  const { code, stderr } = runCli(['audit', '--policy', CANDIDATE, '--kubeconfig', kubeconfig]);
  t.equal(code, 2);
  t.match(stderr, new RegExp(`^error: listing namespaces: cannot reach the API server at ${cp.url.replace(/\./g, '\\.')}: connect ECONNREFUSED`));
  t.notMatch(stderr, /\n\s+at /);
});
