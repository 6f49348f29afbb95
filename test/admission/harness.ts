import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { buildApp, DEFAULT_ADMISSION_DEADLINE_MS, type AppConfig, type AppDeps } from '../../src/app.ts';
import { InMemoryNamespaceDirectory, type NamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { NAMESPACES } from './namespaces.ts';

export const TEST_POLICY_PATH = new URL('../fixtures/policy.yaml', import.meta.url);
export const testPolicy = parsePolicy(readFileSync(TEST_POLICY_PATH, 'utf8'), 'test/fixtures/policy.yaml');

/** Collects log lines so tests can assert what was logged. */
export function logSink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination: stream }) };
}

/** An AdmissionReview of a pod CREATE in `namespace`; `request` adds or overrides request fields (dryRun, operation...). */
export function podReview(namespace: string, object: unknown, request: Record<string, unknown> = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace, object, ...request },
  };
}

/** A pod of one container named app. */
export function onePod(image: string, metadata: Record<string, unknown> = { name: 'p' }) {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'app', image }] } };
}

export function testApp(config: Partial<AppConfig> = {}, namespaces: NamespaceDirectory = new InMemoryNamespaceDirectory(NAMESPACES), extra: Partial<Pick<AppDeps, 'policy' | 'pullSecrets' | 'findings'>> = {}) {
  const sink = logSink();
  const metrics = createMetrics();
  const lifecycle = { draining: false };
  const deps = { policy: fixedPolicy(testPolicy), namespaces, log: sink.log, metrics, draining: () => lifecycle.draining, ...extra };
  const app = buildApp({ bodyLimitBytes: 1024 * 1024, admissionDeadlineMs: DEFAULT_ADMISSION_DEADLINE_MS, ...config }, deps);
  return { app, logs: sink.lines, namespaces, metrics, lifecycle };
}
