import t from 'tap';
import { CONTAINER_SECTIONS, isPlainObject, podSpecPathOf, readPodSpec, type PodSpecRead } from '../../src/workload/pod-spec.ts';

/**
 * The pod-spec view decide() judges. Objects come from outside, so every malformed shape must be named, never
 * thrown or guessed at.
 */
interface ReadCase {
  name: string;
  object: unknown;
  at?: readonly string[];
  want: PodSpecRead;
}

const SPEC = ['spec'] as const;
const TEMPLATE = ['spec', 'template', 'spec'] as const;

const readCases: ReadCase[] = [
  {
    name: 'containers of all three sections are read in the order containers, initContainers, ephemeralContainers',
    object: {
      spec: {
        ephemeralContainers: [{ name: 'debug', image: 'busybox' }],
        initContainers: [{ name: 'init', image: 'alpine' }],
        containers: [
          { name: 'api', image: 'nginx' },
          { name: 'sidecar', image: 'envoy' },
        ],
      },
    },
    want: {
      ok: true,
      view: {
        at: SPEC,
        containers: [
          { section: 'containers', index: 0, name: 'api', image: 'nginx' },
          { section: 'containers', index: 1, name: 'sidecar', image: 'envoy' },
          { section: 'initContainers', index: 0, name: 'init', image: 'alpine' },
          { section: 'ephemeralContainers', index: 0, name: 'debug', image: 'busybox' },
        ],
        imagePullSecrets: [],
      },
    },
  },
  {
    name: 'a container without a name is named by its index, and its image is kept as written, whatever it is',
    object: { spec: { containers: [{ image: 42 }, { name: 'b' }] } },
    want: {
      ok: true,
      view: {
        at: SPEC,
        containers: [
          { section: 'containers', index: 0, name: '#0', image: 42 },
          { section: 'containers', index: 1, name: 'b', image: undefined },
        ],
        imagePullSecrets: [],
      },
    },
  },
  {
    name: 'missing and null sections are read as empty',
    object: { spec: { containers: null, initContainers: undefined, imagePullSecrets: null } },
    want: { ok: true, view: { at: SPEC, containers: [], imagePullSecrets: [] } },
  },
  {
    name: 'imagePullSecrets keeps the names in order and skips entries that name nothing',
    object: { spec: { imagePullSecrets: [{ name: 'a' }, 'b', null, { name: 3 }, {}, { name: 'c' }] } },
    want: { ok: true, view: { at: SPEC, containers: [], imagePullSecrets: ['a', 'c'] } },
  },
  {
    name: 'the pod spec of a template is read at its path',
    object: { spec: { template: { spec: { containers: [{ name: 'api', image: 'nginx' }] } } } },
    at: TEMPLATE,
    want: { ok: true, view: { at: TEMPLATE, containers: [{ section: 'containers', index: 0, name: 'api', image: 'nginx' }], imagePullSecrets: [] } },
  },
  { name: 'an object that is not a map is refused at the top level', object: 'pod', want: { ok: false, problem: '(top level): must be a map' } },
  { name: 'a missing spec is named', object: { metadata: {} }, want: { ok: false, problem: 'spec: is missing' } },
  { name: 'a spec that is a list is not a map', object: { spec: [] }, want: { ok: false, problem: 'spec: must be a map' } },
  { name: 'a null spec is not a map', object: { spec: null }, want: { ok: false, problem: 'spec: must be a map' } },
  {
    name: 'a template that is not a map is named on the way down',
    object: { spec: { template: 'x' } },
    at: TEMPLATE,
    want: { ok: false, problem: 'spec.template: must be a map' },
  },
  {
    name: 'a missing template spec is named with its full path',
    object: { spec: { template: {} } },
    at: TEMPLATE,
    want: { ok: false, problem: 'spec.template.spec: is missing' },
  },
  { name: 'a container section that is a map is not a list', object: { spec: { initContainers: {} } }, want: { ok: false, problem: 'spec.initContainers: must be a list' } },
  { name: 'a container that is a string is not a map', object: { spec: { containers: [{ name: 'a' }, 'nginx'] } }, want: { ok: false, problem: 'spec.containers[1]: must be a map' } },
  {
    name: 'a container name that is not a string is named',
    object: { spec: { ephemeralContainers: [{ name: 7, image: 'x' }] } },
    want: { ok: false, problem: 'spec.ephemeralContainers[0].name: must be a string' },
  },
  {
    name: 'image volumes are read after the containers, by volume name, and volumes of other kinds are skipped',
    object: { spec: { containers: [{ name: 'api', image: 'nginx' }], volumes: [{ name: 'data', emptyDir: {} }, { name: 'models', image: { reference: 'models:1', pullPolicy: 'IfNotPresent' } }, { image: {} }, { name: 'off', image: null }] } },
    want: {
      ok: true,
      view: {
        at: SPEC,
        containers: [
          { section: 'containers', index: 0, name: 'api', image: 'nginx' },
          { section: 'volumes', index: 1, name: 'models', image: 'models:1' },
          { section: 'volumes', index: 2, name: '#2', image: undefined },
        ],
        imagePullSecrets: [],
      },
    },
  },
  { name: 'volumes that is a map is not a list', object: { spec: { volumes: {} } }, want: { ok: false, problem: 'spec.volumes: must be a list' } },
  { name: 'a volume that is a string is not a map', object: { spec: { volumes: ['data'] } }, want: { ok: false, problem: 'spec.volumes[0]: must be a map' } },
  { name: 'an image volume source that is a string is not a map', object: { spec: { volumes: [{ name: 'm', image: 'models:1' }] } }, want: { ok: false, problem: 'spec.volumes[0].image: must be a map' } },
  { name: 'an image volume name that is not a string is named', object: { spec: { volumes: [{ name: 5, image: { reference: 'x' } }] } }, want: { ok: false, problem: 'spec.volumes[0].name: must be a string' } },
  { name: 'imagePullSecrets that is a map is not a list', object: { spec: { imagePullSecrets: { name: 'a' } } }, want: { ok: false, problem: 'spec.imagePullSecrets: must be a list' } },
];

