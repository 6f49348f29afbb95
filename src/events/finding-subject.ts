import { isPlainObject } from '../workload/pod-spec.ts';
import type { ObjectRef } from './finding-reporter.ts';

/**
 * What a dry-run finding about a pod is reported on: the pod's controller (a ReplicaSet, Job, StatefulSet...), where
 * the people who own the workload look, since the pod itself may never exist or be replaced at once; a pod without
 * a controller has no object to hang it on yet (it is being created), so the Event goes on its namespace.
 */
function controllerOf(object: unknown): ObjectRef | undefined {
  const metadata = isPlainObject(object) && isPlainObject(object.metadata) ? object.metadata : {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
  const controller = owners.find((owner): owner is Record<string, unknown> => isPlainObject(owner) && owner.controller === true);
  if (controller === undefined) return undefined;
  const { apiVersion, kind, name, uid } = controller;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || typeof name !== 'string' || name === '') return undefined;
  return { apiVersion, kind, name, namespace: '', uid: typeof uid === 'string' ? uid : undefined };
}

export function findingSubject(object: unknown, namespace: string): ObjectRef {
  const controller = controllerOf(object);
  if (controller !== undefined) return { ...controller, namespace };
  return { apiVersion: 'v1', kind: 'Namespace', name: namespace, namespace };
}
