import type { KubeObject } from '../../src/kube/workload-source.ts';

/** Live-looking objects for the audit's unit tests: what the API server returns, as plain JSON. */
export const SOURCE = '999999999999.dkr.ecr.us-east-1.amazonaws.com';
export const TARGET = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
export const TOOLS = '222222222222.dkr.ecr.us-west-2.amazonaws.com';
export const ANALYTICS = '333333333333.dkr.ecr.eu-central-1.amazonaws.com';
export const TENANT = 'ecr-tenant-webhook.io/tenant';
export const MODE = 'ecr-tenant-webhook.io/mode';
export const SECRET = 'ecr-pull-111111111111-eu-west-1';

const API_VERSIONS: Record<string, string> = { Pod: 'v1', Deployment: 'apps/v1', ReplicaSet: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', Job: 'batch/v1', CronJob: 'batch/v1' };

export interface ObjectOptions {
  /** Controller owner as [kind, name]; its UID is `uid-<name>`. */
  readonly owner?: readonly [string, string];
  readonly controller?: boolean;
  readonly phase?: string;
  readonly pullSecrets?: readonly string[];
  readonly ephemeral?: string;
  readonly uid?: string | null;
  /** A Job's condition that is True (Complete or Failed), or one that is False. */
  readonly condition?: readonly [string, 'True' | 'False'];
}

export function podSpec(image: string, options: ObjectOptions = {}): Record<string, unknown> {
  return {
    containers: [{ name: 'app', image }],
    ...(options.ephemeral === undefined ? {} : { ephemeralContainers: [{ name: 'debug', image: options.ephemeral }] }),
    ...(options.pullSecrets === undefined ? {} : { imagePullSecrets: options.pullSecrets.map((name) => ({ name })) }),
  };
}

function specOf(kind: string, pod: Record<string, unknown>): Record<string, unknown> {
  if (kind === 'Pod') return pod;
  if (kind === 'CronJob') return { schedule: '0 * * * *', jobTemplate: { spec: { template: { spec: pod } } } };
  return { template: { spec: pod } };
}

export function object(kind: string, namespace: string, name: string, image: string, options: ObjectOptions = {}): KubeObject {
  const owner = options.owner === undefined ? {} : { ownerReferences: [{ apiVersion: 'v1', kind: options.owner[0], name: options.owner[1], uid: `uid-${options.owner[1]}`, controller: options.controller ?? true }] };
  const uid = options.uid === undefined ? { uid: `uid-${name}` } : options.uid === null ? {} : { uid: options.uid };
  return {
    apiVersion: API_VERSIONS[kind],
    kind,
    metadata: { name, namespace, ...uid, ...owner },
    spec: specOf(kind, podSpec(image, options)),
    ...(options.phase === undefined ? {} : { status: { phase: options.phase } }),
    ...(options.condition === undefined ? {} : { status: { conditions: [{ type: options.condition[0], status: options.condition[1] }] } }),
  };
}
