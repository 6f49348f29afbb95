import fastJsonPatch, { type Operation } from 'fast-json-patch';
import type { Decision } from '../policy/decide.ts';
import { CONTAINER_SECTIONS, isPlainObject, type PodSpecView } from '../workload/pod-spec.ts';

/**
 * Builds the JSONPatch by mutating a copy and diffing it with fast-json-patch, never by hand. The copy holds only
 * the fields the webhook owns (container and image-volume images, imagePullSecrets): diffing the whole pod would cost more on the
 * hot path and could never produce an operation on any other field anyway.
 */
type Projection = Record<string, unknown[]>;

function project(spec: Record<string, unknown>): Projection {
  const projection: Projection = {};
  for (const section of CONTAINER_SECTIONS) {
    const list = spec[section];
    if (!Array.isArray(list)) continue;
    projection[section] = list.map((container: Record<string, unknown>) => ('image' in container ? { image: container.image } : {}));
  }
  if (Array.isArray(spec.volumes)) {
    projection.volumes = spec.volumes.map((volume: Record<string, unknown>) => (isPlainObject(volume.image) && 'reference' in volume.image ? { image: { reference: volume.image.reference } } : {}));
  }
  if (spec.imagePullSecrets !== undefined) projection.imagePullSecrets = spec.imagePullSecrets as unknown[];
  return projection;
}

/**
 * A copy deep enough to change: new lists and new entry maps (the decision sets `image` on container entries and
 * replaces imagePullSecrets). structuredClone of the same was a tenth of an admission's own CPU time.
 */
function copyOf(projection: Projection): Projection {
  const copy: Projection = {};
  for (const [section, list] of Object.entries(projection)) {
    // imagePullSecrets may be an explicit null, which the decision replaces whole.
    copy[section] = Array.isArray(list) ? list.map((entry) => (typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? { ...entry } : entry)) : list;
  }
  return copy;
}

function specAt(object: unknown, at: readonly string[]): Record<string, unknown> {
  let spec = object as Record<string, unknown>;
  for (const key of at) spec = spec[key] as Record<string, unknown>;
  return spec;
}

/** RFC 6902 operations on the whole object that apply a decision's changes; empty when there are none. */
export function buildPatch(object: unknown, pod: PodSpecView, changes: Decision['changes']): Operation[] {
  if (changes.images.length === 0 && changes.addPullSecrets.length === 0) return [];
  // readPodSpec has already walked this path, so every step is a map.
  const before = project(specAt(object, pod.at));
  const after = copyOf(before);
  for (const { container, image } of changes.images) {
    const entry = after[container.section]![container.index] as Record<string, unknown>;
    if (container.section === 'volumes') entry.image = { reference: image };
    else entry.image = image;
  }
  if (changes.addPullSecrets.length > 0) {
    const existing = Array.isArray(after.imagePullSecrets) ? after.imagePullSecrets : [];
    after.imagePullSecrets = [...existing, ...changes.addPullSecrets.map((name) => ({ name }))];
  }
  // The path's keys are fixed field names (spec, template, jobTemplate): nothing to escape.
  const prefix = pod.at.map((key) => `/${key}`).join('');
  return fastJsonPatch.compare(before, after).map((op) => ({ ...op, path: prefix + op.path }));
}
