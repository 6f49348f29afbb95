import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { BIN } from '../cli/run-cli.ts';
import { lintToolsBin } from '../lint-tools/lint-tools.ts';
import { startMoto } from '../moto/moto-server.ts';

/**
 * docs/aws-setup.md, run: its policy map becomes policy.yaml, and every `sh` block not marked "not run" is run in
 * order by bash, with the real command line and the AWS CLI, against moto's IAM, STS, CloudFormation and ECR. The
 * AWS CLI reaches moto through AWS_ENDPOINT_URL; the accounts of the walk-through are profiles that assume a role
 * in each (moto answers AssumeRole for any role, and keeps each account's resources apart by the caller's account).
 *
 * What moto does not model, and how the test stands in for it:
 * - it evaluates no policy: what the documents allow is linted by parliament and cfn-lint (test/lint-tools/), and
 *   here the test checks that the documents the walk-through applied are the ones AWS holds afterwards;
 * - it keeps repositories per caller account and looks only in the caller's own, so a role in another account sees
 *   none of the registry's: the analytics account is given the same repository under the registry's id;
 * - it refuses registry policies with pull actions (it checks them against scope V1), so that block is not run.
 */
t.setTimeout(180_000);

const run = promisify(execFile);
const DOC = new URL('../../docs/aws-setup.md', import.meta.url).pathname;
const WEBHOOK_ROLE = 'ecr-tenant-webhook';

interface Block {
  readonly lang: string;
  readonly text: string;
  /** Why the block is not run, from the `<!-- not run: … -->` line right above it. */
  readonly notRun?: string;
}

/** The fenced blocks of a Markdown text, in order. */
function blocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i]!);
    if (open === null) continue;
    const end = lines.indexOf('```', i + 1);
    const notRun = /^<!-- not run: (.+) -->$/.exec(lines[i - 1] ?? '')?.[1];
    found.push({ lang: open[1]!, text: lines.slice(i + 1, end).join('\n'), ...(notRun === undefined ? {} : { notRun }) });
    i = end;
  }
  return found;
}

const doc = blocks(readFileSync(DOC, 'utf8'));
const awsBin = await lintToolsBin();
const moto = await startMoto();
t.teardown(() => moto.stop());

