import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { BIN } from '../cli/run-cli.ts';
import { registryOwner } from '../moto/ecr-images.ts';
import { awsEnvironment, startWebhookStack, type KubeObject } from './support/webhook-stack.ts';

/**
 * Registry-aware admission inside a real control plane, reading moto's ECR with each tenant's role: images really
 * pushed (PutImage with a manifest; the digest is the one moto answers), repositories really tagged. Every assertion
 * is on what the API server stored or told the client, on serve's own answer, or on the calls moto saw.
 *
 * moto keeps repositories per caller account, and the tenant roles are in the registry's account (111111111111),
 * so the repositories are made by a role of that account, as the registry's owner would.
 */
t.setTimeout(300_000);

const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';
const role = (name: string) => `arn:aws:iam::111111111111:role/${name}`;
const REWRITE = `[{ from: ${SOURCE}/central, to: ${TARGET}/replica }]`;

const POLICY = `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    replica:
      missingImage: deny
      pinDigests: true
      roleArn: ${role('replica')}
      grants: [{ registry: ${TARGET}, repositories: ["replica/*"] }]
      rewrites: ${REWRITE}
    keeper:
      missingImage: keep-source
      roleArn: ${role('keeper')}
      grants:
        - { registry: ${TARGET}, repositories: ["replica/*"] }
        - { registry: ${SOURCE}, repositories: ["central/*"], roleArn: "arn:aws:iam::999999999999:role/keeper" }
      rewrites: ${REWRITE}
    admitter:
      roleArn: ${role('admitter')}
      grants: [{ registry: ${TARGET}, repositories: ["replica/*"] }]
      rewrites: ${REWRITE}
    tagged:
      roleArn: ${role('tagged')}
      grants: [{ registry: ${TARGET}, repositoryTags: { Team: Payments } }]
    pinner:
      pinDigests: true
      onCredentialError: allow
      roleArn: ${role('pinner')}
      grants: [{ registry: ${TARGET}, repositories: ["replica/*"] }]
    tagged-lenient:
      onCredentialError: allow
      roleArn: ${role('tagged-lenient')}
      grants: [{ registry: ${TARGET}, repositoryTags: { Team: Payments } }]
    lenient:
      missingImage: deny
      onCredentialError: allow
      roleArn: ${role('lenient')}
      grants: [{ registry: ${TARGET}, repositories: ["replica/*"] }]
      rewrites: ${REWRITE}
    strict:
      missingImage: deny
      roleArn: ${role('strict')}
      grants: [{ registry: ${TARGET}, repositories: ["replica/*"] }]
      rewrites: ${REWRITE}
    burst:
      pinDigests: true
      roleArn: ${role('burst')}
      grants: [{ registry: ${TARGET}, repositories: ["replica/*"] }]
`;

const stack = await startWebhookStack({ policy: POLICY, log: (line) => t.comment(line) });
t.teardown(() => stack.stop());
for (const tenant of ['replica', 'keeper', 'admitter', 'tagged', 'tagged-lenient', 'pinner', 'lenient', 'strict', 'burst']) await stack.namespace(tenant, { [TENANT]: tenant });
await stack.namespace('replica-canary', { [TENANT]: 'replica', [MODE]: 'dry-run' });

const owner = await registryOwner(stack.moto.endpoint, '111111111111', 'eu-west-1');
t.teardown(() => owner.destroy());
await owner.repository('replica/api');
await owner.repository('replica/other');
await owner.repository('team/pay', { Team: 'Payments' });
await owner.repository('team/ops', { Team: 'Ops' });
const API_DIGEST = await owner.push('replica/api', '1.0', 'api-1.0');
const OTHER_DIGEST = await owner.push('replica/other', '3', 'other-3');
await owner.push('team/pay', '1', 'pay-1');
await owner.push('team/ops', '1', 'ops-1');

type StoredPod = KubeObject & { spec: { containers: { image: string }[]; imagePullSecrets?: { name: string }[] } };

