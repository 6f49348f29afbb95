import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateRepositoryCommand, ECRClient } from '@aws-sdk/client-ecr';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import t from 'tap';
import type { TenantSession } from '../../src/aws/aws-token-source.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { checkGrant, runVerify, type VerifyAws } from '../../src/cli/verify.ts';
import { verifyPlan } from '../../src/cli/verify-report.ts';
import { CredentialError } from '../../src/credentials/registry-token.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { registryOwner } from '../moto/ecr-images.ts';
import { awsEnvironment, startMoto } from '../moto/moto-server.ts';
import { BIN, fixture } from './run-cli.ts';

/**
 * `verify` against moto's STS and ECR with the real SDK clients, reached through the SDK's endpoint variables.
 *
 * How AssumeRole is made to fail: moto's AssumeRole succeeds for any role, existing or not ("the role does not need
 * to exist"). Its IAM enforcement (INITIAL_NO_AUTH_ACTION_COUNT) checks the caller's own identity policies, which is
 * how test/cli/verify-iam.test.ts gets a real AccessDenied, but evaluates a trust policy only for a role of the
 * caller's own account, and then with the principal compared to the caller's ARN literally. So the AccessDenied a
 * wrong trust policy gives across accounts is made here by the counting proxy in front of moto (setFault).
 */
t.setTimeout(120_000);

const moto = await startMoto();
t.teardown(() => moto.stop());
Object.assign(process.env, awsEnvironment(moto.endpoint));

const POLICY = fixture('policy.yaml');
const ANALYTICS_ROLE = 'arn:aws:iam::333333333333:role/ecr-pull-analytics';
const ANALYTICS_REGISTRY = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';

/**
 * Creates repositories in a registry as its account would: moto keeps an account's repositories by the account of
 * the caller's credentials, so they are created with a session of a role in that account.
 */
async function createRepositories(roleArn: string, region: string, names: readonly string[]) {
  const sts = new STSClient({ region });
  const { Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'test-setup' }));
  sts.destroy();
  const session = { accessKeyId: Credentials!.AccessKeyId!, secretAccessKey: Credentials!.SecretAccessKey!, sessionToken: Credentials!.SessionToken!, expiration: Credentials!.Expiration! };
  const ecr = new ECRClient({ region, credentials: session });
  for (const repositoryName of names) await ecr.send(new CreateRepositoryCommand({ repositoryName }));
  ecr.destroy();
  return session;
}

const analyticsSession = await createRepositories(ANALYTICS_ROLE, 'eu-central-1', ['analytics/etl', 'analytics/jobs/nightly', 'other/x']);
await createRepositories('arn:aws:iam::111111111111:role/ecr-pull-payments', 'eu-west-1', ['payments/api', 'shared/base/node']);

function io() {
  const out = { stdout: '', stderr: '' };
  const streams: CliIo = { stdout: (text) => void (out.stdout += text), stderr: (text) => void (out.stderr += text), stdin: async () => '' };
  return { out, streams };
}

/** The real command line in its own process; not run-cli's, whose synchronous spawn would stall the proxy in this process. */
async function verifyProcess(...args: string[]) {
  const result = await promisify(execFile)(process.execPath, [BIN, 'verify', '--policy', POLICY, ...args], { encoding: 'utf8', timeout: 30_000 }).catch((error: { code: number; stdout: string; stderr: string }) => error);
  return { code: 'code' in result ? result.code : 0, stdout: result.stdout, stderr: result.stderr };
}

async function verify(...args: string[]) {
  const { out, streams } = io();
  const code = await main(['verify', '--policy', POLICY, ...args], streams);
  return { code, ...out };
}

t.beforeEach(() => {
  moto.resetCalls();
  for (const api of ['AssumeRole', 'GetAuthorizationToken', 'DescribeRepositories', 'ListTagsForResource']) moto.setFault(api, undefined);
});

