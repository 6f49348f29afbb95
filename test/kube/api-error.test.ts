import { ApiException } from '@kubernetes/client-node';
import t from 'tap';
import { describeFailure } from '../../src/kube/api-error.ts';

/** A failed API request as the one line the audit and the WouldDeny Events report. */
const SERVER = 'https://127.0.0.1:6443';
const failures: { name: string; error: unknown; message: string }[] = [
  {
    name: "a Status from the API server gives its reason in kubectl's words, the code and its message on one line",
    error: new ApiException(403, 'Unknown API Status Code!', JSON.stringify({ kind: 'Status', reason: 'Forbidden', message: 'pods is forbidden:\nUser "x" cannot list' }), {}),
    message: 'forbidden (HTTP 403): pods is forbidden: User "x" cannot list',
  },
  { name: 'a reason in two words is spelled as two words', error: new ApiException(404, 'x', JSON.stringify({ reason: 'NotFound', message: 'namespaces "a" not found' }), {}), message: 'not found (HTTP 404): namespaces "a" not found' },
  { name: 'a 401 without a body is unauthorized', error: new ApiException(401, 'Unauthorized', undefined, {}), message: 'unauthorized (HTTP 401)' },
  { name: 'a body that is not JSON (a proxy page) gives only the code', error: new ApiException(502, 'x', '<html>bad gateway</html>', {}), message: 'failed (HTTP 502)' },
  { name: 'a JSON body that is not an object gives only the code', error: new ApiException(500, 'x', 'null', {}), message: 'failed (HTTP 500)' },
  { name: 'a Status without reason or message gives only the code', error: new ApiException(500, 'x', JSON.stringify({ reason: '', message: '' }), {}), message: 'failed (HTTP 500)' },
  { name: 'a very long message is clipped', error: new ApiException(500, 'x', JSON.stringify({ reason: 'InternalError', message: 'x'.repeat(1000) }), {}), message: `internal error (HTTP 500): ${'x'.repeat(299)}…` },
  {
    name: 'a request that never reached the API server names the server and the innermost cause',
    error: new TypeError('fetch failed', { cause: new Error('outer', { cause: new Error('connect ECONNREFUSED 127.0.0.1:6443') }) }),
    message: `cannot reach the API server at ${SERVER}: connect ECONNREFUSED 127.0.0.1:6443`,
  },
  { name: 'another error keeps its own message', error: new Error('token file unreadable'), message: 'token file unreadable' },
  { name: 'something thrown that is not an error is shown as it is', error: 'boom', message: 'boom' },
];

for (const c of failures) {
  t.test(c.name, async (t) => {
    t.equal(describeFailure(c.error, SERVER), c.message);
  });
}