let serial = 0;
async function create(namespace: string, image: string, extra: string[] = []) {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${++serial}`, namespace }, spec: { containers: [{ name: 'app', image }] } };
  const result = await stack.kubectl(['create', '-o', 'json', ...extra, '-f', '-'], JSON.stringify(pod));
  return { ...result, stored: result.code === 0 ? (JSON.parse(result.stdout) as StoredPod) : undefined };
}

/** One AdmissionReview posted straight to serve, as the API server would; the response as serve gave it. */
function review(namespace: string, object: unknown, uid: string): Promise<{ allowed: boolean; patch?: string; status?: { message: string } }> {
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace, object },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: stack.serve.port, path: '/mutate', method: 'POST', ca: stack.webhookCa, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text).response) : reject(new Error(`${res.statusCode}: ${text}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

t.test('a rewrite to a replica that holds the image is admitted, pinned to the digest moto reports', async (t) => {
  const { code, stored, stderr } = await create('replica', `${SOURCE}/central/api:1.0`);
  t.equal(code, 0, stderr);
  t.equal(stored!.spec.containers[0]!.image, `${TARGET}/replica/api:1.0@${API_DIGEST}`);
  t.same(stored!.spec.imagePullSecrets, [{ name: 'ecr-pull-111111111111-eu-west-1' }]);
  const again = await review('replica', { kind: 'Pod', metadata: { name: 'again' }, spec: stored!.spec }, 'readmit');
  t.equal(again.allowed, true);
  t.equal(again.patch, undefined, 're-admission of the stored pod gives no patch');
});

t.test('a rewrite to a replica without the image is denied under missingImage deny, saying replication may be in progress', async (t) => {
  const { code, stderr } = await create('replica', `${SOURCE}/central/api:2.0`);
  t.not(code, 0);
  t.match(stderr, `image "${SOURCE}/central/api:2.0" (rewritten to "${TARGET}/replica/api:2.0") is not in registry ${TARGET}: not found — replication may still be in progress`);
});

t.test('dry-run warns what would be pinned and what would be denied, and changes nothing', async (t) => {
  const pinned = await create('replica-canary', `${SOURCE}/central/other:3`);
  t.equal(pinned.code, 0, pinned.stderr);
  t.equal(pinned.stored!.spec.containers[0]!.image, `${SOURCE}/central/other:3`);
  t.match(pinned.stderr, `Warning: dry-run: would rewrite "app" to ${TARGET}/replica/other:3@sha256:`);
  const missing = await create('replica-canary', `${SOURCE}/central/other:4`);
  t.equal(missing.code, 0, missing.stderr);
  t.match(missing.stderr, 'Warning: dry-run: would deny: container "app": replica/other:4 not in 111111111111 eu-west-1 yet');
});

t.test('missingImage keep-source keeps the original reference when the tenant is granted it there', async (t) => {
  const { code, stored, stderr } = await create('keeper', `${SOURCE}/central/api:2.0`);
  t.equal(code, 0, stderr);
  t.equal(stored!.spec.containers[0]!.image, `${SOURCE}/central/api:2.0`);
  t.same(stored!.spec.imagePullSecrets, [{ name: 'ecr-pull-999999999999-us-east-1' }]);
  t.match(stderr, 'Warning: "app": kept the original: replica/api:2.0 not in 111111111111 eu-west-1 yet');
  const present = await create('keeper', `${SOURCE}/central/api:1.0`);
  t.equal(present.stored!.spec.containers[0]!.image, `${TARGET}/replica/api:1.0`, 'a replicated image is rewritten as ever');
});

t.test('missingImage allow admits the rewrite as before, without reading ECR', async (t) => {
  stack.moto.resetCalls();
  const { code, stored, stderr } = await create('admitter', `${SOURCE}/central/api:2.0`);
  t.equal(code, 0, stderr);
  t.equal(stored!.spec.containers[0]!.image, `${TARGET}/replica/api:2.0`);
  t.equal(stack.moto.calls().DescribeImages ?? 0, 0);
});

t.test('a tag-based grant admits a repository carrying the tags and refuses one that does not', async (t) => {
  const granted = await create('tagged', `${TARGET}/team/pay:1`);
  t.equal(granted.code, 0, granted.stderr);
  t.same(granted.stored!.spec.imagePullSecrets, [{ name: 'ecr-pull-111111111111-eu-west-1' }]);
  const refused = await create('tagged', `${TARGET}/team/ops:1`);
  t.not(refused.code, 0);
  t.match(refused.stderr, `repository "team/ops" does not carry the tags tenant "tagged"'s grants ask for (Team=Payments)`);
  const absent = await create('tagged', `${TARGET}/team/none:1`);
  t.match(absent.stderr, 'repository "team/none" is not in 111111111111.dkr.ecr.eu-west-1.amazonaws.com');
});

t.test("with ECR failing, each tenant's onCredentialError decides", async (t) => {
  stack.moto.setFault('DescribeImages', { kind: 'error', status: 503, code: 'ServiceUnavailableException', message: 'ECR is down' });
  t.teardown(() => stack.moto.setFault('DescribeImages', undefined));
  const lenient = await create('lenient', `${SOURCE}/central/api:1.0`);
  t.equal(lenient.code, 0, lenient.stderr);
  t.equal(lenient.stored!.spec.containers[0]!.image, `${TARGET}/replica/api:1.0`);
  t.match(lenient.stderr, 'Warning: "app": not checked in ECR (ServiceUnavailableException); admitted by onCredentialError: allow');
  const strict = await create('strict', `${SOURCE}/central/api:1.0`);
  t.not(strict.code, 0);
  t.match(strict.stderr, 'cannot be checked: reading replica/api:1.0 in 111111111111.dkr.ecr.eu-west-1.amazonaws.com with the tenant\'s role failed');
  t.match(strict.stderr, '(onCredentialError: deny)');
});

t.test('a tag grant whose tags cannot be read is refused even under onCredentialError allow', async (t) => {
  stack.moto.setFault('ListTagsForResource', { kind: 'error', status: 400, code: 'ThrottlingException', message: 'Rate exceeded' });
  t.teardown(() => stack.moto.setFault('ListTagsForResource', undefined));
  const refused = await create('tagged-lenient', `${TARGET}/team/pay:1`);
  t.not(refused.code, 0, 'the repository does carry the tags, but a read that failed never grants');
  t.match(refused.stderr, `is granted only by repository tags (Team=Payments), and reading the tags of repository "team/pay" in ${TARGET} with the tenant's role failed: ListTagsForResource for role ${role('tagged-lenient')} failed: ThrottlingException: Rate exceeded; a tag grant is never assumed on a failed read`);
  stack.moto.setFault('ListTagsForResource', undefined);
  await new Promise((resolve) => setTimeout(resolve, 1100)); // the error is kept a second
  const granted = await create('tagged-lenient', `${TARGET}/team/pay:1`);
  t.equal(granted.code, 0, granted.stderr);
});

t.test('a pod needing more ECR reads than one admission makes is denied, and its retry goes further', async (t) => {
  const containers = Array.from({ length: 70 }, (_, i) => ({ name: `c${i}`, image: `${TARGET}/replica/api:many-${i}` }));
  const pod = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'pinner' }, spec: { containers } });
  stack.moto.resetCalls();
  const first = await stack.kubectl(['create', '-f', '-'], pod('many-1'));
  t.not(first.code, 0, 'refused though the tenant admits failed reads (onCredentialError: allow)');
  t.match(first.stderr, 'cannot be checked: the pod needs more than the 64 ECR reads one admission makes; what was read is kept, so a retry goes further');
  t.equal(stack.moto.calls().DescribeImages, 64, 'one read per distinct tag, up to the limit');
  const retry = await stack.kubectl(['create', '-o', 'json', '-f', '-'], pod('many-2'));
  t.equal(retry.code, 0, retry.stderr);
  t.equal(stack.moto.calls().DescribeImages, 70, 'the retry reads only what the first attempt left');
  const stored = JSON.parse(retry.stdout) as StoredPod;
  t.same(stored.spec.containers.map((c) => c.image), containers.map((c) => c.image), 'admitted unpinned: moto has none of these tags');
  t.match(retry.stderr, 'Warning: "c0": not pinned: replica/api:many-0 not found in 111111111111 eu-west-1');
});

