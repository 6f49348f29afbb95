import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createMetrics } from '../../src/metrics.ts';
import { readTlsPair, TlsError, validateTlsPair, watchTlsPair, type TlsPair } from '../../src/tls/tls-reloader.ts';
import { logSink } from '../admission/harness.ts';
import { waitUntil } from '../e2e/support/serve-process.ts';
import { writeProjected } from '../support/projected-dir.ts';

const MAKE_CERTS = new URL('../../certs/make-certs.sh', import.meta.url).pathname;

/** A CA and a serving certificate for 127.0.0.1, made by the project's own script. */
function makeCerts(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'tls-reloader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('bash', [MAKE_CERTS, dir, 'ecr-tenant-webhook', 'ecr-tenant-webhook', 'IP:127.0.0.1'], { stdio: 'pipe' });
  const read = (name: string) => readFileSync(join(dir, name));
  return { ca: read('ca.crt'), pair: { cert: read('tls.crt'), key: read('tls.key') } };
}

/** The fingerprint of the certificate a new connection is served, over a given agent. */
function servedFingerprint(port: number, ca: Buffer[], agent: Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca, agent }, (res) => {
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve(fingerprint));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a rotated certificate is served to new connections while an open connection keeps working', async (t) => {
  const first = makeCerts(t);
  const second = makeCerts(t);
  const dir = mkdtempSync(join(tmpdir(), 'tls-mount-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeProjected(dir, { 'tls.crt': first.pair.cert, 'tls.key': first.pair.key });

  const server = createServer({ cert: first.pair.cert, key: first.pair.key }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => {
    keepAlive.destroy();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const sink = logSink();
  const metrics = createMetrics();
  const watcher = watchTlsPair(first.pair, {
    certPath: join(dir, 'tls.crt'),
    keyPath: join(dir, 'tls.key'),
    install: (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key }),
    log: sink.log,
    metrics,
    pollMs: 60_000,
    debounceMs: 10,
  });
  t.teardown(() => watcher.stop());

  const cas = [first.ca, second.ca];
  const before = await servedFingerprint(port, cas, keepAlive);
  writeProjected(dir, { 'tls.crt': second.pair.cert, 'tls.key': second.pair.key });
  await waitUntil(() => sink.lines.some((l) => l.msg === 'TLS certificate reloaded'), 'the reload');

  const fresh = await servedFingerprint(port, cas);
  t.not(fresh, before, 'a new connection gets the new certificate');
  t.equal(await servedFingerprint(port, cas, keepAlive), before, 'the connection opened before the rotation is still in use, with its certificate');
  t.match(await metrics.registry.getSingleMetricAsString('ecr_tenant_webhook_tls_reloads_total'), /result="success"} 1/);
});

t.test('a certificate whose key does not match is not installed and the previous pair keeps serving', async (t) => {
  const first = makeCerts(t);
  const second = makeCerts(t);
  const dir = mkdtempSync(join(tmpdir(), 'tls-mount-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeProjected(dir, { 'tls.crt': first.pair.cert, 'tls.key': first.pair.key });
  const installed: TlsPair[] = [];
  const sink = logSink();
  const metrics = createMetrics();
  const watcher = watchTlsPair(first.pair, {
    certPath: join(dir, 'tls.crt'),
    keyPath: join(dir, 'tls.key'),
    install: (pair) => installed.push(pair),
    log: sink.log,
    metrics,
    pollMs: 60_000,
    debounceMs: 10,
  });
  t.teardown(() => watcher.stop());
  writeProjected(dir, { 'tls.crt': second.pair.cert, 'tls.key': first.pair.key });
  await watcher.check();
  t.same(installed, []);
  t.match(sink.lines.at(-1), { level: 50, msg: 'TLS certificate change not installed; the previous certificate keeps serving', err: /do not load together/ });
  t.match(await metrics.registry.getSingleMetricAsString('ecr_tenant_webhook_tls_reloads_total'), /result="failure"} 1/);
  t.notMatch(JSON.stringify(sink.lines), /PRIVATE KEY/, 'the key never reaches the log');
});

t.test('a certificate and key that do not belong together are refused, naming both files', async (t) => {
  const first = makeCerts(t);
  const second = makeCerts(t);
  t.throws(() => validateTlsPair({ cert: first.pair.cert, key: second.pair.key }, 'a.crt', 'b.key'), TlsError);
  t.throws(() => validateTlsPair({ cert: first.pair.cert, key: second.pair.key }, 'a.crt', 'b.key'), { message: /TLS certificate a\.crt and key b\.key do not load together/ });
  t.throws(() => validateTlsPair({ cert: Buffer.from('not pem'), key: first.pair.key }, 'a.crt', 'b.key'), { message: /a\.crt/ });
});

t.test('a certificate file that does not exist is refused with the path', async (t) => {
  await t.rejects(readTlsPair('/nonexistent/tls.crt', '/nonexistent/tls.key'), { name: 'TlsError', message: /cannot read the TLS certificate or key: .*ENOENT.*\/nonexistent\/tls\.crt/ });
});

t.test('a good pair read from files is returned as it is', async (t) => {
  const { pair } = makeCerts(t);
  const dir = mkdtempSync(join(tmpdir(), 'tls-mount-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeProjected(dir, { 'tls.crt': pair.cert, 'tls.key': pair.key });
  const read = await readTlsPair(join(dir, 'tls.crt'), join(dir, 'tls.key'));
  t.ok(read.cert.equals(pair.cert) && read.key.equals(pair.key));
});