t.test('a tenant whose grants all work exits 0, as a real process, with the count each glob matches', async (t) => {
  const { code, stdout, stderr } = await verifyProcess('--tenant', 'analytics');
  t.equal(code, 0, stderr);
  t.equal(stdout.split('\n')[0], `ok    analytics  ${ANALYTICS_REGISTRY}  analytics/**: 2 (token obtained; ECR states an expiry already past, 2015-01-01T00:00:00.000Z)`, "moto's token claims 2015, and verify does not fail for it");
  t.match(stdout, /^1 grants verified: 1 ok, 0 failed$/m);
  t.same(moto.calls(), { AssumeRole: 1, GetAuthorizationToken: 1, DescribeRepositories: 1 });
  const sent = new URLSearchParams(moto.lastBody('AssumeRole'));
  t.same([sent.get('RoleArn'), sent.get('RoleSessionName'), sent.get('DurationSeconds')], [ANALYTICS_ROLE, 'ecr-tenant-webhook-analytics', '3600'], 'the very AssumeRole serve makes');
  t.same(JSON.parse(moto.lastBody('DescribeRepositories') as string), { registryId: '333333333333' });
  const password = '333333333333-auth-token';
  for (const secret of [password, Buffer.from(`AWS:${password}`).toString('base64')]) t.notOk(stdout.includes(secret) || stderr.includes(secret), 'the ECR token is never printed');
});

t.test('the session credentials verify mints are never printed, in text or JSON', async (t) => {
  // The proxy answers AssumeRole with a session moto minted for the role, so the values to look for are known.
  const body =
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>' +
    `<AccessKeyId>${analyticsSession.accessKeyId}</AccessKeyId><SecretAccessKey>${analyticsSession.secretAccessKey}</SecretAccessKey>` +
    `<SessionToken>${analyticsSession.sessionToken}</SessionToken><Expiration>${analyticsSession.expiration.toISOString()}</Expiration>` +
    '</Credentials></AssumeRoleResult></AssumeRoleResponse>';
  moto.setFault('AssumeRole', { kind: 'answer', contentType: 'text/xml', body });
  for (const output of ['text', 'json']) {
    const { code, stdout, stderr } = await verify('--tenant', 'analytics', '--output', output);
    t.equal(code, 0, stdout);
    for (const secret of [analyticsSession.secretAccessKey, analyticsSession.sessionToken, analyticsSession.accessKeyId, '333333333333-auth-token']) {
      t.notOk(stdout.includes(secret) || stderr.includes(secret), `${output} output holds no minted value`);
    }
  }
});

t.test('AccessDenied on AssumeRole fails the grant at that step, with the trust policy fix, and goes no further', async (t) => {
  moto.setFault('AssumeRole', { kind: 'error', status: 403, code: 'AccessDenied', message: 'not authorized to perform sts:AssumeRole' });
  const { code, stdout } = await verify('--tenant', 'analytics');
  t.equal(code, 1);
  t.equal(
    stdout.split('\n')[0],
    `FAIL  analytics  ${ANALYTICS_REGISTRY}  AssumeRole ${ANALYTICS_ROLE} failed (AccessDenied): the trust policy of ${ANALYTICS_ROLE} must allow the webhook's identity sts:AssumeRole, ` +
      `and the webhook's own policy must allow it sts:AssumeRole on the role: apply roles[].trustPolicy of tenant "analytics" and webhookPolicy from aws-policies --policy ${POLICY}`,
  );
  t.same(moto.calls(), { AssumeRole: 1 }, 'AccessDenied is not retried, and nothing is tried after it');
});

t.test('a refused GetAuthorizationToken and a refused DescribeRepositories each name their step and fix', async (t) => {
  moto.setFault('GetAuthorizationToken', { kind: 'error', status: 400, code: 'AccessDeniedException', message: 'no ecr:GetAuthorizationToken' });
  const token = await verify('--tenant', 'analytics', '--output', 'json');
  t.equal(token.code, 1);
  t.match(JSON.parse(token.stdout).tenants.analytics.grants[0], { ok: false, step: 'GetAuthorizationToken', code: 'AccessDeniedException', message: 'no ecr:GetAuthorizationToken', fix: /permissionPolicy/ });
  moto.setFault('GetAuthorizationToken', undefined);
  moto.setFault('DescribeRepositories', { kind: 'error', status: 400, code: 'AccessDeniedException', message: 'no ecr:DescribeRepositories' });
  const list = await verify('--tenant', 'analytics');
  t.equal(list.code, 1);
  t.match(list.stdout, /DescribeRepositories arn:aws:iam::333333333333:role\/ecr-pull-analytics failed \(AccessDeniedException\): .*ecr:DescribeRepositories/);
});