for (const c of readCases) {
  t.test(c.name, async (t) => t.same(readPodSpec(c.object, c.at ?? SPEC), c.want));
}

interface KindCase {
  name: string;
  kind: string;
  want: readonly string[] | undefined;
}

const kindCases: KindCase[] = [
  { name: 'a Pod keeps its spec at spec', kind: 'Pod', want: ['spec'] },
  { name: 'a PodTemplate keeps it at template.spec', kind: 'PodTemplate', want: ['template', 'spec'] },
  { name: 'a Deployment keeps it at spec.template.spec', kind: 'Deployment', want: ['spec', 'template', 'spec'] },
  { name: 'a StatefulSet keeps it at spec.template.spec', kind: 'StatefulSet', want: ['spec', 'template', 'spec'] },
  { name: 'a DaemonSet keeps it at spec.template.spec', kind: 'DaemonSet', want: ['spec', 'template', 'spec'] },
  { name: 'a ReplicaSet keeps it at spec.template.spec', kind: 'ReplicaSet', want: ['spec', 'template', 'spec'] },
  { name: 'a ReplicationController keeps it at spec.template.spec', kind: 'ReplicationController', want: ['spec', 'template', 'spec'] },
  { name: 'a Job keeps it at spec.template.spec', kind: 'Job', want: ['spec', 'template', 'spec'] },
  { name: 'a CronJob keeps it at spec.jobTemplate.spec.template.spec', kind: 'CronJob', want: ['spec', 'jobTemplate', 'spec', 'template', 'spec'] },
  { name: 'a kind without a pod template has no path', kind: 'ConfigMap', want: undefined },
  { name: 'kinds are case-sensitive', kind: 'pod', want: undefined },
  { name: 'a kind named like an Object.prototype member has no path', kind: 'constructor', want: undefined },
  { name: 'a kind named __proto__ has no path', kind: '__proto__', want: undefined },
];

for (const c of kindCases) {
  t.test(c.name, async (t) => t.same(podSpecPathOf(c.kind), c.want));
}

t.test('the container sections are the three the API server knows', async (t) => {
  t.same(CONTAINER_SECTIONS, ['containers', 'initContainers', 'ephemeralContainers']);
});

t.test('only non-null, non-array objects are plain objects', async (t) => {
  t.ok(isPlainObject({}));
  t.ok(isPlainObject({ a: 1 }));
  for (const value of [null, undefined, [], 'x', 1, true]) t.notOk(isPlainObject(value), JSON.stringify(value) ?? 'undefined');
});
