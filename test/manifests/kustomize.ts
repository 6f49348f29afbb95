import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Renders kustomize directories with kubectl, as `kubectl apply -k` would, for the manifests and certs tests. */
export const ROOT = new URL('../../', import.meta.url).pathname;

// CI builds a kubectl beside its kube-apiserver and may have none on PATH; KUBECTL always wins.
const builtKubectl = process.env.CONTROL_PLANE_BIN === undefined ? undefined : join(process.env.CONTROL_PLANE_BIN, 'kubectl');
export const KUBECTL = process.env.KUBECTL ?? (builtKubectl !== undefined && existsSync(builtKubectl) ? builtKubectl : 'kubectl');

// Rendered objects are read field by field; their shape is exactly what the assertions check.
export type Any = Record<string, any>;
export type KubeObject = Any & { apiVersion: string; kind: string; metadata: Any & { name: string } };

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

export function renderText(dir: string): string {
  return execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function render(dir: string): KubeObject[] {
  return parseObjects(renderText(dir));
}

/** The one object of a kind (and name, when given); throws rather than let an assertion read undefined. */
export function one(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0] as KubeObject;
}
