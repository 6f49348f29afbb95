import { MODE_LABEL, TENANT_LABEL } from '../../src/labels.ts';
import { NAMESPACES } from '../admission/namespaces.ts';
import { anyImage, GRANTED_IMAGES, hostileImage, REWRITTEN_IMAGES } from './images.ts';
import { deepMarker, hostileString, junkKey, junkValue, mutateTree, PROTOTYPE_KEYS, randomMap, serialize, setOwn, trickyValue, type Random } from './random.ts';

/**
 * AdmissionReview bodies for the three admission endpoints: structurally valid ones of each endpoint's object
 * (pods, namespaces, workloads), and broken ones of every family the fuzz sends.
 */
export const ADMISSION_ROUTES = ['/mutate', '/validate/namespaces', '/validate/workloads'] as const;
export type AdmissionRoute = (typeof ADMISSION_ROUTES)[number];

export interface AdmissionInput {
  /** What the input is, for failure messages. */
  readonly what: string;
  readonly payload: string;
  readonly contentType: string;
}

type Review = Record<string, unknown> & { request: Record<string, unknown> };

const KNOWN_NAMESPACES = Object.keys(NAMESPACES);
const CONTAINER_SECTIONS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

function uid(random: Random): string {
  return random.oneOf<string>([
    (r) => `${r.chars('0123456789abcdef', 8)}-${r.chars('0123456789abcdef', 4)}-4${r.chars('0123456789abcdef', 3)}-a${r.chars('0123456789abcdef', 3)}-${r.chars('0123456789abcdef', 12)}`,
    (r) => r.pick(['u', '__proto__', 'constructor', 'x'.repeat(256), 'ü', '\u0000', '💥']),
    (r) => r.chars('abc\u0000\n"\\é', r.between(1, 20)),
  ]);
}

function envelope(request: Record<string, unknown>): Review {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

function container(random: Random, index: number, admissible: boolean): Record<string, unknown> {
  const image = admissible ? random.pick([...GRANTED_IMAGES, ...REWRITTEN_IMAGES]) : anyImage(random);
  const out: Record<string, unknown> = { name: random.chance(0.9) ? `c${index}` : hostileString(random), image };
  if (random.chance(0.2)) out.imagePullPolicy = random.pick(['Always', 'IfNotPresent', 'Never']);
  if (random.chance(0.1)) delete out.image;
  if (random.chance(0.1)) out.env = [{ name: 'A', value: hostileString(random) }];
  return out;
}

/** `admissible`: only images the test policy grants, so that the review goes all the way to a patch. */
function podSpec(random: Random, admissible: boolean): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  for (const section of CONTAINER_SECTIONS) {
    const wanted = section === 'containers' ? random.between(0, 4) : random.chance(0.3) ? random.between(1, 3) : 0;
    if (wanted > 0 || (section === 'containers' && random.chance(0.7))) spec[section] = Array.from({ length: wanted }, (_, i) => container(random, i, admissible));
  }
  if (random.chance(0.4)) {
    spec.imagePullSecrets = Array.from({ length: random.int(3) }, () => ({ name: random.pick(['ecr-pull-111111111111-eu-west-1', 'regcred', 'ecr-pull-222222222222-us-west-2']) }));
  }
  return spec;
}

function operation(random: Random): string {
  return random.pick(['CREATE', 'CREATE', 'CREATE', 'UPDATE', 'UPDATE', 'DELETE', 'CONNECT']);
}

function namespaceName(random: Random): string {
  return random.chance(0.85) ? random.pick(KNOWN_NAMESPACES) : random.oneOf<string>([hostileString, (r) => r.pick(PROTOTYPE_KEYS)]);
}

/**
 * Half the pods and workloads are admissible ones in the enforcing namespace "shop", the rest anything: random
 * pods alone would mostly be refused early and seldom reach the rewrite, pull-secret and patch code.
 */
function podPlace(random: Random): { namespace: string; admissible: boolean } {
  return random.chance(0.5) ? { namespace: 'shop', admissible: true } : { namespace: namespaceName(random), admissible: false };
}

/** A random but structurally valid Pod review: random containers, initContainers and ephemeralContainers. */
export function podReview(random: Random): Review {
  const op = operation(random);
  const { namespace, admissible } = podPlace(random);
  const pod = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace }, spec });
  const request: Record<string, unknown> = {
    uid: uid(random),
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    operation: op,
    namespace,
    name: random.chance(0.5) ? 'p' : '',
    object: op === 'DELETE' ? null : pod(podSpec(random, admissible)),
  };
  if (op === 'UPDATE' || op === 'DELETE') request.oldObject = pod(podSpec(random, admissible));
  if (random.chance(0.15)) request.subResource = random.pick(['ephemeralcontainers', 'status', 'binding', '']);
  if (random.chance(0.2)) request.dryRun = random.chance(0.5);
  return envelope(request);
}

