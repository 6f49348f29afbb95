import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { registryOwner } from '../moto/ecr-images.ts';
import { awsEnvironment, startMoto } from '../moto/moto-server.ts';
import { BIN } from './run-cli.ts';

/**
 * `check` offline and with `--aws`, as a real process reading moto's ECR with the tenant's role through the real
 * SDK clients: images really pushed, repositories really tagged. Offline, a grant by repository tags is neither
 * granted nor denied (exit 3) and what ECR would have been asked is said; with --aws it is judged as serve would.
 */
t.setTimeout(120_000);

const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const PAYMENTS = 'ecr-tenant-webhook.io/tenant=payments';

const moto = await startMoto();
const dir = mkdtempSync(join(tmpdir(), 'check-aws-'));
t.teardown(async () => {
  await moto.stop();
  rmSync(dir, { recursive: true, force: true });
});

const POLICY = join(dir, 'policy.yaml');
writeFileSync(
  POLICY,
  `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      missingImage: deny
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/payments
      grants:
        - { registry: ${TARGET}, repositories: ["payments/*"] }
        - { registry: ${TARGET}, repositoryTags: { Team: Payments } }
      rewrites: [{ from: ${SOURCE}/central, to: ${TARGET}/payments }]
    admitter:
      roleArn: arn:aws:iam::111111111111:role/admitter
      grants: [{ registry: ${TARGET}, repositories: ["payments/*"] }]
      rewrites: [{ from: ${SOURCE}/central, to: ${TARGET}/payments }]
`,
);

const owner = await registryOwner(moto.endpoint, '111111111111', 'eu-west-1');
t.teardown(() => owner.destroy());
await owner.repository('payments/api');
await owner.repository('team/pay', { Team: 'Payments' });
await owner.repository('team/ops', { Team: 'Ops' });
const API_DIGEST = await owner.push('payments/api', '1', 'api-1');
const PAY_DIGEST = await owner.push('team/pay', '2', 'pay-2');
await owner.push('team/ops', '1', 'ops-1');

const pod = (name: string, image: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop' }, spec: { containers: [{ name: 'app', image }] } });
const LIST = JSON.stringify({
  kind: 'List',
  items: [pod('present', `${SOURCE}/central/api:1`), pod('missing', `${SOURCE}/central/api:2`), pod('tagged', `${TARGET}/team/pay:2`), pod('untagged', `${TARGET}/team/ops:1`)],
});

async function check(args: readonly string[], input: string, labels = PAYMENTS) {
  const env = { ...process.env, ...awsEnvironment(moto.endpoint) };
  const child = promisify(execFile)(process.execPath, [BIN, 'check', '--policy', POLICY, '--namespace-labels', labels, ...args, '-'], { encoding: 'utf8', timeout: 30_000, env });
  child.child.stdin!.end(input);
  const result = await child.catch((error: { code: number; stdout: string; stderr: string }) => error);
  return { code: 'code' in result ? result.code : 0, stdout: result.stdout, stderr: result.stderr };
}

t.test('offline, a tag-based grant cannot be judged (exit 3) and the reads left undone are named', async (t) => {
  moto.resetCalls();
  const only = JSON.stringify({ kind: 'List', items: [pod('present', `${SOURCE}/central/api:1`), pod('tagged', `${TARGET}/team/pay:2`)] });
  const { code, stdout, stderr } = await check([], only);
  t.equal(code, 3, stderr);
  t.match(stdout, /^ALLOW +Pod shop\/present {2}\[tenant payments, enforce\]\n/);
  t.match(stdout, 'not done without --aws: rewritten images looked for in their target registry (missingImage); tags pinned to digests (pinDigests)');
  t.match(stdout, /UNJUDGED +Pod shop\/tagged {2}\[tenant payments, enforce\]\n {2}unjudged +spec\.containers\[0\]\.image: /);
  t.match(stdout, 'cannot be judged without AWS (pass --aws): container "app" image');
  t.match(stdout, /2 checked: 1 allowed, 0 denied, 1 cannot be judged without AWS \(pass --aws\)\n$/);
  t.same(moto.calls(), {}, 'offline reads nothing');
});

t.test('--aws judges as admission would: pinned to the digests moto reports, a missing image and an untagged repository denied', async (t) => {
  const { code, stdout, stderr } = await check(['--aws', '--output', 'json'], LIST);
  t.equal(code, 1, stderr);
  const [present, missing, tagged, untagged] = JSON.parse(stdout);
  t.match(present, { allowed: true, images: [{ to: `${TARGET}/payments/api:1@${API_DIGEST}`, pinned: API_DIGEST }], notChecked: [] });
  t.match(missing, { allowed: false, reasons: [/is not in registry 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com: not found — replication may still be in progress/] });
  t.match(tagged, { allowed: true, images: [{ to: `${TARGET}/team/pay:2@${PAY_DIGEST}`, granted: true }], unjudged: [] });
  t.match(untagged, { allowed: false, reasons: [/repository "team\/ops" does not carry the tags tenant "payments"'s grants ask for \(Team=Payments\)/] });
  t.ok((moto.calls().AssumeRole ?? 0) >= 1, 'with the tenant role');
});

t.test('--aws with AWS unreachable denies under onCredentialError deny, naming the failure, and does not hang', async (t) => {
  moto.setFault('DescribeImages', { kind: 'error', status: 503, code: 'ServiceUnavailableException', message: 'ECR is down' });
  t.teardown(() => moto.setFault('DescribeImages', undefined));
  const { code, stdout } = await check(['--aws'], JSON.stringify(pod('present', `${SOURCE}/central/api:1`)));
  t.equal(code, 1);
  t.match(stdout, /DENY +Pod shop\/present/);
  t.match(stdout, /ServiceUnavailableException/);
  t.match(stdout, '(onCredentialError: deny)');
});

t.test('--aws looks every rewritten image up, and marks one missing that a tenant with missingImage allow admits', async (t) => {
  const { code, stdout, stderr } = await check(['--aws'], JSON.stringify(pod('missing', `${SOURCE}/central/api:2`)), 'ecr-tenant-webhook.io/tenant=admitter');
  t.equal(code, 0, stderr);
  t.match(stdout, /^ALLOW +Pod shop\/missing {2}\[tenant admitter, enforce\]\n {2}missing {3}spec\.containers\[0\]\.image: /);
  t.match(stdout, `-> ${TARGET}/payments/api:2\n`);
});
