import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parsePolicy } from '../../src/policy/load.ts';
import { parseObjects, type KubeObject } from '../e2e/support/webhook-stack.ts';

/** What `kubectl kustomize` renders from manifests/ and its overlays, checked property by property. */
t.setTimeout(120_000);

const ROOT = new URL('../../', import.meta.url).pathname;
const builtKubectl = process.env.CONTROL_PLANE_BIN === undefined ? undefined : join(process.env.CONTROL_PLANE_BIN, 'kubectl');
const KUBECTL = process.env.KUBECTL ?? (builtKubectl !== undefined && existsSync(builtKubectl) ? builtKubectl : 'kubectl');

function render(dir: string): KubeObject[] {
  return parseObjects(execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' }));
}

// Rendered manifests are read field by field; their shape is what the assertions check.
type Any = Record<string, any>;
const base = render(join(ROOT, 'manifests'));
const one = (objects: readonly KubeObject[], kind: string) => objects.find((o) => o.kind === kind) as KubeObject & Any;

const namespace = 'ecr-tenant-webhook';
const webhookConfig = one(base, 'MutatingWebhookConfiguration');
const webhook = webhookConfig.webhooks[0];
const deployment = one(base, 'Deployment');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0];
const service = one(base, 'Service');

t.test('the base holds every object an install needs, all in the webhook namespace where namespaced', async (t) => {
  t.same(base.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  for (const object of base.filter((o) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(o.kind))) {
    t.equal(object.metadata.namespace, namespace, `${object.kind} ${object.metadata.name}`);
  }
  for (const object of base) t.equal(object.metadata.labels?.['app.kubernetes.io/name'], 'ecr-tenant-webhook', `${object.kind} is labelled`);
});

t.test('the webhook configuration follows the admission rules the webhook relies on', async (t) => {
  t.equal(webhookConfig.webhooks.length, 1);
  t.same(webhook.admissionReviewVersions, ['v1']);
  t.equal(webhook.sideEffects, 'NoneOnDryRun');
  t.ok(webhook.timeoutSeconds <= 5, 'timeoutSeconds at most 5');
  t.equal(webhook.reinvocationPolicy, 'IfNeeded');
  t.equal(webhook.failurePolicy, 'Fail');
  t.equal(webhook.matchPolicy, 'Equivalent');
  t.same(webhook.clientConfig.service, { name: service.metadata.name, namespace, path: '/mutate', port: 443 });
  const rules = webhook.rules.map((r: Any) => `${r.operations.join('+')} ${r.resources.join('+')} ${r.apiGroups.join('')}/${r.apiVersions.join('')}`);
  t.same(rules, ['CREATE+UPDATE pods /v1', 'UPDATE pods/ephemeralcontainers /v1']);
});

t.test('only namespaces with a tenant label are intercepted, never the webhook namespace or kube-system', async (t) => {
  const expressions = webhook.namespaceSelector.matchExpressions;
  t.same(expressions[0], { key: 'ecr-tenant-webhook.io/tenant', operator: 'Exists' });
  t.same(expressions[1], { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [namespace, 'kube-system'] });
  t.equal(webhook.objectSelector, undefined, 'pod labels are the tenant’s to set, so they select nothing');
});

t.test('the deployment is highly available and locked down', async (t) => {
  t.equal(deployment.spec.replicas, 2);
  t.equal(podSpec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  t.match(podSpec.securityContext, { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  t.match(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  t.match(container.resources, { requests: { cpu: String, memory: String }, limits: { memory: String } });
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) t.match(container[probe].httpGet, { scheme: 'HTTPS', port: 'https' }, probe);
  t.equal(container.readinessProbe.httpGet.path, '/readyz');
  t.equal(container.livenessProbe.httpGet.path, '/healthz');
  t.equal(podSpec.serviceAccountName, one(base, 'ServiceAccount').metadata.name);
  const pdb = one(base, 'PodDisruptionBudget');
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  t.equal(pdb.spec.minAvailable, 1);
});

t.test('serve is started with the files the pod mounts, whole directories so updates arrive by symlink swap', async (t) => {
  const args: string[] = container.args;
  t.equal(args[0], 'serve');
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const mounts: Any[] = container.volumeMounts;
  for (const mount of mounts) {
    t.equal(mount.subPath, undefined, `${mount.name} is not a subPath mount`);
    t.equal(mount.readOnly, true);
  }
  const mountOf = (file: string | undefined) => mounts.find((m) => file?.startsWith(`${m.mountPath}/`));
  t.equal(mountOf(flag('policy'))?.name, 'policy');
  t.equal(mountOf(flag('tls-cert'))?.name, 'tls');
  t.equal(mountOf(flag('tls-key'))?.name, 'tls');
  const volumes: Any[] = podSpec.volumes;
  t.equal(volumes.find((v) => v.name === 'policy')?.configMap.name, one(base, 'ConfigMap').metadata.name);
  t.equal(volumes.find((v) => v.name === 'tls')?.secret.secretName, 'ecr-tenant-webhook-tls');
  t.same(container.ports.map((p: Any) => p.containerPort), [Number(flag('port')), Number(flag('metrics-port'))]);
  const cmd = /^CMD (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] as string;
  t.same(JSON.parse(cmd).slice(0, 4), args.slice(0, 4), "the image's default command uses the same paths");
});

t.test('the policy in the ConfigMap loads, and starts in dry-run', async (t) => {
  const policy = parsePolicy(one(base, 'ConfigMap').data['policy.yaml'], 'manifests/base/policy.yaml');
  t.equal(policy.defaultMode, 'dry-run');
});

t.test('RBAC grants reading namespaces and nothing else, to the webhook ServiceAccount', async (t) => {
  t.same(one(base, 'ClusterRole').rules, [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }]);
  const binding = one(base, 'ClusterRoleBinding');
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'ecr-tenant-webhook', namespace }]);
  t.equal(binding.roleRef.name, one(base, 'ClusterRole').metadata.name);
  t.match(one(base, 'ServiceAccount').metadata.annotations, { 'eks.amazonaws.com/role-arn': /^arn:aws:iam::\d{12}:role\// });
});

t.test('the Service and the NetworkPolicy let the API server reach 8443', async (t) => {
  t.same(service.spec.selector, deployment.spec.selector.matchLabels);
  t.match(service.spec.ports.find((p: Any) => p.port === 443), { targetPort: 'https' });
  const policy = one(base, 'NetworkPolicy');
  t.same(policy.spec.policyTypes, ['Ingress', 'Egress']);
  t.ok(policy.spec.ingress.some((rule: Any) => rule.from === undefined && rule.ports.some((p: Any) => p.port === 8443)), '8443 from any source');
  t.ok(policy.spec.egress.some((rule: Any) => rule.ports.some((p: Any) => p.port === 443)), 'egress to 443 for the API server and AWS');
});

t.test('the cert-manager overlay issues the serving certificate into the mounted Secret and injects the CA', async (t) => {
  const overlay = render(join(ROOT, 'manifests/overlays/cert-manager'));
  const certificates = overlay.filter((o) => o.kind === 'Certificate') as (KubeObject & Any)[];
  const serving = certificates.find((c) => c.spec.secretName === 'ecr-tenant-webhook-tls');
  t.ok(serving, 'a Certificate writes the Secret the Deployment mounts');
  const svc = `${service.metadata.name}.${namespace}.svc`;
  t.ok(serving?.spec.dnsNames.includes(svc), `it names ${svc}, the name the API server dials`);
  const configuration = one(overlay, 'MutatingWebhookConfiguration');
  t.equal(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${namespace}/${serving?.metadata.name}`);
  t.equal(overlay.filter((o) => o.kind !== 'Certificate' && o.kind !== 'Issuer').length, base.length, 'the base is included whole');
});

t.test('certs/install.sh --write makes an overlay with the Secret and the caBundle of a CA that signed the certificate', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'install-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  execFileSync('bash', [join(ROOT, 'certs/install.sh'), '--out', join(work, 'pki'), '--write', join(work, 'overlay')], { stdio: 'pipe' });
  const rendered = render(join(work, 'overlay'));
  const secret = one(rendered, 'Secret');
  t.match(secret, { type: 'kubernetes.io/tls', metadata: { name: 'ecr-tenant-webhook-tls', namespace } });
  const ca = new X509Certificate(readFileSync(join(work, 'pki/ca.crt')));
  const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
  t.ok(leaf.verify(ca.publicKey), 'the serving certificate is signed by the CA');
  for (const name of ['ecr-tenant-webhook', `ecr-tenant-webhook.${namespace}.svc`, `ecr-tenant-webhook.${namespace}.svc.cluster.local`]) t.match(leaf.subjectAltName, `DNS:${name}`);
  const bundle = one(rendered, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle;
  t.equal(Buffer.from(bundle, 'base64').toString(), readFileSync(join(work, 'pki/ca.crt'), 'utf8'));

  execFileSync('bash', [join(ROOT, 'certs/install.sh'), '--out', join(work, 'pki'), '--write', join(work, 'overlay')], { stdio: 'pipe' });
  const again = render(join(work, 'overlay'));
  t.equal(one(again, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle, bundle, 'a second run keeps the CA, so caBundle does not change');
  t.not(one(again, 'Secret').data['tls.crt'], secret.data['tls.crt'], 'and renews the serving certificate');
});

t.test('certs/install.sh refuses an unknown argument and explains itself', async (t) => {
  const result = (() => {
    try {
      execFileSync('bash', [join(ROOT, 'certs/install.sh'), '--bogus'], { stdio: 'pipe', encoding: 'utf8' });
      return { status: 0, stderr: '' };
    } catch (error) {
      return error as { status: number; stderr: string };
    }
  })();
  t.equal(result.status, 2);
  t.match(result.stderr, 'install.sh: unknown argument: --bogus (see --help)');
});
