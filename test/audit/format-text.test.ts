import t from 'tap';
import { formatTable, formatText, summaryLine } from '../../src/audit/format-text.ts';
import type { AuditReport, AuditSummary, AuditedWorkload } from '../../src/audit/report.ts';

/** `audit --output text`: one grep-able row per finding, then the summary. */
const SUMMARY: AuditSummary = { tenants: 1, namespaces: 1, workloads: 3, deny: 1, wouldDeny: 0, change: 1, ok: 1, podsUnderOwners: 2, finishedPods: 0, finishedJobs: 0 };
const NONE = { denied: [], reasons: [], rewrites: [], pullSecretsNeeded: [] };

function reportOf(workloads: AuditedWorkload[], warnings: string[] = []): AuditReport {
  return { summary: SUMMARY, tenants: [{ name: 'payments', inPolicy: true, namespaces: [{ name: 'shop', mode: 'enforce', warnings, audited: 3, workloads }] }] };
}

t.test('each finding is a row naming tenant, namespace, mode and workload, under a header, then the summary line', async (t) => {
  const text = formatText(
    reportOf(
      [
        { ...NONE, kind: 'Deployment', name: 'bad', verdict: 'deny', denied: [{ path: 'p', image: 'i', to: 'i' }], reasons: ['container "app" image "i" is not granted'] },
        { ...NONE, kind: 'Deployment', name: 'api', verdict: 'change', rewrites: [{ path: 'spec.template.spec.containers[0].image', from: 'a:1', to: 'b:1' }], pullSecretsNeeded: ['ecr-pull-1-x'] },
      ],
      ['namespace label x is odd'],
    ),
  );
  t.equal(
    text,
    [
      'TENANT    NAMESPACE  MODE     WORKLOAD        FINDING      DETAIL',
      'payments  shop       enforce  -               warning      namespace label x is odd',
      'payments  shop       enforce  Deployment/bad  deny         container "app" image "i" is not granted',
      'payments  shop       enforce  Deployment/api  rewrite      spec.template.spec.containers[0].image: a:1 -> b:1',
      'payments  shop       enforce  Deployment/api  pull-secret  ecr-pull-1-x',
      '3 workloads audited in 1 namespace of 1 tenant: 1 deny, 0 would deny (dry-run), 1 change, 1 ok; 2 pods counted under their owners',
      '',
    ].join('\n'),
  );
});

const notes: { name: string; workload: AuditedWorkload; note: string }[] = [
  {
    name: 'an old revision names its owner and how many pods still run it',
    workload: { ...NONE, kind: 'ReplicaSet', name: 'api-1', verdict: 'would-deny', reasons: ['r'], owner: { kind: 'Deployment', name: 'api', relation: 'old-revision' }, runningPods: 3 },
    note: 'old revision of Deployment/api, still running 3 pods',
  },
  {
    name: 'an old revision with one pod says so in the singular',
    workload: { ...NONE, kind: 'Job', name: 'etl-1', verdict: 'deny', reasons: ['r'], owner: { kind: 'CronJob', name: 'etl', relation: 'old-revision' }, runningPods: 1 },
    note: 'old revision of CronJob/etl, still running 1 pod',
  },
  {
    name: "a pod that differs from its owner names the owner whose template it does not match",
    workload: { ...NONE, kind: 'Pod', name: 'db-0', verdict: 'deny', reasons: ['r'], owner: { kind: 'StatefulSet', name: 'db', relation: 'differs' } },
    note: "its images differ from its owner StatefulSet/db's template",
  },
];

for (const c of notes) {
  t.test(c.name, async (t) => {
    const lines = formatText(reportOf([c.workload])).split('\n');
    t.match(lines[1], new RegExp(`^payments +shop +enforce +${c.workload.kind}/${c.workload.name} +note +${c.note.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
    t.match(lines[2], new RegExp(`${c.workload.kind}/${c.workload.name} +${c.workload.verdict} +r$`));
  });
}

t.test('without findings only the summary line is printed', async (t) => {
  t.equal(formatText({ summary: { ...SUMMARY, tenants: 0, namespaces: 0, workloads: 0, deny: 0, change: 0, ok: 0, podsUnderOwners: 0 }, tenants: [] }), '0 workloads audited in 0 namespaces of 0 tenants: 0 deny, 0 would deny (dry-run), 0 change, 0 ok; 0 pods counted under their owners\n');
});

const summaries: { name: string; summary: Partial<AuditSummary>; line: RegExp }[] = [
  { name: 'one workload, one pod under its owner and one finished pod are said in the singular', summary: { workloads: 1, podsUnderOwners: 1, finishedPods: 1 }, line: /^1 workload audited .*; 1 pod counted under its owner; 1 finished pod skipped$/ },
  { name: 'finished pods are mentioned only when there are some', summary: { finishedPods: 0 }, line: /their owners$/ },
  { name: 'several finished pods are counted in the plural', summary: { finishedPods: 4 }, line: /; 4 finished pods skipped$/ },
  { name: 'finished jobs are mentioned beside finished pods', summary: { finishedPods: 2, finishedJobs: 1 }, line: /; 2 finished pods and 1 finished job skipped$/ },
  { name: 'finished jobs alone are mentioned too', summary: { finishedJobs: 3 }, line: /; 3 finished jobs skipped$/ },
  { name: 'would-deny is counted apart from deny', summary: { deny: 2, wouldDeny: 5 }, line: /: 2 deny, 5 would deny \(dry-run\), / },
];

for (const c of summaries) {
  t.test(c.name, async (t) => {
    t.match(summaryLine({ ...SUMMARY, ...c.summary }), c.line);
  });
}

t.test('the table pads every column but the last to its widest cell', async (t) => {
  t.same(formatTable([['a', 'bbb', 'c'], ['aaaa', 'b', 'cc']]), ['a     bbb  c', 'aaaa  b    cc']);
});