/**
 * `audit` as a real process with the admin's kubeconfig, offline or reading moto's ECR (--aws) with the tenants'
 * roles, against a candidate policy in which tenant replica admits missing images (missingImage: allow): audit looks
 * every rewritten image up anyway, to report what is not there yet.
 */
async function audit(namespace: string, aws: boolean) {
  const candidate = join(stack.cp.dir, 'audit-candidate.yaml');
  writeFileSync(candidate, POLICY.replace(`missingImage: deny\n      pinDigests: true\n      roleArn: ${role('replica')}`, `missingImage: allow\n      pinDigests: true\n      roleArn: ${role('replica')}`));
  const args = [BIN, 'audit', '--policy', candidate, '--kubeconfig', stack.cp.adminKubeconfig, '--namespace', namespace, ...(aws ? ['--aws'] : [])];
  const env = { ...process.env, ...awsEnvironment(stack.moto.endpoint) };
  const result = await promisify(execFile)(process.execPath, args, { encoding: 'utf8', timeout: 60_000, env }).catch((error: { code: number; stdout: string; stderr: string }) => error);
  return { code: 'code' in result ? result.code : 0, stdout: result.stdout, stderr: result.stderr };
}

t.test('audit --aws reports rewritten images missing in their target and the tags it would pin, with the digests moto reports', async (t) => {
  const { code, stdout, stderr } = await audit('replica-canary', true);
  t.equal(code, 0, stderr);
  t.equal(stderr, '');
  t.match(stdout, new RegExp(`Pod/p\\d+ +rewrite +spec.containers\\[0\\].image: ${SOURCE}/central/other:3 -> ${TARGET}/replica/other:3@${OTHER_DIGEST}`));
  t.match(stdout, new RegExp(`Pod/p\\d+ +pin +spec.containers\\[0\\].image: ${TARGET}/replica/other:3 to ${OTHER_DIGEST}`));
  t.match(stdout, new RegExp(`Pod/p\\d+ +missing +spec.containers\\[0\\].image: ${TARGET}/replica/other:4 is not in its registry \\(rewritten from ${SOURCE}/central/other:4\\)`));
  t.match(stdout, /; 1 rewritten image not in its target; 1 tag to pin\n$/);
});

