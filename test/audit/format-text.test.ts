import t from 'tap';
import { formatTable, formatText, notCheckedNote, summaryLine } from '../../src/audit/format-text.ts';
import type { AuditReport, AuditSummary, AuditedWorkload, EcrFindings } from '../../src/audit/report.ts';

/** `audit --output text`: one grep-able row per finding, then the summary. */
const SUMMARY: AuditSummary = { tenants: 1, namespaces: 1, workloads: 3, deny: 1, wouldDeny: 0, change: 1, ok: 1, podsUnderOwners: 2, finishedPods: 0, finishedJobs: 0 };
const NONE = { denied: [], reasons: [], unjudged: [], rewrites: [], missing: [], pins: [], pullSecretsNeeded: [] };
const NO_ECR: EcrFindings = { read: false, unjudged: 0, missing: 0, pins: 0, notChecked: { existence: 0, pinning: 0 } };

function reportOf(workloads: AuditedWorkload[], warnings: string[] = [], ecr: EcrFindings = NO_ECR): AuditReport {
  return { summary: SUMMARY, ecr, tenants: [{ name: 'payments', inPolicy: true, namespaces: [{ name: 'shop', mode: 'enforce', warnings, audited: 3, workloads, passed: [] }] }] };
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
  t.equal(formatText({ summary: { ...SUMMARY, tenants: 0, namespaces: 0, workloads: 0, deny: 0, change: 0, ok: 0, podsUnderOwners: 0 }, ecr: NO_ECR, tenants: [] }), '0 workloads audited in 0 namespaces of 0 tenants: 0 deny, 0 would deny (dry-run), 0 change, 0 ok; 0 pods counted under their owners\n');
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
    t.match(summaryLine({ ...SUMMARY, ...c.summary }, NO_ECR), c.line);
  });
}

t.test('the table pads every column but the last to its widest cell', async (t) => {
  t.same(formatTable([['a', 'bbb', 'c'], ['aaaa', 'b', 'cc']]), ['a     bbb  c', 'aaaa  b    cc']);
});

t.test('what ECR said is a row per finding: an unjudged tag grant, a rewritten image not in its target, a tag to pin', async (t) => {
  const workload: AuditedWorkload = {
    ...NONE,
    kind: 'Deployment',
    name: 'api',
    verdict: 'change',
    unjudged: [{ path: 'spec.template.spec.containers[1].image', image: 'x/tagged:1', to: 'x/tagged:1', reason: 'container "side" image "x/tagged:1" is granted only by repository tags' }],
    missing: [{ path: 'spec.template.spec.containers[0].image', image: 'a/api:1', to: 'b/api:1' }],
    rewrites: [{ path: 'spec.template.spec.containers[0].image', from: 'a/api:1', to: 'b/api:1' }],
    pins: [{ path: 'spec.template.spec.containers[2].image', image: 'b/web:2', digest: 'sha256:abc' }],
  };
  const lines = formatText(reportOf([workload], [], { read: true, unjudged: 1, missing: 1, pins: 1, notChecked: { existence: 0, pinning: 0 } })).split('\n');
  t.match(lines[1], /Deployment\/api +unjudged +cannot be judged without AWS \(pass --aws\): container "side" image "x\/tagged:1" is granted only by repository tags$/);
  t.match(lines[2], /Deployment\/api +missing +spec.template.spec.containers\[0\].image: b\/api:1 is not in its registry \(rewritten from a\/api:1\)$/);
  t.match(lines[3], /Deployment\/api +rewrite +/);
  t.match(lines[4], /Deployment\/api +pin +spec.template.spec.containers\[2\].image: b\/web:2 to sha256:abc$/);
  t.match(lines[5], /1 ok, 1 cannot be judged without AWS \(pass --aws\); 2 pods counted under their owners; 1 rewritten image not in its target; 1 tag to pin$/);
});

t.test('the summary counts rewritten images missing and tags to pin in the plural', async (t) => {
  t.match(summaryLine(SUMMARY, { ...NO_ECR, read: true, missing: 2, pins: 3 }), /; 2 rewritten images not in their targets; 3 tags to pin$/);
});

const undone: { name: string; notChecked: EcrFindings['notChecked']; note: string | undefined }[] = [
  { name: 'nothing left undone says nothing', notChecked: { existence: 0, pinning: 0 }, note: undefined },
  { name: 'one rewritten image not looked for is said in the singular', notChecked: { existence: 1, pinning: 0 }, note: 'note: ECR was not read (pass --aws): 1 rewritten image not looked for in its target registry\n' },
  {
    name: 'images not looked for and tags not pinned are said together',
    notChecked: { existence: 2, pinning: 3 },
    note: 'note: ECR was not read (pass --aws): 2 rewritten images not looked for in their target registries, 3 tags not pinned to their digests\n',
  },
  { name: 'one tag not pinned is said in the singular', notChecked: { existence: 0, pinning: 1 }, note: 'note: ECR was not read (pass --aws): 1 tag not pinned to its digest\n' },
];

for (const c of undone) {
  t.test(c.name, async (t) => {
    t.equal(notCheckedNote({ ...NO_ECR, notChecked: c.notChecked }), c.note);
  });
}
