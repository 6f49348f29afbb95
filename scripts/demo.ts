// `npm run demo`: a local control plane with the webhook installed from manifests/, two tenants onboarded by
// labelling their namespaces, and a rewrite, a denial and a dry-run warning coming back through the API server;
// then the rollout of the dry-run tenant: its WouldDeny Event, `audit` of the live cluster, enforcing one namespace
// by its mode label and rolling back.
// Exits 0 when every step behaves as described, 1 otherwise; everything it started is stopped either way.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startWebhookStack, type WebhookStack } from '../test/e2e/support/webhook-stack.ts';

const POLICY_FILE = 'examples/demo-policy.yaml';
const OLD_IMAGE = '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/checkout:2.4.1';
const NEW_IMAGE = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout:2.4.1';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/shell:latest';
const ANALYTICS_IMAGE = '333333333333.dkr.ecr.eu-central-1.amazonaws.com/analytics/dashboards:4.2';
const BIN = new URL('../bin/ecr-tenant-webhook.js', import.meta.url).pathname;
const started = Date.now();

const say = (text: string) => process.stdout.write(`\n== ${text}\n`);
const note = (text: string) => process.stdout.write(`   ${text}\n`);
const indent = (text: string) => text.trimEnd().split('\n').map((line) => `   ${line}`).join('\n');

