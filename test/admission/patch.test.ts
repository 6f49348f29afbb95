import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { buildPatch } from '../../src/admission/patch.ts';
import { readPodSpec, type PodSpecView } from '../../src/workload/pod-spec.ts';

function view(object: unknown, at: string[] = ['spec']): PodSpecView {
  const read = readPodSpec(object, at);
  if (!read.ok) throw new Error(read.problem);
  return read.view;
}

const NEW = '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1';

t.test('no changes give no operations at all', async (t) => {
  const pod = { spec: { containers: [{ name: 'a', image: 'x' }] } };
  t.same(buildPatch(pod, view(pod), { images: [], addPullSecrets: [] }), []);
});

const cases: { name: string; object: Record<string, any>; at?: string[]; images?: [string, number][]; secrets?: string[]; want: unknown[] }[] = [
  {
    name: 'an image change is one replace on that container only, leaving its other fields alone',
    object: { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'E', value: '1' }] }, { name: 'b', image: 'y' }] } },
    images: [['containers', 0]],
    want: [{ op: 'replace', path: '/spec/containers/0/image', value: NEW }],
  },
  {
    name: 'pull secrets on a pod without imagePullSecrets are added as a whole list',
    object: { spec: { containers: [{ name: 'a', image: 'x' }] } },
    secrets: ['ecr-pull-1'],
    want: [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'ecr-pull-1' }] }],
  },
  {
    name: 'pull secrets are appended after the existing entries, which stay as they are',
    object: { spec: { containers: [], imagePullSecrets: [{ name: 'dockerhub' }] } },
    secrets: ['ecr-pull-1', 'ecr-pull-2'],
    want: [
      { op: 'add', path: '/spec/imagePullSecrets/1', value: { name: 'ecr-pull-1' } },
      { op: 'add', path: '/spec/imagePullSecrets/2', value: { name: 'ecr-pull-2' } },
    ],
  },
  {
    name: 'an explicit null imagePullSecrets is replaced by the list',
    object: { spec: { containers: [], imagePullSecrets: null } },
    secrets: ['ecr-pull-1'],
    want: [{ op: 'replace', path: '/spec/imagePullSecrets', value: [{ name: 'ecr-pull-1' }] }],
  },
  {
    name: 'entries of imagePullSecrets that are not maps are kept as they are and the new one appended',
    object: { spec: { containers: [], imagePullSecrets: ['odd', { name: 'own' }] } },
    secrets: ['ecr-pull-1'],
    want: [{ op: 'add', path: '/spec/imagePullSecrets/2', value: { name: 'ecr-pull-1' } }],
  },
  {
    name: 'init and ephemeral container images are patched at their own paths',
    object: { spec: { containers: [{ name: 'a' }], initContainers: [{ name: 'i', image: 'x' }], ephemeralContainers: [{ name: 'e', image: 'y' }] } },
    images: [['initContainers', 0], ['ephemeralContainers', 0]],
    want: [
      { op: 'replace', path: '/spec/ephemeralContainers/0/image', value: NEW },
      { op: 'replace', path: '/spec/initContainers/0/image', value: NEW },
    ],
  },
  {
    name: 'an image volume is patched at its reference, leaving its pull policy and the other volumes alone',
    object: { spec: { containers: [{ name: 'a', image: 'x' }], volumes: [{ name: 'data', emptyDir: {} }, { name: 'models', image: { reference: 'y', pullPolicy: 'Always' } }] } },
    images: [['volumes', 1]],
    want: [{ op: 'replace', path: '/spec/volumes/1/image/reference', value: NEW }],
  },
  {
    name: 'a CronJob template is patched under its jobTemplate path',
    object: { spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } } } },
    at: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
    images: [['containers', 0]],
    want: [{ op: 'replace', path: '/spec/jobTemplate/spec/template/spec/containers/0/image', value: NEW }],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const pod = view(c.object, c.at);
    const images = (c.images ?? []).map(([section, index]) => ({ container: pod.containers.find((x) => x.section === section && x.index === index)!, image: NEW }));
    const patch = buildPatch(c.object, pod, { images, addPullSecrets: c.secrets ?? [] });
    t.same(patch, c.want);
    const before = structuredClone(c.object);
    fastJsonPatch.applyPatch(structuredClone(c.object), patch, true);
    t.same(c.object, before, 'the input object is never mutated');
  });
}