function nsLabels(random: Random): Record<string, string> {
  const labels: Record<string, string> = {};
  if (random.chance(0.7)) labels[TENANT_LABEL] = random.pick(['payments', 'analytics', 'ghost', 'nobody', hostileString(random).slice(0, 80)]);
  if (random.chance(0.4)) labels[MODE_LABEL] = random.pick(['enforce', 'dry-run', 'audit', 'Enforce', '']);
  if (random.chance(0.3)) labels['team'] = random.pick(['a', 'b']);
  return labels;
}

function userInfo(random: Random): unknown {
  return random.oneOf<unknown>([
    (r) => ({ username: 'kubernetes-admin', uid: 'x', groups: r.chance(0.5) ? ['system:masters', 'system:authenticated'] : ['system:authenticated'] }),
    (r) => ({ username: `system:serviceaccount:${r.pick(['argocd', 'kube-system', 'shop'])}:${r.pick(['argocd-application-controller', 'default'])}`, groups: ['system:serviceaccounts'] }),
    (r) => ({ username: hostileString(r), groups: Array.from({ length: r.int(4) }, () => hostileString(r)) }),
    () => undefined,
  ]);
}

/** A Namespace review that often changes the tenant or mode label, by a random user. */
export function namespaceReview(random: Random): Review {
  const op = operation(random);
  const name = namespaceName(random);
  const namespace = (labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  const request: Record<string, unknown> = {
    uid: uid(random),
    kind: { group: '', version: 'v1', kind: 'Namespace' },
    resource: { group: '', version: 'v1', resource: 'namespaces' },
    operation: op,
    name,
    object: op === 'DELETE' ? null : namespace(nsLabels(random)),
    userInfo: userInfo(random),
  };
  if (op === 'UPDATE' || op === 'DELETE') request.oldObject = namespace(nsLabels(random));
  if (random.chance(0.1)) request.subResource = random.pick(['status', 'finalize', '']);
  return envelope(request);
}

const WORKLOAD_KINDS = [
  { group: 'apps', kind: 'Deployment', at: ['spec', 'template', 'spec'] },
  { group: 'apps', kind: 'StatefulSet', at: ['spec', 'template', 'spec'] },
  { group: 'apps', kind: 'DaemonSet', at: ['spec', 'template', 'spec'] },
  { group: 'apps', kind: 'ReplicaSet', at: ['spec', 'template', 'spec'] },
  { group: 'batch', kind: 'Job', at: ['spec', 'template', 'spec'] },
  { group: 'batch', kind: 'CronJob', at: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] },
];

function nest(path: readonly string[], leaf: Record<string, unknown>): Record<string, unknown> {
  return path.reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), leaf);
}

/** A Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob review with a random pod template. */
export function workloadReview(random: Random): Review {
  const op = operation(random);
  const { namespace, admissible } = podPlace(random);
  const { group, kind, at } = random.pick(WORKLOAD_KINDS);
  const workload = () => ({ apiVersion: `${group}/v1`, kind, metadata: { name: 'w', namespace }, ...nest(at, podSpec(random, admissible)) });
  const request: Record<string, unknown> = {
    uid: uid(random),
    kind: { group, version: 'v1', kind },
    operation: op,
    namespace,
    name: 'w',
    object: op === 'DELETE' ? null : workload(),
  };
  if (op === 'UPDATE' || op === 'DELETE') request.oldObject = workload();
  if (random.chance(0.1)) request.subResource = random.pick(['scale', 'status', '']);
  if (random.chance(0.1)) request.dryRun = true;
  return envelope(request);
}

export const VALID_REVIEW: Readonly<Record<AdmissionRoute, (random: Random) => Review>> = {
  '/mutate': podReview,
  '/validate/namespaces': namespaceReview,
  '/validate/workloads': workloadReview,
};

function json(what: string, value: unknown): AdmissionInput {
  return { what, payload: serialize(value), contentType: 'application/json' };
}

