import t from 'tap';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { httpsGet, startServe, waitUntil } from './support/serve-process.ts';
import { startWebhookStack } from './support/webhook-stack.ts';

/**
 * A leader whose connection to the API server goes silent (accepted, never answered: a partition, a wedged
 * load balancer) hands over: it stops calling itself leader within its Lease instead of waiting on the HTTP
 * client for seconds or minutes, and the replica that still reaches the API server takes the Lease and renews.
 * Two real `serve` replicas; the leader reaches the API server through a proxy this test can silence.
 */
t.setTimeout(240_000);

const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const SECRET = 'ecr-pull-111111111111-eu-west-1';
const EXPIRES = 'ecr-tenant-webhook.io/expires-at';
const LEASE = ['-n', 'ecr-tenant-webhook', 'get', 'lease', 'ecr-tenant-webhook-refresher', '-o', 'jsonpath={.spec.holderIdentity}'];
const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${TARGET}
          repositories: ["payments/*"]
`;
/** serve's --lease-duration and --refresh-interval in webhook-stack, in ms. */
const LEASE_MS = 3000;
const ROUND_MS = 1000;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());
await stack.namespace('shop', { 'ecr-tenant-webhook.io/tenant': 'payments' });

const holder = async () => (await stack.kubectl(LEASE)).stdout;
const expiry = async () => {
  const read = await stack.kubectl(['-n', 'shop', 'get', 'secret', SECRET, '-o', 'json']);
  return read.code === 0 ? Date.parse(JSON.parse(read.stdout).metadata.annotations[EXPIRES]) : undefined;
};
const pod = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'first', namespace: 'shop' }, spec: { containers: [{ name: 'app', image: `${TARGET}/payments/api:1` }] } });
await stack.kubectlOk(['create', '-f', '-'], pod);
await waitUntil(async () => (await expiry()) !== undefined, 'the pull Secret of the admitted pod');

// The stack's own replica reaches the API server directly; it stops (releasing the Lease) for the two below.
await stack.serve.stop('SIGTERM');

const { hostname, port } = new URL(stack.cp.url);
const network = await startTcpProxy({ host: hostname, port: Number(port) });
t.teardown(() => network.close());
const proxiedArgs = stack.serveArgsVia(network.address);
const proxied = await startServe([...proxiedArgs, '--identity', 'replica-proxied'], { env: stack.serveEnv });
// Cut off from the API server it may not shut down promptly; how it ends is not under test.
t.teardown(() => proxied.stop('SIGKILL'));
await waitUntil(async () => (await holder()) === 'replica-proxied', 'the replica behind the proxy to lead');
const direct = await startServe([...stack.serveArgs, '--identity', 'replica-direct'], { env: stack.serveEnv });
t.teardown(() => direct.stop());
await waitUntil(async () => (await httpsGet(direct.port, '/readyz', stack.webhookCa)).status === 200, 'the direct replica to be ready');
await stack.retarget(direct.port);

/** The last of the elector's leadership lines a replica logged, if any. */
const leadership = (lines: readonly { msg?: string }[]) => lines.filter((l) => l.msg === 'became the refresher leader' || l.msg === 'no longer the refresher leader').at(-1)?.msg;

t.test('while the network works the replica behind the proxy keeps the Lease', async (t) => {
  await new Promise((resolve) => setTimeout(resolve, 2 * ROUND_MS));
  t.equal(await holder(), 'replica-proxied');
  t.equal(leadership(proxied.lines), 'became the refresher leader');
  t.equal(leadership(direct.lines), undefined, 'the direct replica never led');
});

t.test('when the leader\'s API connection goes silent it steps down and the other replica takes over and renews', async (t) => {
  network.blackHole();
  const cut = Date.now();
  let steppedDown: number | undefined;
  let tookOver: number | undefined;
  await waitUntil(async () => {
    steppedDown ??= leadership(proxied.lines) === 'no longer the refresher leader' ? Date.now() - cut : undefined;
    tookOver ??= (await holder()) === 'replica-direct' ? Date.now() - cut : undefined;
    return steppedDown !== undefined && tookOver !== undefined;
  }, 'the handover', 20_000);
  t.comment(`after the cut: the silenced leader said it stepped down at ${steppedDown} ms, the other replica held the Lease at ${tookOver} ms (lease ${LEASE_MS} ms, rounds every ${ROUND_MS} ms)`);
  t.ok((tookOver as number) < 20_000, 'the other replica holds the Lease within 20 s');
  // It renewed at most a round before the cut and stops claiming a round before its Lease ends; the round that
  // notices ends at its call deadline. Waiting on the HTTP client instead takes 10 s (its connect timeout).
  t.ok((steppedDown as number) < LEASE_MS + 4 * ROUND_MS, `the silenced leader stepped down within its Lease and a few rounds (${steppedDown} ms)`);
  t.ok(proxied.lines.some((l) => l.msg === 'refresher lease round failed' && /took longer than \d+ ms/.test(String(l.err))), 'its rounds failed at their deadline, and went on');
  t.equal(leadership(direct.lines), 'became the refresher leader');

  // The expiry set, not one read back: the new leader may rewrite the Secret before a read gets there.
  const aged = Date.now() + 60_000;
  await stack.kubectlOk(['-n', 'shop', 'annotate', 'secret', SECRET, '--overwrite', `${EXPIRES}=${new Date(aged).toISOString()}`]);
  await waitUntil(async () => ((await expiry()) ?? 0) > aged, 'the renewal by the new leader', 30_000);
  t.ok(((await expiry()) as number) > Date.now() + 5 * 60_000, 'valid for minutes again');
  t.equal(leadership(proxied.lines), 'no longer the refresher leader', 'the silenced replica still does not claim to lead');
  t.equal(await holder(), 'replica-direct');
});
