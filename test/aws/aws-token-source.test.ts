import t from 'tap';
import { AwsTokenSource, sessionRegistryReader } from '../../src/aws/aws-token-source.ts';
import { CredentialError, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { parseEcrHost, type EcrRegistry } from '../../src/image/ecr-host.ts';
import { createMetrics } from '../../src/metrics.ts';
import { registryOwner } from '../moto/ecr-images.ts';
import { awsEnvironment, startMoto } from '../moto/moto-server.ts';

/** The real SDK clients against moto's STS and ECR, reached through the SDK's standard endpoint variables. */
t.setTimeout(120_000);

const moto = await startMoto();
t.teardown(() => moto.stop());
Object.assign(process.env, awsEnvironment(moto.endpoint));
const metrics = createMetrics();
const source = new AwsTokenSource({ sessionSeconds: 3600, maxAttempts: 3, metrics });
t.teardown(() => source.destroy());

/** aws_requests_total by API, comparable with the proxy's own count of what reached it. */
async function requestsCounted(): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.awsRequests.get()).values.map((v) => [v.labels.api, v.value]));
}

/** aws_errors_total as `API code` → count. */
async function errorsCounted(): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.awsErrors.get()).values.map((v) => [`${v.labels.api} ${v.labels.code}`, v.value]));
}

