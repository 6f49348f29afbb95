// What the benchmark feeds the webhook: a generated policy (tenants × grants over a few ECR registries each), a
// directory of namespaces labelled across those tenants, and AdmissionReview bodies for pods in them. Everything is
// derived from indexes and a fixed seed, so the server child and the load child build the very same world without
// passing it around, and two runs send the same bodies in the same order.
import { parseEcrHost } from '../../src/image/ecr-host.ts';
import { MODE_LABEL, TENANT_LABEL } from '../../src/labels.ts';
import { pullSecretName } from '../../src/policy/decide.ts';

export const TENANT_COUNT = 1000;
export const REGISTRIES_PER_TENANT = 5;
export const NAMESPACE_COUNT = 10_000;
/** Namespaces per tenant block; the last of each block is left unlabelled. */
const NAMESPACES_PER_BLOCK = 10;

const REGIONS = ['us-east-1', 'eu-west-1', 'eu-central-1', 'ap-southeast-2', 'us-west-2'] as const;
/** The old build registry that rewriting tenants still name in their images. */
export const BUILD_REGISTRY = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
const PUBLIC_IMAGES = ['docker.io/library/nginx:1.27', 'busybox:1.37', 'quay.io/prometheus/node-exporter:v1.8.2'];

// --- tenants ----------------------------------------------------------------------------------------------------

export const tenantName = (i: number) => `t${String(i).padStart(4, '0')}`;
const accountOf = (i: number) => String(200_000_000_000 + i);
export const registryOf = (i: number, r: number) => `${accountOf(i)}.dkr.ecr.${REGIONS[r % REGIONS.length]}.amazonaws.com`;
export const roleOf = (i: number) => `arn:aws:iam::${accountOf(i)}:role/ecr-pull-${tenantName(i)}`;

/** Every tenth tenant is being onboarded in dry-run; every twentieth still builds into the old registry. */
export const isDryRunTenant = (i: number) => i % 10 === 3;
export const rewrites = (i: number) => i % 20 === 0;
/** A quarter of the tenants may pull only from ECR. */
const ecrOnly = (i: number) => i % 4 === 1;

/** Two grants per registry: the tenant's own repositories, and shared and tool ones. */
function tenantSpec(i: number) {
  const name = tenantName(i);
  const grants = Array.from({ length: REGISTRIES_PER_TENANT }, (_, r) => [
    { registry: registryOf(i, r), repositories: [`${name}/*`, `${name}/**`] },
    { registry: registryOf(i, r), repositories: [`shared/base/**`, `tools/${name}-r${r}/*`] },
  ]).flat();
  return {
    ...(isDryRunTenant(i) ? { mode: 'dry-run' } : {}),
    ...(ecrOnly(i) ? { nonEcrImages: 'deny' } : {}),
    roleArn: roleOf(i),
    ...(i % 5 === 2 ? { externalId: `${name}-external` } : {}),
    ...(i % 7 === 0 ? { sessionTags: { tenant: name, team: `team-${i % 50}` } } : {}),
    grants,
    ...(rewrites(i) ? { rewrites: [{ from: `${BUILD_REGISTRY}/${name}`, to: `${registryOf(i, 0)}/${name}` }] } : {}),
  };
}

/**
 * The policy as JSON text (which the YAML loader reads as well); `tenants` lets the e2e stack use a small one;
 * `defaults` adds to spec.defaults (ECR reads: pinDigests, missingImage) and `extra` to chosen tenants.
 */
export function policyText(tenants = TENANT_COUNT, defaults: Record<string, unknown> = {}, extra: (i: number) => Record<string, unknown> = () => ({})): string {
  const specs = Object.fromEntries(Array.from({ length: tenants }, (_, i) => [tenantName(i), { ...tenantSpec(i), ...extra(i) }]));
  return JSON.stringify({
    apiVersion: 'ecr-tenant-webhook.io/v1alpha1',
    kind: 'TenantPolicy',
    metadata: { name: 'bench' },
    spec: { defaults: { mode: 'enforce', nonEcrImages: 'allow', onCredentialError: 'deny', ...defaults }, tenants: specs },
  });
}

