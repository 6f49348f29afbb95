import t from 'tap';
import { MAX_MESSAGE, MAX_RESULT_BYTES, MAX_RESULTS, policyReports } from '../../src/audit/policy-report.ts';
import type { AuditedNamespace, AuditedWorkload, AuditReport } from '../../src/audit/report.ts';

/** The audit → PolicyReport mapping, verdict by verdict, on reports built by hand. */
const NOW = new Date('2026-12-04T10:00:00.500Z');
const NO_ECR = { read: false, unjudged: 0, missing: 0, pins: 0, notChecked: { existence: 0, pinning: 0 } };
const SUMMARY = { tenants: 1, namespaces: 1, workloads: 0, deny: 0, wouldDeny: 0, change: 0, ok: 0, podsUnderOwners: 0, finishedPods: 0, finishedJobs: 0 };
const EMPTY = { denied: [], reasons: [], unjudged: [], rewrites: [], missing: [], pins: [], pullSecretsNeeded: [] };

function reportOf(namespace: Partial<AuditedNamespace> & { workloads: AuditedWorkload[] }): AuditReport {
  const ns: AuditedNamespace = { name: 'shop', mode: 'enforce', warnings: [], audited: namespace.workloads.length + (namespace.passed?.length ?? 0), passed: [], ...namespace };
  return { summary: SUMMARY, ecr: NO_ECR, tenants: [{ name: 'payments', inPolicy: true, namespaces: [ns] }] };
}

const CASES: { name: string; workload: AuditedWorkload; mode?: 'enforce' | 'dry-run'; result: string; severity?: string; message: string }[] = [
  {
    name: 'a denial fails, high, with its reasons',
    workload: { ...EMPTY, kind: 'StatefulSet', name: 'db', verdict: 'deny', reasons: ['container "db" image "x" is not granted.', 'container "side" image "y" is not granted.'] },
    result: 'fail',
    severity: 'high',
    message: 'container "db" image "x" is not granted. container "side" image "y" is not granted.',
  },
  {
    name: 'a dry-run denial warns, medium, saying it is refused once enforced',
    workload: { ...EMPTY, kind: 'Deployment', name: 'web', verdict: 'would-deny', reasons: ['container "web" image "x" is not granted.'] },
    mode: 'dry-run',
    result: 'warn',
    severity: 'medium',
    message: 'dry-run: its pods get warnings now, and are refused once enforced: container "web" image "x" is not granted.',
  },
  {
    name: 'an image granted only by unread repository tags is skipped, saying to pass --aws',
    workload: { ...EMPTY, kind: 'Job', name: 'etl', verdict: 'unjudged', unjudged: [{ path: 'p', image: 'i', to: 'i', reason: 'container "etl" image "i" is granted only by repository tags (Team=Data).' }] },
    result: 'skip',
    message: 'cannot be judged without AWS (audit --aws): container "etl" image "i" is granted only by repository tags (Team=Data).',
  },
  {
    name: 'a workload enforcement changes passes, saying what it rewrites, pins, adds and cannot find',
    workload: {
      ...EMPTY,
      kind: 'CronJob',
      name: 'report',
      verdict: 'change',
      rewrites: [{ path: 'p', from: 'a/x:1', to: 'b/x:1' }],
      pins: [{ path: 'p', image: 'b/x:1', digest: 'sha256:abc' }],
      pullSecretsNeeded: ['ecr-pull-1', 'ecr-pull-2'],
      missing: [{ path: 'p', image: 'a/y:2', to: 'b/y:2' }],
    },
    result: 'pass',
    message: 'admitted; the webhook rewrites a/x:1 to b/x:1; pins b/x:1 to sha256:abc; adds imagePullSecrets ecr-pull-1, ecr-pull-2; b/y:2 is not in its registry yet',
  },
  {
    name: 'a workload that only gets pinned says so, and nothing of pull secrets',
    workload: { ...EMPTY, kind: 'Deployment', name: 'pinned', verdict: 'change', pins: [{ path: 'p', image: 'b/x:1', digest: 'sha256:abc' }] },
    result: 'pass',
    message: 'admitted; the webhook pins b/x:1 to sha256:abc',
  },
  {
    name: 'in dry-run, what enforcement would change is said as such',
    workload: { ...EMPTY, kind: 'Pod', name: 'p', verdict: 'change', pullSecretsNeeded: ['ecr-pull-1'] },
    mode: 'dry-run',
    result: 'pass',
    message: 'admitted; once enforced, the webhook adds imagePullSecrets ecr-pull-1',
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const [polr] = policyReports(reportOf({ mode: c.mode ?? 'enforce', workloads: [c.workload] }), NOW);
    const [result] = polr!.results;
    t.match(result, {
      source: 'ecr-tenant-webhook',
      policy: 'ecr-tenant-webhook',
      rule: 'tenant payments',
      category: 'ECR image grants',
      result: c.result,
      scored: true,
      message: c.message,
      timestamp: { seconds: 1796378400, nanos: 0 },
      resources: [{ kind: c.workload.kind, name: c.workload.name, namespace: 'shop' }],
      properties: { tenant: 'payments', mode: c.mode ?? 'enforce', verdict: c.workload.verdict },
    });
    t.equal(result!.severity, c.severity);
  });
}

