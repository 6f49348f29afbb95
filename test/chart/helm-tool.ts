import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseObjects, ROOT, type KubeObject } from '../manifests/kustomize.ts';

/**
 * The real helm (v4, built from Go modules by test/chart-tools/build.sh, which .ci/run calls and exports as
 * CHART_TOOLS_BIN), run on manifests/chart/ with its own caches under a directory of the test's.
 */
export const CHART = join(ROOT, 'manifests/chart');

export function chartToolsBin(): string {
  const bin = process.env.CHART_TOOLS_BIN;
  if (bin === undefined || bin === '') throw new Error('CHART_TOOLS_BIN is not set: export CHART_TOOLS_BIN="$(bash test/chart-tools/build.sh)"');
  return bin;
}

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** helm with the given arguments; its config, cache and data under `home`, so no run sees another's. */
export function helm(args: readonly string[], options: { home: string; kubeconfig?: string; timeoutMs?: number }): HelmResult {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: options.home,
    HELM_CONFIG_HOME: join(options.home, 'config'),
    HELM_CACHE_HOME: join(options.home, 'cache'),
    HELM_DATA_HOME: join(options.home, 'data'),
    ...(options.kubeconfig === undefined ? {} : { KUBECONFIG: options.kubeconfig }),
  };
  const result = spawnSync(join(chartToolsBin(), 'helm'), args, { env, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000 });
  if (result.error !== undefined) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `helm template` of the chart as release ecr-tenant-webhook in namespace ecr-tenant-webhook; throws on failure. */
export function template(home: string, args: readonly string[] = []): KubeObject[] {
  const result = helm(['template', 'ecr-tenant-webhook', CHART, '--namespace', 'ecr-tenant-webhook', ...args], { home });
  if (result.code !== 0) throw new Error(`helm template failed (${result.code}): ${result.stderr}`);
  return parseObjects(result.stdout);
}