const registry = parseEcrHost('111111111111.dkr.ecr.eu-west-1.amazonaws.com') as EcrRegistry;
const request: TokenRequest = { tenant: 'payments', roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-payments', externalId: 'payments-7f3a', sessionTags: { team: 'payments' }, registry };
const deadline = (ms = 5000) => AbortSignal.timeout(ms);

t.beforeEach(() => {
  moto.resetCalls();
  metrics.registry.resetMetrics();
  for (const api of ['AssumeRole', 'GetAuthorizationToken']) moto.setFault(api, undefined);
});

t.test('a mint assumes the tenant role once and asks ECR once, and decodes the password', async (t) => {
  const token = await source.mint(request, deadline());
  t.equal(token.username, 'AWS');
  t.equal(token.password, '111111111111-auth-token', "moto's token is base64 of AWS:<registryId>-auth-token");
  t.same(moto.calls(), { AssumeRole: 1, GetAuthorizationToken: 1 });
  const sent = new URLSearchParams(moto.lastBody('AssumeRole'));
  t.equal(sent.get('RoleArn'), request.roleArn);
  t.equal(sent.get('RoleSessionName'), 'ecr-tenant-webhook-payments');
  t.equal(sent.get('ExternalId'), 'payments-7f3a');
  t.equal(sent.get('DurationSeconds'), '3600');
  t.equal(sent.get('Tags.member.1.Key'), 'team');
  t.equal(sent.get('Tags.member.1.Value'), 'payments');
});

t.test('every AWS request is counted by API, and a mint that succeeds counts no error', async (t) => {
  await source.mint(request, deadline());
  await source.mint(request, deadline());
  t.same(await requestsCounted(), { AssumeRole: 2, GetAuthorizationToken: 2 });
  t.same(await errorsCounted(), {});
});

t.test("the expiry reported is the earlier of the token's and the session's (moto's token claims 2015)", async (t) => {
  const token = await source.mint(request, deadline());
  t.equal(token.expiresAt.getUTCFullYear(), 2015, 'passed on as it is; the token cache decides how far to trust it');
});

t.test('a mint without an external id or session tags sends neither', async (t) => {
  await source.mint({ ...request, externalId: undefined, sessionTags: undefined }, deadline());
  const sent = new URLSearchParams(moto.lastBody('AssumeRole'));
  t.equal(sent.get('ExternalId'), null);
  t.equal(sent.get('Tags.member.1.Key'), null);
});

t.test("a request's own session duration is sent as DurationSeconds instead of the configured one", async (t) => {
  await source.mint({ ...request, durationSeconds: 900 }, deadline());
  t.equal(new URLSearchParams(moto.lastBody('AssumeRole')).get('DurationSeconds'), '900');
  await source.mint({ ...request, durationSeconds: undefined }, deadline());
  t.equal(new URLSearchParams(moto.lastBody('AssumeRole')).get('DurationSeconds'), '3600', 'without one, the configured --aws-session-duration');
});

const failures = [
  {
    name: 'AccessDenied from STS names the step, the role and the code, and is not retried',
    api: 'AssumeRole', status: 403, code: 'AccessDenied', calls: { AssumeRole: 1 }, errors: { 'AssumeRole AccessDenied': 1 },
  },
  {
    name: 'throttling from STS is retried by the SDK a bounded number of times, then reported, each attempt counted',
    api: 'AssumeRole', status: 400, code: 'Throttling', calls: { AssumeRole: 3 }, errors: { 'AssumeRole Throttling': 3 },
  },
  {
    name: 'an ECR error after a good AssumeRole names GetAuthorizationToken',
    api: 'GetAuthorizationToken', status: 400, code: 'AccessDeniedException', calls: { AssumeRole: 1, GetAuthorizationToken: 1 }, errors: { 'GetAuthorizationToken AccessDeniedException': 1 },
  },
];

for (const c of failures) {
  t.test(c.name, async (t) => {
    moto.setFault(c.api, { kind: 'error', status: c.status, code: c.code, message: 'refused by the test' });
    const error = await source.mint(request, deadline()).catch((e: unknown) => e);
    t.type(error, CredentialError);
    t.match(error, { step: c.api, code: c.code, roleArn: request.roleArn });
    t.match((error as Error).message, `${c.api} for role ${request.roleArn} failed: ${c.code}`);
    t.same(moto.calls(), c.calls);
    t.same(await requestsCounted(), c.calls, 'every attempt that reached AWS is a request');
    t.same(await errorsCounted(), c.errors);
  });
}

t.test("AWS's message is kept without the session name, which names the tenant that minted a shared session", async (t) => {
  moto.setFault('GetAuthorizationToken', {
    kind: 'error',
    status: 400,
    code: 'AccessDeniedException',
    message: 'User: arn:aws:sts::111111111111:assumed-role/shared-role/ecr-tenant-webhook-alpha is not authorized to perform: ecr:GetAuthorizationToken',
  });
  t.teardown(() => moto.setFault('GetAuthorizationToken', undefined));
  const error = (await source.mint(request, deadline()).catch((e: unknown) => e)) as CredentialError;
  t.equal(error.detail, 'User: arn:aws:sts::111111111111:assumed-role/shared-role/… is not authorized to perform: ecr:GetAuthorizationToken');
  t.notMatch(error.message, 'alpha');
});

t.test('an STS slower than the deadline is abandoned at the deadline with the code Timeout', async (t) => {
  moto.setFault('AssumeRole', { kind: 'delay', ms: 3000 });
  const started = Date.now();
  const error = await source.mint(request, deadline(300)).catch((e: unknown) => e);
  t.match(error, { code: 'Timeout', step: 'AssumeRole' });
  t.ok(Date.now() - started < 1500, `gave up after ${Date.now() - started} ms`);
  t.same(await errorsCounted(), { 'AssumeRole AbortError': 1 }, 'the abandoned attempt counts as an error, and is not retried');
});

t.test('AWS unreachable is a CredentialError too, never a crash', async (t) => {
  const offline = new AwsTokenSource({ sessionSeconds: 900, maxAttempts: 1, metrics });
  t.teardown(() => offline.destroy());
  const saved = process.env.AWS_ENDPOINT_URL_STS;
  process.env.AWS_ENDPOINT_URL_STS = 'http://127.0.0.1:1';
  t.teardown(() => (process.env.AWS_ENDPOINT_URL_STS = saved));
  const error = await offline.mint(request, deadline()).catch((e: unknown) => e);
  t.type(error, CredentialError);
  t.match(error, { step: 'AssumeRole', code: /ECONNREFUSED|Error/ });
  t.same(await errorsCounted(), { 'AssumeRole ECONNREFUSED': 1 }, "a network error is counted by Node's code, not its bare name Error");
});

const ECR_JSON = 'application/x-amz-json-1.1';
const malformed = [
  { name: 'an ECR answer without authorizationData is refused as EmptyAnswer', api: 'GetAuthorizationToken', contentType: ECR_JSON, body: '{"authorizationData":[]}', code: 'EmptyAnswer' },
  { name: 'an ECR token without an expiry is refused as EmptyAnswer', api: 'GetAuthorizationToken', contentType: ECR_JSON, body: `{"authorizationData":[{"authorizationToken":"${Buffer.from('AWS:pw').toString('base64')}"}]}`, code: 'EmptyAnswer' },
  { name: 'an ECR token that is not base64 of user:password is refused as MalformedToken', api: 'GetAuthorizationToken', contentType: ECR_JSON, body: `{"authorizationData":[{"authorizationToken":"${Buffer.from('nocolon').toString('base64')}","expiresAt":1900000000}]}`, code: 'MalformedToken' },
  { name: 'an STS answer without credentials is refused as EmptyAnswer', api: 'AssumeRole', contentType: 'text/xml', body: '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult></AssumeRoleResult></AssumeRoleResponse>', code: 'EmptyAnswer' },
];

for (const c of malformed) {
  t.test(c.name, async (t) => {
    moto.setFault(c.api, { kind: 'answer', contentType: c.contentType, body: c.body });
    const error = await source.mint(request, deadline()).catch((e: unknown) => e);
    t.match(error, { name: 'CredentialError', step: c.api, code: c.code });
    t.same(await errorsCounted(), {}, 'AWS answered; what it answered is our problem, not an AWS error');
  });
}

t.test('ECR reads with the tenant session: a digest by tag or digest, repository tags, and absence as undefined', async (t) => {
  const owner = await registryOwner(moto.endpoint, '111111111111', 'eu-west-1');
  t.teardown(() => owner.destroy());
  await owner.repository('reads/api', { Team: 'Payments', Tier: '' });
  const digest = await owner.push('reads/api', '1.0', 'reads-api');
  const session = await source.assumeRole(request, deadline());
  moto.resetCalls();
  t.equal(await source.imageDigest(request, session, 'reads/api', '1.0', deadline()), digest);
  t.equal(await source.imageDigest(request, session, 'reads/api', digest, deadline()), digest, 'by digest');
  t.equal(await source.imageDigest(request, session, 'reads/api', '9.9', deadline()), undefined, 'a tag that is not there');
  t.equal(await source.imageDigest(request, session, 'reads/none', '1.0', deadline()), undefined, 'a repository that is not there');
  const sha512 = `sha512:${'a'.repeat(128)}`;
  const asked512 = await source.imageDigest(request, session, 'reads/api', sha512, deadline()).then((value) => ({ value }), (error: unknown) => ({ error }));
  t.notSame(asked512, { value: digest }, 'a sha512 digest is never answered as the image');
  t.same(JSON.parse(moto.lastBody('DescribeImages')!).imageIds, [{ imageDigest: sha512 }], 'any digest is asked for as a digest, never as a tag');
  t.same(await source.repositoryTags(request, session, registry, 'reads/api', deadline()), { Team: 'Payments', Tier: '' });
  t.equal(await source.repositoryTags(request, session, registry, 'reads/none', deadline()), undefined);
  t.same(moto.calls(), { DescribeImages: 5, ListTagsForResource: 2 });
  const sent = JSON.parse(moto.lastBody('ListTagsForResource')!);
  t.equal(sent.resourceArn, 'arn:aws:ecr:eu-west-1:111111111111:repository/reads/none');
  t.same(JSON.parse(moto.bodies('DescribeImages')[0]!), { registryId: '111111111111', repositoryName: 'reads/api', imageIds: [{ imageTag: '1.0' }] });
  t.same((await requestsCounted()).DescribeImages, 5);
});

t.test('an ECR read answered without a usable digest, or refused, is a CredentialError naming the step', async (t) => {
  const session = await source.assumeRole(request, deadline());
  moto.setFault('DescribeImages', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ imageDetails: [{ imageDigest: 'md5:abc' }] }) });
  t.teardown(() => moto.setFault('DescribeImages', undefined));
  await t.rejects(source.imageDigest(request, session, 'reads/api', '1.0', deadline()), { name: 'CredentialError', step: 'DescribeImages', code: 'MalformedAnswer', message: /no sha256 image digest in the answer \("md5:abc"\)/ });
  moto.setFault('DescribeImages', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: '{}' });
  await t.rejects(source.imageDigest(request, session, 'reads/api', '1.0', deadline()), { code: 'MalformedAnswer', message: /\(null\)/ });
  const other = `sha256:${'b'.repeat(64)}`;
  moto.setFault('DescribeImages', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ imageDetails: [{ imageDigest: other }] }) });
  await t.rejects(source.imageDigest(request, session, 'reads/api', `sha256:${'c'.repeat(64)}`, deadline()), { code: 'MalformedAnswer', message: `asked for image sha256:${'c'.repeat(64)}, answered ${other}` });
  moto.setFault('ListTagsForResource', { kind: 'error', status: 400, code: 'AccessDeniedException', message: 'not authorized to perform ecr:ListTagsForResource' });
  t.teardown(() => moto.setFault('ListTagsForResource', undefined));
  await t.rejects(source.repositoryTags(request, session, registry, 'reads/api', deadline()), { step: 'ListTagsForResource', code: 'AccessDeniedException' });
  moto.setFault('ListTagsForResource', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: JSON.stringify({ tags: [{ Key: 'Team' }, { Value: 'orphan' }] }) });
  t.same(await source.repositoryTags(request, session, registry, 'reads/api', deadline()), { Team: '' }, 'a tag without value is empty, one without key is dropped');
  moto.setFault('ListTagsForResource', { kind: 'answer', contentType: 'application/x-amz-json-1.1', body: '{}' });
  t.same(await source.repositoryTags(request, session, registry, 'reads/api', deadline()), {}, 'an answer without a tag list is a repository without tags');
});

t.test('sessionRegistryReader reads with the session the session cache holds for the request', async (t) => {
  const owner = await registryOwner(moto.endpoint, '111111111111', 'eu-west-1');
  t.teardown(() => owner.destroy());
  await owner.repository('reads/web', { Team: 'Web' });
  const digest = await owner.push('reads/web', '2', 'reads-web');
  const asked: TokenRequest[] = [];
  const reader = sessionRegistryReader(source, { get: async (r) => (asked.push(r), source.assumeRole(r, deadline())) });
  t.equal(await reader.imageDigest(request, registry, 'reads/web', '2', deadline()), digest);
  t.same(await reader.repositoryTags(request, registry, 'reads/web', deadline()), { Team: 'Web' });
  t.same(asked, [request, request]);
});