/** Runs kubectl as the admin and shows the command and everything it printed, as a terminal would. */
async function shell(stack: WebhookStack, args: string[]) {
  process.stdout.write(`\n   $ kubectl ${args.map((a) => (/[\s{}'"]/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  const result = await stack.kubectl(args);
  const output = `${result.stderr}${result.stdout}`;
  if (output.trim() !== '') process.stdout.write(`${indent(output)}\n`);
  return { ...result, output };
}

/** Runs the ecr-tenant-webhook command line with the admin's kubeconfig and shows it as a terminal would. */
async function cli(args: string[], kubeconfig: string) {
  process.stdout.write(`\n   $ ecr-tenant-webhook ${args.join(' ')}\n`);
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      if (code === -1) reject(error);
      else resolve({ code, stdout, stderr });
    });
  });
  process.stdout.write(`${indent(`${result.stderr}${result.stdout}`)}\n   (exit ${result.code})\n`);
  return result;
}

/** Repeats a step until its result satisfies `done` (10 s at most), showing only the last attempt's output. */
async function waitFor<T>(step: () => Promise<T>, done: (result: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const result = await step();
    if (done(result) || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function run(stack: WebhookStack): Promise<boolean> {
  say('onboard two tenants by labelling their namespaces (payments enforced, analytics in dry-run)');
  for (const [namespace, tenant] of [['shop', 'payments'], ['lab', 'analytics']] as const) {
    await shell(stack, ['create', 'namespace', namespace]);
    await shell(stack, ['label', 'namespace', namespace, `ecr-tenant-webhook.io/tenant=${tenant}`]);
  }

  say('rewrite: a pod in shop names the old build registry; the API server stores the tenant registry, and the pull secret the webhook wrote with the tenant role (STS and ECR emulated by moto)');
  await shell(stack, ['-n', 'shop', 'run', 'checkout', `--image=${OLD_IMAGE}`]);
  const stored = await shell(stack, ['-n', 'shop', 'get', 'pod', 'checkout', '-o', 'jsonpath={.spec.containers[0].image}{"\\n"}{.spec.imagePullSecrets[*].name}{"\\n"}']);
  const secret = await shell(stack, ['-n', 'shop', 'get', 'secret', 'ecr-pull-111111111111-eu-west-1', '-o', 'jsonpath={.type}{"  expires "}{.metadata.annotations.ecr-tenant-webhook\\.io/expires-at}{"\\n"}']);
  note("(moto's ECR token claims to have expired in 2015; a webhook that cannot believe an expiry trusts the token 15 minutes)");
  const rewritten = stored.stdout.includes(NEW_IMAGE) && stored.stdout.includes('ecr-pull-111111111111-eu-west-1') && secret.stdout.startsWith('kubernetes.io/dockerconfigjson');

  say('denial: a repository outside the grant (paymentsevil/ is not payments/*) is refused with the reason');
  const denied = await shell(stack, ['-n', 'shop', 'run', 'shell', `--image=${UNGRANTED}`]);
  const wasDenied = denied.code !== 0 && /denied the request: container "shell" image .* is not granted/.test(denied.output);

  say('dry-run: analytics may only use its own ECR registry, but it is in dry-run: the pod is admitted with a warning');
  const warned = await shell(stack, ['-n', 'lab', 'run', 'report', '--image=docker.io/library/python:3.13']);
  const wasWarned = warned.code === 0 && /^Warning: dry-run: would deny/m.test(warned.output);

  say('rollout: before enforcing analytics, see what enforcement would break, in the live cluster and as it happens');
  await shell(stack, ['-n', 'lab', 'create', 'deployment', 'etl', '--image=docker.io/library/python:3.13']);
  await shell(stack, ['-n', 'lab', 'create', 'deployment', 'dashboards', `--image=${ANALYTICS_IMAGE}`]);
  await shell(stack, ['-n', 'shop', 'create', 'deployment', 'checkout', `--image=${OLD_IMAGE}`]);
  await shell(stack, ['create', 'namespace', 'sandbox']);
  await shell(stack, ['-n', 'sandbox', 'run', 'scratch', '--image=docker.io/library/busybox:1.37']);
  note('(the report pod above, admitted in dry-run, also left a WouldDeny Event where people look; a pod made by a');
  note(' ReplicaSet would have it on the ReplicaSet)');
  const event = await waitFor(() => shell(stack, ['-n', 'lab', 'get', 'events', '--field-selector', 'reason=WouldDeny', '-o', 'custom-columns=OBJECT:.involvedObject.kind,NAME:.involvedObject.name,REASON:.reason,MESSAGE:.message']), (r) => r.stdout.includes('WouldDeny'));
  const audit = await cli(['audit', '--policy', POLICY_FILE], stack.cp.adminKubeconfig);
  const audited = audit.code === 1 && /analytics\s+lab\s+dry-run\s+Deployment\/etl\s+would-deny/.test(audit.stdout) && /payments\s+shop\s+enforce\s+Deployment\/checkout\s+rewrite/.test(audit.stdout) && !audit.stdout.includes('sandbox');

  say('enforce analytics in one namespace (the mode label), see a denial, and roll back the same way');
  await shell(stack, ['label', 'namespace', 'lab', 'ecr-tenant-webhook.io/mode=enforce']);
  const enforced = await shell(stack, ['-n', 'lab', 'run', 'report-2', '--image=docker.io/library/python:3.13']);
  await shell(stack, ['label', 'namespace', 'lab', 'ecr-tenant-webhook.io/mode-']);
  const rolledBack = await shell(stack, ['-n', 'lab', 'run', 'report-3', '--image=docker.io/library/python:3.13']);
  const flipped = enforced.code !== 0 && rolledBack.code === 0;

  say('what the webhook logged, one line per decision');
  for (const line of stack.serve.lines.filter((l) => l.msg === 'admission decision')) {
    note(`${line.namespace}/${line.pod}: tenant ${line.tenant}, ${line.mode}, ${line.decision}`);
  }

  const outcomes = [
    ['rewrite', rewritten],
    ['denial', wasDenied],
    ['dry-run warning', wasWarned],
    ['WouldDeny Event', event.stdout.includes('Namespace')],
    ['audit', audited],
    ['enforce and roll back', flipped],
  ] as const;
  say(`result: ${outcomes.map(([name, ok]) => `${name} ${ok ? 'as expected' : 'NOT as expected'}`).join(', ')}`);
  return outcomes.every(([, ok]) => ok);
}

say('start a local kube-apiserver and etcd (built from Go modules on first use), then the webhook');
note('the first run on a machine builds the binaries, which takes several minutes; later runs start in seconds');
const stack = await startWebhookStack({ policy: readFileSync(POLICY_FILE, 'utf8'), log: note });
note(`control plane ${stack.cp.url}; webhook serving ${POLICY_FILE} on https://127.0.0.1:${stack.serve.port}`);
let ok = false;
try {
  ok = await run(stack);
} finally {
  await stack.stop();
  say(`stopped everything in the end; ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
}
process.exitCode = ok ? 0 : 1;