/** What the hot path with ECR reads runs: every tenant pins tags to digests and checks that rewritten images exist. */
export const REGISTRY_READ_DEFAULTS = { pinDigests: true, missingImage: 'deny' };

/** Every (tenant, registry) the policy can mint a token for: one token cache key each. */
export function tokenRequests() {
  return Array.from({ length: TENANT_COUNT * REGISTRIES_PER_TENANT }, (_, k) => {
    const i = Math.floor(k / REGISTRIES_PER_TENANT);
    const registry = registryOf(i, k % REGISTRIES_PER_TENANT);
    const [account = '', , , region = ''] = registry.split('.');
    const spec = tenantSpec(i);
    return { tenant: tenantName(i), roleArn: roleOf(i), externalId: spec.externalId, sessionTags: spec.sessionTags, registry: { account, region } };
  });
}

// --- namespaces -------------------------------------------------------------------------------------------------

export const namespaceName = (j: number) => `ns-${String(j).padStart(5, '0')}`;
const tenantOfNamespace = (j: number) => Math.floor(j / NAMESPACES_PER_BLOCK) % TENANT_COUNT;
const unlabelled = (j: number) => j % NAMESPACES_PER_BLOCK === 9;

function namespaceLabels(j: number): Record<string, string> {
  const common = { 'kubernetes.io/metadata.name': namespaceName(j), team: `team-${j % 50}` };
  if (unlabelled(j)) return common;
  const i = tenantOfNamespace(j);
  const slot = j % NAMESPACES_PER_BLOCK;
  // Some namespaces override their tenant's mode: a canary in dry-run, or an enforced one in a dry-run tenant.
  const mode: Record<string, string> = slot === 8 && i % 3 === 0 ? { [MODE_LABEL]: 'dry-run' } : slot === 7 && isDryRunTenant(i) ? { [MODE_LABEL]: 'enforce' } : {};
  return { ...common, [TENANT_LABEL]: tenantName(i), ...mode };
}

export function namespaces(): Record<string, Record<string, string>> {
  return Object.fromEntries(Array.from({ length: NAMESPACE_COUNT }, (_, j) => [namespaceName(j), namespaceLabels(j)]));
}

/** Whether admission in namespace j enforces (a tenant label, and no dry-run by tenant or by label). */
function enforced(j: number): boolean {
  const labels = namespaceLabels(j);
  const mode = labels[MODE_LABEL] ?? (isDryRunTenant(tenantOfNamespace(j)) ? 'dry-run' : 'enforce');
  return !unlabelled(j) && mode === 'enforce';
}

// --- admission reviews ------------------------------------------------------------------------------------------

/** A fixed seed, so every run sends the same mix in the same order. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type CaseName = 'rewrite' | 'granted' | 'denied' | 'dry-run' | 'unlabelled';

export interface Expectation {
  readonly allowed: boolean;
  /** A JSONPatch comes back (an image rewritten or a pull Secret added). */
  readonly patched: boolean;
  /** Warnings come back (dry-run says what enforcement would do). */
  readonly warned: boolean;
}

export interface ReviewCase {
  readonly name: CaseName;
  readonly namespace: string;
  readonly images: readonly string[];
  readonly expect: Expectation;
}

/** Roughly what a cluster sends: mostly admitted pods, a good share of denials and dry-run tenants. */
const CASE_WEIGHTS: readonly [CaseName, number][] = [['rewrite', 25], ['granted', 35], ['denied', 20], ['dry-run', 15], ['unlabelled', 5]];

