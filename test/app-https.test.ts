import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { testApp } from './admission/harness.ts';

/** The admission endpoint over real TLS, with a CA and serving certificate made by certs/make-certs.sh. */
const dir = mkdtempSync(join(tmpdir(), 'ecr-tenant-webhook-certs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
execFileSync('bash', [new URL('../certs/make-certs.sh', import.meta.url).pathname, dir, 'ecr-tenant-webhook', 'ecr-tenant-webhook', 'IP:127.0.0.1'], { stdio: 'pipe' });
const ca = readFileSync(join(dir, 'ca.crt'));

function post(port: number, body: string, options: { ca?: Buffer } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/mutate', method: 'POST', headers: { 'content-type': 'application/json' }, ...options },
      (res) => {
        let data = '';
        res.on('data', (chunk: Buffer) => (data += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const review = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'tls-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'shop',
    object: { kind: 'Pod', metadata: { name: 'api' }, spec: { containers: [{ name: 'api', image: '999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1.2' }] } },
  },
};

t.test('the webhook answers an AdmissionReview over HTTPS with a certificate its CA vouches for', async (t) => {
  const { app } = testApp({ tls: { cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as { port: number }).port;

  const res = await post(port, JSON.stringify(review), { ca });
  t.equal(res.status, 200);
  const response = JSON.parse(res.body).response;
  t.match(response, { uid: 'tls-1', allowed: true, patchType: 'JSONPatch' });
  t.match(JSON.parse(Buffer.from(response.patch, 'base64').toString()), [
    { op: 'replace', path: '/spec/containers/0/image', value: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.2' },
    { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'ecr-pull-111111111111-eu-west-1' }] },
  ]);

  await t.rejects(post(port, JSON.stringify(review)), { code: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/ }, 'a client without the CA does not trust the server');
});