t.test('one report per namespace, named to be updated in place, findings first, then the workloads that pass as they are', async (t) => {
  const [polr] = policyReports(reportOf({ workloads: [CASES[0]!.workload], passed: [{ kind: 'Deployment', name: 'api' }] }), NOW);
  t.same(polr!.metadata, { name: 'ecr-tenant-webhook', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook' } });
  t.same(polr!.results.map((r) => [r.resources[0]!.apiVersion, r.resources[0]!.name, r.result, r.message]), [
    ['apps/v1', 'db', 'fail', CASES[0]!.message],
    ['apps/v1', 'api', 'pass', 'admitted as it is'],
  ]);
  t.same(polr!.summary, { pass: 1, fail: 1, warn: 0, error: 0, skip: 0 });
});

t.test('a report is bounded: messages are clipped, and past the result bound passing results are dropped while the summary counts all', async (t) => {
  const long = { ...EMPTY, kind: 'Pod', name: 'long', verdict: 'deny' as const, reasons: ['x'.repeat(5000)] };
  const passed = Array.from({ length: MAX_RESULTS + 10 }, (_, i) => ({ kind: 'Pod', name: `p${i}` }));
  const [polr] = policyReports(reportOf({ workloads: [long], passed }), NOW);
  t.ok(polr!.results[0]!.message.length <= MAX_MESSAGE + 1, 'clipped');
  t.equal(polr!.results.length, MAX_RESULTS);
  t.equal(polr!.results[0]!.result, 'fail', 'the finding is kept');
  t.same(polr!.summary, { pass: MAX_RESULTS + 10, fail: 1, warn: 0, error: 0, skip: 0 });
});

t.test('a report stays under the bytes etcd stores, whatever names and images a tenant chooses', async (t) => {
  const name = (i: number) => `${'n'.repeat(240)}-${i}`;
  const reason = `container "app" image "${'é'.repeat(900)}" is not granted.`;
  const denied = Array.from({ length: 900 }, (_, i) => ({ ...EMPTY, kind: 'Pod', name: name(i), verdict: 'deny' as const, reasons: [reason] }));
  const [polr] = policyReports(reportOf({ workloads: denied, passed: [{ kind: 'Pod', name: name(9999) }] }), NOW);
  const bytes = Buffer.byteLength(JSON.stringify(polr!.results));
  t.ok(bytes <= MAX_RESULT_BYTES, `${bytes} bytes of results`);
  t.ok(polr!.results.length < 900, `${polr!.results.length} results kept`);
  t.ok(polr!.results.every((r) => r.result === 'fail'), 'findings first');
  t.same(polr!.summary, { pass: 1, fail: 900, warn: 0, error: 0, skip: 0 }, 'the summary counts all');
});

t.test('an audit of no namespace gives no report', async (t) => {
  t.same(policyReports({ summary: SUMMARY, ecr: NO_ECR, tenants: [] }, NOW), []);
});
