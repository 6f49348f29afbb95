import t from 'tap';
import type { PullSecretProvisioning } from '../../src/admission/mutate-handler.ts';
import type { CompiledTenant } from '../../src/policy/compile.ts';
import type { PullSecretNeed } from '../../src/policy/decide.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { onePod, podReview, testApp } from './harness.ts';

/**
 * Registries of the ISO partitions through the whole admission handler: granted like any private ECR registry, with
 * a pull Secret for their account and region keyed by the host exactly as the image writes it.
 */
const ISO = '777777777777.dkr.ecr.us-iso-east-1.c2s.ic.gov';
const ISO_B_DUAL = '888888888888.dkr-ecr.us-isob-east-1.on.aws.scloud';
const POLICY = parsePolicy(
  `
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults: { nonEcrImages: allow }
  tenants:
    payments:
      roleArn: arn:aws-iso:iam::777777777777:role/ecr-pull-payments
      grants:
        - registry: ${ISO}
          repositories: ["payments/*"]
        - registry: ${ISO_B_DUAL}
          repositories: ["payments/*"]
          roleArn: arn:aws-iso-b:iam::888888888888:role/ecr-pull-payments
`,
  'iso-policy.yaml',
);

async function admit(image: string, namespace = 'shop') {
  const calls: { tenant: string; needs: readonly PullSecretNeed[] }[] = [];
  const pullSecrets: PullSecretProvisioning = {
    ready: () => true,
    provision: async (_namespace: string, tenant: CompiledTenant, needs: readonly PullSecretNeed[]) => {
      calls.push({ tenant: tenant.name, needs });
      return { outcomes: new Map(needs.map((n) => [n.name, 'created' as const])), failures: [] };
    },
  };
  const { app } = testApp({}, undefined, { policy: fixedPolicy(POLICY), pullSecrets });
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: podReview(namespace, onePod(image)) });
  const response = res.json().response;
  const patch = response.patch === undefined ? undefined : JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
  return { response, patch, calls };
}

const granted = [
  { name: 'an aws-iso registry image', image: `${ISO}/payments/api:1`, secret: 'ecr-pull-777777777777-us-iso-east-1', host: ISO, role: 'arn:aws-iso:iam::777777777777:role/ecr-pull-payments' },
  { name: 'an aws-iso-b dual-stack registry image', image: `${ISO_B_DUAL}/payments/api:1`, secret: 'ecr-pull-888888888888-us-isob-east-1', host: ISO_B_DUAL, role: 'arn:aws-iso-b:iam::888888888888:role/ecr-pull-payments' },
  { name: 'an aws-iso registry image on port 443', image: `${ISO}:443/payments/api:1`, secret: 'ecr-pull-777777777777-us-iso-east-1', host: `${ISO}:443`, role: 'arn:aws-iso:iam::777777777777:role/ecr-pull-payments' },
];

for (const c of granted) {
  t.test(`${c.name} is granted with a pull Secret for its account and region, keyed by its host as written`, async (t) => {
    const { response, patch, calls } = await admit(c.image);
    t.equal(response.allowed, true);
    t.same(patch, [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: c.secret }] }]);
    t.same(
      calls.map((call) => [call.tenant, call.needs.map((n) => [n.name, n.hosts, n.roleArn])]),
      [['payments', [[c.secret, [c.host], c.role]]]],
    );
  });
}

t.test('an aws-iso image outside the granted repositories is denied and no Secret is written', async (t) => {
  const { response, calls } = await admit(`${ISO}/other/api:1`);
  t.equal(response.allowed, false);
  t.match(response.status.message, /is not granted: repository "other\/api" matches none of tenant "payments"'s patterns \(payments\/\*\)/);
  t.same(calls, []);
});

t.test('the aws-iso registry written in upper case is denied, though the policy grants it, and no Secret is written', async (t) => {
  const { response, calls } = await admit(`${ISO.toUpperCase()}/payments/api:1`);
  t.equal(response.allowed, false);
  t.match(response.status.message, `write it in lower case (${ISO})`);
  t.same(calls, []);
});

t.test('an aws-iso region under the commercial domain is denied as a form not known, though non-ECR images are allowed', async (t) => {
  const { response, calls } = await admit('777777777777.dkr.ecr.us-iso-east-1.amazonaws.com/payments/api:1');
  t.equal(response.allowed, false);
  t.match(response.status.message, '(region us-iso-east-1 is in partition aws-iso, whose registries are under c2s.ic.gov, not "amazonaws.com"); refused rather than treated as a non-ECR registry');
  t.same(calls, []);
});
