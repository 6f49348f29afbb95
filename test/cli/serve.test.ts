import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { CliIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import { parseAdmissionDeadline, parseCount, parseFraction, parseGraceSeconds, parseSessionSeconds, serveConfig, type ServeEnvironment, type ServeOptions } from '../../src/cli/serve.ts';
import { loadKubeConfig, SERVICE_ACCOUNT_DIR } from '../../src/kube/kube-config.ts';
import { startServer } from '../../src/server.ts';
import { logSink } from '../admission/harness.ts';
import { fixture } from './run-cli.ts';

/**
 * `serve` refusing to start: every problem one line on stderr, exit 2, no stack trace; and serve's listeners on
 * its default address, over real TLS. Serving against an API server is in test/e2e.
 */
const dir = mkdtempSync(join(tmpdir(), 'serve-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
execFileSync('bash', [new URL('../../certs/make-certs.sh', import.meta.url).pathname, dir, 'ecr-tenant-webhook', 'ecr-tenant-webhook', 'IP:127.0.0.1', 'IP:::1'], { stdio: 'pipe' });
const CERT = join(dir, 'tls.crt');
const KEY = join(dir, 'tls.key');
const POLICY = fixture('policy.yaml');
const BROKEN_POLICY = fixture('policies/unknown-field.yaml');
const NOT_A_KUBECONFIG = join(dir, 'kubeconfig');
writeFileSync(NOT_A_KUBECONFIG, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n');

const outsideCluster: ServeEnvironment = {
  kubernetesServiceHost: undefined,
  kubernetesServicePort: undefined,
  podNamespace: undefined,
  podName: undefined,
  hostname: 'node-1',
  onStopSignal: () => {
    throw new Error('serve must not wait for a signal when it cannot start');
  },
};

function io() {
  const out = { stdout: '', stderr: '' };
  const streams: CliIo = { stdout: (s) => (out.stdout += s), stderr: (s) => (out.stderr += s), stdin: async () => '' };
  return { out, streams };
}

const base = ['serve', '--policy', POLICY, '--tls-cert', CERT, '--tls-key', KEY, '--address', '127.0.0.1', '--port', '0', '--metrics-port', '0'];

const cases: { name: string; args: string[]; stderr: RegExp }[] = [
  { name: 'serve without --policy says which option is missing', args: ['serve', '--tls-cert', CERT, '--tls-key', KEY], stderr: /required option '--policy <file>' not specified/ },
  { name: 'a port that is not a number is refused by the option', args: [...base, '--port', 'https'], stderr: /--port <port>' argument 'https' is invalid\. must be a port number from 0 to 65535/ },
  { name: 'a port above 65535 is refused', args: [...base, '--metrics-port', '70000'], stderr: /must be a port number from 0 to 65535/ },
  { name: 'a negative shutdown delay is refused', args: [...base, '--shutdown-delay', '-1'], stderr: /must be a number of seconds from 0 to 3600/ },
  { name: 'an empty file poll interval is refused', args: [...base, '--file-poll', ' '], stderr: /must be a number of seconds from 0 to 3600/ },
  { name: 'an STS session shorter than 900 seconds is refused', args: [...base, '--aws-session-duration', '600'], stderr: /must be whole seconds from 900 to 43200 \(what STS accepts\)/ },
  { name: 'an STS session longer than 12 hours is refused', args: [...base, '--aws-session-duration', '50000'], stderr: /must be whole seconds from 900 to 43200/ },
  { name: 'an STS session that is not whole seconds is refused', args: [...base, '--aws-session-duration', '1h'], stderr: /must be whole seconds from 900 to 43200/ },
  { name: 'a credential deadline that is not a number is refused', args: [...base, '--credential-deadline', 'soon'], stderr: /must be a number of seconds from 0 to 3600/ },
  { name: 'an admission deadline of 30 seconds or more is refused', args: [...base, '--admission-deadline', '30'], stderr: /--admission-deadline <seconds>' argument '30' is invalid\. must be seconds from 0\.1 to under 30 \(a webhook's timeoutSeconds is at most 30\)/ },
  { name: 'an admission deadline of 0 is refused', args: [...base, '--admission-deadline', '0'], stderr: /must be seconds from 0\.1 to under 30/ },
  { name: 'an empty admission deadline is refused', args: [...base, '--admission-deadline', ' '], stderr: /must be seconds from 0\.1 to under 30/ },
  { name: 'a token refresh point of 0 is refused', args: [...base, '--token-refresh-at', '0'], stderr: /must be a fraction above 0 and at most 1/ },
  { name: 'a token refresh point above 1 is refused', args: [...base, '--token-refresh-at', '1.5'], stderr: /must be a fraction above 0 and at most 1/ },
  { name: 'an empty token refresh point is refused', args: [...base, '--token-refresh-at', ' '], stderr: /must be a fraction above 0 and at most 1/ },
  { name: 'a deletion grace that is not whole seconds is refused', args: [...base, '--deletion-grace', '1.5'], stderr: /--deletion-grace <seconds>' argument '1\.5' is invalid\. must be whole seconds from 0 to 604800 \(a week\)/ },
  { name: 'a deletion grace longer than a week is refused', args: [...base, '--deletion-grace', '604801'], stderr: /must be whole seconds from 0 to 604800 \(a week\)/ },
  { name: 'a negative deletion grace is refused', args: [...base, '--deletion-grace=-1'], stderr: /must be whole seconds from 0 to 604800/ },
  { name: 'no deletions per round is refused', args: [...base, '--max-deletions-per-round', '0'], stderr: /--max-deletions-per-round <count>' argument '0' is invalid\. must be a whole number from 1 to 1000000/ },
  { name: 'a deletion budget that is not a whole number is refused', args: [...base, '--max-deletions-per-round', 'all'], stderr: /must be a whole number from 1 to 1000000/ },
  { name: 'an unknown log level is refused with the choices', args: [...base, '--log-level', 'loud'], stderr: /Allowed choices are fatal, error, warn, info, debug, trace/ },
  { name: 'a policy that does not load stops the start, naming file, path and problem', args: ['serve', '--policy', BROKEN_POLICY, '--tls-cert', CERT, '--tls-key', KEY], stderr: /^error: .*unknown-field\.yaml: .*unknown field/ },
  { name: 'a missing certificate stops the start, naming the file', args: ['serve', '--policy', POLICY, '--tls-cert', join(dir, 'none.crt'), '--tls-key', KEY], stderr: /^error: cannot read the TLS certificate or key: .*none\.crt/ },
  { name: 'a key that does not match the certificate stops the start', args: ['serve', '--policy', POLICY, '--tls-cert', CERT, '--tls-key', join(dir, 'ca.key')], stderr: /^error: TLS certificate .*tls\.crt and key .*ca\.key do not load together/ },
  { name: 'outside a cluster without --kubeconfig the start stops with a hint', args: base, stderr: /^error: not running in a cluster \(KUBERNETES_SERVICE_HOST is unset\); pass --kubeconfig FILE/ },
  { name: 'a kubeconfig that does not exist stops the start, naming it', args: [...base, '--kubeconfig', join(dir, 'missing')], stderr: /^error: kubeconfig .*missing cannot be loaded: .*ENOENT/ },
  { name: 'a kubeconfig without a current cluster stops the start', args: [...base, '--kubeconfig', NOT_A_KUBECONFIG], stderr: /^error: kubeconfig .*kubeconfig has no current context with a cluster/ },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { out, streams } = io();
    t.equal(await main(c.args, streams, outsideCluster), 2);
    t.match(out.stderr, c.stderr);
    t.notMatch(out.stderr, /\n\s+at /, 'no stack trace');
  });
}

t.test('the configuration is frozen and points at the in-cluster service account when no kubeconfig is given', async (t) => {
  const options = { policy: 'p', tlsCert: 'c', tlsKey: 'k', port: 8443, metricsPort: 9090, address: '0.0.0.0', shutdownDelay: 5000, filePoll: 10, logLevel: 'info', awsSessionDuration: 3600, credentialDeadline: 3000, admissionDeadline: 4000, refreshInterval: 60_000, leaseDuration: 15_000, tokenRefreshAt: 0.5, registryCache: 60_000, registryReads: 20, deletionGrace: 3_600_000, maxDeletionsPerRound: 100 };
  const config = serveConfig(options, { ...outsideCluster, kubernetesServiceHost: '10.0.0.1' });
  t.ok(Object.isFrozen(config));
  t.same(config.kube, { inCluster: { host: '10.0.0.1', port: undefined } });
  t.equal(config.filePollMs, 100, 'the poll never spins faster than every 100 ms');
  t.equal(config.awsSessionSeconds, 3600);
  t.equal(parseSessionSeconds('43200'), 43_200, 'the longest session STS grants is accepted');
  t.equal(parseFraction('0.75'), 0.75);
  t.equal(config.tokenRefreshFraction, 0.5);
  t.equal(config.registryCacheMs, 60_000);
  t.equal(config.registryReadsPerSecond, 20);
  t.same(config.refresher, { leaseNamespace: 'ecr-tenant-webhook', identity: 'node-1', intervalMs: 60_000, leaseDurationMs: 15_000, deletionGraceMs: 3_600_000, maxDeletionsPerRound: 100 }, 'outside a pod: the default namespace and the host name');
  const inPod = serveConfig(options, { ...outsideCluster, podNamespace: 'webhooks', podName: 'ecr-tenant-webhook-7d9f-x2' });
  t.same(inPod.refresher, { leaseNamespace: 'webhooks', identity: 'ecr-tenant-webhook-7d9f-x2', intervalMs: 60_000, leaseDurationMs: 15_000, deletionGraceMs: 3_600_000, maxDeletionsPerRound: 100 }, 'in a pod: the downward API values');
  const flagged = serveConfig({ ...options, leaseNamespace: 'ns', identity: 'me', refreshInterval: 0, leaseDuration: 0, deletionGrace: 0, maxDeletionsPerRound: 7 }, outsideCluster);
  t.same(flagged.refresher, { leaseNamespace: 'ns', identity: 'me', intervalMs: 100, leaseDurationMs: 1000, deletionGraceMs: 0, maxDeletionsPerRound: 7 }, 'flags win; intervals have floors; a zero grace deletes at once');
  t.equal(serveConfig({ ...options, credentialDeadline: 0 }, outsideCluster).credentialDeadlineMs, 100, 'never a zero deadline');
  t.equal(config.admissionDeadlineMs, 4000);
  t.equal(parseAdmissionDeadline('2.5'), 2500, 'fractions of a second are kept');
  t.same(serveConfig({ ...options, kubeconfig: 'kc' }, outsideCluster).kube, { kubeconfigPath: 'kc' });
});

t.test('in a cluster the service account and the kubernetes Service address are used', async (t) => {
  for (const [host, port, server] of [['10.100.0.1', '443', 'https://10.100.0.1:443'], ['fd00::1', '6443', 'https://[fd00::1]:6443'], ['10.0.0.1', undefined, 'https://10.0.0.1:443']] as const) {
    const config = loadKubeConfig({ inCluster: { host, port } });
    t.match(config.getCurrentCluster(), { server, caFile: `${SERVICE_ACCOUNT_DIR}/ca.crt`, skipTLSVerify: false });
    t.match(config.getCurrentUser(), { authProvider: { name: 'tokenFile', config: { tokenFile: `${SERVICE_ACCOUNT_DIR}/token` } } });
  }
});

t.test('the deletion grace is whole seconds from 0 to a week, returned in milliseconds', async (t) => {
  for (const [value, ms] of [['0', 0], ['3600', 3_600_000], ['604800', 604_800_000], ['007', 7000]] as const) t.equal(parseGraceSeconds(value), ms, value);
  for (const value of ['', ' ', '-1', '1.5', '1e3', '604801', 'an hour', '60s', ' 60', '0x10']) {
    t.throws(() => parseGraceSeconds(value), { code: 'commander.invalidArgument', message: 'must be whole seconds from 0 to 604800 (a week)' }, JSON.stringify(value));
  }
});

t.test('a count is a whole number from 1 to a million', async (t) => {
  for (const [value, count] of [['1', 1], ['100', 100], ['1000000', 1_000_000], ['010', 10]] as const) t.equal(parseCount(value), count, value);
  for (const value of ['', '0', '-1', '2.5', '1e2', '1000001', 'all', ' 5', 'Infinity']) {
    t.throws(() => parseCount(value), { code: 'commander.invalidArgument', message: 'must be a whole number from 1 to 1000000' }, JSON.stringify(value));
  }
});

t.test('serve --help says what the address defaults to', async (t) => {
  const { out, streams } = io();
  t.equal(await main(['serve', '--help'], streams, outsideCluster), 0);
  t.match(out.stdout.replace(/\s+/g, ' '), '--address <ip> address to listen on (default: ::, IPv6 and IPv4 alike; 0.0.0.0 on a host without IPv6)');
});

/** A port nothing listens on: taken, then released. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One request to serve's HTTPS port (trusting the test CA only) or its plain-HTTP metrics port. */
function call(scheme: 'https' | 'http', host: string, port: number, path: string, body?: string): Promise<{ status: number; body: string }> {
  const ca = readFileSync(join(dir, 'ca.crt'));
  const send = scheme === 'https' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const options = { host, port, path, method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, agent: false as const, ...(scheme === 'https' ? { ca } : {}) };
    const req = send(options, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A pod deletion: answered at once, whatever the cluster says. */
const deletion = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'dual-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'DELETE', namespace: 'shop', object: null },
});

t.test('with no --address, the admission port, its probes and the metrics port answer on ::1 and on 127.0.0.1', async (t) => {
  const kubeconfig = join(dir, 'unreachable.kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${await closedPort()}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  // What commander gives serve when --address is left out: no address at all.
  const options: ServeOptions = { policy: POLICY, tlsCert: CERT, tlsKey: KEY, port: 0, metricsPort: 0, kubeconfig, shutdownDelay: 0, filePoll: 60_000, logLevel: 'info', awsSessionDuration: 3600, credentialDeadline: 3000, admissionDeadline: 4000, refreshInterval: 60_000, leaseDuration: 15_000, tokenRefreshAt: 0.5, registryCache: 60_000, registryReads: 20, deletionGrace: 3_600_000, maxDeletionsPerRound: 100 };
  const sink = logSink();
  const server = await startServer(serveConfig(options, outsideCluster), sink.log);
  t.teardown(() => server.shutdown('test over'));
  t.match(sink.lines.find((line) => line.msg === 'serving'), { address: '::', port: server.port, metricsPort: server.metricsPort });
  for (const host of ['::1', '127.0.0.1']) {
    t.match(await call('https', host, server.port, '/healthz'), { status: 200, body: '{"status":"ok"}' }, `/healthz on ${host}`);
    // Not ready: there is no API server to list namespaces from. It answers all the same.
    t.match(await call('https', host, server.port, '/readyz'), { status: 503, body: /"status":/ }, `/readyz on ${host}`);
    const reviewed = await call('https', host, server.port, '/mutate', deletion);
    t.match({ status: reviewed.status, response: JSON.parse(reviewed.body).response }, { status: 200, response: { uid: 'dual-1', allowed: true } }, `/mutate on ${host}`);
    t.match(await call('http', host, server.metricsPort, '/metrics'), { status: 200, body: /# TYPE ecr_tenant_webhook_/ }, `/metrics on ${host}`);
  }
  t.notOk(sink.lines.some((line) => line.msg === 'this host has no IPv6: listening on IPv4 only'), 'no fallback on a host with IPv6');
});
