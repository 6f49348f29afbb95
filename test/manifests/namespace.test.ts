import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse, stringify } from 'yaml';
import { render, ROOT, type Any, type KubeObject } from './kustomize.ts';

/**
 * Moving the webhook to another namespace, both ways manifests/README.md describes: editing the base's one
 * `namespace:` line, and an overlay of one's own with the replacements the README shows.
 */
t.setTimeout(60_000);

const OLD = 'ecr-tenant-webhook';
const NEW = 'platform-webhooks';
const work = mkdtempSync(join(tmpdir(), 'manifests-namespace-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
cpSync(join(ROOT, 'manifests'), join(work, 'manifests'), { recursive: true });

/** Every place a rendered install names the webhook's namespace, labelled for the assertion messages. */
function namespaceReferences(objects: readonly KubeObject[]): [string, string | undefined][] {
  const references: [string, string | undefined][] = [];
  for (const o of objects) {
    const at = `${o.kind} ${o.metadata.name}`;
    if (o.metadata.namespace !== undefined) references.push([`${at} metadata.namespace`, o.metadata.namespace]);
    if (o.kind === 'Namespace') references.push([`${at} name`, o.metadata.name]);
    if (o.kind === 'ClusterRoleBinding') for (const s of o.subjects) references.push([`${at} subject`, s.namespace]);
    if (o.kind === 'Certificate' && o.spec.dnsNames !== undefined) for (const n of o.spec.dnsNames.slice(1)) references.push([`${at} dnsName ${n}`, n.split('.')[1]]);
    if (o.kind === 'RoleBinding') for (const s of o.subjects) references.push([`${at} subject`, s.namespace]);
    if (o.kind !== 'MutatingWebhookConfiguration' && o.kind !== 'ValidatingWebhookConfiguration') continue;
    const injectFrom = o.metadata.annotations?.['cert-manager.io/inject-ca-from'];
    if (injectFrom !== undefined) references.push([`${at} inject-ca-from`, injectFrom.split('/')[0]]);
    for (const w of o.webhooks) {
      references.push([`${at} ${w.name} service`, w.clientConfig.service.namespace]);
      // The namespace-label guard has no selector: it must see every namespace, its own included.
      const own = w.namespaceSelector?.matchExpressions.find((e: Any) => e.key === 'kubernetes.io/metadata.name');
      if (own !== undefined) references.push([`${at} ${w.name} excluded namespace`, own.values[0]]);
    }
  }
  return references;
}

function assertMoved(t: Test, moved: KubeObject[], original: KubeObject[]) {
  const references = namespaceReferences(moved);
  t.same(references.map(([, ns]) => ns), references.map(() => NEW), references.filter(([, ns]) => ns !== NEW).map(([at]) => at).join(', ') || 'every reference moved');
  t.equal(references.length, namespaceReferences(original).length, 'as many references as before');
  const back = JSON.parse(JSON.stringify(moved).replaceAll(NEW, OLD)) as KubeObject[];
  t.same(back, original, 'and nothing but the namespace changed');
}

/** Sets the one `namespace:` line of a kustomization in the copy; undone when the test ends. */
function setNamespace(t: Test, dir: string) {
  const kustomization = join(work, dir, 'kustomization.yaml');
  const text = readFileSync(kustomization, 'utf8');
  t.equal(text.match(/^namespace: ecr-tenant-webhook$/gm)?.length, 1, `${dir} names its namespace on one line`);
  writeFileSync(kustomization, text.replace(/^namespace: ecr-tenant-webhook$/m, `namespace: ${NEW}`));
  t.teardown(() => writeFileSync(kustomization, text));
}

t.test('changing namespace: in the base moves every reference to it, in the base and the cert-manager overlay', async (t) => {
  setNamespace(t, 'manifests/base');
  assertMoved(t, render(join(work, 'manifests')), render(join(ROOT, 'manifests')));
  assertMoved(t, render(join(work, 'manifests/overlays/cert-manager')), render(join(ROOT, 'manifests/overlays/cert-manager')));
});

t.test('changing namespace: in the starter policy’s kustomization too puts the ConfigMap beside the moved Deployment', async (t) => {
  setNamespace(t, 'manifests/base');
  setNamespace(t, 'manifests/policy');
  const deployment = render(join(work, 'manifests')).find((o) => o.kind === 'Deployment');
  const [configMap] = render(join(work, 'manifests/policy'));
  t.equal(configMap?.metadata.namespace, deployment?.metadata.namespace);
  assertMoved(t, render(join(work, 'manifests/policy')), render(join(ROOT, 'manifests/policy')));
});

// The YAML block after the namespace-overlay marker in manifests/README.md, pointed at the copy made above.
function readmeOverlay(): Any {
  const readme = readFileSync(join(ROOT, 'manifests/README.md'), 'utf8');
  const block = /<!-- namespace-overlay[^>]*-->\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) throw new Error('manifests/README.md has no namespace-overlay block');
  return parse(block);
}

function writeOverlay(name: string, kustomization: Any): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'kustomization.yaml'), stringify(kustomization));
  return dir;
}

t.test('the overlay manifests/README.md shows moves every reference over the cert-manager overlay', async (t) => {
  const overlay = readmeOverlay();
  t.equal(overlay.namespace, NEW);
  t.match(overlay.resources, [/manifests\/overlays\/cert-manager/]);
  const dir = writeOverlay('own-cert-manager', { ...overlay, resources: ['../manifests/overlays/cert-manager'] });
  assertMoved(t, render(dir), render(join(ROOT, 'manifests/overlays/cert-manager')));
});

t.test('the same overlay without its last three targets, as the README says, moves every reference over the base', async (t) => {
  const overlay = readmeOverlay();
  const [replacement] = overlay.replacements;
  const dir = writeOverlay('own-base', { ...overlay, resources: ['../manifests/base'], replacements: [{ ...replacement, targets: replacement.targets.slice(0, -3) }] });
  assertMoved(t, render(dir), render(join(ROOT, 'manifests')));
});