t.test('a registry without the granted repositories fails that grant only, naming the glob, and the JSON report says so', async (t) => {
  const { code, stdout } = await verify('--output', 'json');
  t.equal(code, 1);
  const report = JSON.parse(stdout);
  t.equal(report.ok, false);
  t.same(Object.keys(report.tenants), ['payments', 'analytics']);
  t.match(report.tenants.payments.grants, [
    { registry: '111111111111.dkr.ecr.eu-west-1.amazonaws.com', ok: true, repositories: { 'payments/*': 1, 'shared/**': 1 } },
    {
      registry: '222222222222.dkr.ecr.us-west-2.amazonaws.com',
      ok: false,
      step: 'MatchRepositories',
      code: 'NoMatchingRepository',
      message: 'no repository in 222222222222/us-west-2 matches tools/*',
      fix: 'create the repository in 222222222222/us-west-2, or correct the pattern at spec.tenants.payments.grants[1].repositories (tenant "payments")',
      repositories: { 'tools/*': 0 },
    },
  ]);
  t.match(report.tenants.analytics.grants, [{ ok: true, repositories: { 'analytics/**': 2 } }]);
  const text = await verify('--tenant', 'payments');
  t.match(text.stdout, /^FAIL {2}payments {2}222222222222\.dkr\.ecr\.us-west-2\.amazonaws\.com {2}no repository in 222222222222\/us-west-2 matches tools\/\*: create the repository/m);
  t.match(text.stdout, /^2 grants verified: 1 ok, 1 failed/m);
});

t.test('a grant of exact names asks ECR about each name rather than listing the registry, and counts the missing one as 0', async (t) => {
  const file = t.testdir({
    'exact.json': JSON.stringify({
      apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
      kind: 'TenantPolicy',
      spec: { tenants: { analytics: { roleArn: ANALYTICS_ROLE, grants: [{ registry: ANALYTICS_REGISTRY, repositories: ['analytics/etl', 'analytics/gone'] }] } }, labelAdmins: { users: ['x'] } },
    }),
  });
  const { out, streams } = io();
  const code = await main(['verify', '--policy', `${file}/exact.json`, '--output', 'json'], streams);
  t.equal(code, 1);
  t.match(JSON.parse(out.stdout).tenants.analytics.grants[0], { ok: false, step: 'MatchRepositories', repositories: { 'analytics/etl': 1, 'analytics/gone': 0 } });
  t.same(
    moto.bodies('DescribeRepositories').map((body) => JSON.parse(body)),
    [{ registryId: '333333333333', repositoryNames: ['analytics/etl'] }, { registryId: '333333333333', repositoryNames: ['analytics/gone'] }],
    'one DescribeRepositories per name, none of the whole registry',
  );
  moto.setFault('DescribeRepositories', { kind: 'error', status: 400, code: 'AccessDeniedException', message: 'no ecr:DescribeRepositories on this repository' });
  const refused = io();
  t.equal(await main(['verify', '--policy', `${file}/exact.json`, '--output', 'json'], refused.streams), 1);
  t.match(
    JSON.parse(refused.out.stdout).tenants.analytics.grants[0],
    { step: 'DescribeRepositories', code: 'AccessDeniedException', message: 'analytics/etl: no ecr:DescribeRepositories on this repository' },
    'a refused name is a failed step naming the repository, not a missing repository',
  );
});

t.test('an ECR slower than --deadline fails at the deadline with the code Timeout', async (t) => {
  moto.setFault('GetAuthorizationToken', { kind: 'delay', ms: 3000 });
  const started = Date.now();
  const { code, stdout } = await verify('--tenant', 'analytics', '--deadline', '0.3');
  t.equal(code, 1);
  t.ok(Date.now() - started < 2500, `gave up after ${Date.now() - started} ms`);
  t.match(stdout, /GetAuthorizationToken \S+ failed \(Timeout\): ECR in eu-central-1 did not answer: .*raise --deadline/);
});

t.test('AWS at a closed port fails every grant with the network fix', async (t) => {
  const saved = process.env.AWS_ENDPOINT_URL_STS;
  process.env.AWS_ENDPOINT_URL_STS = 'http://127.0.0.1:1';
  t.teardown(() => (process.env.AWS_ENDPOINT_URL_STS = saved));
  const { code, stdout } = await verify('--tenant', 'analytics');
  t.equal(code, 1);
  t.match(stdout, /^FAIL {2}analytics {2}\S+ {2}AssumeRole \S+ failed \(ECONNREFUSED\): STS in eu-central-1 did not answer: .*AWS_ENDPOINT_URL_STS/m);
});