class CaseMaker {
  readonly #random: () => number;

  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }

  #int(below: number): number {
    return Math.floor(this.#random() * below);
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#int(items.length)]!;
  }

  /** A namespace index satisfying `fits`, drawn uniformly. */
  #namespaceWhere(fits: (j: number) => boolean): number {
    for (;;) {
      const j = this.#int(NAMESPACE_COUNT);
      if (fits(j)) return j;
    }
  }

  #grantedImage(i: number): string {
    const name = tenantName(i);
    const r = this.#int(REGISTRIES_PER_TENANT);
    const tag = `${1 + this.#int(9)}.${this.#int(20)}.${this.#int(10)}`;
    return this.#pick([
      `${registryOf(i, r)}/${name}/api:${tag}`,
      `${registryOf(i, r)}/${name}/workers/queue:${tag}`,
      `${registryOf(i, r)}/shared/base/envoy:1.31`,
      `${registryOf(i, r)}/tools/${name}-r${r}/migrate:${tag}`,
    ]);
  }

  #ungrantedImage(i: number): string {
    const other = (i + 1 + this.#int(TENANT_COUNT - 1)) % TENANT_COUNT;
    const choices = [`${registryOf(i, this.#int(REGISTRIES_PER_TENANT))}/${tenantName(i)}evil/shell:latest`, `${registryOf(other, 0)}/${tenantName(other)}/api:1.0.0`];
    return this.#pick(ecrOnly(i) ? [...choices, this.#pick(PUBLIC_IMAGES)] : choices);
  }

  /** 1-5 images: `first` plus up to four granted ones, `first` at a random position. */
  #podImages(i: number, first: string): string[] {
    const images = Array.from({ length: this.#int(5) }, () => this.#grantedImage(i));
    images.splice(this.#int(images.length + 1), 0, first);
    return images;
  }

  next(): ReviewCase {
    return this.make(this.nextCase());
  }

  /** Which case comes next, by CASE_WEIGHTS. */
  nextCase(): CaseName {
    let roll = this.#random() * 100;
    for (const [name, weight] of CASE_WEIGHTS) {
      roll -= weight;
      if (roll < 0) return name;
    }
    return 'granted';
  }

  make(name: CaseName): ReviewCase {
    const admitted = { allowed: true, patched: true, warned: false };
    if (name === 'rewrite') {
      const j = this.#namespaceWhere((j) => enforced(j) && rewrites(tenantOfNamespace(j)));
      const i = tenantOfNamespace(j);
      const images = this.#podImages(i, `${BUILD_REGISTRY}/${tenantName(i)}/checkout:${this.#int(10)}.${this.#int(10)}`);
      return { name, namespace: namespaceName(j), images, expect: admitted };
    }
    if (name === 'granted' || name === 'denied') {
      const j = this.#namespaceWhere(enforced);
      const i = tenantOfNamespace(j);
      const first = name === 'granted' ? this.#grantedImage(i) : this.#ungrantedImage(i);
      const expect = name === 'granted' ? admitted : { allowed: false, patched: false, warned: false };
      return { name, namespace: namespaceName(j), images: this.#podImages(i, first), expect };
    }
    if (name === 'dry-run') {
      const j = this.#namespaceWhere((j) => !unlabelled(j) && !enforced(j));
      const i = tenantOfNamespace(j);
      const first = this.#random() < 0.5 ? this.#ungrantedImage(i) : this.#grantedImage(i);
      return { name, namespace: namespaceName(j), images: this.#podImages(i, first), expect: { allowed: true, patched: false, warned: true } };
    }
    const j = this.#namespaceWhere(unlabelled);
    const i = tenantOfNamespace(j);
    return { name, namespace: namespaceName(j), images: this.#podImages(i, this.#grantedImage(i)), expect: { allowed: true, patched: false, warned: false } };
  }
}

function container(image: string, index: number) {
  return {
    name: index === 0 ? 'app' : `sidecar-${index}`,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ containerPort: 8080 + index, protocol: 'TCP' }],
    env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
}

/** A pod as kube-apiserver sends it after defaulting; unnamed (generateName) as a ReplicaSet's pods are. */
export function podObject(namespace: string, images: readonly string[], name = '', generateName = 'web-7d9f8b6c5-') {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(name === '' ? { generateName } : { name }),
      namespace,
      labels: { app: 'web', 'pod-template-hash': '7d9f8b6c5' },
      annotations: { 'kubectl.kubernetes.io/default-container': 'app' },
    },
    spec: {
      containers: images.map(container),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      securityContext: { runAsNonRoot: true },
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      volumes: [{ name: 'kube-api-access', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
    },
  };
}

/** A pod CREATE as the API server sends it for the ReplicaSet controller; `name` empty when the pod has generateName. */
export function admissionReview(namespace: string, images: readonly string[], uid: string, name = '', generateName?: string): string {
  const kind = { group: '', version: 'v1', kind: 'Pod' };
  const resource = { group: '', version: 'v1', resource: 'pods' };
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: '5b1c7a4e-0d55-4f0b-9a53-3f3f4b8b0c11', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object: podObject(namespace, images, name, generateName),
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

const uidOf = (random: () => number) =>
  Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');

export interface PreparedReview {
  readonly case: ReviewCase;
  readonly body: string;
}

/**
 * The two workloads: `distinct`, where nearly every review names images no other review names (the worst case for
 * anything remembered between reviews), and `realistic`, where pods are replicas of Deployments (see below).
 */
export type Workload = 'distinct' | 'realistic';
export const WORKLOADS: readonly Workload[] = ['distinct', 'realistic'];

/** `count` reviews of a workload in a fixed order: the same on every run and in every process that asks. */
export function reviews(count: number, workload: Workload = 'distinct', seed = 20_250_101): PreparedReview[] {
  return workload === 'distinct' ? distinctReviews(count, seed) : realisticReviews(count, seed);
}

function distinctReviews(count: number, seed: number): PreparedReview[] {
  const maker = new CaseMaker(seed);
  const random = seededRandom(seed ^ 0x5bd1e995);
  return Array.from({ length: count }, () => {
    const review = maker.next();
    return { case: review, body: admissionReview(review.namespace, review.images, uidOf(random)) };
  });
}

/** Deployments in the realistic workload; their pod specs name a few hundred distinct images between them. */
export const DEPLOYMENT_COUNT = 150;
/** Zipf's exponent: the k-th most popular Deployment of a case makes 1/k^s as many pods as the first. */
const ZIPF_EXPONENT = 1;

/** A sampler of 0..n-1 with Zipf-like popularity (index 0 the most popular). */
function zipf(n: number, random: () => number): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cumulative.push((total += 1 / k ** ZIPF_EXPONENT));
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (cumulative[mid]! < target) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}

/**
 * What a cluster's admission traffic looks like: pods created by ReplicaSets, each a replica repeating its
 * Deployment's pod spec (same images, same generateName, a new uid). The cases keep the distinct workload's
 * proportions; within a case, which Deployment makes the next pod is Zipf-distributed, so a few Deployments (a
 * big service, a denied one crash-looping its ReplicaSet) make most pods, and a long tail makes a few each.
 */
function realisticReviews(count: number, seed: number): PreparedReview[] {
  const maker = new CaseMaker(seed ^ 0x2545f491);
  const random = seededRandom(seed ^ 0x68e31da4);
  const perCase = new Map<CaseName, { deployments: { case: ReviewCase; generateName: string }[]; pick: () => number }>();
  for (const [name, weight] of CASE_WEIGHTS) {
    const size = Math.max(1, Math.round((DEPLOYMENT_COUNT * weight) / 100));
    const deployments = Array.from({ length: size }, (_, d) => ({ case: maker.make(name), generateName: `${name}-d${d}-${(d * 2654435761 >>> 0).toString(36).slice(0, 9)}-` }));
    perCase.set(name, { deployments, pick: zipf(size, random) });
  }
  const chooser = new CaseMaker(seed ^ 0x1b873593);
  return Array.from({ length: count }, () => {
    const { deployments, pick } = perCase.get(chooser.nextCase())!;
    const deployment = deployments[pick()]!;
    const review = deployment.case;
    return { case: review, body: admissionReview(review.namespace, review.images, uidOf(random), '', deployment.generateName) };
  });
}

/**
 * The JSONPatch serve answers a granted pod of `tenant` with (base64, as sent): its first container's image
 * rewritten to `rewritten`, the tenant's pull secret referenced. The controls that answer as serve does use it.
 */
export function servePatch(tenant: number, rewritten: string): string {
  const secret = pullSecretName(parseEcrHost(registryOf(tenant, 0))!);
  const patch = [
    { op: 'replace', path: '/spec/containers/0/image', value: rewritten },
    { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: secret }] },
  ];
  return Buffer.from(JSON.stringify(patch)).toString('base64');
}
