import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { parsePolicy } from '../../src/policy/load.ts';
import { one, render, ROOT, type Any, type KubeObject } from './kustomize.ts';

/** What `kubectl kustomize` renders from manifests/, its cert-manager overlay and the starter policy, checked property by property. */
t.setTimeout(60_000);

const NAMESPACE = 'ecr-tenant-webhook';
const LABELS = { 'app.kubernetes.io/name': 'ecr-tenant-webhook', 'app.kubernetes.io/part-of': 'ecr-tenant-webhook' };
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
const WEBHOOK_KINDS = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
const POLICY_CONFIGMAP = 'ecr-tenant-webhook-policy';

const base = render(join(ROOT, 'manifests'));
const overlay = render(join(ROOT, 'manifests/overlays/cert-manager'));
const starterPolicy = render(join(ROOT, 'manifests/policy'));
const webhookConfig = one(base, 'MutatingWebhookConfiguration');
const webhook = webhookConfig.webhooks[0];
const deployment = one(base, 'Deployment');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0];
const service = one(base, 'Service');
const args: string[] = container.args;
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

t.test('the base holds every object an install needs, namespaced ones in the webhook namespace', async (t) => {
  t.same(base.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'MutatingWebhookConfiguration', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration']);
  t.equal(one(base, 'Namespace').metadata.name, NAMESPACE);
  for (const object of base) {
    t.equal(object.metadata.namespace, CLUSTER_SCOPED.has(object.kind) ? undefined : NAMESPACE, `${object.kind} ${object.metadata.name}`);
  }
});

t.test('every object, of the base and of the overlay, and the pods carry the same labels; selectors only the name', async (t) => {
  for (const object of [...base, ...overlay]) t.match(object.metadata.labels, LABELS, `${object.kind} ${object.metadata.name}`);
  t.match(deployment.spec.template.metadata.labels, LABELS, 'the pod template');
  const selector = { 'app.kubernetes.io/name': 'ecr-tenant-webhook' };
  for (const selected of [deployment.spec.selector.matchLabels, service.spec.selector, one(base, 'PodDisruptionBudget').spec.selector.matchLabels, one(base, 'NetworkPolicy').spec.podSelector.matchLabels]) {
    t.same(selected, selector);
  }
});

t.test('the webhook configuration has the settings the webhook relies on', async (t) => {
  t.equal(webhookConfig.webhooks.length, 1, 'one webhook: certs/install.sh --write patches caBundle on the first');
  const expected: [string, unknown][] = [
    ['admissionReviewVersions', ['v1']],
    ['sideEffects', 'NoneOnDryRun'],
    ['reinvocationPolicy', 'IfNeeded'],
    ['failurePolicy', 'Fail'],
    ['matchPolicy', 'Equivalent'],
  ];
  for (const [field, value] of expected) t.same(webhook[field], value, field);
  t.ok(webhook.timeoutSeconds >= 1 && webhook.timeoutSeconds <= 5, `timeoutSeconds ${webhook.timeoutSeconds} is between 1 and 5`);
  t.same(webhook.clientConfig.service, { name: service.metadata.name, namespace: NAMESPACE, path: '/mutate', port: 443 });
  t.equal(webhook.clientConfig.caBundle, undefined, 'caBundle comes from cert-manager or certs/install.sh, never from the base');
});

t.test('the rules cover pod creation and updates, and ephemeral containers added by kubectl debug', async (t) => {
  const rules = webhook.rules.map((r: Any) => `${r.operations.join('+')} ${r.resources.join('+')} ${r.apiGroups.join('')}/${r.apiVersions.join('')} ${r.scope}`);
  t.same(rules, ['CREATE+UPDATE pods /v1 Namespaced', 'UPDATE pods/ephemeralcontainers /v1 Namespaced']);
});

t.test('a pod update reaches the webhook only when an image may change (proven through the API server in test/e2e/isolation.test.ts)', async (t) => {
  t.equal(webhook.matchConditions.length, 1);
  t.match(webhook.matchConditions[0].expression, /request\.operation != 'UPDATE'.*containers\.map.*initContainers\.map/s);
});

t.test('only namespaces with a tenant label are intercepted, never the webhook namespace or kube-system', async (t) => {
  t.same(webhook.namespaceSelector, {
    matchExpressions: [
      { key: 'ecr-tenant-webhook.io/tenant', operator: 'Exists' },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NAMESPACE, 'kube-system'] },
    ],
  });
  t.equal(webhook.objectSelector, undefined, 'pod labels are the tenant’s to set, so they select nothing');
});