t.test('DescribeRepositories pages are followed with the next token ECR gave, and a listing that never ends is cut off', async (t) => {
  const page = { repositories: [{ repositoryName: 'analytics/etl' }, { registryId: '333333333333' }], nextToken: 'more' };
  moto.setFault('DescribeRepositories', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: JSON.stringify(page) });
  const { code, stdout } = await verify('--tenant', 'analytics', '--output', 'json');
  t.equal(code, 1);
  t.match(JSON.parse(stdout).tenants.analytics.grants[0], { step: 'DescribeRepositories', code: 'TooManyPages' });
  t.equal(moto.calls().DescribeRepositories, 1000);
  t.same(JSON.parse(moto.lastBody('DescribeRepositories') as string), { nextToken: 'more', registryId: '333333333333' });
  moto.setFault('DescribeRepositories', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: '{}' });
  t.match(JSON.parse((await verify('--tenant', 'analytics', '--output', 'json')).stdout).tenants.analytics.grants[0], { step: 'MatchRepositories', repositories: { 'analytics/**': 0 } }, 'an answer without repositories lists none');
});

const usage = [
  { name: 'an unknown --tenant exits 2 naming the tenants there are', args: ['--tenant', 'nope'], stderr: /^error: --tenant "nope": .*policy\.yaml has no such tenant \(it has "payments", "analytics"\)\n$/ },
  { name: 'a --deadline that is not a number of seconds exits 2', args: ['--deadline', '0'], stderr: /--deadline <seconds>' argument '0' is invalid\. must be seconds from 0\.1 to 300/ },
  { name: 'an --output other than text or json exits 2', args: ['--output', 'yaml'], stderr: /Allowed choices are text, json/ },
];
for (const c of usage) {
  t.test(c.name, async (t) => {
    const { code, stderr, stdout } = await verify(...c.args);
    t.equal(code, 2);
    t.match(stderr, c.stderr);
    t.equal(stdout, '');
  });
}

t.test('a broken policy file exits 2 naming it, before any AWS call', async (t) => {
  const { code, stderr } = await (async () => {
    const { out, streams } = io();
    return { code: await main(['verify', '--policy', fixture('manifests/denied-pod.yaml')], streams), ...out };
  })();
  t.equal(code, 2);
  t.match(stderr, /denied-pod\.yaml: .*apiVersion/);
  t.same(moto.calls(), {});
});

t.test('a grant by repository tags reads the tags of each repository its globs match and counts those carrying them', async (t) => {
  const owner = await registryOwner(moto.endpoint, '333333333333', 'eu-central-1');
  t.teardown(() => owner.destroy());
  await owner.repository('data/lake', { Team: 'Data', Env: 'prod' });
  await owner.repository('data/ops', { Team: 'Ops' });
  const grant = (tags: Record<string, string>, repositories?: string[]) => ({ registry: ANALYTICS_REGISTRY, repositoryTags: tags, ...(repositories === undefined ? {} : { repositories }) });
  const file = t.testdir({
    'tags.json': JSON.stringify({
      apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
      kind: 'TenantPolicy',
      spec: {
        tenants: { data: { roleArn: ANALYTICS_ROLE, grants: [grant({ Team: 'Data' }), grant({ Team: 'Data' }, ['data/*']), grant({ Team: 'Nobody' }, ['data/*'])] } },
        labelAdmins: { users: ['x'] },
      },
    }),
  });
  moto.resetCalls();
  const { out, streams } = io();
  t.equal(await main(['verify', '--policy', `${file}/tags.json`, '--output', 'json'], streams), 1);
  const grants = JSON.parse(out.stdout).tenants.data.grants;
  t.match(grants[0], { ok: true, repositoryTags: { Team: 'Data' }, tagged: { '**': 1 } });
  t.match(grants[1], { ok: true, repositories: { 'data/*': 2 }, tagged: { 'data/*': 1 } });
  t.match(grants[2], {
    ok: false,
    step: 'MatchRepositories',
    code: 'NoTaggedRepository',
    message: 'no repository in 333333333333/eu-central-1 matching data/* carries Team=Nobody',
    fix: /^tag the repositories to grant in 333333333333\/eu-central-1 with Team=Nobody \(aws ecr tag-resource\), or correct the tags at spec\.tenants\.data\.grants\[2\]\.repositoryTags/,
  });
  t.ok(moto.calls().ListTagsForResource! >= 5, 'the tags of every matched repository were read');
  const text = io();
  await main(['verify', '--policy', `${file}/tags.json`], text.streams);
  t.match(text.out.stdout, /^ok {4}data {2}\S+ {2}data\/\*: 2 \(1 with Team=Data\)/m);

  moto.setFault('ListTagsForResource', { kind: 'error', status: 400, code: 'AccessDeniedException', message: 'no ecr:ListTagsForResource' });
  const refused = io();
  t.equal(await main(['verify', '--policy', `${file}/tags.json`, '--output', 'json'], refused.streams), 1);
  t.match(JSON.parse(refused.out.stdout).tenants.data.grants[1], {
    ok: false,
    step: 'ListTagsForResource',
    code: 'AccessDeniedException',
    message: /^data\/(lake|ops): no ecr:ListTagsForResource$/,
    fix: /must be allowed ecr:ListTagsForResource, without the tag condition, .*statement ReadTagsOfTaggedRepositories/,
  });
});

/** The orchestration with a fake AWS, for what moto cannot be made to do. */
const CHECK = verifyPlan(parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: { a: { roleArn: ANALYTICS_ROLE, grants: [{ registry: ANALYTICS_REGISTRY, repositories: ['**'] }] } } } }), 'p'), undefined, 3600, 'p')[0]!;
const SESSION: TenantSession = { credentials: { accessKeyId: 'k', secretAccessKey: 's', sessionToken: 't' }, expiresAt: new Date(0) };

