import { UsageError } from './usage-error.ts';

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix))) return `label key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`;
  if (!NAME.test(name)) return `label key ${JSON.stringify(key)} is not a valid label name`;
  return undefined;
}

/** Parses `k=v[,k=v...]` as given to --namespace-labels, checking keys and values as Kubernetes does. */
export function parseNamespaceLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq === -1) throw new UsageError(`--namespace-labels: ${JSON.stringify(pair)} is not key=value`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const problem = labelKeyProblem(key);
    if (problem !== undefined) throw new UsageError(`--namespace-labels: ${problem}`);
    if (!VALUE.test(value)) throw new UsageError(`--namespace-labels: value ${JSON.stringify(value)} of ${key} is not a valid label value`);
    if (Object.hasOwn(labels, key)) throw new UsageError(`--namespace-labels: ${key} is given twice`);
    labels[key] = value;
  }
  return labels;
}
