import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { testApp } from './harness.ts';

/**
 * Golden AdmissionReview → AdmissionReview pairs in test/fixtures/reviews, posted to /mutate unless a fixture names
 * another endpoint in `url`. The stored response keeps the patch
 * decoded (a list of operations) so a reviewer can read it; the test decodes the real base64 patch to compare.
 */
const dir = new URL('../fixtures/reviews/', import.meta.url);
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, ...JSON.parse(readFileSync(new URL(f, dir), 'utf8')) }));

function decoded(body: { response: { patch?: string } }) {
  const { patch, ...rest } = body.response;
  return { ...body, response: patch === undefined ? rest : { ...rest, patch: JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) } };
}

t.ok(fixtures.length >= 15, 'the golden set holds at least 15 reviews');

for (const fixture of fixtures) {
  t.test(`${fixture.file}: ${fixture.description}`, async (t) => {
    const { app } = testApp();
    const url: string = fixture.url ?? '/mutate';
    const res = await app.inject({ method: 'POST', url, payload: fixture.request });
    t.equal(res.statusCode, 200);
    t.same(decoded(res.json()), fixture.response);
    t.equal(res.json().response.uid, fixture.request.request.uid, 'the uid is echoed');

    const patch: Operation[] | undefined = fixture.response.response.patch;
    if (url !== '/mutate') {
      t.equal(res.json().response.patch, undefined, 'validating endpoints never patch');
      return;
    }
    if (patch === undefined || fixture.request.request.operation !== 'CREATE') return;
    // Reinvocation (reinvocationPolicy IfNeeded): the mutated pod admitted again needs no further patch.
    const mutated = fastJsonPatch.applyPatch(structuredClone(fixture.request.request.object), patch).newDocument;
    const again = await app.inject({ method: 'POST', url: '/mutate', payload: { ...fixture.request, request: { ...fixture.request.request, object: mutated } } });
    t.equal(again.json().response.allowed, true, 'the mutated pod is allowed');
    t.notOk(again.json().response.patch, 'the mutated pod needs no further patch');
  });
}
