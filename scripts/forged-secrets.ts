// `npm run forged-secrets`: what Secrets that anybody may create cost the webhook's memory.
//
// Anybody who may create a Secret can give it the webhook's managed-by label, and so put it into the webhook's
// Secret watch. This starts the test stack (kube-apiserver + etcd, moto, the real `serve` with the Deployment's
// NODE_OPTIONS), admits one pod so the pull-secret machinery is warm, takes serve's RSS, then creates N forged
// Secrets of S KiB each, labelled managed-by the webhook and naming another tenant (half in an unlabelled namespace,
// half in a tenant's namespace), waits until serve's reconciler has seen every one of them (its
// pull_secrets_unverified gauge), and takes serve's RSS again. It prints both, the growth, and whether any forged
// Secret received a token (none may).
//
//   npm run forged-secrets                                  # 300 Secrets of 1 MiB (less 1 KiB, under the API's limit)
//   npm run forged-secrets -- --count 50 --kib 256 --json   # quicker; the last line is one JSON object
//
// Exits 0 when the figures were taken and no forged Secret got a token, 1 otherwise, 2 on bad arguments.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { TENANT_LABEL } from '../src/labels.ts';
import { waitUntil } from '../test/e2e/support/serve-process.ts';
import { startWebhookStack } from '../test/e2e/support/webhook-stack.ts';
import { rssMbOf } from './bench/stats.ts';
import { deploymentNodeOptions, optionsOrExit, parseFlags, UsageError } from './script-options.ts';

const USAGE = 'usage: npm run forged-secrets -- [--count N (300)] [--kib N (1023)] [--json]';

function wholeNumber(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max) throw new UsageError(`--${flag} must be a whole number from 1 to ${max}, not ${JSON.stringify(text)}`);
  return value;
}

const options = optionsOrExit('forged-secrets', USAGE, (argv) => {
  const flags = parseFlags(argv, { count: { type: 'string' }, kib: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (flags.help === true) return 'help';
  return { count: wholeNumber('count', flags.count, 300, 5000), kib: wholeNumber('kib', flags.kib, 1023, 1023), json: flags.json === true };
});

const REGISTRY = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/payments
      grants: [{ registry: ${REGISTRY}, repositories: ["payments/*"] }]
    victim:
      roleArn: arn:aws:iam::111111111111:role/victim
      grants: [{ registry: ${REGISTRY}, repositories: ["victim/*"] }]
`;

const note = (line: string) => process.stderr.write(`${line}\n`);
process.env.NODE_OPTIONS = deploymentNodeOptions();
note(`serve runs with NODE_OPTIONS=${process.env.NODE_OPTIONS}, as in manifests/base/deployment.yaml`);
const stack = await startWebhookStack({ policy: POLICY, log: () => undefined });
let status = 1;
try {
  await stack.namespace('shop', { [TENANT_LABEL]: 'payments' });
  await stack.namespace('nobody');
  await stack.kubectlOk(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'warm', namespace: 'shop' }, spec: { containers: [{ name: 'app', image: `${REGISTRY}/payments/api:1` }] } }));
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${stack.serve.metricsPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  const rss = async () => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(rssMbOf(stack.serve.child.pid) ?? Number.NaN);
      await sleep(1000);
    }
    return samples.sort((a, b) => a - b)[2] as number;
  };
  await sleep(5000);
  const before = await rss();
  note(`serve RSS before: ${before.toFixed(1)} MiB; creating ${options.count} forged Secrets of ${options.kib} KiB`);

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(stack.cp.adminKubeconfig);
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const payload = Buffer.alloc(options.kib * 1024, 'x').toString('base64');
  let next = 0;
  const create = async () => {
    while (next < options.count) {
      const i = next++;
      const namespace = i % 2 === 0 ? 'nobody' : 'shop';
      await api.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: `ecr-pull-${String(100000000000 + i).padStart(12, '0')}-eu-west-1`, namespace, labels: { 'app.kubernetes.io/managed-by': 'ecr-tenant-webhook', [TENANT_LABEL]: 'victim' }, annotations: { 'ecr-tenant-webhook.io/expires-at': '2020-01-01T00:00:00.000Z' } },
          type: 'Opaque',
          data: { blob: payload },
        },
      });
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: 4 }, create));
  note(`created in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for serve's reconciler to have seen them all`);
  await waitUntil(async () => ((await metric('ecr_tenant_webhook_pull_secrets_unverified')) ?? 0) >= options.count, 'every forged Secret in the watch', 120_000);
  await sleep(5000);
  const after = await rss();
  const victimMints = stack.moto.bodies('AssumeRole').filter((body) => new URLSearchParams(body).get('RoleArn')?.endsWith(':role/victim')).length;
  const figures = {
    count: options.count,
    kib: options.kib,
    rssBeforeMiB: Math.round(before * 10) / 10,
    rssAfterMiB: Math.round(after * 10) / 10,
    rssGrowthMiB: Math.round((after - before) * 10) / 10,
    unverifiedSeen: await metric('ecr_tenant_webhook_pull_secrets_unverified'),
    victimAssumeRoles: victimMints,
  };
  note(`serve RSS after: ${after.toFixed(1)} MiB (growth ${figures.rssGrowthMiB} MiB, target < 10); forged Secrets seen: ${figures.unverifiedSeen}; AssumeRole into the victim's role: ${victimMints}`);
  if (options.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  status = victimMints === 0 ? 0 : 1;
} finally {
  await stack.stop();
}
process.exit(status);
