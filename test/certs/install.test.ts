import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { one, render, ROOT, type Any } from '../manifests/kustomize.ts';

/**
 * certs/install.sh: its file-writing mode rendered with kustomize and its certificates checked with openssl and
 * node; its cluster mode against a stand-in kubectl that records what it is asked (the real API server run is in
 * test/e2e/install.test.ts).
 */
t.setTimeout(60_000);

const INSTALL = join(ROOT, 'certs/install.sh');
const work = mkdtempSync(join(tmpdir(), 'certs-install-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const serviceNames = (namespace: string) => ['ecr-tenant-webhook', `ecr-tenant-webhook.${namespace}`, `ecr-tenant-webhook.${namespace}.svc`, `ecr-tenant-webhook.${namespace}.svc.cluster.local`];

function install(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync('bash', [INSTALL, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: result.status, stderr: result.stderr };
}

function fresh(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  return dir;
}

// A kubectl that answers from environment variables and writes down every call, with its stdin for apply.
const FAKE_KUBECTL = `#!/usr/bin/env bash
set -euo pipefail
n=$(( $(ls "$FAKE_DIR" | grep -c '^call-.*\\.args$' || true) + 1 ))
printf '%s\\n' "$@" >"$FAKE_DIR/call-$n.args"
echo "\${KUBECONFIG:-}" >"$FAKE_DIR/call-$n.kubeconfig"
if [[ -n "\${FAKE_UNREACHABLE:-}" ]]; then echo "The connection to the server 127.0.0.1:1 was refused" >&2; exit 1; fi
case "$1 $2" in
  "get mutatingwebhookconfiguration")
    [[ -n "\${FAKE_WEBHOOKS:-}" ]] || exit 0
    if [[ " $* " == *" --ignore-not-found "* ]]; then echo "mutatingwebhookconfiguration.admissionregistration.k8s.io/$3"; else tr ' ' '\\n' <<<"$FAKE_WEBHOOKS"; fi ;;
  "get validatingwebhookconfiguration")
    [[ -n "\${FAKE_VALIDATING_WEBHOOKS:-}" ]] || exit 0
    if [[ " $* " == *" --ignore-not-found "* ]]; then echo "validatingwebhookconfiguration.admissionregistration.k8s.io/$3"; else tr ' ' '\\n' <<<"$FAKE_VALIDATING_WEBHOOKS"; fi ;;
  "get namespace") [[ " \${FAKE_NAMESPACES:-} " != *" $3 "* ]] || echo "namespace/$3" ;;
  "apply -"*|"apply --"*) cat >"$FAKE_DIR/call-$n.stdin"; echo "secret/ecr-tenant-webhook-tls serverside-applied" ;;
  "patch mutatingwebhookconfiguration"|"patch validatingwebhookconfiguration") echo "$2.admissionregistration.k8s.io/$3 patched" ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
`;
const fakeKubectl = join(work, 'kubectl');
writeFileSync(fakeKubectl, FAKE_KUBECTL);
chmodSync(fakeKubectl, 0o755);

function calls(dir: string) {
  const count = readdirSync(dir).filter((f) => f.endsWith('.args')).length;
  return Array.from({ length: count }, (_, i) => {
    const file = (ext: string) => join(dir, `call-${i + 1}.${ext}`);
    return {
      args: readFileSync(file('args'), 'utf8').trimEnd().split('\n'),
      kubeconfig: readFileSync(file('kubeconfig'), 'utf8').trim(),
      stdin: existsSync(file('stdin')) ? readFileSync(file('stdin'), 'utf8') : undefined,
    };
  });
}

t.test('--write makes an overlay whose Secret holds a serving certificate for every Service DNS name', async (t) => {
  const pki = join(work, 'write-pki');
  const overlay = join(work, 'write-overlay');
  const result = install(['--out', pki, '--write', overlay]);
  t.equal(result.status, 0, result.stderr);
  t.match(result.stderr, `apply it with: kubectl apply -k ${overlay}`);

  const rendered = render(overlay);
  const secret = one(rendered, 'Secret', 'ecr-tenant-webhook-tls');
  t.match(secret, { type: 'kubernetes.io/tls', metadata: { namespace: 'ecr-tenant-webhook', labels: { 'app.kubernetes.io/name': 'ecr-tenant-webhook' } } });
  const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'));
  t.same(leaf.subjectAltName?.split(', ').sort(), serviceNames('ecr-tenant-webhook').map((n) => `DNS:${n}`).sort());
  t.equal(leaf.ca, false, 'the serving certificate cannot sign others');
  t.ok(leaf.checkPrivateKey(createPrivateKey(Buffer.from(secret.data['tls.key'], 'base64'))), 'the key in the Secret belongs to it');
  t.equal(statSync(join(overlay, 'tls.key')).mode & 0o077, 0, 'the private key written beside the overlay is private to its owner');
  t.equal(rendered.length, render(join(ROOT, 'manifests')).length + 1, 'the whole base, plus the Secret');
});

t.test('the serving certificate chains to the CA, for openssl and for node alike', async (t) => {
  const pki = join(work, 'write-pki');
  const verify = spawnSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(pki, 'ca.crt'), join(pki, 'tls.crt')], { encoding: 'utf8' });
  t.equal(verify.status, 0, verify.stderr);
  t.match(verify.stdout, /tls\.crt: OK/);
  const ca = new X509Certificate(readFileSync(join(pki, 'ca.crt')));
  const leaf = new X509Certificate(readFileSync(join(pki, 'tls.crt')));
  t.ok(ca.ca, 'the CA is a CA');
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'the CA issued and signed the serving certificate');
  const stranger = new X509Certificate(execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=stranger', '-days', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  t.notOk(leaf.verify(stranger.publicKey), 'and no other key verifies it');
});

t.test('the caBundle patched into the webhook configuration is exactly the CA certificate', async (t) => {
  const rendered = render(join(work, 'write-overlay'));
  const configuration = one(rendered, 'MutatingWebhookConfiguration');
  const bundle = Buffer.from(configuration.webhooks[0].clientConfig.caBundle, 'base64').toString();
  t.equal(bundle, readFileSync(join(work, 'write-pki/ca.crt'), 'utf8'));
  t.equal(Buffer.from(one(rendered, 'Secret').data['ca.crt'], 'base64').toString(), bundle, 'the Secret carries the same CA');
  t.same(configuration.webhooks[0].clientConfig.service, { name: 'ecr-tenant-webhook', namespace: 'ecr-tenant-webhook', path: '/mutate', port: 443 }, 'the Service reference is kept');
  const validating = one(rendered, 'ValidatingWebhookConfiguration').webhooks;
  t.same(validating.map((w: Any) => [w.clientConfig.service.path, Buffer.from(w.clientConfig.caBundle, 'base64').toString() === bundle]), [['/validate/namespaces', true], ['/validate/workloads', true]], 'both validating webhooks trust the same CA');
});

t.test('running --write again renews the serving certificate and keeps the CA, so caBundle stays put', async (t) => {
  const overlay = join(work, 'write-overlay');
  const before = render(overlay);
  t.equal(install(['--out', join(work, 'write-pki'), '--write', overlay]).status, 0);
  const after = render(overlay);
  const bundle = (objects: typeof before) => one(objects, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle;
  t.equal(bundle(after), bundle(before));
  t.not(one(after, 'Secret').data['tls.crt'], one(before, 'Secret').data['tls.crt']);
});

t.test('--write --namespace moves every reference to the namespace and names it in the certificate', async (t) => {
  const overlay = join(work, 'other-overlay');
  t.equal(install(['--out', join(work, 'other-pki'), '--namespace', 'platform-webhooks', '--write', overlay]).status, 0);
  const rendered = render(overlay);
  for (const object of rendered) if (object.metadata.namespace !== undefined) t.equal(object.metadata.namespace, 'platform-webhooks', `${object.kind} ${object.metadata.name}`);
  const webhook = one(rendered, 'MutatingWebhookConfiguration').webhooks[0];
  t.equal(webhook.clientConfig.service.namespace, 'platform-webhooks');
  t.same(webhook.namespaceSelector.matchExpressions[1].values, ['platform-webhooks', 'kube-system']);
  t.equal(one(rendered, 'ClusterRoleBinding').subjects[0].namespace, 'platform-webhooks');
  t.equal(one(rendered, 'RoleBinding').subjects[0].namespace, 'platform-webhooks');
  const [labels, workloads] = one(rendered, 'ValidatingWebhookConfiguration').webhooks;
  t.same([labels.clientConfig.service.namespace, workloads.clientConfig.service.namespace], ['platform-webhooks', 'platform-webhooks']);
  t.same(workloads.namespaceSelector.matchExpressions[1].values, ['platform-webhooks', 'kube-system']);
  const leaf = new X509Certificate(Buffer.from(one(rendered, 'Secret').data['tls.crt'], 'base64'));
  t.same(leaf.subjectAltName?.split(', ').sort(), serviceNames('platform-webhooks').map((n) => `DNS:${n}`).sort());
});

t.test('in a cluster it server-side applies the Secret and sets caBundle on every webhook, through KUBECTL and KUBECONFIG', async (t) => {
  const dir = fresh('live');
  const pki = join(dir, 'pki');
  const env = { KUBECTL: fakeKubectl, KUBECONFIG: join(dir, 'kubeconfig'), FAKE_DIR: dir, FAKE_WEBHOOKS: 'pods.ecr-tenant-webhook.io second.ecr-tenant-webhook.io', FAKE_VALIDATING_WEBHOOKS: 'namespace-labels.ecr-tenant-webhook.io workloads.ecr-tenant-webhook.io', FAKE_NAMESPACES: 'ecr-tenant-webhook' };
  const result = install(['--out', pki], env);
  t.equal(result.status, 0, result.stderr);
  t.match(result.stderr, 'install.sh: Secret ecr-tenant-webhook/ecr-tenant-webhook-tls written and caBundle set on 4 webhook(s) of ecr-tenant-webhook');

  const made = calls(dir);
  t.ok(made.every((call) => call.kubeconfig === env.KUBECONFIG), 'every kubectl call sees KUBECONFIG');
  const apply = made.find((call) => call.args[0] === 'apply');
  t.match(apply?.args, ['apply', '--server-side', '--force-conflicts', /^--field-manager=/, '-f', '-'], 'server-side apply keeps no copy of the key in an annotation');
  const secret = parse(apply?.stdin ?? '') as Any;
  t.match(secret, { kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'ecr-tenant-webhook-tls', namespace: 'ecr-tenant-webhook' } });
  for (const key of ['tls.crt', 'tls.key', 'ca.crt']) t.equal(Buffer.from(secret.data[key], 'base64').toString(), readFileSync(join(pki, key), 'utf8'), key);

  const patches = made.filter((call) => call.args[0] === 'patch');
  t.same(patches.map((patch) => patch.args.slice(0, 4)), ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration'].map((kind) => ['patch', kind, 'ecr-tenant-webhook', '--type=json']));
  const caBundle = readFileSync(join(pki, 'ca.crt')).toString('base64');
  for (const patch of patches) t.same(JSON.parse(patch.args.at(-1) ?? '[]'), [0, 1].map((i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle })));
});

t.test('an install from before the namespace-label guard (no validating configuration) still gets its caBundle', async (t) => {
  const dir = fresh('live-old');
  const env = { KUBECTL: fakeKubectl, FAKE_DIR: dir, FAKE_WEBHOOKS: 'pods.ecr-tenant-webhook.io', FAKE_NAMESPACES: 'ecr-tenant-webhook' };
  const result = install(['--out', join(dir, 'pki')], env);
  t.equal(result.status, 0, result.stderr);
  t.match(result.stderr, 'caBundle set on 1 webhook(s) of ecr-tenant-webhook');
});

// Each failure stops before a key is made and says what to do; exit status 2 throughout.
const noOpensslPath = fresh('no-openssl-bin');
const onlyOpensslPath = fresh('only-openssl-bin');
// install.sh needs dirname before anything else; /bin/bash runs it by its full path.
const which = (program: string) => execFileSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim();
symlinkSync(which('dirname'), join(noOpensslPath, 'dirname'));
symlinkSync(which('dirname'), join(onlyOpensslPath, 'dirname'));
symlinkSync(which('openssl'), join(onlyOpensslPath, 'openssl'));

const failures: { name: string; args?: string[]; env: NodeJS.ProcessEnv; message: string }[] = [
  { name: 'openssl is missing', args: ['--write', join(work, 'unused')], env: { PATH: noOpensslPath }, message: 'install.sh: openssl not found; install OpenSSL to make the CA and the serving certificate' },
  { name: 'kubectl is not on PATH', env: { PATH: onlyOpensslPath, KUBECTL: undefined }, message: 'install.sh: kubectl not found; install kubectl or set KUBECTL to its path' },
  { name: 'KUBECTL names no program', env: { KUBECTL: join(work, 'nowhere/kubectl') }, message: `install.sh: ${join(work, 'nowhere/kubectl')} not found; install kubectl or set KUBECTL to its path` },
  { name: 'the cluster cannot be reached', env: { KUBECTL: fakeKubectl, KUBECONFIG: '/nonexistent/kubeconfig', FAKE_UNREACHABLE: '1' }, message: 'install.sh: cannot read mutatingwebhookconfiguration ecr-tenant-webhook (is the cluster reachable with KUBECONFIG=/nonexistent/kubeconfig?): The connection to the server 127.0.0.1:1 was refused' },
  { name: 'the webhook configuration does not exist', env: { KUBECTL: fakeKubectl }, message: 'install.sh: MutatingWebhookConfiguration ecr-tenant-webhook not found; apply the manifests first (kubectl apply -k manifests/)' },
  { name: 'the namespace does not exist', env: { KUBECTL: fakeKubectl, FAKE_WEBHOOKS: 'pods.ecr-tenant-webhook.io' }, message: 'install.sh: namespace ecr-tenant-webhook not found; apply the manifests first (kubectl apply -k manifests/)' },
  { name: 'an argument is unknown', args: ['--bogus'], env: {}, message: 'install.sh: unknown argument: --bogus (see --help)' },
];

for (const failure of failures) {
  t.test(`when ${failure.name}, install.sh says so, exits 2 and makes no key`, async (t) => {
    const dir = fresh(`fail-${failures.indexOf(failure)}`);
    const pki = join(dir, 'pki');
    const env: NodeJS.ProcessEnv = { ...process.env, FAKE_DIR: dir, ...failure.env };
    for (const [key, value] of Object.entries(failure.env)) if (value === undefined) delete env[key];
    const result = spawnSync('/bin/bash', [INSTALL, '--out', pki, ...(failure.args ?? [])], { encoding: 'utf8', env });
    t.equal(result.status, 2, result.stderr);
    t.equal(result.stderr.trim(), failure.message);
    t.notOk(existsSync(pki), 'no key was made');
  });
}

t.test('--help prints the usage from the script’s own header', async (t) => {
  const result = spawnSync('bash', [INSTALL, '--help'], { encoding: 'utf8' });
  t.equal(result.status, 0);
  t.match(result.stdout, /^Serving certificate for clusters without cert-manager/);
  t.match(result.stdout, 'certs/install.sh --write DIR');
  t.match(result.stdout, 'KUBECTL names the kubectl binary; KUBECONFIG is honoured');
});
