import type { Logger } from 'pino';
import { FileWatcher, readAll } from '../files/file-watcher.ts';
import type { Metrics } from '../metrics.ts';
import type { CompiledPolicy } from './compile.ts';
import { parsePolicy, PolicyError } from './load.ts';
import { unreadablePolicy } from './policy-file.ts';
import type { PolicySource } from './policy-source.ts';

/**
 * The policy in force for `serve`: loaded from a file at start (a bad file stops the start), then reloaded
 * whenever the file changes. A change that does not load is rejected with an error log line and
 * `ecr_tenant_webhook_policy_reload_healthy 0`; the last good policy keeps serving, so a typo pushed to the
 * ConfigMap never opens or closes the cluster.
 */
export interface PolicyReloaderOptions {
  readonly path: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly pollMs: number;
  readonly debounceMs: number;
}

function summary(policy: CompiledPolicy) {
  return { tenants: policy.tenants.size, defaultMode: policy.defaultMode, warnings: policy.warnings.length > 0 ? policy.warnings : undefined };
}

/** The watcher reports both read failures and the PolicyError thrown by a change that does not load. */
function readFailure(path: string, error: Error): PolicyError {
  return error instanceof PolicyError ? error : unreadablePolicy(path, error);
}

export class PolicyReloader implements PolicySource {
  #policy: CompiledPolicy;
  readonly #watcher: FileWatcher;
  readonly #options: PolicyReloaderOptions;
  readonly #listeners: ((policy: CompiledPolicy) => void)[] = [];

  private constructor(policy: CompiledPolicy, options: PolicyReloaderOptions) {
    this.#policy = policy;
    this.#options = options;
    this.#watcher = new FileWatcher([options.path], {
      pollMs: options.pollMs,
      debounceMs: options.debounceMs,
      onChange: ([content]) => this.#load(content as Buffer),
      onError: (error) => this.#rejected(readFailure(options.path, error)),
    });
  }

  /** Loads the file and starts following it; throws a PolicyError naming every problem when it does not load. */
  static async open(options: PolicyReloaderOptions): Promise<PolicyReloader> {
    let contents: Buffer[];
    try {
      contents = await readAll([options.path]);
    } catch (error) {
      throw readFailure(options.path, error as Error);
    }
    const policy = parsePolicy((contents[0] as Buffer).toString('utf8'), options.path);
    const reloader = new PolicyReloader(policy, options);
    options.metrics.policyReloadHealthy.set(1);
    options.metrics.policyLoadedTimestamp.set(Date.now() / 1000);
    options.log.info({ policy: options.path, ...summary(policy) }, 'policy loaded');
    reloader.#watcher.start(contents);
    return reloader;
  }

  current(): CompiledPolicy {
    return this.#policy;
  }

  /** Called after every change that loaded (not the first load), with the policy now in force. */
  onReload(listener: (policy: CompiledPolicy) => void): void {
    this.#listeners.push(listener);
  }

  /** Re-reads the file now instead of waiting for an event or the poll. */
  async check(): Promise<void> {
    await this.#watcher.check();
  }

  stop(): void {
    this.#watcher.stop();
  }

  #load(content: Buffer): void {
    const { path, log, metrics } = this.#options;
    // parsePolicy throws a PolicyError; the watcher hands it to onError, which keeps the last good policy.
    const policy = parsePolicy(content.toString('utf8'), path);
    this.#policy = policy;
    metrics.policyReloads.inc({ result: 'success' });
    metrics.policyReloadHealthy.set(1);
    metrics.policyLoadedTimestamp.set(Date.now() / 1000);
    log.info({ policy: path, ...summary(policy) }, 'policy reloaded');
    for (const listener of this.#listeners) listener(policy);
  }

  #rejected(error: PolicyError): void {
    const { path, log, metrics } = this.#options;
    metrics.policyReloads.inc({ result: 'failure' });
    metrics.policyReloadHealthy.set(0);
    log.error({ policy: path, problems: error.problems }, 'policy change rejected; the last good policy keeps serving');
  }
}