function fakeAws(overrides: Partial<VerifyAws>): VerifyAws {
  return {
    assumeRole: async () => SESSION,
    authorizationToken: async () => ({ username: 'AWS', password: 'p', expiresAt: new Date(0) }),
    repositoriesPage: async () => ({ names: [], nextToken: undefined }),
    repositoryExists: async () => false,
    repositoryTags: async () => ({}),
    destroy: () => undefined,
    ...overrides,
  };
}

t.test('DescribeRepositories is followed page by page until there is no next token', async (t) => {
  const pages: Record<string, { names: string[]; nextToken: string | undefined }> = { start: { names: ['a'], nextToken: 'p2' }, p2: { names: ['b', 'c'], nextToken: 'p3' }, p3: { names: ['d'], nextToken: '' } };
  const seen: (string | undefined)[] = [];
  const aws = fakeAws({ repositoriesPage: async (_r, _s, token) => (seen.push(token), pages[token ?? 'start']!) });
  t.same(await checkGrant(aws, CHECK, 1000), { tokenExpiresAt: new Date(0), repositories: ['a', 'b', 'c', 'd'] });
  t.same(seen, [undefined, 'p2', 'p3'], 'an empty next token ends the listing too');
});

t.test('a listing whose next token never ends is cut off rather than followed forever', async (t) => {
  let calls = 0;
  const aws = fakeAws({ repositoriesPage: async () => (calls++, { names: [], nextToken: 'again' }) });
  t.match(await checkGrant(aws, CHECK, 1000), { failed: { step: 'DescribeRepositories', code: 'TooManyPages', message: 'the listing did not end within 1000 pages' } });
  t.equal(calls, 1000);
});

t.test('a call that ignores the abort signal is still given up at the deadline', async (t) => {
  let aborted = false;
  const aws = fakeAws({ assumeRole: (_r, signal) => (signal.addEventListener('abort', () => (aborted = true)), new Promise<never>(() => undefined)) });
  t.same(await checkGrant(aws, CHECK, 50), { failed: { step: 'AssumeRole', code: 'Timeout', message: 'no answer within 50 ms' } });
  t.ok(aborted, 'and the SDK is told to stop');
});

t.test('an exact name shorter than ECR allows is counted as missing without asking, and an odd failure of a name is kept', async (t) => {
  const exact = verifyPlan(parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: { a: { roleArn: ANALYTICS_ROLE, grants: [{ registry: ANALYTICS_REGISTRY, repositories: ['x', 'ab'] }] } } } }), 'p'), undefined, 3600, 'p')[0]!;
  const asked: string[] = [];
  const aws = fakeAws({ repositoryExists: async (_r, _s, name) => (asked.push(name), true) });
  t.same(await checkGrant(aws, exact, 1000), { tokenExpiresAt: new Date(0), repositories: ['ab'] });
  t.same(asked, ['ab'], 'only the name ECR could hold is asked about');
  const odd = fakeAws({ repositoryExists: async () => Promise.reject(new TypeError('boom')) });
  t.same(await checkGrant(odd, exact, 1000), { failed: { step: 'AssumeRole', code: 'TypeError', message: 'boom' } });
});