t.test('audit without --aws says what it did not read, and that a tag-based grant cannot be judged (exit 3)', async (t) => {
  const offline = await audit('replica-canary', false);
  t.equal(offline.code, 0, offline.stderr);
  // The candidate's replica admits missing images (missingImage: allow), so admission would look nothing up for it:
  // only the pinning is named.
  t.equal(offline.stderr, 'note: ECR was not read (pass --aws): 2 tags not pinned to their digests\n');
  t.notMatch(offline.stdout, / (missing|pin) /);
  const tagged = await audit('tagged', false);
  t.equal(tagged.code, 3, tagged.stderr);
  t.match(tagged.stdout, /Pod\/p\d+ +unjudged +cannot be judged without AWS \(pass --aws\): container "app" image "111111111111.dkr.ecr.eu-west-1.amazonaws.com\/team\/pay:1"/);
  t.match(tagged.stdout, /, 1 cannot be judged without AWS \(pass --aws\);/);
  const judged = await audit('tagged', true);
  t.equal(judged.code, 0, judged.stderr);
  t.match(judged.stdout, /^1 workload audited in 1 namespace of 1 tenant: 0 deny, 0 would deny \(dry-run\), 0 change, 1 ok; /);
});

t.test('1,000 concurrent cold admissions of one image make one lookup, one AssumeRole and one token', async (t) => {
  stack.moto.resetCalls();
  const pod = (i: number) => ({ kind: 'Pod', metadata: { name: `burst-${i}` }, spec: { containers: [{ name: 'app', image: `${TARGET}/replica/api:1.0` }] } });
  const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => review('burst', pod(i), `burst-${i}`)));
  const patches = new Set(answers.map((a) => Buffer.from(a.patch ?? '', 'base64').toString()));
  t.ok(answers.every((a) => a.allowed), 'all admitted');
  t.equal(patches.size, 1, 'every pod got the same patch');
  t.match([...patches][0], API_DIGEST);
  const calls = stack.moto.calls();
  t.equal(calls.DescribeImages, 1, 'one DescribeImages');
  t.equal(calls.AssumeRole, 1, 'the pull secret used the session the lookup was made with');
  t.equal(calls.GetAuthorizationToken, 1);
});

t.test('metrics count lookups by result and AWS calls by API', async (t) => {
  const text = await new Promise<string>((resolve, reject) => {
    import('node:http').then(({ get }) =>
      get({ host: '127.0.0.1', port: stack.serve.metricsPort, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject),
    );
  });
  t.match(text, /ecr_tenant_webhook_registry_lookups_total\{kind="image",result="hit"\} \d{3,}/);
  t.match(text, /ecr_tenant_webhook_registry_lookups_total\{kind="image",result="found"\} [1-9]/);
  t.match(text, /ecr_tenant_webhook_registry_lookups_total\{kind="image",result="missing"\} [1-9]/);
  t.match(text, /ecr_tenant_webhook_registry_lookups_total\{kind="image",result="error"\} [1-9]/);
  t.match(text, /ecr_tenant_webhook_registry_lookups_total\{kind="repository-tags",result="found"\} [1-9]/);
  t.match(text, /ecr_tenant_webhook_aws_requests_total\{api="DescribeImages"\} [1-9]/);
  t.match(text, /ecr_tenant_webhook_aws_requests_total\{api="ListTagsForResource"\} [1-9]/);
});
