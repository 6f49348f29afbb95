import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import { AwsTokenSource } from '../../src/aws/aws-token-source.ts';
import { verifyPlan } from '../../src/cli/verify-report.ts';
import { CredentialError, type TokenRequest } from '../../src/credentials/registry-token.ts';
import { createMetrics } from '../../src/metrics.ts';
import { deriveAwsPolicies } from '../../src/policy/aws-policies.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { lintToolsBin } from '../lint-tools/lint-tools.ts';
import { startMoto } from '../moto/moto-server.ts';
import { fixture } from './run-cli.ts';

/**
 * An AccessDenied on AssumeRole made by moto itself, with its IAM enforcement: the webhook's identity is an IAM
 * user in moto, and it may assume exactly the roles the webhookPolicy that aws-policies prints allows.
 *
 * What moto 5.2.5 evaluates once INITIAL_NO_AUTH_ACTION_COUNT requests have passed (read off its access_control.py
 * and tried here): the caller's own identity policies, with Action and Resource matched (a `*` is a wildcard), so
 * sts:AssumeRole on a role ARN the caller's policy does not name is refused with AccessDenied. A role's trust policy
 * only for a role in the caller's own account, matching the principal to the caller's ARN literally (a session of a
 * named role never matches the role's ARN, unlike AWS). Not sts:TagSession, and not ECR's resource ARNs: it matches
 * ECR statements as if every resource were "*", so a repository-scoped pull statement refuses every pull. Hence the
 * trust and permission policies are linted by parliament and cfn-lint instead (test/lint-tools/), and the
 * AccessDenied of a wrong trust policy in test/cli/verify.test.ts is made by the proxy in front of moto.
 */
t.setTimeout(120_000);

const run = promisify(execFile);
const awsBin = await lintToolsBin();
// The first three requests make an administrator; moto enforces IAM from the fourth on.
const moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: '3' } });
t.teardown(() => moto.stop());

const WEBHOOK_USER = 'arn:aws:iam::123456789012:user/ecr-tenant-webhook';
const POLICY = parsePolicy(readFileSync(fixture('policy.yaml'), 'utf8'), 'policy.yaml');

async function aws(keys: readonly [string, string], args: readonly string[]) {
  const env = { PATH: process.env.PATH, AWS_ENDPOINT_URL: moto.endpoint, AWS_DEFAULT_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: keys[0], AWS_SECRET_ACCESS_KEY: keys[1] };
  const { stdout } = await run(`${awsBin}/aws`, [...args, '--output', 'json'], { env, encoding: 'utf8', timeout: 60_000 });
  return stdout.trim() === '' ? {} : JSON.parse(stdout);
}

async function accessKey(keys: readonly [string, string], user: string): Promise<[string, string]> {
  const { AccessKey } = await aws(keys, ['iam', 'create-access-key', '--user-name', user]);
  return [AccessKey.AccessKeyId, AccessKey.SecretAccessKey];
}

const anyone: [string, string] = ['AKIDSETUP', 'setup'];
await aws(anyone, ['iam', 'create-user', '--user-name', 'admin']);
await aws(anyone, ['iam', 'put-user-policy', '--user-name', 'admin', '--policy-name', 'all', '--policy-document', '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}']);
const admin = await accessKey(anyone, 'admin');
await aws(admin, ['iam', 'create-user', '--user-name', 'ecr-tenant-webhook']);
const webhook = await accessKey(admin, 'ecr-tenant-webhook');
Object.assign(process.env, { AWS_ENDPOINT_URL_STS: moto.endpoint, AWS_ACCESS_KEY_ID: webhook[0], AWS_SECRET_ACCESS_KEY: webhook[1], AWS_REGION: 'eu-west-1' });

const source = new AwsTokenSource({ sessionSeconds: 3600, maxAttempts: 1, metrics: createMetrics() });
const checks = verifyPlan(POLICY, undefined, 3600, 'policy.yaml');

/** AssumeRole as serve and verify make it: the session, or the code AWS refused it with. */
async function assume(request: TokenRequest): Promise<string> {
  try {
    await source.assumeRole(request, new AbortController().signal);
    return 'assumed';
  } catch (error) {
    if (error instanceof CredentialError) return error.code;
    throw error;
  }
}

t.test("moto refuses the webhook's AssumeRole with its own AccessDenied while the webhook's identity has no policy", async (t) => {
  t.same(await Promise.all(checks.map((check) => assume(check.request))), checks.map(() => 'AccessDenied'));
});

t.test('with the webhookPolicy aws-policies prints, every tenant role of the policy is assumed, and no other', async (t) => {
  const { webhookPolicy } = deriveAwsPolicies(POLICY, WEBHOOK_USER, 'policy.yaml');
  await aws(admin, ['iam', 'put-user-policy', '--user-name', 'ecr-tenant-webhook', '--policy-name', 'assume-tenant-roles', '--policy-document', JSON.stringify(webhookPolicy)]);
  t.same(
    checks.map((check) => check.request.roleArn),
    ['arn:aws:iam::111111111111:role/ecr-pull-payments', 'arn:aws:iam::222222222222:role/ecr-pull-payments-tools', 'arn:aws:iam::333333333333:role/ecr-pull-analytics'],
  );
  t.same(await Promise.all(checks.map((check) => assume(check.request))), checks.map(() => 'assumed'), 'each grant gets past AssumeRole');
  const outsider = { ...checks[0]!.request, roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-payments-admin' };
  t.equal(await assume(outsider), 'AccessDenied', 'a role the policy map does not name stays refused');
});
