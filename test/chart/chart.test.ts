import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parsePolicy } from '../../src/policy/load.ts';
import { one, render, ROOT, type Any, type KubeObject } from '../manifests/kustomize.ts';
import { CHART, helm, template } from './helm-tool.ts';

/**
 * manifests/chart/ with the real helm: lint, the default render against the kustomize base (so the two cannot
 * drift), every value the chart offers, and refusals of values it cannot honour. Install, upgrade and uninstall
 * against a real API server are in test/e2e/helm.test.ts.
 */
t.setTimeout(120_000);

const home = mkdtempSync(join(tmpdir(), 'chart-test-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

/** Labels only the chart sets (Helm's conventions); the base sets name and part-of, which the chart sets too. */
const CHART_LABELS = ['app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version', 'helm.sh/chart'];
const key = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function withoutChartLabels(object: KubeObject): KubeObject {
  const copy = structuredClone(object) as Any;
  for (const labels of [copy.metadata.labels, copy.spec?.template?.metadata?.labels]) {
    if (labels !== undefined) for (const label of CHART_LABELS) delete labels[label];
  }
  return copy as KubeObject;
}

t.test('helm lint finds nothing to fault, with the default values and with every option set', async (t) => {
  const plain = helm(['lint', CHART, '--strict'], { home });
  t.equal(plain.code, 0, plain.stdout + plain.stderr);
  t.match(plain.stdout, '1 chart(s) linted, 0 chart(s) failed');
  const full = helm(['lint', CHART, '--strict', '--namespace', 'webhooks', '-f', join(ROOT, 'test/chart/full-values.yaml')], { home });
  t.equal(full.code, 0, full.stdout + full.stderr);
});

t.test('the default values render the objects of the kustomize base and the starter policy, and a serving certificate', async (t) => {
  const chart = template(home);
  const kustomized = [...render(join(ROOT, 'manifests')), ...render(join(ROOT, 'manifests/policy'))];
  // helm installs into a namespace it is given (--create-namespace); the base makes its own, Pod Security labelled.
  const base = kustomized.filter((o) => o.kind !== 'Namespace');
  const secret = one(chart, 'Secret', 'ecr-tenant-webhook-tls');
  const caSecret = one(chart, 'Secret', 'ecr-tenant-webhook-ca');
  const ours = chart.filter((o) => o !== secret && o !== caSecret).map(withoutChartLabels);
  t.same(ours.map(key).sort(), base.map(key).sort(), 'the same objects, by kind, namespace and name');
  for (const object of ours) {
    const expected = structuredClone(base.find((o) => key(o) === key(object))) as Any;
    const actual = structuredClone(object) as Any;
    // The differences the chart makes on purpose, each checked below: the base leaves caBundle to certs/install.sh
    // or cert-manager, and holds the starter policy outside any upgrade instead of marking it kept.
    if (object.kind.endsWith('WebhookConfiguration')) for (const webhook of actual.webhooks) delete webhook.clientConfig.caBundle;
    if (object.kind === 'ConfigMap') t.same(actual.metadata.annotations, { 'helm.sh/resource-policy': 'keep', 'helm.sh/hook': 'pre-install' }, 'the starter policy is an install hook Helm never deletes');
    if (object.kind === 'ConfigMap') delete actual.metadata.annotations;
    t.same(actual, expected, key(object));
  }
  const ca = Buffer.from(secret.data['ca.crt'], 'base64').toString();
  for (const configuration of chart.filter((o) => o.kind.endsWith('WebhookConfiguration'))) {
    for (const webhook of configuration.webhooks) t.equal(webhook.clientConfig.caBundle, secret.data['ca.crt'], `${webhook.name} trusts the chart's CA`);
  }
  const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
  t.ok(leaf.verify(new X509Certificate(ca).publicKey), 'the serving certificate is signed by that CA');
  t.same(leaf.subjectAltName?.split(', ').sort(), ['DNS:ecr-tenant-webhook', 'DNS:ecr-tenant-webhook.ecr-tenant-webhook', 'DNS:ecr-tenant-webhook.ecr-tenant-webhook.svc', 'DNS:ecr-tenant-webhook.ecr-tenant-webhook.svc.cluster.local']);
  t.equal(secret.type, 'kubernetes.io/tls');
  t.equal(caSecret.data['tls.crt'], secret.data['ca.crt'], 'the CA is kept in a Secret of its own, with its key');
  t.ok(caSecret.data['tls.key'].length > 100);
  t.notOk('ca.key' in secret.data, 'the Secret the pods mount holds no CA key');
  const mounted = one(chart, 'Deployment').spec.template.spec.volumes.map((v: Any) => v.secret?.secretName).filter(Boolean);
  t.same(mounted, ['ecr-tenant-webhook-tls'], 'no pod mounts the CA');
});

t.test('the starter policy is the one of manifests/policy, and loads with the webhook’s own loader', async (t) => {
  const configMap = one(template(home), 'ConfigMap', 'ecr-tenant-webhook-policy');
  const policy = parsePolicy(configMap.data['policy.yaml'], 'policy.yaml');
  t.equal(policy.defaultMode, 'dry-run');
  t.equal(policy.tenants.size, 0);
  t.same(policy.warnings, []);
});

const FULL = template(home, ['--namespace', 'webhooks', '-f', join(ROOT, 'test/chart/full-values.yaml')]);

t.test('every value the chart offers reaches the object it is for', async (t) => {
  const deployment = one(FULL, 'Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  t.equal(deployment.spec.replicas, 3);
  t.equal(container.image, `registry.example.com/platform/ecr-tenant-webhook:0.1.0@sha256:${'a'.repeat(64)}`);
  t.equal(container.imagePullPolicy, 'Always');
  t.same(pod.imagePullSecrets, [{ name: 'regcred' }]);
  t.equal(pod.priorityClassName, 'platform-critical');
  t.same(container.resources, { requests: { cpu: '200m', memory: '400Mi' }, limits: { memory: '768Mi' } });
  t.same(pod.affinity, { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'ecr-tenant-webhook' } } }] } });
  t.same(pod.topologySpreadConstraints, [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'ecr-tenant-webhook' } } }]);
  t.same(pod.nodeSelector, { 'node-role.example.com/platform': 'true' });
  t.same(pod.tolerations, [{ key: 'platform', operator: 'Exists', effect: 'NoSchedule' }]);
  t.match(deployment.spec.template.metadata.labels, { team: 'platform', 'app.kubernetes.io/name': 'ecr-tenant-webhook' });
  t.same(deployment.spec.template.metadata.annotations, { 'example.com/owner': 'platform' });
  t.same(container.args.slice(-3), ['--shutdown-delay=10', '--log-level=debug', '--registry-cache=120']);
  t.equal(pod.terminationGracePeriodSeconds, 10 + 8 + 20, 'shutdown delay plus timeoutSeconds plus room');
  t.match(container.env, [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=512' }, { name: 'POD_NAMESPACE' }, { name: 'POD_NAME' }, { name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'regional' }]);
  t.equal(pod.volumes.find((v: Any) => v.name === 'policy').configMap.name, 'tenant-policy');
  t.equal(pod.volumes.find((v: Any) => v.name === 'tls').secret.secretName, 'ecr-tenant-webhook-tls');
  t.equal(one(FULL, 'PodDisruptionBudget').spec.minAvailable, 2);
  t.same(one(FULL, 'ServiceAccount').metadata.annotations, { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/webhook', 'example.com/team': 'platform' });
  t.equal(FULL.filter((o) => o.kind === 'ConfigMap').length, 0, 'an existing ConfigMap: no policy rendered');
  t.same(one(FULL, 'NetworkPolicy').spec.ingress[1].from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
  const monitor = one(FULL, 'ServiceMonitor');
  t.match(monitor.metadata.labels, { release: 'kube-prometheus-stack' });
  t.same(monitor.spec.endpoints, [{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '15s' }]);
});

t.test('the webhooks follow failurePolicy, timeoutSeconds and the excluded namespaces; the guard always fails closed', async (t) => {
  const mutating = one(FULL, 'MutatingWebhookConfiguration').webhooks[0];
  const [guard, workloads] = one(FULL, 'ValidatingWebhookConfiguration').webhooks;
  t.equal(mutating.failurePolicy, 'Ignore');
  t.equal(guard.failurePolicy, 'Fail', 'the namespace-label guard is never opened by a value');
  t.equal(workloads.failurePolicy, 'Ignore');
  for (const webhook of [mutating, guard, workloads]) t.equal(webhook.timeoutSeconds, 8, webhook.name);
  for (const webhook of [mutating, workloads]) {
    t.same(webhook.namespaceSelector.matchExpressions[1], { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['webhooks', 'kube-system', 'legacy', 'sandbox'] }, `${webhook.name}: its own namespace, kube-system and the extras`);
  }
});

t.test('cert-manager: issuers chained to the serving certificate in the mounted Secret, and the CA injected', async (t) => {
  const objects = template(home, ['--set', 'certificates.source=cert-manager']);
  t.equal(objects.filter((o) => o.kind === 'Secret').length, 0, 'cert-manager writes the Secret');
  const serving = one(objects, 'Certificate', 'ecr-tenant-webhook-serving');
  t.equal(serving.spec.secretName, 'ecr-tenant-webhook-tls');
  t.same(serving.spec.issuerRef, { name: 'ecr-tenant-webhook-ca', kind: 'Issuer' });
  t.same(serving.spec.dnsNames, ['ecr-tenant-webhook', 'ecr-tenant-webhook.ecr-tenant-webhook', 'ecr-tenant-webhook.ecr-tenant-webhook.svc', 'ecr-tenant-webhook.ecr-tenant-webhook.svc.cluster.local']);
  t.equal(one(objects, 'Certificate', 'ecr-tenant-webhook-ca').spec.issuerRef.name, 'ecr-tenant-webhook-selfsigned');
  t.equal(one(objects, 'Issuer', 'ecr-tenant-webhook-ca').spec.ca.secretName, 'ecr-tenant-webhook-ca');
  for (const configuration of objects.filter((o) => o.kind.endsWith('WebhookConfiguration'))) {
    t.same(configuration.metadata.annotations, { 'cert-manager.io/inject-ca-from': 'ecr-tenant-webhook/ecr-tenant-webhook-serving' });
    for (const webhook of configuration.webhooks) t.equal(webhook.clientConfig.caBundle, undefined, `${webhook.name}: injected, not rendered`);
  }
  const own = template(home, ['--set', 'certificates.source=cert-manager', '--set', 'certificates.certManager.issuerRef.name=corp-ca', '--set', 'certificates.certManager.issuerRef.kind=ClusterIssuer']);
  t.same(one(own, 'Certificate', 'ecr-tenant-webhook-serving').spec.issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer' });
  t.equal(own.filter((o) => o.kind === 'Issuer').length, 0, 'an issuer of yours: none of the chart’s');
});

t.test('an existing Secret: mounted by name, its CA in every webhook, nothing generated', async (t) => {
  const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
  const objects = template(home, ['--set', 'certificates.source=existing-secret', '--set', 'certificates.existingSecret.name=my-tls', '--set', `certificates.existingSecret.caBundle=${ca}`]);
  t.equal(objects.filter((o) => o.kind === 'Secret' || o.kind === 'Certificate').length, 0);
  t.equal(one(objects, 'Deployment').spec.template.spec.volumes.find((v: Any) => v.name === 'tls').secret.secretName, 'my-tls');
  for (const configuration of objects.filter((o) => o.kind.endsWith('WebhookConfiguration'))) {
    for (const webhook of configuration.webhooks) t.equal(webhook.clientConfig.caBundle, ca);
  }
});

t.test('an inline policy is the policy, rendered every time and kept by Helm', async (t) => {
  const inline = 'apiVersion: ecr-tenant-webhook.io/v1alpha1\nkind: TenantPolicy\nspec:\n  defaults:\n    mode: enforce\n  tenants: {}\n';
  const configMap = one(template(home, ['--set-string', `policy.inline=${inline}`]), 'ConfigMap');
  t.equal(configMap.data['policy.yaml'], inline);
  t.same(configMap.metadata.annotations, { 'helm.sh/resource-policy': 'keep' });
  t.equal(parsePolicy(configMap.data['policy.yaml'], 'policy.yaml').defaultMode, 'enforce');
});

t.test('webhook.url points every webhook outside the cluster, at the paths serve answers', async (t) => {
  const objects = template(home, ['--set', 'webhook.url=https://127.0.0.1:8443/', '--set', 'certificates.extraIpAddresses={127.0.0.1}']);
  const urls = objects.filter((o) => o.kind.endsWith('WebhookConfiguration')).flatMap((o) => o.webhooks.map((w: Any) => w.clientConfig.url));
  t.same(urls, ['https://127.0.0.1:8443/mutate', 'https://127.0.0.1:8443/validate/namespaces', 'https://127.0.0.1:8443/validate/workloads']);
  const leaf = new X509Certificate(Buffer.from(one(objects, 'Secret', 'ecr-tenant-webhook-tls').data['tls.crt'], 'base64'));
  t.match(leaf.subjectAltName, 'IP Address:127.0.0.1');
});

const REFUSED: { values: string[]; message: string }[] = [
  { values: ['certificates.source=letsencrypt'], message: 'certificates.source must be self-signed, cert-manager or existing-secret, not "letsencrypt"' },
  { values: ['certificates.source=existing-secret'], message: 'certificates.existingSecret.name is required with certificates.source existing-secret' },
  { values: ['certificates.source=existing-secret', 'certificates.existingSecret.name=x'], message: 'certificates.existingSecret.caBundle (base64 PEM of the CA) is required with certificates.source existing-secret' },
  { values: ['webhook.failurePolicy=Open'], message: 'webhook.failurePolicy must be Fail or Ignore, not "Open"' },
  { values: ['replicas=1'], message: 'podDisruptionBudget.minAvailable (1) must be below replicas (1), or no node drain could ever evict a replica; disable the budget for a single replica' },
  { values: ['webhook.timeoutSeconds=31'], message: "webhook.timeoutSeconds must be 1 to 30 (the API server's bounds), not 31" },
];

for (const c of REFUSED) {
  t.test(`helm refuses ${c.values.join(', ')}, saying what is wrong`, async (t) => {
    const result = helm(['template', 'x', CHART, ...c.values.flatMap((v) => ['--set', v])], { home });
    t.not(result.code, 0);
    t.match(result.stderr, c.message);
  });
}
