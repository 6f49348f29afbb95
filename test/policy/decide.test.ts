import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { buildPatch } from '../../src/admission/patch.ts';
import type { CompiledPolicy } from '../../src/policy/compile.ts';
import { decide, pullSecretName, WARNING_MAX, type Decision, type DecisionInput, type Verdict } from '../../src/policy/decide.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import type { Mode } from '../../src/policy/schema.ts';
import { readPodSpec, type PodSpecView } from '../../src/workload/pod-spec.ts';
import { classifyRegistryHost } from '../../src/image/ecr-host.ts';
import { parseImageReference } from '../../src/image/reference.ts';

/**
 * decide() for one pod at a time, rule by rule. Pods are plain objects read with readPodSpec, as the admission
 * handler and `check` read them; the policies below are parsed from YAML, as the webhook loads them.
 */
const A = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const A_DUAL = '111111111111.dkr-ecr.eu-west-1.on.aws';
const A_FIPS = '111111111111.dkr.ecr-fips.eu-west-1.amazonaws.com';
const B = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const C = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
const E = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';
const ISO = '777777777777.dkr.ecr.us-iso-east-1.c2s.ic.gov';
const ISO_DUAL = '777777777777.dkr-ecr.us-iso-east-1.on.aws.ic.gov';
const ISOF = '888888888888.dkr.ecr.us-isof-south-1.csp.hci.ic.gov';
const SECRET_ISO = 'ecr-pull-777777777777-us-iso-east-1';
const SECRET_ISOF = 'ecr-pull-888888888888-us-isof-south-1';
const SECRET_A = 'ecr-pull-111111111111-eu-west-1';
const SECRET_C = 'ecr-pull-222222222222-us-west-2';
const SECRET_E = 'ecr-pull-333333333333-eu-central-1';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const TENANT = 'ecr-tenant-webhook.io/tenant';
const MODE = 'ecr-tenant-webhook.io/mode';

const POLICY = parsePolicy(
  `
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults:
    mode: enforce
    nonEcrImages: allow
  rewrites:
    - from: ${B}
      to: ${A}
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${A}
          repositories: ["payments/*", "shared/**"]
        - registry: ${A_DUAL}
          repositories: ["payments/*"]
        - registry: ${C}
          repositories: ["tools/*", "payments/*"]
          roleArn: arn:aws:iam::222222222222:role/ecr-pull-payments-tools
      rewrites:
        - from: ${B}/pay
          to: ${A}/shared/pay
        - from: ${B}/payments
          to: ${C}/payments
        - from: docker.io
          to: ${A}/shared/docker-hub
    analytics:
      mode: dry-run
      nonEcrImages: deny
      roleArn: arn:aws:iam::333333333333:role/ecr-pull-analytics
      grants:
        - registry: ${E}
          repositories: ["analytics/**"]
    strict:
      nonEcrImages: deny
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-strict
      grants:
        - registry: ${A}
          repositories: ["strict/*"]
    iso:
      roleArn: arn:aws-iso:iam::777777777777:role/ecr-pull-iso
      grants:
        - registry: ${ISO}
          repositories: ["app/*"]
        - registry: ${ISO_DUAL}
          repositories: ["app/*"]
        - registry: ${ISOF}
          repositories: ["app/*"]
          roleArn: arn:aws-iso-f:iam::888888888888:role/ecr-pull-iso
`,
  'decide-policy.yaml',
);

/** Defaults the other way round: dry-run and no images outside ECR, with one tenant overriding both. */
const CAUTIOUS_POLICY = parsePolicy(
  `
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  defaults: { mode: dry-run, nonEcrImages: deny }
  tenants:
    open:
      mode: enforce
      nonEcrImages: allow
    plain: {}
`,
  'cautious-policy.yaml',
);

/** A rewrite whose output is longer than a repository name may be. */
const LONG_PREFIX = `shared/${'long-prefix'.repeat(20)}`;
const LONG_REWRITE_POLICY = parsePolicy(
  `
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    payments:
      roleArn: arn:aws:iam::111111111111:role/ecr-pull-payments
      grants:
        - registry: ${A}
          repositories: ["shared/**"]
      rewrites:
        - from: mirror.example.com
          to: ${A}/${LONG_PREFIX}
`,
  'long-rewrite-policy.yaml',
);

type Spec = Record<string, unknown>;

function pod(spec: Spec): PodSpecView {
  const read = readPodSpec({ spec }, ['spec']);
  if (!read.ok) throw new Error(read.problem);
  return read.view;
}

function tenantLabels(tenant: string, mode?: string): Record<string, string> {
  return mode === undefined ? { [TENANT]: tenant } : { [TENANT]: tenant, [MODE]: mode };
}

function containers(...images: [string, unknown][]): Spec {
  return { containers: images.map(([name, image]) => ({ name, image })) };
}

interface Want {
  allowed: boolean;
  verdict: Verdict;
  /** Defaults to enforce. */
  mode?: Mode;
  /** Defaults to the tenant label. */
  tenant?: string | undefined;
  /** [container name, new image] for every image changed. */
  changes?: [string, string][];
  addPullSecrets?: string[];
  imagePullSecrets?: string[];
  reasons?: (string | RegExp)[];
  warnings?: (string | RegExp)[];
  /** Matched against decision.images, when given. */
  images?: Record<string, unknown>[];
}

interface Case {
  name: string;
  spec: Spec;
  labels: Record<string, string> | undefined;
  namespace?: string;
  before?: Spec;
  policy?: CompiledPolicy;
  want: Want;
}

function decideCase(c: Pick<Case, 'spec' | 'labels' | 'namespace' | 'before' | 'policy'>): Decision {
  const input: DecisionInput = {
    pod: pod(c.spec),
    namespace: c.namespace ?? 'shop',
    namespaceLabels: c.labels,
    policy: c.policy ?? POLICY,
    before: c.before === undefined ? undefined : pod(c.before),
  };
  return decide(input);
}

