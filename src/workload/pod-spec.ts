import { formatPath } from '../text.ts';

/**
 * Where the pod spec sits in each kind the webhook and `check` understand, and a read-only view of the
 * parts the decision needs. Objects come from outside, so every shape is checked and named when wrong.
 */
export const CONTAINER_SECTIONS = ['containers', 'initContainers', 'ephemeralContainers'] as const;
export type ContainerSection = (typeof CONTAINER_SECTIONS)[number];
/**
 * Every place a pod names an image the kubelet pulls with the pod's pull secrets: the three container lists, and
 * image volumes (`volumes[].image.reference`, an OCI image mounted as a volume), which are pulled like a container
 * image and so are judged like one.
 */
export type ImageSection = ContainerSection | 'volumes';

/** Where the image sits inside one entry of a section: `image` on a container, `image.reference` on a volume. */
export function imageFieldOf(section: ImageSection): readonly string[] {
  return section === 'volumes' ? ['image', 'reference'] : ['image'];
}

const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export function podSpecPathOf(kind: string): readonly string[] | undefined {
  return Object.hasOwn(POD_SPEC_PATHS, kind) ? POD_SPEC_PATHS[kind] : undefined;
}

/** One image of a pod: a container's, or an image volume's (then `name` is the volume's). */
export interface ContainerView {
  readonly section: ImageSection;
  readonly index: number;
  readonly name: string;
  /** As written: possibly missing or not even a string. */
  readonly image: unknown;
}

export interface PodSpecView {
  /** Path of the pod spec inside its object, e.g. ["spec", "template", "spec"]. */
  readonly at: readonly string[];
  readonly containers: readonly ContainerView[];
  readonly imagePullSecrets: readonly string[];
}

export type PodSpecRead = { readonly ok: true; readonly view: PodSpecView } | { readonly ok: false; readonly problem: string };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readContainers(spec: Record<string, unknown>, at: readonly string[], out: ContainerView[]): string | undefined {
  for (const section of CONTAINER_SECTIONS) {
    const list = spec[section];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return `${formatPath([...at, section])}: must be a list`;
    for (const [index, container] of list.entries()) {
      if (!isPlainObject(container)) return `${formatPath([...at, section, index])}: must be a map`;
      const name = container.name;
      if (name !== undefined && typeof name !== 'string') return `${formatPath([...at, section, index, 'name'])}: must be a string`;
      out.push({ section, index, name: name ?? `#${index}`, image: container.image });
    }
  }
  return undefined;
}

/** Image volumes only: other volumes name no image. */
function readImageVolumes(spec: Record<string, unknown>, at: readonly string[], out: ContainerView[]): string | undefined {
  const list = spec.volumes;
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) return `${formatPath([...at, 'volumes'])}: must be a list`;
  for (const [index, volume] of list.entries()) {
    if (!isPlainObject(volume)) return `${formatPath([...at, 'volumes', index])}: must be a map`;
    const source = volume.image;
    if (source === undefined || source === null) continue;
    if (!isPlainObject(source)) return `${formatPath([...at, 'volumes', index, 'image'])}: must be a map`;
    const name = volume.name;
    if (name !== undefined && typeof name !== 'string') return `${formatPath([...at, 'volumes', index, 'name'])}: must be a string`;
    out.push({ section: 'volumes', index, name: name ?? `#${index}`, image: source.reference });
  }
  return undefined;
}

function readPullSecrets(spec: Record<string, unknown>, at: readonly string[]): readonly string[] | string {
  const list = spec.imagePullSecrets;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return `${formatPath([...at, 'imagePullSecrets'])}: must be a list`;
  return list.flatMap((entry) => (isPlainObject(entry) && typeof entry.name === 'string' ? [entry.name] : []));
}

/** Reads the pod spec of an object of a known kind. */
export function readPodSpec(object: unknown, at: readonly string[]): PodSpecRead {
  let spec: unknown = object;
  for (const [depth, key] of at.entries()) {
    if (!isPlainObject(spec)) return { ok: false, problem: `${formatPath(at.slice(0, depth))}: must be a map` };
    spec = spec[key];
  }
  if (!isPlainObject(spec)) return { ok: false, problem: `${formatPath(at)}: ${spec === undefined ? 'is missing' : 'must be a map'}` };
  const containers: ContainerView[] = [];
  const problem = readContainers(spec, at, containers) ?? readImageVolumes(spec, at, containers);
  if (problem !== undefined) return { ok: false, problem };
  const imagePullSecrets = readPullSecrets(spec, at);
  if (typeof imagePullSecrets === 'string') return { ok: false, problem: imagePullSecrets };
  return { ok: true, view: { at, containers, imagePullSecrets } };
}
