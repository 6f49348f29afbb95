import { PullSecretWriter } from '../../src/credentials/pull-secret-writer.ts';
import type { TokenProvider } from '../../src/credentials/pull-secret-provisioner.ts';
import type { ReconcilerOptions } from '../../src/credentials/reconciler.ts';
import type { NamespaceDirectory } from '../../src/kube/namespace-directory.ts';
import type { ManagedSecretStore } from '../../src/kube/secret-store.ts';
import { fixedPolicy } from '../../src/policy/policy-source.ts';
import { logSink, testPolicy } from '../admission/harness.ts';
import { testSealer } from './test-sealer.ts';

/** The clock the reconciler tests run at. */
export const RECONCILER_NOW = Date.parse('2026-11-23T00:00:00Z');
export const TEST_SESSION_SECONDS = 3600;

/**
 * A reconciler's options for tests: over the given store, directory and tokens, the test policy and sealer, a
 * leader, a two-hour renewal window, no grace period, and the clock at RECONCILER_NOW; anything else overridden.
 */
export function reconcilerOptions(store: ManagedSecretStore, namespaces: NamespaceDirectory, tokens: TokenProvider, overrides: Partial<ReconcilerOptions> = {}): ReconcilerOptions {
  return {
    store,
    writer: new PullSecretWriter(store, () => testSealer),
    tokens,
    policy: fixedPolicy(testPolicy),
    namespaces,
    seals: () => testSealer,
    isLeader: () => true,
    following: () => undefined,
    everyMs: 20,
    renewWithinMs: 2 * 3600_000,
    deletionGraceMs: 0,
    maxDeletionsPerRound: 100,
    concurrency: 2,
    operationDeadlineMs: 1000,
    roundBudgetMs: 60_000,
    sessionSeconds: TEST_SESSION_SECONDS,
    now: () => RECONCILER_NOW,
    log: logSink().log,
    ...overrides,
  };
}
