// `npm run demo`: a local control plane with the webhook installed from manifests/, two tenants onboarded by
// labelling their namespaces, and a rewrite, a denial and a dry-run warning coming back through the API server.
// Exits 0 when all three behave as described, 1 otherwise; everything it started is stopped either way.
import { readFileSync } from 'node:fs';
import { startWebhookStack, type WebhookStack } from '../test/e2e/support/webhook-stack.ts';

const POLICY_FILE = 'examples/demo-policy.yaml';
const OLD_IMAGE = '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/checkout:2.4.1';
const NEW_IMAGE = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout:2.4.1';
const UNGRANTED = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/shell:latest';
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

  say('what the webhook logged, one line per decision');
  for (const line of stack.serve.lines.filter((l) => l.msg === 'admission decision')) {
    note(`${line.namespace}/${line.pod}: tenant ${line.tenant}, ${line.mode}, ${line.decision}`);
  }

  const outcomes = [['rewrite', rewritten], ['denial', wasDenied], ['dry-run warning', wasWarned]] as const;
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
