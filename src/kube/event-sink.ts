import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { EventSink, FindingEvent } from '../events/finding-reporter.ts';
import { clip } from '../text.ts';
import { withDeadline } from '../deadline.ts';
import { describeFailure } from './api-error.ts';

/**
 * Findings as core/v1 Events, the kind `kubectl describe` and `kubectl get events` show. The Event lives in the
 * finding's namespace; for a namespace (cluster-scoped) the API server would only accept it in `default`, where the
 * namespace's people would never look, so involvedObject.namespace names the namespace itself.
 */
export const REPORTING_COMPONENT = 'ecr-tenant-webhook';
/** The API server keeps messages short in practice; events.k8s.io caps a note at 1 KiB. */
const MAX_MESSAGE = 1024;
const MAX_NAME_PREFIX = 200;
/** Events go one at a time, so one stalled create would hold every finding behind it. */
const CREATE_DEADLINE_MS = 10_000;

export function eventBody(event: FindingEvent, instance: string): CoreV1Event {
  const { regarding } = event;
  return {
    metadata: { generateName: `${regarding.name.slice(0, MAX_NAME_PREFIX)}.`, namespace: event.namespace },
    involvedObject: { apiVersion: regarding.apiVersion, kind: regarding.kind, name: regarding.name, namespace: regarding.namespace, uid: regarding.uid },
    reason: event.reason,
    message: clip(event.message, MAX_MESSAGE),
    type: 'Warning',
    count: event.count,
    firstTimestamp: event.firstSeen,
    lastTimestamp: event.lastSeen,
    source: { component: REPORTING_COMPONENT },
    reportingComponent: REPORTING_COMPONENT,
    reportingInstance: instance,
  };
}

export class KubeEventSink implements EventSink {
  readonly #api: CoreV1Api;
  readonly #instance: string;
  readonly #server: string;

  readonly #deadlineMs: number;

  /** `deadlineMs`: how long one create may take; the sender moves on rather than wait on a stalled connection. */
  constructor(kubeConfig: KubeConfig, instance: string, deadlineMs = CREATE_DEADLINE_MS) {
    this.#api = kubeConfig.makeApiClient(CoreV1Api);
    this.#instance = instance;
    this.#deadlineMs = deadlineMs;
    // loadKubeConfig refuses a kubeconfig without a current cluster.
    this.#server = kubeConfig.getCurrentCluster()!.server;
  }

  async create(event: FindingEvent): Promise<void> {
    try {
      await withDeadline(this.#api.createNamespacedEvent({ namespace: event.namespace, body: eventBody(event, this.#instance) }), this.#deadlineMs, 'the request');
    } catch (error) {
      const { kind, name } = event.regarding;
      throw new Error(`creating a ${event.reason} Event for ${kind} ${event.namespace}/${name} failed: ${describeFailure(error, this.#server)}`);
    }
  }
}

/** The same contract in memory, for unit tests; `failWith` makes every create reject. */
export class InMemoryEventSink implements EventSink {
  readonly events: FindingEvent[] = [];
  failWith: Error | undefined;

  async create(event: FindingEvent): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith;
    this.events.push(event);
  }
}