const validating = one(base, 'ValidatingWebhookConfiguration');
const [labelGuard, workloads] = validating.webhooks;

t.test('the namespace-label guard sees namespace creates and updates, status and finalize included, that touch a guarded label, and fails closed', async (t) => {
  t.match(labelGuard, { name: 'namespace-labels.ecr-tenant-webhook.io', failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'], clientConfig: { service: { path: '/validate/namespaces' } } });
  t.same(labelGuard.rules, [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['namespaces', 'namespaces/status', 'namespaces/finalize'], scope: 'Cluster' }]);
  t.equal(labelGuard.namespaceSelector, undefined, 'every namespace, the webhook’s own included');
  t.match(labelGuard.matchConditions[0].expression, /ecr-tenant-webhook\.io\/tenant.*ecr-tenant-webhook\.io\/mode/s);
});

t.test('workload templates of the six pod-owning kinds are checked in tenant namespaces, and an outage lets them through', async (t) => {
  t.match(workloads, { name: 'workloads.ecr-tenant-webhook.io', failurePolicy: 'Ignore', sideEffects: 'None', clientConfig: { service: { path: '/validate/workloads' } } });
  t.same(workloads.rules.flatMap((r: Any) => r.resources.map((resource: string) => `${r.apiGroups[0]}/${resource}`)), ['apps/deployments', 'apps/statefulsets', 'apps/daemonsets', 'apps/replicasets', 'batch/jobs', 'batch/cronjobs']);
  t.same(workloads.namespaceSelector, webhook.namespaceSelector, 'the same namespaces as the pod webhook');
});

t.test('the deployment keeps a replica through node loss, drains and rollouts', async (t) => {
  t.equal(deployment.spec.replicas, 2);
  t.same(deployment.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  const antiAffinity = podSpec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  t.same(antiAffinity, { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: deployment.spec.selector.matchLabels } });
  t.match(podSpec.topologySpreadConstraints, [{ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1, labelSelector: { matchLabels: deployment.spec.selector.matchLabels } }]);
  t.equal(one(base, 'PodDisruptionBudget').spec.minAvailable, 1);
  t.equal(podSpec.priorityClassName, 'system-cluster-critical');
});

t.test('the pod runs locked down, as the restricted Pod Security profile of its namespace demands', async (t) => {
  t.equal(one(base, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  t.match(podSpec.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
  t.same(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  t.equal(one(base, 'ServiceAccount').automountServiceAccountToken, false, 'the ServiceAccount mounts no token by default');
  t.equal(podSpec.automountServiceAccountToken, true, 'the webhook pod asks for one: it watches namespaces');
  t.equal(podSpec.serviceAccountName, one(base, 'ServiceAccount').metadata.name);
});

t.test('startup, liveness and readiness are probed over HTTPS on the port serve listens on', async (t) => {
  const https = container.ports.find((p: Any) => p.name === 'https');
  t.equal(https?.containerPort, Number(flag('port')));
  const probes: [string, string][] = [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']];
  for (const [probe, path] of probes) t.same(container[probe].httpGet, { path, port: 'https', scheme: 'HTTPS' }, probe);
});

t.test('the grace period outlasts the shutdown delay plus the slowest admission', async (t) => {
  const needed = Number(flag('shutdown-delay')) + webhook.timeoutSeconds;
  t.ok(podSpec.terminationGracePeriodSeconds > needed, `${podSpec.terminationGracePeriodSeconds} s > ${needed} s`);
});

t.test('the container has requests, a memory limit, and a V8 heap that fits under it', async (t) => {
  t.match(container.resources, { requests: { cpu: String, memory: String }, limits: { memory: /^\d+Mi$/ } });
  const heap = /--max-old-space-size=(\d+)/.exec(container.env.find((e: Any) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1];
  t.ok(Number(heap) < parseInt(container.resources.limits.memory, 10), `heap ${heap} MiB below the ${container.resources.limits.memory} limit`);
  t.equal(container.image, 'ghcr.io/ecr-tenant-webhook/ecr-tenant-webhook:0.1.0', 'the image set by kustomize images:');
});

t.test('serve is started with flags it knows, on the ports the Service and the container expose', async (t) => {
  t.equal(args[0], 'serve');
  const help = spawnSync(process.execPath, [join(ROOT, 'bin/ecr-tenant-webhook.js'), 'serve', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0, help.stderr);
  for (const arg of args.slice(1)) t.match(help.stdout, new RegExp(`^\\s+${/^--[\w-]+/.exec(arg)?.[0]} <`, 'm'), `${arg} is a serve option`);
  t.ok(['policy', 'tls-cert', 'tls-key'].every((name) => flag(name) !== undefined), 'the three required options are given');
  t.same([flag('port'), flag('metrics-port')], ['8443', '9090']);
  t.same(container.ports.map((p: Any) => [p.name, p.containerPort]), [['https', 8443], ['metrics', 9090]]);
  t.same(service.spec.ports.map((p: Any) => [p.port, p.targetPort]), [[443, 'https'], [9090, 'metrics']]);
});

t.test('the files serve reads are whole read-only mounts, so updates arrive by symlink swap', async (t) => {
  const mounts: Any[] = container.volumeMounts;
  for (const mount of mounts) t.match(mount, { readOnly: true, subPath: undefined }, `${mount.name} is read-only and not a subPath mount`);
  const mountOf = (file: string | undefined) => mounts.find((m) => file?.startsWith(`${m.mountPath}/`))?.name;
  t.same([mountOf(flag('policy')), mountOf(flag('tls-cert')), mountOf(flag('tls-key'))], ['policy', 'tls', 'tls']);
  t.same([flag('policy'), flag('tls-cert'), flag('tls-key')].map((f) => f?.split('/').at(-1)), ['policy.yaml', 'tls.crt', 'tls.key'], 'the keys of the ConfigMap and the TLS Secret');
  const volumes: Any[] = podSpec.volumes;
  t.same(volumes.find((v) => v.name === 'policy')?.configMap, { name: POLICY_CONFIGMAP }, 'the policy ConfigMap, not optional: a missing one holds the pod in ContainerCreating');
  t.same(volumes.find((v) => v.name === 'tls')?.secret, { secretName: 'ecr-tenant-webhook-tls' });
  const cmd = /^CMD (.*)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1] ?? '[]';
  t.same(JSON.parse(cmd), args.slice(0, 4), "the image's default command reads the same paths");
});

/** Every directory under manifests/ that kustomize can render, as a path relative to the repository. */
function kustomizations(dir = join(ROOT, 'manifests')): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const own = entries.some((e) => e.isFile() && e.name === 'kustomization.yaml') ? [relative(ROOT, dir)] : [];
  return [...own, ...entries.filter((e) => e.isDirectory()).flatMap((e) => kustomizations(join(dir, e.name)))];
}

t.test('no kustomization an upgrade applies holds the policy ConfigMap, so re-applying one never replaces the operator’s policy', async (t) => {
  const upgradable = kustomizations().filter((dir) => dir !== 'manifests/policy');
  t.ok(['manifests', 'manifests/base', 'manifests/overlays/cert-manager'].every((dir) => upgradable.includes(dir)), `checked: ${upgradable.join(', ')}`);
  for (const dir of upgradable) {
    const configMaps = render(join(ROOT, dir)).filter((o) => o.kind === 'ConfigMap');
    t.same(configMaps.map((o) => o.metadata.name), [], `${dir} renders no ConfigMap`);
  }
});

t.test('manifests/policy renders exactly the policy ConfigMap, in the namespace of the Deployment that mounts it, with the common labels', async (t) => {
  t.same(starterPolicy.map((o) => `${o.kind} ${o.metadata.name}`), [`ConfigMap ${POLICY_CONFIGMAP}`]);
  const configMap = one(starterPolicy, 'ConfigMap', POLICY_CONFIGMAP);
  t.equal(configMap.metadata.namespace, deployment.metadata.namespace);
  t.equal(configMap.metadata.namespace, NAMESPACE);
  t.same(configMap.metadata.labels, LABELS);
});

t.test('the starter policy loads with the webhook’s own loader, in dry-run with no tenants', async (t) => {
  const configMap = one(starterPolicy, 'ConfigMap', POLICY_CONFIGMAP);
  t.same(Object.keys(configMap.data), ['policy.yaml']);
  const policy = parsePolicy(configMap.data['policy.yaml'], 'manifests/policy/policy.yaml');
  t.equal(policy.defaultMode, 'dry-run');
  t.equal(policy.tenants.size, 0);
  t.same(policy.warnings, []);
});

t.test('RBAC grants reading namespaces, managing Secrets, creating Events and the refresher Lease, nothing else, to the webhook ServiceAccount', async (t) => {
  t.same(one(base, 'ClusterRole').rules, [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ]);
  t.same(one(base, 'Role').rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
  t.same(one(base, 'RoleBinding').subjects, [{ kind: 'ServiceAccount', name: 'ecr-tenant-webhook', namespace: NAMESPACE }]);
  t.same(one(base, 'RoleBinding').roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: one(base, 'Role').metadata.name });
  t.match(container.env, [{ name: 'NODE_OPTIONS' }, { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
  const binding = one(base, 'ClusterRoleBinding');
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'ecr-tenant-webhook', namespace: NAMESPACE }]);
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: one(base, 'ClusterRole').metadata.name });
  t.match(one(base, 'ServiceAccount').metadata.annotations, { 'eks.amazonaws.com/role-arn': /^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/ });
});

t.test('the NetworkPolicy admits the API server on 8443 from anywhere, metrics only from labelled namespaces, and limits egress', async (t) => {
  const policy = one(base, 'NetworkPolicy');
  t.same(policy.spec.policyTypes, ['Ingress', 'Egress']);
  const ingress = (port: number) => policy.spec.ingress.filter((rule: Any) => rule.ports.some((p: Any) => p.port === port));
  t.same(ingress(8443).map((rule: Any) => rule.from), [undefined], '8443 from any source');
  t.same(ingress(9090).map((rule: Any) => rule.from), [[{ namespaceSelector: { matchLabels: { 'ecr-tenant-webhook.io/metrics-scraper': 'true' } } }]]);
  t.equal(policy.spec.ingress.length, 2, 'no other ingress');
  const anywhere = policy.spec.egress.filter((rule: Any) => rule.to === undefined).flatMap((rule: Any) => rule.ports.map((p: Any) => `${p.port}/${p.protocol}`));
  t.same(anywhere.sort(), ['443/TCP', '53/TCP', '53/UDP', '6443/TCP'], 'DNS, the API server and AWS, wherever they are');
  const podIdentity = policy.spec.egress.find((rule: Any) => rule.to !== undefined);
  t.same(podIdentity, { to: [{ ipBlock: { cidr: '169.254.170.23/32' } }, { ipBlock: { cidr: 'fd00:ec2::23/128' } }], ports: [{ port: 80, protocol: 'TCP' }] }, 'and the node’s EKS Pod Identity credentials endpoint, only there');
});

t.test('the cert-manager overlay chains a self-signed CA to the serving certificate in the mounted Secret', async (t) => {
  const issuers = overlay.filter((o) => o.kind === 'Issuer');
  const selfSigned = issuers.find((i) => i.spec.selfSigned !== undefined) as KubeObject;
  const ca = overlay.find((o) => o.kind === 'Certificate' && o.spec.isCA === true) as KubeObject;
  const caIssuer = issuers.find((i) => i.spec.ca !== undefined) as KubeObject;
  const serving = overlay.find((o) => o.kind === 'Certificate' && o.spec.secretName === 'ecr-tenant-webhook-tls') as KubeObject;
  t.same(ca?.spec.issuerRef, { name: selfSigned?.metadata.name, kind: 'Issuer' }, 'the self-signed issuer signs the CA');
  t.equal(caIssuer?.spec.ca.secretName, ca?.spec.secretName, 'the CA issuer signs with the CA’s key');
  t.same(serving?.spec.issuerRef, { name: caIssuer?.metadata.name, kind: 'Issuer' }, 'the CA issuer signs the serving certificate');
  t.same(serving?.spec.dnsNames, ['ecr-tenant-webhook', `ecr-tenant-webhook.${NAMESPACE}`, `ecr-tenant-webhook.${NAMESPACE}.svc`, `ecr-tenant-webhook.${NAMESPACE}.svc.cluster.local`]);
  t.ok(serving?.spec.usages.includes('server auth'));
  for (const object of [...issuers, ca, serving]) t.equal(object?.metadata.namespace, NAMESPACE, `${object?.kind} ${object?.metadata.name} is in the webhook namespace`);
});

t.test('the cert-manager overlay injects the CA into the base’s webhook configuration and changes nothing else', async (t) => {
  const serving = overlay.find((o) => o.kind === 'Certificate' && o.spec.secretName === 'ecr-tenant-webhook-tls');
  for (const kind of WEBHOOK_KINDS) {
    t.same(one(overlay, kind).metadata.annotations, { 'cert-manager.io/inject-ca-from': `${NAMESPACE}/${serving?.metadata.name}` }, kind);
  }
  const withoutAnnotations = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, annotations: WEBHOOK_KINDS.has(o.kind) ? undefined : o.metadata.annotations } });
  const fromBase = overlay.filter((o) => o.apiVersion !== 'cert-manager.io/v1').map(withoutAnnotations);
  t.same(fromBase, base.map(withoutAnnotations), 'the base is included whole and otherwise unchanged');
});