const work = mkdtempSync(join(tmpdir(), 'aws-setup-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const shims = join(work, '.bin');
mkdirSync(shims);
writeFileSync(join(shims, 'ecr-tenant-webhook'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
chmodSync(join(shims, 'ecr-tenant-webhook'), 0o755);
writeFileSync(join(work, '.credentials'), '[base]\naws_access_key_id = AKIDOPERATOR\naws_secret_access_key = operator-secret\n');
const profile = (name: string, roleArn: string) => `[profile ${name}]\nrole_arn = ${roleArn}\nsource_profile = base\nregion = eu-west-1\n`;
writeFileSync(
  join(work, '.config'),
  [
    profile('cluster-account', 'arn:aws:iam::123456789012:role/admin'),
    profile('registry-account', 'arn:aws:iam::111111111111:role/admin'),
    profile('analytics-account', 'arn:aws:iam::222222222222:role/admin'),
    profile('webhook', `arn:aws:iam::123456789012:role/${WEBHOOK_ROLE}`),
  ].join(''),
);

/** Only what the walk-through's reader would have: no AWS variables of the test's own. */
const env: NodeJS.ProcessEnv = {
  PATH: `${shims}:${awsBin}:${process.env.PATH}`,
  HOME: work,
  AWS_CONFIG_FILE: join(work, '.config'),
  AWS_SHARED_CREDENTIALS_FILE: join(work, '.credentials'),
  AWS_ENDPOINT_URL: moto.endpoint,
};

async function bash(script: string) {
  try {
    const { stdout, stderr } = await run('bash', ['-euo', 'pipefail', '-c', script], { cwd: work, env, encoding: 'utf8', timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The AWS CLI's JSON answer. */
async function aws(args: string) {
  const result = await bash(`aws ${args} --output json`);
  if (result.code !== 0) throw new Error(`aws ${args}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

const file = (path: string) => JSON.parse(readFileSync(join(work, path), 'utf8'));
/**
 * IAM answers policy documents URL-encoded in a string, or (the AWS CLI decodes some) as the object. moto keeps the
 * inline policies a CloudFormation stack made as Python's repr of the document, single-quoted: these documents hold
 * no quote of their own, so swapping the quotes gives the JSON back.
 */
function policyOf(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = decodeURIComponent(value);
  return JSON.parse(text.startsWith("{'") ? text.replaceAll("'", '"') : text);
}

t.test('the walk-through has its policy map, the blocks it runs, and a reason for each it does not', async (t) => {
  t.equal(doc.filter((b) => b.lang === 'yaml').length, 1, 'one policy map');
  t.same(
    doc.filter((b) => b.notRun !== undefined).map((b) => b.text.split(' ').slice(0, 3).join(' ')),
    ['cd tf/222222222222 &&', 'aws --profile registry-account', 'kubectl -n ecr-tenant-webhook'],
    'Terraform apply, the registry policy and the in-cluster verify',
  );
  t.ok(doc.filter((b) => b.lang === 'sh' && b.notRun === undefined).length >= 8, 'the rest is run');
});

t.test('every sh block of the walk-through runs, in order, and ends with verify green as the page shows', async (t) => {
  writeFileSync(join(work, 'policy.yaml'), doc.find((b) => b.lang === 'yaml')!.text);
  // Made with the cluster, before the walk-through starts (IRSA or EKS Pod Identity).
  await aws(`--profile cluster-account iam create-role --role-name ${WEBHOOK_ROLE} --assume-role-policy-document '{"Version":"2012-10-17","Statement":[]}'`);
  // moto looks repositories up in the caller account's own store: the analytics role's account gets the registry's one.
  await aws('--profile analytics-account ecr create-repository --registry-id 111111111111 --repository-name analytics/etl/spark');

  const runnable = doc.map((block, i) => ({ block, i })).filter(({ block }) => block.lang === 'sh' && block.notRun === undefined);
  let verified: { code: number; stdout: string } | undefined;
  for (const { block, i } of runnable) {
    const result = await bash(block.text);
    t.equal(result.code, 0, `${block.text.split('\n')[0]}: ${result.stderr}`);
    if (!block.text.includes(' verify ')) continue;
    verified = result;
    // moto's tokens claim an expiry in 2015, which verify reports on the line; AWS's are hours ahead.
    const lines = result.stdout.replace(/ \(token obtained; ECR states an expiry already past, [^)]+\)/g, '');
    t.equal(lines, `${doc[i + 1]!.text}\n`, 'the output the page shows');
  }
  t.ok(verified, 'the walk-through ran verify');

  t.same(
    policyOf((await aws(`--profile cluster-account iam get-role-policy --role-name ${WEBHOOK_ROLE} --policy-name ecr-tenant-webhook-assume-tenant-roles`)).PolicyDocument),
    file('aws/webhook-policy.json'),
    "the webhook role holds its printed policy (step 3)",
  );
  // payments' role made with the AWS CLI (step 4), analytics' by its CloudFormation stack (step 5): the same documents.
  for (const [profile, account, role] of [['registry-account', '111111111111', 'ecr-pull-payments'], ['analytics-account', '222222222222', 'ecr-pull-analytics']]) {
    const { Role } = await aws(`--profile ${profile} iam get-role --role-name ${role}`);
    t.same(policyOf(Role.AssumeRolePolicyDocument), file(`aws/${account}/${role}.trust-policy.json`), `${role}: the trust policy`);
    const { PolicyDocument } = await aws(`--profile ${profile} iam get-role-policy --role-name ${role} --policy-name ecr-tenant-webhook-pull`);
    t.same(policyOf(PolicyDocument), file(`aws/${account}/${role}.permission-policy.json`), `${role}: the permission policy`);
  }
  const { policyText } = await aws('--profile registry-account ecr get-repository-policy --repository-name analytics/etl/spark');
  t.same(JSON.parse(policyText), file('aws/111111111111/eu-west-1.repository-policy-a3e3fc06.json'), 'analytics/etl/spark: its repository policy (step 7)');
  t.same(
    ['7d43faad', 'a3e3fc06'].map((id) => file(`aws/111111111111/eu-west-1.repository-policy-${id}.json`).Statement.map((s: { Principal: { AWS: string[] } }) => s.Principal.AWS)),
    [
      [['arn:aws:iam::111111111111:role/ecr-pull-payments'], ['arn:aws:iam::111111111111:role/ecr-pull-payments']],
      [['arn:aws:iam::222222222222:role/ecr-pull-analytics'], ['arn:aws:iam::222222222222:role/ecr-pull-analytics']],
    ],
    "each repository policy names only the role granted its repositories, never the other tenant's",
  );
  t.same(file('aws-registry/111111111111/eu-west-1.registry-policy.json').Statement.map((s: { Sid: string }) => s.Sid), ['EcrTenantWebhookPull1', 'EcrTenantWebhookPull2', 'EcrTenantWebhookVerify'], 'the registry policy: a statement per role, and verify');
  t.same(file('aws-org/111111111111/eu-west-1.registry-policy.json').Statement[0].Condition, { StringEquals: { 'aws:PrincipalOrgID': 'o-a1b2c3d4e5' } }, 'the organization condition');
});

t.test("the walk-through's verify fails when a granted repository is gone, naming the glob and the fix", async (t) => {
  await aws('--profile registry-account ecr delete-repository --repository-name shared/base');
  const verify = doc.find((b) => b.lang === 'sh' && b.notRun === undefined && b.text.includes(' verify '))!;
  const result = await bash(verify.text);
  t.equal(result.code, 1);
  t.match(result.stdout, /^FAIL {2}payments {2}111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com {2}no repository in 111111111111\/eu-west-1 matches shared\/base: create the repository/m);
  t.match(result.stdout, /^2 grants verified: 1 ok, 1 failed/m);
});