const cases: Case[] = [
  // No tenant label: untouched
  {
    name: 'a namespace without labels is allowed untouched, its pull secrets reported as they are',
    spec: { ...containers(['api', `${A}/paymentsevil/x`]), imagePullSecrets: [{ name: 'mine' }] },
    labels: undefined,
    want: { allowed: true, verdict: 'untouched', tenant: undefined, imagePullSecrets: ['mine'], images: [] },
  },
  {
    name: 'a namespace with other labels but no tenant label is allowed untouched, even with a bad mode label',
    spec: containers(['api', 'not a valid image']),
    labels: { team: 'payments', [MODE]: 'bogus' },
    want: { allowed: true, verdict: 'untouched', tenant: undefined, imagePullSecrets: [], images: [] },
  },
  {
    name: 'an untouched namespace reports the default mode of the policy',
    spec: containers(['api', 'nginx']),
    labels: {},
    policy: CAUTIOUS_POLICY,
    want: { allowed: true, verdict: 'untouched', mode: 'dry-run', tenant: undefined },
  },

  // Unknown tenant
  {
    name: 'a tenant label naming a tenant the policy does not have is denied, naming tenant, namespace and label',
    spec: containers(['api', `${A}/payments/api`]),
    labels: tenantLabels('nobody'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: ['tenant "nobody" has no grants: namespace "shop" is labelled ecr-tenant-webhook.io/tenant="nobody" but the policy names no such tenant'],
      images: [],
    },
  },
  {
    name: 'an empty tenant label value names no tenant of the policy and is denied',
    spec: containers(['api', 'nginx']),
    labels: tenantLabels(''),
    want: { allowed: false, verdict: 'deny', reasons: [/^tenant "" has no grants: /] },
  },
  {
    name: 'an unknown tenant in a dry-run namespace is admitted with a warning that enforcement would deny it',
    spec: containers(['api', 'nginx']),
    labels: tenantLabels('nobody', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/^tenant "nobody" has no grants: /],
      warnings: ['dry-run: would deny: tenant "nobody" has no grants'],
    },
  },

  // Rewrites
  {
    name: "the tenant's own rewrite is applied before the global one, and the rewritten image is granted",
    spec: containers(['api', `${B}/payments/api:1.4`]),
    labels: tenantLabels('payments'),
    want: {
      allowed: true,
      verdict: 'allow',
      changes: [['api', `${C}/payments/api:1.4`]],
      addPullSecrets: [SECRET_C],
      imagePullSecrets: [SECRET_C],
      images: [{ path: 'spec.containers[0].image', container: 'api', from: `${B}/payments/api:1.4`, to: `${C}/payments/api:1.4`, granted: true, reason: undefined }],
    },
  },
  {
    name: 'a rewrite prefix matches a whole path segment: pay covers pay/api',
    spec: containers(['api', `${B}/pay/api:2`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['api', `${A}/shared/pay/api:2`]], addPullSecrets: [SECRET_A] },
  },
  {
    name: 'a rewrite prefix never matches part of a segment: pay does not cover paymentsx, which falls to the global rewrite',
    spec: containers(['api', `${B}/paymentsx/api:2`]),
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        `container "api" image "${B}/paymentsx/api:2" (rewritten to "${A}/paymentsx/api:2") is not granted: repository "paymentsx/api" matches none of tenant "payments"'s patterns (payments/*, shared/**) (tenant "payments", namespace "shop")`,
      ],
      images: [{ from: `${B}/paymentsx/api:2`, to: `${A}/paymentsx/api:2`, granted: false }],
    },
  },
  {
    name: 'the global rewrite applies when no rewrite of the tenant matches',
    spec: containers(['lib', `${B}/shared/lib:3`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['lib', `${A}/shared/lib:3`]], addPullSecrets: [SECRET_A] },
  },
  {
    name: 'a rewrite keeps both tag and digest exactly',
    spec: containers(['api', `${B}/payments/api:1.4@${DIGEST}`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['api', `${C}/payments/api:1.4@${DIGEST}`]], addPullSecrets: [SECRET_C] },
  },
  {
    name: 'a rewrite of a digest-only reference adds no tag',
    spec: containers(['lib', `${B}/shared/lib@${DIGEST}`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['lib', `${A}/shared/lib@${DIGEST}`]], addPullSecrets: [SECRET_A] },
  },
  {
    name: 'a rewrite of an untagged reference adds no tag',
    spec: containers(['lib', `${B}/shared/lib`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['lib', `${A}/shared/lib`]], addPullSecrets: [SECRET_A] },
  },
  {
    name: 'a rewrite from docker.io covers Docker Hub images written without a host, with library/ for official images',
    spec: containers(['web', 'nginx:1.27'], ['cache', 'bitnami/redis'], ['proxy', 'docker.io/library/haproxy:3'], ['old', 'index.docker.io/library/busybox']),
    labels: tenantLabels('payments'),
    want: {
      allowed: true,
      verdict: 'allow',
      changes: [
        ['web', `${A}/shared/docker-hub/library/nginx:1.27`],
        ['cache', `${A}/shared/docker-hub/bitnami/redis`],
        ['proxy', `${A}/shared/docker-hub/library/haproxy:3`],
        ['old', `${A}/shared/docker-hub/library/busybox`],
      ],
      addPullSecrets: [SECRET_A],
    },
  },
  {
    name: 'an image already in a granted registry is not rewritten and only gets its pull secret',
    spec: containers(['api', `${A}/payments/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_A], imagePullSecrets: [SECRET_A], images: [{ from: `${A}/payments/api:1`, to: `${A}/payments/api:1`, granted: true }] },
  },
  {
    name: 'an upper-case host is still matched by rewrites',
    spec: containers(['lib', `${B.toUpperCase()}/shared/lib:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['lib', `${A}/shared/lib:1`]], addPullSecrets: [SECRET_A] },
  },
  {
    name: 'a rewrite whose output is not a valid reference is denied naming the rewrite',
    spec: containers(['api', `mirror.example.com/${'x'.repeat(30)}/app:1`]),
    labels: tenantLabels('payments'),
    policy: LONG_REWRITE_POLICY,
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        new RegExp(
          `^container "api" image "mirror\\.example\\.com/x{30}/app:1" cannot be rewritten by spec\\.tenants\\.payments\\.rewrites\\[0\\]: ` +
            `repository path "shared/long-prefix.*…" is ${LONG_PREFIX.length + 35} characters long, over 255 \\(the registry host is not counted\\) \\(tenant "payments", namespace "shop"\\)$`,
        ),
      ],
    },
  },

  // Grants
  {
    name: 'a repository that only shares a prefix with a granted pattern is denied, naming container, image, tenant and namespace',
    spec: containers(['shell', `${A}/paymentsevil/shell:latest`]),
    labels: tenantLabels('payments'),
    namespace: 'checkout',
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        `container "shell" image "${A}/paymentsevil/shell:latest" is not granted: repository "paymentsevil/shell" matches none of tenant "payments"'s patterns (payments/*, shared/**) (tenant "payments", namespace "checkout")`,
      ],
      images: [{ path: 'spec.containers[0].image', container: 'shell', granted: false, reason: /^container "shell" image / }],
    },
  },
  {
    name: 'a repository two levels below a single-star pattern is denied',
    spec: containers(['api', `${A}/payments/a/b`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/repository "payments\/a\/b" matches none of tenant "payments"'s patterns/] },
  },
  {
    name: 'an ECR registry the tenant has no grant for is denied, naming the registry',
    spec: containers(['api', '444444444444.dkr.ecr.eu-west-1.amazonaws.com/payments/api']),
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        'container "api" image "444444444444.dkr.ecr.eu-west-1.amazonaws.com/payments/api" is not granted: tenant "payments" has no grant for registry 444444444444.dkr.ecr.eu-west-1.amazonaws.com (tenant "payments", namespace "shop")',
      ],
    },
  },
  {
    name: 'the FIPS host of a granted account and region is another host and needs its own grant',
    spec: containers(['api', `${A_FIPS}/payments/api`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [new RegExp(`has no grant for registry ${A_FIPS.replace(/\./g, '\\.')} `)] },
  },
  {
    name: 'an init container is judged too, and its denial says initContainer',
    spec: { ...containers(['api', `${A}/payments/api`]), initContainers: [{ name: 'migrate', image: `${A}/billing/migrate:7` }] },
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [/^initContainer "migrate" image "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/billing\/migrate:7" is not granted: .*\(tenant "payments", namespace "shop"\)$/],
      images: [{ path: 'spec.containers[0].image', granted: true }, { path: 'spec.initContainers[0].image', granted: false }],
    },
  },
  {
    name: 'an ephemeral container is judged too, and its denial says ephemeralContainer',
    spec: { ...containers(['api', `${A}/payments/api`]), ephemeralContainers: [{ name: 'debugger', image: `${A}/tools/shell` }] },
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [/^ephemeralContainer "debugger" image "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/tools\/shell" is not granted: /],
      images: [{ path: 'spec.containers[0].image', granted: true }, { path: 'spec.ephemeralContainers[0].image', granted: false }],
    },
  },
  {
    name: 'init and ephemeral containers that are granted are rewritten like the others',
    spec: { initContainers: [{ name: 'init', image: `${B}/shared/init:1` }], ephemeralContainers: [{ name: 'debug', image: `${B}/payments/debug:1` }] },
    labels: tenantLabels('payments'),
    want: {
      allowed: true,
      verdict: 'allow',
      changes: [
        ['init', `${A}/shared/init:1`],
        ['debug', `${C}/payments/debug:1`],
      ],
      addPullSecrets: [SECRET_A, SECRET_C],
    },
  },

  // Image volumes: the kubelet pulls them with the pod's pull secrets, so they are judged like container images
  {
    name: 'an image volume naming an ungranted repository is denied, and its denial names the volume',
    spec: { ...containers(['api', `${A}/payments/api`]), volumes: [{ name: 'data', emptyDir: {} }, { name: 'loot', image: { reference: `${A}/billing/anything:1` } }] },
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [/^volume "loot" image "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/billing\/anything:1" is not granted: /],
      images: [{ path: 'spec.containers[0].image', granted: true }, { path: 'spec.volumes[1].image.reference', granted: false }],
    },
  },
  {
    name: 'a granted image volume is rewritten and gets the pull secret like a container',
    spec: { volumes: [{ name: 'models', image: { reference: `${B}/payments/models:1` } }] },
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['models', `${C}/payments/models:1`]], addPullSecrets: [SECRET_C] },
  },

  // ECR hosts in upper case: the kubelet would look for a pull secret keyed by the host as written, and find none
  {
    name: 'an upper-case variant of a granted ECR host is denied, saying to write the host in lower case',
    spec: containers(['api', `${A.toUpperCase()}/payments/api:1`]),
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        `container "api" image "${A.toUpperCase()}/payments/api:1" is not admitted: registry host "${A.toUpperCase()}" is a private ECR registry written with ` +
          `upper-case letters; write it in lower case (${A}): the kubelet matches a pull secret only to the host exactly as written, and pull secrets ` +
          'name ECR hosts in lower case (tenant "payments", namespace "shop")',
      ],
    },
  },
  {
    name: 'an ECR host with one upper-case letter, on a port, is denied like an all upper-case one',
    spec: containers(['api', '111111111111.dkr.ecr.eu-west-1.amazonaws.Com:443/payments/api:1']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/image ".*" is not admitted: registry host "111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.Com" is a private ECR registry written with upper-case letters; write it in lower case \(111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com\)/] },
  },
  {
    name: 'an upper-case ECR host is denied for its case before its repository is judged',
    spec: containers(['api', `${A.toUpperCase()}/paymentsevil/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not admitted: registry host ".*" is a private ECR registry written with upper-case letters/] },
  },
  {
    name: 'an upper-case ECR host in dry-run is admitted unchanged with a warning saying enforcement would deny it',
    spec: containers(['api', `${A.toUpperCase()}/payments/api:1`]),
    labels: tenantLabels('payments', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/written with upper-case letters; write it in lower case/],
      warnings: ['dry-run: would deny: container "api": ECR host must be lower case'],
    },
  },
  {
    name: 'an ECR host with :443 is the same registry as without a port',
    spec: containers(['api', `${A}:443/payments/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_A] },
  },
  {
    name: 'an ECR host with :443 still needs a grant for the repository',
    spec: containers(['api', `${A}:443/paymentsevil/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/repository "paymentsevil\/api" matches none/] },
  },
  {
    name: 'an ECR host with another port is another registry, for which the tenant has no grant',
    spec: containers(['api', `${A}:8443/payments/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/has no grant for registry 111111111111\.dkr\.ecr\.eu-west-1\.amazonaws\.com:8443 /] },
  },
  {
    name: 'one ungranted image denies the whole pod and nothing is changed, not even the granted images',
    spec: containers(['api', `${B}/payments/api:1`], ['shell', `${A}/paymentsevil/shell`]),
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [/^container "shell" image /],
      images: [{ container: 'api', granted: true, to: `${C}/payments/api:1` }, { container: 'shell', granted: false }],
    },
  },
  {
    name: 'every ungranted image gets its own reason',
    spec: containers(['a', `${A}/x/a`], ['b', `${A}/x/b`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "a" image /, /^container "b" image /] },
  },

  // Images outside private ECR
  {
    name: 'an image outside ECR is allowed unchanged when the tenant inherits nonEcrImages allow, with no pull secret',
    spec: containers(['exporter', 'quay.io/prometheus/node-exporter:v1.8.0']),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', imagePullSecrets: [], images: [{ from: 'quay.io/prometheus/node-exporter:v1.8.0', to: 'quay.io/prometheus/node-exporter:v1.8.0', granted: true }] },
  },
  {
    name: 'public.ecr.aws is ECR Public, not a private registry, so it is allowed under nonEcrImages allow',
    spec: containers(['web', 'public.ecr.aws/nginx/nginx:1.27']),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow' },
  },
  {
    name: 'public.ecr.aws is denied for a tenant with nonEcrImages deny',
    spec: containers(['web', 'public.ecr.aws/nginx/nginx:1.27']),
    labels: tenantLabels('strict'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        'container "web" image "public.ecr.aws/nginx/nginx:1.27" is not in a private ECR registry, and tenant "strict" may pull only from ECR (nonEcrImages: deny) (tenant "strict", namespace "shop")',
      ],
    },
  },
  {
    name: 'a Docker Hub image is denied for a tenant with nonEcrImages deny and no rewrite for it',
    spec: containers(['web', 'nginx']),
    labels: tenantLabels('strict'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "web" image "nginx" is not in a private ECR registry/] },
  },
  {
    name: 'a host that is not shaped like a private ECR registry is not ECR, and nonEcrImages deny refuses it',
    spec: containers(['api', `evil.example/${A}/strict/api`]),
    labels: tenantLabels('strict'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not in a private ECR registry/] },
  },
  {
    name: 'a host with an 11-digit account is not shaped like ECR, so it is any other registry',
    spec: containers(['api', '11111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api']),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', imagePullSecrets: [] },
  },

  // Hosts shaped like private ECR (12 digits, then .dkr) but of no known form: refused, never taken for non-ECR
  {
    name: 'an ECR-shaped host with a suffix after the domain is denied even where non-ECR images are allowed',
    spec: containers(['api', `${A}.evil.example/payments/api`]),
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [
        `container "api" image "${A}.evil.example/payments/api" is not admitted: registry host "${A}.evil.example" looks like a private ECR registry but is not ` +
          'a form this webhook knows (region eu-west-1 is in partition aws, whose registries are under amazonaws.com, not "amazonaws.com.evil.example"); ' +
          'refused rather than treated as a non-ECR registry (tenant "payments", namespace "shop")',
      ],
    },
  },
  {
    name: 'a China-domain ECR host with a region outside China is denied as a form not known, naming the partition of the region',
    spec: containers(['api', '111111111111.dkr.ecr.eu-west-1.amazonaws.com.cn/strict/api']),
    labels: tenantLabels('strict'),
    want: { allowed: false, verdict: 'deny', reasons: [/looks like a private ECR registry but is not a form this webhook knows \(region eu-west-1 is in partition aws, whose registries are under amazonaws\.com, not "amazonaws\.com\.cn"\)/] },
  },
  {
    name: 'an ISO region under amazonaws.com is denied as a form not known, naming the ISO domain',
    spec: containers(['api', '777777777777.dkr.ecr.us-iso-east-1.amazonaws.com/app/api']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/\(region us-iso-east-1 is in partition aws-iso, whose registries are under c2s\.ic\.gov, not "amazonaws\.com"\); refused rather than treated as a non-ECR registry/] },
  },
  {
    name: 'an ECR-shaped host with a service other than dkr.ecr or dkr-ecr is denied as a form not known',
    spec: containers(['api', '111111111111.dkr.registry.example.com/payments/api']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/\(after the account comes dkr\.ecr, dkr\.ecr-fips, dkr-ecr or dkr-ecr-fips\)/] },
  },
  {
    name: 'an ECR-shaped host in dry-run is admitted unchanged with a warning saying enforcement would deny it',
    spec: containers(['api', `${A}.evil.example/payments/api`]),
    labels: tenantLabels('payments', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/looks like a private ECR registry but is not a form this webhook knows/],
      warnings: ['dry-run: would deny: container "api": ECR-like host of unknown form'],
    },
  },

  // The ISO partitions
  {
    name: 'an image in an ISO-partition registry is granted with a pull secret for its account and region',
    spec: containers(['api', `${ISO}/app/api:1`]),
    labels: tenantLabels('iso'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_ISO], images: [{ from: `${ISO}/app/api:1`, to: `${ISO}/app/api:1`, granted: true }] },
  },
  {
    name: 'an image in an ISO-partition registry outside the granted repositories is denied',
    spec: containers(['api', `${ISO}/other/api:1`]),
    labels: tenantLabels('iso'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not granted: repository "other\/api" matches none of tenant "iso"'s patterns \(app\/\*\)/] },
  },
  {
    name: 'an image in an ISO-partition registry needs a grant where non-ECR images are allowed, and is not waved through',
    spec: containers(['api', `${ISO}/app/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [`container "api" image "${ISO}/app/api:1" is not granted: tenant "payments" has no grant for registry ${ISO} (tenant "payments", namespace "shop")`] },
  },
  {
    name: 'a tenant with nonEcrImages deny may still pull its granted ECR repositories',
    spec: containers(['api', `${A}/strict/api`]),
    labels: tenantLabels('strict'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_A] },
  },
  {
    name: 'a tenant inherits nonEcrImages deny from the defaults',
    spec: containers(['web', 'quay.io/x/y']),
    labels: tenantLabels('plain', 'enforce'),
    policy: CAUTIOUS_POLICY,
    want: { allowed: false, verdict: 'deny', reasons: [/tenant "plain" may pull only from ECR \(nonEcrImages: deny\)/] },
  },
  {
    name: "a tenant's nonEcrImages allow overrides the defaults' deny",
    spec: containers(['web', 'quay.io/x/y']),
    labels: tenantLabels('open'),
    policy: CAUTIOUS_POLICY,
    want: { allowed: true, verdict: 'allow' },
  },

  // Invalid images
  {
    name: 'an image with an upper-case repository path is denied with the parser reason',
    spec: containers(['api', 'registry.example.com/Team/api']),
    labels: tenantLabels('payments'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: ['container "api" image "registry.example.com/Team/api" is not a valid image reference: repository path "Team/api" must be lower case (tenant "payments", namespace "shop")'],
    },
  },
  {
    name: 'an image that is not a string is denied as not a string',
    spec: containers(['api', 42]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: ['container "api" image "42" is not a valid image reference: image must be a string (tenant "payments", namespace "shop")'] },
  },
  {
    name: 'an image with a space is denied naming the character and its position',
    spec: containers(['api', 'nginx :1']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/image "nginx :1" is not a valid image reference: image contains a whitespace or control character \(U\+0020\) at position 5/] },
  },
  {
    name: 'an image with a short sha256 digest is denied',
    spec: containers(['api', `${A}/payments/api@sha256:${'a'.repeat(63)}`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image ".*@sha256:a{63}" is not a valid image reference: .*sha256.*64/] },
  },
  {
    name: 'an image with an invalid tag is denied with the parser reason',
    spec: containers(['api', 'nginx:-latest']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image "nginx:-latest" is not a valid image reference: tag "-latest" is invalid/] },
  },
  {
    name: 'an image that is only a tag has no repository name and is denied',
    spec: containers(['api', ':1.0']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image ":1\.0" is not a valid image reference: /] },
  },
  {
    name: 'an image on a host name with an underscore is denied',
    spec: containers(['api', 'bad_host.example.com/x']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not a valid image reference: registry host "bad_host\.example\.com"/] },
  },
  {
    name: 'an image on a port above 65535 is denied',
    spec: containers(['api', 'registry.example.com:70000/x']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not a valid image reference: registry port "70000"/] },
  },
  {
    name: 'an image with a digest algorithm the runtime does not accept is denied',
    spec: containers(['api', `nginx@md5:${'a'.repeat(32)}`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not a valid image reference: digest "md5:a{32}" is invalid/] },
  },
  {
    name: 'an image with a tag written after @ instead of a digest is denied',
    spec: containers(['api', 'nginx@latest']),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image "nginx@latest" is not a valid image reference: digest "latest" is invalid/] },
  },
  {
    name: 'an image with an upper-case sha256 digest is denied',
    spec: containers(['api', `nginx@sha256:${'A'.repeat(64)}`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/is not a valid image reference: sha256 digest /] },
  },
  {
    name: 'an image reference over 1024 characters is denied with its length, quoted clipped in the reason',
    spec: containers(['api', `quay.io/${'a'.repeat(1100)}`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image "quay\.io\/a{151}…" is not a valid image reference: image is 1108 characters long, over 1024 /] },
  },
  {
    name: 'an invalid image of a container without a name is named by its index',
    spec: { containers: [{ image: 'a//b' }] },
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "#0" image "a\/\/b" is not a valid image reference: /] },
  },

  // Missing images are skipped
  {
    name: 'containers without an image or with an empty image are skipped',
    spec: { containers: [{ name: 'no-image' }, { name: 'empty', image: '' }] },
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', images: [] },
  },
  {
    name: 'a pod without containers for a known tenant is allowed with nothing to change',
    spec: {},
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', images: [], imagePullSecrets: [] },
  },

  // Pull secrets
  {
    name: 'each distinct granted registry gets one pull secret named ecr-pull-<account>-<region>, in order of first use',
    spec: containers(['a', `${C}/tools/kubectl`], ['b', `${A}/payments/b`], ['c', `${A}/shared/x/y`], ['d', `${C}/payments/d`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_C, SECRET_A], imagePullSecrets: [SECRET_C, SECRET_A] },
  },
  {
    name: 'existing imagePullSecrets entries are kept first and a needed secret already listed is not added again',
    spec: {
      ...containers(['a', `${A}/payments/a`], ['c', `${C}/tools/k`]),
      imagePullSecrets: [{ name: 'mine' }, { name: SECRET_A }],
    },
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_C], imagePullSecrets: ['mine', SECRET_A, SECRET_C] },
  },
  {
    name: 'the dual-stack and the standard host of one account and region share one pull secret',
    spec: containers(['a', `${A}/payments/a`], ['b', `${A_DUAL}/payments/b`]),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', addPullSecrets: [SECRET_A], imagePullSecrets: [SECRET_A] },
  },
  {
    name: 'images outside ECR add no pull secret',
    spec: containers(['a', 'quay.io/x/y'], ['b', 'ghcr.io/x/y:1']),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', imagePullSecrets: [] },
  },

  // Mode
  {
    name: 'the namespace mode label dry-run wins over the tenant, so an ungranted image is admitted unchanged with a warning',
    spec: containers(['shell', `${A}/paymentsevil/shell:latest`]),
    labels: tenantLabels('payments', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/^container "shell" image .* is not granted: /],
      warnings: ['dry-run: would deny: container "shell": paymentsevil/shell not granted'],
    },
  },
  {
    name: "the namespace mode label enforce wins over the tenant's dry-run",
    spec: containers(['api', 'nginx']),
    labels: tenantLabels('analytics', 'enforce'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image "nginx" is not in a private ECR registry/] },
  },
  {
    name: "the tenant's dry-run wins over the defaults' enforce",
    spec: containers(['api', 'nginx']),
    labels: tenantLabels('analytics'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/^container "api" image "nginx" is not in a private ECR registry/],
      warnings: ['dry-run: would deny: container "api": image not in ECR (nonEcrImages: deny)'],
    },
  },
  {
    name: "the tenant's enforce wins over the defaults' dry-run",
    spec: containers(['api', `${A}/x/y`]),
    labels: tenantLabels('open'),
    policy: CAUTIOUS_POLICY,
    want: { allowed: false, verdict: 'deny', reasons: [/has no grant for registry/] },
  },
  {
    name: "a tenant without a mode gets the defaults' mode",
    spec: containers(['api', 'quay.io/x/y']),
    labels: tenantLabels('plain'),
    policy: CAUTIOUS_POLICY,
    want: { allowed: true, verdict: 'would-deny', mode: 'dry-run', reasons: [/nonEcrImages: deny/], warnings: ['dry-run: would deny: container "api": image not in ECR (nonEcrImages: deny)'] },
  },
  {
    name: 'a mode label that is neither enforce nor dry-run enforces, with a warning naming the label, even for a dry-run tenant',
    spec: containers(['api', 'nginx']),
    labels: tenantLabels('analytics', 'Dry-Run'),
    want: {
      allowed: false,
      verdict: 'deny',
      reasons: [/^container "api" image "nginx" is not in a private ECR registry/],
      warnings: ['namespace label ecr-tenant-webhook.io/mode="Dry-Run" is not enforce or dry-run; enforcing'],
    },
  },
  {
    name: 'a mode label that is not a mode still lets a fully granted pod through with its changes, and warns',
    spec: containers(['api', `${B}/payments/api:1`]),
    labels: tenantLabels('payments', 'off'),
    want: {
      allowed: true,
      verdict: 'allow',
      changes: [['api', `${C}/payments/api:1`]],
      addPullSecrets: [SECRET_C],
      warnings: ['namespace label ecr-tenant-webhook.io/mode="off" is not enforce or dry-run; enforcing'],
    },
  },
  {
    name: 'a bad mode label with an unknown tenant enforces the denial',
    spec: containers(['api', 'nginx']),
    labels: tenantLabels('nobody', 'audit'),
    want: { allowed: false, verdict: 'deny', reasons: [/^tenant "nobody" has no grants/], warnings: [/^namespace label ecr-tenant-webhook\.io\/mode="audit" is not enforce or dry-run; enforcing$/] },
  },

  // Dry-run
  {
    name: 'dry-run admits a grantable pod unchanged and warns about each rewrite and pull secret enforcement would add',
    spec: containers(['api', `${B}/payments/api:1.4`], ['lib', `${A}/shared/lib:1`]),
    labels: tenantLabels('payments', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'allow',
      mode: 'dry-run',
      imagePullSecrets: [SECRET_C, SECRET_A],
      warnings: [
        `dry-run: would rewrite "api" to ${C}/payments/api:1.4`,
        `dry-run: would add imagePullSecret ${SECRET_C}`,
        `dry-run: would add imagePullSecret ${SECRET_A}`,
      ],
      images: [{ to: `${C}/payments/api:1.4`, granted: true }, { to: `${A}/shared/lib:1`, granted: true }],
    },
  },
  {
    name: 'dry-run on a pod that needs nothing says nothing',
    spec: { ...containers(['api', `${A}/payments/api`]), imagePullSecrets: [{ name: SECRET_A }] },
    labels: tenantLabels('payments', 'dry-run'),
    want: { allowed: true, verdict: 'allow', mode: 'dry-run', imagePullSecrets: [SECRET_A] },
  },
  {
    name: 'dry-run that would deny lists only the denials, not the rewrites that would have happened',
    spec: containers(['api', `${B}/payments/api:1`], ['bad', 'UPPER/Case'], ['shell', `${A}/paymentsevil/shell`]),
    labels: tenantLabels('payments', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/^container "bad" /, /^container "shell" /],
      warnings: ['dry-run: would deny: container "bad": invalid image reference', 'dry-run: would deny: container "shell": paymentsevil/shell not granted'],
    },
  },
  {
    name: 'dry-run names an invalid rewrite output in its short form',
    spec: containers(['api', `mirror.example.com/${'x'.repeat(30)}/app:1`]),
    labels: tenantLabels('payments', 'dry-run'),
    policy: LONG_REWRITE_POLICY,
    want: { allowed: true, verdict: 'would-deny', mode: 'dry-run', reasons: [/cannot be rewritten by spec\.tenants\.payments\.rewrites\[0\]/], warnings: ['dry-run: would deny: container "api": rewrite gives an invalid reference'] },
  },

  // UPDATE
  {
    name: 'on update, images that did not change are not judged, so pods created before onboarding can still be updated',
    spec: containers(['api', `${A}/paymentsevil/api:1`], ['sidecar', 'nginx']),
    before: containers(['api', `${A}/paymentsevil/api:1`], ['sidecar', 'nginx']),
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', images: [] },
  },
  {
    name: 'on update, a changed image is judged and an ungranted one is denied',
    spec: containers(['api', `${A}/paymentsevil/api:2`]),
    before: containers(['api', `${A}/payments/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^container "api" image .*paymentsevil\/api:2" is not granted/] },
  },
  {
    name: 'on update, a changed image needing a pull secret the pod lacks is denied, because imagePullSecrets cannot change',
    spec: containers(['api', `${A}/payments/api:2`]),
    before: containers(['api', 'nginx']),
    labels: tenantLabels('payments'),
    namespace: 'checkout',
    want: {
      allowed: false,
      verdict: 'deny',
      imagePullSecrets: [],
      reasons: [
        `the updated pod needs pull secret "${SECRET_A}" for tenant "payments" in namespace "checkout", but imagePullSecrets cannot change on a pod update; recreate the pod instead`,
      ],
      images: [{ container: 'api', granted: true }],
    },
  },
  {
    name: 'on update, a changed image whose pull secret the pod already has is allowed and rewritten, adding no secret',
    spec: { ...containers(['api', `${B}/shared/api:2`]), imagePullSecrets: [{ name: SECRET_A }] },
    before: { ...containers(['api', `${A}/shared/api:1`]), imagePullSecrets: [{ name: SECRET_A }] },
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', changes: [['api', `${A}/shared/api:2`]], imagePullSecrets: [SECRET_A] },
  },
  {
    name: 'on update, an ephemeral container added by kubectl debug is judged and may use a pull secret the pod has',
    spec: { ...containers(['api', `${A}/payments/api:1`]), ephemeralContainers: [{ name: 'debugger', image: `${A}/shared/debug:1` }], imagePullSecrets: [{ name: SECRET_A }] },
    before: { ...containers(['api', `${A}/payments/api:1`]), imagePullSecrets: [{ name: SECRET_A }] },
    labels: tenantLabels('payments'),
    want: { allowed: true, verdict: 'allow', images: [{ path: 'spec.ephemeralContainers[0].image', granted: true }], imagePullSecrets: [SECRET_A] },
  },
  {
    name: 'on update, an ephemeral container from a registry the pod has no pull secret for is denied',
    spec: { ...containers(['api', `${A}/payments/api:1`]), ephemeralContainers: [{ name: 'debugger', image: `${C}/tools/debug:1` }], imagePullSecrets: [{ name: SECRET_A }] },
    before: { ...containers(['api', `${A}/payments/api:1`]), imagePullSecrets: [{ name: SECRET_A }] },
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', imagePullSecrets: [SECRET_A], reasons: [/^the updated pod needs pull secret "ecr-pull-222222222222-us-west-2" /] },
  },
  {
    name: 'on update, containers are compared by section and name, so the same name in another section is new',
    spec: { initContainers: [{ name: 'api', image: `${A}/paymentsevil/api:1` }] },
    before: containers(['api', `${A}/paymentsevil/api:1`]),
    labels: tenantLabels('payments'),
    want: { allowed: false, verdict: 'deny', reasons: [/^initContainer "api" image /] },
  },
  {
    name: 'on update in dry-run, the missing pull secret is a warning instead of a denial',
    spec: containers(['api', `${A}/payments/api:2`]),
    before: containers(['api', 'nginx']),
    labels: tenantLabels('payments', 'dry-run'),
    want: {
      allowed: true,
      verdict: 'would-deny',
      mode: 'dry-run',
      reasons: [/^the updated pod needs pull secret /],
      warnings: [`dry-run: would deny: pod update needs new pull secret ${SECRET_A}`],
    },
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const d = decideCase(c);
    const w = c.want;
    t.equal(d.allowed, w.allowed, 'allowed');
    t.equal(d.verdict, w.verdict, 'verdict');
    t.equal(d.mode, w.mode ?? 'enforce', 'mode');
    t.equal(d.tenant, 'tenant' in w ? w.tenant : c.labels?.[TENANT], 'tenant');
    t.same(
      d.changes.images.map((change) => [change.container.name, change.image]),
      w.changes ?? [],
      'image changes',
    );
    t.same(d.changes.addPullSecrets, w.addPullSecrets ?? [], 'pull secrets to add');
    if (w.imagePullSecrets !== undefined) t.same(d.imagePullSecrets, w.imagePullSecrets, 'imagePullSecrets the pod would carry');
    const reasons = w.reasons ?? [];
    t.equal(d.reasons.length, reasons.length, `${reasons.length} reasons: ${JSON.stringify(d.reasons)}`);
    reasons.forEach((want, i) => (typeof want === 'string' ? t.equal(d.reasons[i], want) : t.match(d.reasons[i], want)));
    const warnings = w.warnings ?? [];
    t.equal(d.warnings.length, warnings.length, `${warnings.length} warnings: ${JSON.stringify(d.warnings)}`);
    warnings.forEach((want, i) => (typeof want === 'string' ? t.equal(d.warnings[i], want) : t.match(d.warnings[i], want)));
    for (const warning of d.warnings) t.ok(warning.length <= WARNING_MAX, `warning within ${WARNING_MAX} characters: ${warning}`);
    if (w.images !== undefined) {
      t.equal(d.images.length, w.images.length, 'judged images');
      t.match(d.images, w.images);
    }
    if (!d.allowed) t.not(d.reasons.length, 0, 'a denial always has a reason');
  });
}

t.test('the pull secret needs name the account, region, role and the hosts that use them', async (t) => {
  const d = decideCase({
    spec: containers(['a', `${A}/payments/a`], ['b', `${A_DUAL}/payments/b`], ['c', `${A}:443/shared/c`], ['d', `${C}/tools/d`]),
    labels: tenantLabels('payments'),
  });
  t.same(d.pullSecrets, [
    { name: SECRET_A, account: '111111111111', region: 'eu-west-1', hosts: [A_DUAL, A, `${A}:443`].sort(), roleArn: 'arn:aws:iam::111111111111:role/ecr-pull-payments' },
    { name: SECRET_C, account: '222222222222', region: 'us-west-2', hosts: [C], roleArn: 'arn:aws:iam::222222222222:role/ecr-pull-payments-tools' },
  ]);
});

t.test('every pull secret host is the host and port exactly as an admitted image writes them', async (t) => {
  const images = [`${A}/payments/a`, `${A_DUAL}/payments/b`, `${A}:443/shared/c`, `${C}/tools/d`];
  const d = decideCase({ spec: containers(...images.map((image, i): [string, string] => [`c${i}`, image])), labels: tenantLabels('payments') });
  t.equal(d.allowed, true);
  const hosts = d.pullSecrets.flatMap((s) => s.hosts);
  t.same([...hosts].sort(), [...new Set(images.map((image) => image.slice(0, image.indexOf('/'))))].sort());
});

t.test('the ISO-partition pull secrets carry the role of each grant and the host forms the pod uses', async (t) => {
  const d = decideCase({ spec: containers(['a', `${ISO}/app/a`], ['b', `${ISO_DUAL}/app/b`], ['c', `${ISOF}/app/c`]), labels: tenantLabels('iso') });
  t.same(d.pullSecrets, [
    { name: SECRET_ISO, account: '777777777777', region: 'us-iso-east-1', hosts: [ISO_DUAL, ISO].sort(), roleArn: 'arn:aws-iso:iam::777777777777:role/ecr-pull-iso' },
    { name: SECRET_ISOF, account: '888888888888', region: 'us-isof-south-1', hosts: [ISOF], roleArn: 'arn:aws-iso-f:iam::888888888888:role/ecr-pull-iso' },
  ]);
});

t.test('pullSecretName is ecr-pull-<account>-<region>', async (t) => {
  t.equal(pullSecretName({ host: E, account: '333333333333', region: 'eu-central-1', partition: 'aws', fips: false, dualStack: false }), SECRET_E);
});

t.test('every warning stays within 120 characters, however long the names and images', async (t) => {
  const longName = `c${'x'.repeat(250)}`;
  const longPath = Array.from({ length: 12 }, (_, i) => `segment-${i}-${'y'.repeat(6)}`).join('/');
  // Label values are at most 63 characters; the warnings must hold whatever the object says.
  const longMode = `m${'z'.repeat(62)}`;
  const scenarios: { name: string; spec: Spec; labels: Record<string, string>; policy?: CompiledPolicy }[] = [
    { name: 'a would-deny of a long container and repository', spec: containers([longName, `${A}/${longPath}:1`]), labels: tenantLabels('payments', 'dry-run') },
    { name: 'a would-rewrite to a long image', spec: containers([longName, `${B}/shared/${longPath}:${'t'.repeat(100)}`]), labels: tenantLabels('payments', 'dry-run') },
    { name: 'a would-deny of a long invalid image', spec: containers([longName, `quay.io/${'U'.repeat(200)}`]), labels: tenantLabels('payments', 'dry-run') },
    { name: 'a would-deny of a long non-ECR image', spec: containers([longName, `quay.io/${longPath}`]), labels: tenantLabels('analytics') },
    { name: 'a long unknown tenant', spec: containers([longName, 'nginx']), labels: tenantLabels(`t${'n'.repeat(62)}`, 'dry-run') },
    { name: 'a long bad mode label', spec: containers([longName, 'nginx']), labels: tenantLabels('payments', longMode) },
    { name: 'an update needing a new pull secret', spec: containers([longName, `${A}/shared/${longPath}`]), labels: tenantLabels('payments', 'dry-run') },
  ];
  for (const s of scenarios) {
    const d = decideCase({ ...s, before: s.name.startsWith('an update') ? containers([longName, 'nginx']) : undefined });
    t.not(d.warnings.length, 0, `${s.name} warns`);
    for (const warning of d.warnings) t.ok(warning.length <= WARNING_MAX, `${s.name}: ${warning.length} characters`);
  }
  const bad = decideCase({ spec: containers(['api', 'nginx']), labels: tenantLabels('payments', longMode) });
  t.match(bad.warnings[0], /^namespace label ecr-tenant-webhook\.io\/mode="mz{28}…"/, 'the label value is clipped');
  t.match(bad.warnings[0], /; enforcing$/, 'the end of the warning survives');
  const long = decideCase({ spec: containers([longName, `${A}/${longPath}:1`]), labels: tenantLabels('payments', 'dry-run') });
  t.match(long.warnings[0], /^dry-run: would deny: container "cx{38}…": segment-0/, 'the container name is clipped first');
  t.ok(long.warnings[0]?.endsWith('…'), 'a warning cut at the limit ends with an ellipsis');
});

/** Applies a decision's changes to a copy of the pod spec with the admission's own patch. */
function applyChanges(spec: Spec, d: Decision): Spec {
  const pod = { spec };
  const read = readPodSpec(pod, ['spec']);
  if (!read.ok) throw new Error(read.problem);
  return fastJsonPatch.applyPatch(structuredClone(pod), buildPatch(pod, read.view, d.changes)).newDocument.spec;
}

t.test('deciding again on the pod with the changes applied changes nothing (reinvocation is idempotent)', async (t) => {
  const allowedWithChanges = cases.filter((c) => {
    if (c.before !== undefined) return false;
    const d = decideCase(c);
    return d.allowed && d.mode === 'enforce' && (d.changes.images.length > 0 || d.changes.addPullSecrets.length > 0);
  });
  t.ok(allowedWithChanges.length >= 10, `${allowedWithChanges.length} cases with changes are re-admitted`);
  for (const c of allowedWithChanges) {
    const first = decideCase(c);
    const mutated = applyChanges(c.spec, first);
    const again = decideCase({ ...c, spec: mutated });
    t.equal(again.allowed, true, `${c.name}: still allowed`);
    t.equal(again.verdict, 'allow', `${c.name}: verdict allow`);
    t.same(again.changes, { images: [], addPullSecrets: [] }, `${c.name}: no further changes`);
    t.same(again.imagePullSecrets, first.imagePullSecrets, `${c.name}: the same pull secrets`);
    t.same(
      again.images.map((i) => i.to),
      first.images.map((i) => i.to),
      `${c.name}: the same images`,
    );
  }
});

t.test('the decision does not modify the pod view it was given', async (t) => {
  const view = pod({ ...containers(['api', `${B}/payments/api:1`]), imagePullSecrets: [{ name: 'mine' }] });
  const snapshot = structuredClone(view);
  decide({ pod: view, namespace: 'shop', namespaceLabels: tenantLabels('payments'), policy: POLICY });
  t.same(view, snapshot);
});

t.test('the hosts decide treats as private ECR, those it refuses, and those it treats as any other registry', async (t) => {
  const privateHosts = [A, A_DUAL, A_FIPS, '111111111111.dkr-ecr-fips.us-east-1.on.aws', '555555555555.dkr.ecr.cn-north-1.amazonaws.com.cn', '555555555555.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn', '666666666666.dkr.ecr.us-gov-west-1.amazonaws.com', ISO, ISO_DUAL, ISOF];
  const refusedHosts = [A.toUpperCase(), `${A}.evil.example`, '111111111111.dkr.ecr.eu-west-1.amazonaws.com.cn', '555555555555.dkr.ecr.cn-north-1.amazonaws.com', '777777777777.dkr.ecr.us-iso-east-1.amazonaws.com', '111111111111.dkr.ecr.eu-west-1.amazonaws.com.'];
  const otherHosts = ['public.ecr.aws', '11111111111.dkr.ecr.eu-west-1.amazonaws.com', '1111111111111.dkr.ecr.eu-west-1.amazonaws.com', 'docker.io', 'quay.io'];
  for (const host of privateHosts) t.equal(classifyRegistryHost(host).kind, 'ecr', `${host} is private ECR`);
  for (const host of refusedHosts) t.equal(classifyRegistryHost(host).kind, 'refused', `${host} is refused`);
  for (const host of otherHosts) t.equal(classifyRegistryHost(host).kind, 'not-ecr', `${host} is not private ECR`);
});

t.test('an empty image is skipped by decide rather than judged, though the parser alone would call it empty', async (t) => {
  t.same(parseImageReference(''), { ok: false, reason: 'image is empty' });
  const d = decideCase({ spec: containers(['api', '']), labels: tenantLabels('strict') });
  t.same([d.allowed, d.verdict, d.images, d.reasons], [true, 'allow', [], []]);
});

t.test('on update, each old container is read once, so the cost grows with the containers and not with their square', async (t) => {
  // Searching the old containers for each new one took seconds for an update of a pod with 40,000 containers.
  const count = 2000;
  const spec = { containers: Array.from({ length: count }, (_, i) => ({ name: `c${i}`, image: i % 2 === 0 ? 'nginx' : `${A}/payments/api:${i}` })) };
  const view = pod(spec);
  let reads = 0;
  const counted = new Proxy([...view.containers], {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const d = decide({ pod: pod(spec), before: { ...view, containers: counted }, namespace: 'shop', namespaceLabels: tenantLabels('payments'), policy: POLICY });
  t.same([d.allowed, d.images], [true, []], 'no image changed, so none is judged');
  t.ok(reads <= count, `${reads} reads of ${count} old containers`);
});

t.test('on update, of two old containers with one name the first is the one compared, as a search would find it', async (t) => {
  const before = pod({ containers: [{ name: 'api', image: 'nginx' }, { name: 'api', image: `${A}/paymentsevil/api:1` }] });
  const unchanged = decide({ pod: pod(containers(['api', 'nginx'])), before, namespace: 'shop', namespaceLabels: tenantLabels('strict'), policy: POLICY });
  t.same(unchanged.images, [], 'the image of the first is the image before');
  const changed = decide({ pod: pod(containers(['api', `${A}/paymentsevil/api:1`])), before, namespace: 'shop', namespaceLabels: tenantLabels('payments'), policy: POLICY });
  t.equal(changed.verdict, 'deny', 'an image equal only to the second counts as changed');
});

// --- verdicts remembered between pods ------------------------------------------------------------------------

function rememberingPolicy(repositories: string): CompiledPolicy {
  return parsePolicy(
    `
apiVersion: ecr-tenant-webhook.io/v1alpha1
kind: TenantPolicy
spec:
  tenants:
    shop:
      roleArn: arn:aws:iam::111111111111:role/shop
      grants: [{ registry: ${A}, repositories: [${JSON.stringify(repositories)}] }]
`,
    'remembering.yaml',
  );
}

t.test('replicas of one pod get the same decision, judged or remembered', async (t) => {
  const policy = rememberingPolicy('app/*');
  const spec = containers(['app', `${A}/app/api:1.0`], ['sidecar', `${A}/other/x:1`]);
  // Judged twice (remembered from the second sighting), then answered from memory.
  const [first, , third] = [1, 2, 3].map(() => decideCase({ spec, labels: tenantLabels('shop'), policy }));
  t.same(third, first);
  t.equal(first?.verdict, 'deny');
  t.match(third?.reasons[0], /container "sidecar" image ".*other\/x:1" is not granted/, 'the reason names this pod’s container');
  const renamed = decideCase({ spec: containers(['web', `${A}/other/x:1`]), labels: tenantLabels('shop'), namespace: 'shop-2', policy });
  t.match(renamed.reasons[0], /^container "web" image .* \(tenant "shop", namespace "shop-2"\)$/, 'a remembered verdict is about the image, not the pod');
});

t.test('a reloaded policy judges again: nothing remembered under the old one is used', async (t) => {
  const spec = containers(['app', `${A}/app/api:1.0`]);
  t.equal(decideCase({ spec, labels: tenantLabels('shop'), policy: rememberingPolicy('app/*') }).verdict, 'allow');
  t.equal(decideCase({ spec, labels: tenantLabels('shop'), policy: rememberingPolicy('web/*') }).verdict, 'deny');
});

t.test('an image longer than any real one is judged every time, the same way', async (t) => {
  const policy = rememberingPolicy('app/**');
  const image = `${A}/app/${'deep/'.repeat(110)}api:1.0`;
  const first = decideCase({ spec: containers(['app', image]), labels: tenantLabels('shop'), policy });
  t.equal(first.verdict, 'deny');
  t.match(first.reasons[0], /is not a valid image reference/);
  t.same(decideCase({ spec: containers(['app', image]), labels: tenantLabels('shop'), policy }), first);
});