/** Text that is not JSON, or JSON that Fastify refuses, cut from a good review in many ways. */
export function malformedJson(random: Random, route: AdmissionRoute): AdmissionInput {
  const good = serialize(VALID_REVIEW[route](random));
  const cut = random.between(0, good.length - 1);
  const payload = random.oneOf<string>([
    () => good.slice(0, cut),
    (r) => good.slice(0, cut) + r.pick(['\u0000', '\ufeff', '}', ']', ',', '"', '\\', 'NaN', 'undefined', '\ud800']) + good.slice(cut),
    () => good + good,
    (r) => `${good}${r.pick([' x', ',', '}', '\u0000'])}`,
    (r) => `\ufeff${good}`.slice(0, r.chance(0.5) ? undefined : -1),
    (r) => good.replaceAll('"', r.pick(["'", '`', ''])),
    (r) => r.pick(['', ' ', 'null', 'true', '1', '"x"', '[]', '{', '}', '{"a":}', '{,}', '{"a":1,}', '[1,]', '{"a" 1}', '01', '1e99999', '-', '//x\n{}', '/*x*/{}', '{"a":NaN}', '{"a":Infinity}']),
    (r) => `{"__proto__":${serialize(junkValue(r))},"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
    () => good.replace('"request":{', '"request":{"constructor":{"prototype":{"polluted":true}},'),
    () => good.replace('{', '{"__proto__":{"allowed":true},'),
    (r) => Buffer.from(good).toString(r.pick(['base64', 'hex'])),
    (r) => r.chars('{}[]":,\\ntrue0', r.between(1, 60)),
  ]);
  const contentType = random.chance(0.9) ? 'application/json' : random.pick(['application/json; charset=utf-8', 'application/yaml', 'text/plain', 'application/x-www-form-urlencoded']);
  return { what: `malformed JSON ${JSON.stringify(payload.slice(0, 60))}`, payload, contentType };
}

/** A good review whose envelope is wrong: apiVersion, kind, request, uid, operation or kind of the wrong type. */
export function wrongEnvelope(random: Random, route: AdmissionRoute): AdmissionInput {
  const review = VALID_REVIEW[route](random);
  const field = random.pick(['apiVersion', 'kind', 'request', 'request.uid', 'request.kind', 'request.operation', 'request.namespace', 'request.name', 'request.subResource', 'request.dryRun', 'request.userInfo', 'request.object', 'request.oldObject']);
  const value = random.oneOf<unknown>([
    (r) => junkValue(r),
    (r) => r.pick(['admission.k8s.io/v1beta1', 'v1', 'AdmissionReview', 'admission.k8s.io/V1', 'Pod', 'create', 'PATCH', '']),
    () => undefined,
    (r) => r.pick([0, 1, true, false, null, [], {}, ['x'], { uid: 'u' }]),
    (r) => ({ group: r.pick(['', 'apps', 'batch', 7]), version: r.pick(['v1', 'v2', null]), kind: r.pick(['Pod', 'Namespace', 'Deployment', 'CronJob', 'Secret', 3]) }),
  ]);
  const [top, inner] = field.split('.') as [string, string | undefined];
  if (inner === undefined) setOwn(review, top, value);
  else setOwn(review.request, inner, value);
  return json(`${route} review with ${field} = ${serialize(value).slice(0, 60)}`, review);
}

/** A valid review of this route with one random spot deleted, replaced with junk, or given a junk sibling. */
export function mutatedReview(random: Random, route: AdmissionRoute): AdmissionInput {
  const review = VALID_REVIEW[route](random);
  const changes: string[] = [];
  for (let i = random.between(1, 3); i > 0; i--) changes.push(mutateTree(random, review, fieldJunk, deepSpot(random, review)));
  return json(`${route} review, ${changes.join(', ')}`, review);
}

function fieldJunk(random: Random): unknown {
  return random.oneOf<unknown>([hostileImage, junkValue, junkValue, trickyValue]);
}

/**
 * Where to mutate: the whole review a third of the time, otherwise inside the object under review, where the
 * handlers' own code (not just the envelope check) reads it.
 */
function deepSpot(random: Random, review: Review): (string | number)[] {
  const request = review.request;
  if (random.chance(0.33) || typeof request !== 'object' || request === null) return [];
  const objectKey = request.object !== null && request.object !== undefined ? 'object' : 'oldObject';
  return ['request', objectKey];
}

/** A pod, namespace or workload review carrying hostile images (or, for namespaces, hostile names and labels). */
export function hostileReview(random: Random, route: AdmissionRoute): AdmissionInput {
  const review = VALID_REVIEW[route](random);
  const request = review.request;
  // A DELETE carries only oldObject; the hostile object is judged on CREATE.
  request.object ??= request.oldObject;
  request.operation = 'CREATE';
  if (route === '/validate/namespaces') {
    const labels = { [TENANT_LABEL]: hostileString(random), [MODE_LABEL]: hostileString(random), [hostileString(random)]: hostileString(random) };
    request.object = { kind: 'Namespace', metadata: { name: hostileString(random), labels } };
    return json('namespace with hostile name and labels', review);
  }
  const spec = route === '/mutate' ? (request.object as { spec: Record<string, unknown> }).spec : findPodSpec(request.object);
  const images: string[] = [];
  for (const section of CONTAINER_SECTIONS) {
    if (random.chance(0.5)) continue;
    spec[section] = Array.from({ length: random.between(1, 3) }, (_, i) => {
      const image = hostileImage(random);
      images.push(image);
      return { name: `h${i}`, image };
    });
  }
  return json(`${route} review with images ${images.map((i) => JSON.stringify(i.slice(0, 50))).join(', ')}`, review);
}

function findPodSpec(object: unknown): Record<string, unknown> {
  let node = object as Record<string, unknown>;
  for (const key of ['spec', 'jobTemplate', 'spec', 'template', 'spec']) {
    const next = node[key] as Record<string, unknown> | undefined;
    if (next === undefined) continue;
    node = next;
  }
  return node;
}

/**
 * A valid review with a 10,000-deep (sometimes 100,000-deep) array or object: half the time in a random spot,
 * half the time in a field the handler reads (an image, a container list, imagePullSecrets, labels, userInfo).
 */
export function deepReview(random: Random, route: AdmissionRoute): AdmissionInput {
  const review = VALID_REVIEW[route](random);
  const depth = random.chance(0.8) ? 10_000 : 100_000;
  const marker = deepMarker(random.pick(['array', 'object']), depth);
  if (random.chance(0.1)) return json(`a bare ${depth}-deep body`, marker);
  if (random.chance(0.4)) return json(`${route} review, ${mutateTree(random, review, () => marker, deepSpot(random, review))}`, review);
  const [parent, key] = random.pick(readFields(random, route, review));
  setOwn(parent, key, marker);
  return json(`${route} review with a ${depth}-deep ${key}`, review);
}

/**
 * One kind of field a handler reads (envelope fields, or fields of the object under review), as [parent, key]
 * pairs, for placing junk exactly where it is looked at. The review becomes a CREATE of its object, the operation
 * that reads the most.
 */
function readFields(random: Random, route: AdmissionRoute, review: Review): [Record<string, unknown>, string][] {
  const request = review.request;
  request.object ??= request.oldObject;
  request.operation = 'CREATE';
  const object = request.object as Record<string, unknown>;
  // The envelope is read, and quoted back when wrong, before any handler looks at the object.
  const envelope = (['kind', 'apiVersion', 'request'] as const).map((key): [Record<string, unknown>, string] => [review, key]);
  const requestFields = ['uid', 'kind', 'operation', 'namespace', 'name', 'subResource', 'dryRun', 'userInfo'].map((key): [Record<string, unknown>, string] => [request, key]);
  if (random.chance(0.3)) return random.pick([envelope, requestFields]);
  if (route === '/validate/namespaces') {
    const metadata = object.metadata as Record<string, unknown>;
    return [[request, 'userInfo'], [metadata, 'labels'], [metadata.labels as Record<string, unknown>, TENANT_LABEL], [metadata, 'name']];
  }
  const spec = route === '/mutate' ? (object.spec as Record<string, unknown>) : findPodSpec(object);
  const containers = CONTAINER_SECTIONS.flatMap((section) => (Array.isArray(spec[section]) ? (spec[section] as Record<string, unknown>[]) : []));
  const fields: [Record<string, unknown>, string][][] = [
    [[spec, 'imagePullSecrets']],
    CONTAINER_SECTIONS.map((section) => [spec, section]),
    containers.map((c) => [c, 'image']),
    containers.map((c) => [c, 'name']),
  ];
  return random.pick(fields.filter((kind) => kind.length > 0));
}

/** A valid review padded past `limit` bytes in a random spot. */
export function oversizedReview(random: Random, route: AdmissionRoute, limit: number): AdmissionInput {
  const review = VALID_REVIEW[route](random);
  const size = limit + random.between(1, limit * 3);
  const half = Math.ceil(size / 2);
  const padding = random.oneOf<unknown>([() => 'x'.repeat(size), () => Array.from({ length: half }, () => 0), () => ({ [junkKey(random)]: 'é'.repeat(half) })]);
  const key = junkKey(random);
  setOwn(randomMap(random, review), key, padding);
  return json(`${route} review over the ${limit}-byte limit, padded under ${JSON.stringify(key)}`, review);
}

/** A good review sent to the wrong endpoint: each must refuse what it does not judge, never crash on it. */
export function crossedReview(random: Random): AdmissionInput {
  const route = random.pick(ADMISSION_ROUTES);
  return json(`a ${route} review`, VALID_REVIEW[route](random));
}

export function validReview(random: Random, route: AdmissionRoute): AdmissionInput {
  return json(`valid ${route} review`, VALID_REVIEW[route](random));
}