t.test('a tag read that fails stops the reads still to start, and a failure that is not a CredentialError keeps its name', async (t) => {
  const tagged = verifyPlan(
    parsePolicy(JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: { a: { roleArn: ANALYTICS_ROLE, grants: [{ registry: ANALYTICS_REGISTRY, repositoryTags: { Team: 'Data' } }] } } } }), 'p'),
    undefined,
    3600,
    'p',
  )[0]!;
  const names = Array.from({ length: 20 }, (_, i) => `repo-${i}`);
  let reads = 0;
  const aws = fakeAws({ repositoriesPage: async () => ({ names, nextToken: undefined }), repositoryTags: async () => (reads++, Promise.reject(new TypeError('boom'))) });
  t.same(await checkGrant(aws, tagged, 1000), { failed: { step: 'AssumeRole', code: 'TypeError', message: 'boom' } });
  t.equal(reads, 4, 'the four reads under way, none after them');
  const fine = fakeAws({ repositoriesPage: async () => ({ names, nextToken: undefined }), repositoryTags: async (_r, _s, _g, name) => (name === 'repo-3' ? { Team: 'Data' } : name === 'repo-4' ? undefined : { Team: 'Other' }) });
  t.same(await checkGrant(fine, tagged, 1000), { tokenExpiresAt: new Date(0), repositories: names, tagged: ['repo-3'] }, 'a repository gone since the listing carries no tags');
});

t.test('a failure that is not a CredentialError is reported with its name rather than lost', async (t) => {
  const aws = fakeAws({ authorizationToken: async () => Promise.reject(new TypeError('boom')) });
  t.same(await checkGrant(aws, CHECK, 1000), { failed: { step: 'AssumeRole', code: 'TypeError', message: 'boom' } });
  const credential = fakeAws({ authorizationToken: async () => Promise.reject(new CredentialError('GetAuthorizationToken', ANALYTICS_ROLE, 'MalformedToken', 'bad')) });
  t.same(await checkGrant(credential, CHECK, 1000), { failed: { step: 'GetAuthorizationToken', code: 'MalformedToken', message: 'bad' } });
});

t.test('more grants than run at once are all checked, reported in policy order, and the clients destroyed', async (t) => {
  const grants = Array.from({ length: 6 }, (_, i) => ({ registry: `33333333333${i}.dkr.ecr.eu-central-1.amazonaws.com`, repositories: ['**'], roleArn: `arn:aws:iam::33333333333${i}:role/r` }));
  const file = t.testdir({ 'p.json': JSON.stringify({ apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec: { tenants: { a: { grants } }, labelAdmins: { users: ['x'] } } }) });
  let destroyed = 0;
  const aws = fakeAws({
    repositoriesPage: async (request) => (await new Promise((resolve) => setTimeout(resolve, 10 - Number(request.registry.account.at(-1)))), { names: ['x'], nextToken: undefined }),
    destroy: () => void destroyed++,
  });
  const { out, streams } = io();
  const code = await runVerify({ policy: `${file}/p.json`, output: 'json', deadlineMs: 1000, sessionSeconds: 3600 }, streams, () => aws);
  t.equal(code, 0);
  t.same(JSON.parse(out.stdout).tenants.a.grants.map((g: { registry: string }) => g.registry), grants.map((g) => g.registry));
  t.equal(destroyed, 1);
});

// Last: it stops moto itself. The proxy then answers 502, which the SDK retries and reports as an unknown error.
t.test('AWS unreachable (moto stopped) fails every grant with the network fix', async (t) => {
  await moto.stopEmulator();
  const { code, stdout } = await verify('--tenant', 'analytics', '--output', 'json');
  t.equal(code, 1);
  t.match(JSON.parse(stdout).tenants.analytics.grants[0], { ok: false, step: 'AssumeRole', fix: /^STS in eu-central-1 did not answer/ });
});
