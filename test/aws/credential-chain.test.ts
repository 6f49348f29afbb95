import t from 'tap';
import { credentialChain } from '../../src/aws/credential-chain.ts';
import type { TokenRequest } from '../../src/credentials/registry-token.ts';
import { parseEcrHost, type EcrRegistry } from '../../src/image/ecr-host.ts';
import { createMetrics } from '../../src/metrics.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { Budget } from '../../src/deadline.ts';
import { logSink } from '../admission/harness.ts';
import { registryOwner } from '../moto/ecr-images.ts';
import { awsEnvironment, startMoto } from '../moto/moto-server.ts';
import { seriesValues } from '../support/metric-values.ts';

/**
 * The chain serve and `check --aws` build, against moto: the ECR reads and the pull-secret token share one STS
 * session, a session past its refresh point is not reused for a token, and what happens is counted and logged.
 */
t.setTimeout(120_000);

const moto = await startMoto();
t.teardown(() => moto.stop());
Object.assign(process.env, awsEnvironment(moto.endpoint));

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const POLICY = parsePolicy(
  `apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      pinDigests: true
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants: [{ registry: ${HOST}, repositories: ["chain/*"] }]
`,
  'chain.yaml',
);
const tenant = POLICY.tenants.get('payments')!;
const grant = [...tenant.grantsByRegistry.values()].flat()[0]!;
const registry = parseEcrHost(HOST) as EcrRegistry;
const request: TokenRequest = { tenant: 'payments', roleArn: grant.roleArn, externalId: undefined, sessionTags: undefined, durationSeconds: 3600, registry };

const owner = await registryOwner(moto.endpoint, '111111111111', 'eu-west-1');
t.teardown(() => owner.destroy());
await owner.repository('chain/api');
const DIGEST = await owner.push('chain/api', '1', 'chain-api');

function chain() {
  const metrics = createMetrics();
  const sink = logSink();
  const built = credentialChain({ sessionSeconds: 3600, refreshFraction: 0.5, deadlineMs: 5000, registryCacheMs: 60_000, registryReadsPerSecond: 20, metrics, log: sink.log });
  t.teardown(() => built.destroy());
  return { ...built, metrics, logs: sink.lines };
}

t.test('an ECR read and the pull-secret token after it share one AssumeRole', async (t) => {
  const { registry: lookups, tokens, metrics, logs } = chain();
  moto.resetCalls();
  const facts = lookups.forAdmission();
  const question = { kind: 'image' as const, tenant, grant, repository: 'chain/api', reference: '1' };
  await facts.fetch([question], new Budget(10_000));
  t.same(facts.image(question), { state: 'found', value: DIGEST });
  await tokens.get(request);
  t.same(moto.calls(), { AssumeRole: 1, DescribeImages: 1, GetAuthorizationToken: 1 });
  t.same(await seriesValues(metrics.registryLookups), { 'kind=image,result=found': 1 });
  t.same(await seriesValues(metrics.tokenLookups), { 'result=miss': 1 }, 'session lookups are not token lookups');
  // moto's token claims an expiry in 2015, which the token cache does not believe.
  t.same(logs.map((l) => l.msg), ['STS session minted', 'ECR token expiry not believed; trusted briefly', 'ECR token minted']);
});

t.test('a token minted when the kept session is past its refresh point assumes the role anew, and the reads then share that session', async (t) => {
  const { sessions, tokens } = chain();
  // A session kept as if it had been minted long ago: already past its refresh point, though valid.
  const stale = await sessions.get(request);
  sessions.put(request, { ...stale, expiresAt: new Date(Date.now() + 60_000) });
  const kept = sessions.peek(request)!;
  (kept as { refreshAt: number }).refreshAt = Date.now() - 1;
  moto.resetCalls();
  await tokens.get(request);
  t.same(moto.calls(), { AssumeRole: 1, GetAuthorizationToken: 1 });
  t.not(sessions.peek(request)!.credentials.accessKeyId, kept.credentials.accessKeyId, 'the new session is kept for the reads');
});

t.test('a failed session mint is logged as the STS session, naming tenant and role and the code', async (t) => {
  const { registry: lookups, logs } = chain();
  moto.setFault('AssumeRole', { kind: 'error', status: 403, code: 'AccessDenied', message: 'not authorized to perform sts:AssumeRole' });
  t.teardown(() => moto.setFault('AssumeRole', undefined));
  const facts = lookups.forAdmission();
  const question = { kind: 'image' as const, tenant, grant, repository: 'chain/api', reference: '1' };
  await facts.fetch([question], new Budget(10_000));
  t.match(facts.image(question), { state: 'error', code: 'AccessDenied' });
  t.match(logs.find((l) => l.msg === 'STS session mint failed'), { tenant: 'payments', role: grant.roleArn, code: 'AccessDenied' });
});
