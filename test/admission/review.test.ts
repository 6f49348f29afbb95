import t from 'tap';
import { readAdmissionReview, reviewOf } from '../../src/admission/review.ts';

const request = { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'ns', object: {} };
const envelope = (req: unknown) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req });

const invalid: { name: string; body: unknown; problem: RegExp }[] = [
  { name: 'null is not a review', body: null, problem: /must be a JSON object/ },
  { name: 'a review without kind says what it got', body: { apiVersion: 'admission.k8s.io/v1' }, problem: /kind must be "AdmissionReview", not null/ },
  { name: 'a v1beta1 review names the version it needs', body: { ...envelope(request), apiVersion: 'admission.k8s.io/v1beta1' }, problem: /apiVersion must be "admission\.k8s\.io\/v1", not "admission\.k8s\.io\/v1beta1"/ },
  { name: 'a review missing apiVersion says null', body: { kind: 'AdmissionReview', request }, problem: /not null/ },
  { name: 'a request that is a list is refused', body: envelope([]), problem: /request is missing or not an object/ },
  { name: 'an empty uid is refused', body: envelope({ ...request, uid: '' }), problem: /request\.uid must be a non-empty string/ },
  { name: 'a request.kind missing its group is refused', body: envelope({ ...request, kind: { version: 'v1', kind: 'Pod' } }), problem: /request\.kind must be an object/ },
  { name: 'a request.kind that is a string is refused', body: envelope({ ...request, kind: 'Pod' }), problem: /request\.kind must be an object/ },
  { name: 'a numeric operation is refused', body: envelope({ ...request, operation: 1 }), problem: /request\.operation must be/ },
  { name: 'a name that is not a string is refused', body: envelope({ ...request, name: {} }), problem: /must be strings when set/ },
  { name: 'a body nested deeper than any Kubernetes object is refused before anything recurses into it', body: envelope({ ...request, object: JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`) }), problem: /^body nests lists and maps deeper than 256 levels; no Kubernetes object does$/ },
  { name: 'a kind that is a huge string is quoted clipped', body: { kind: 'k'.repeat(1_000_000) }, problem: /^kind must be "AdmissionReview", not "k{99}…"$/ },
  { name: 'an apiVersion that is a map is described, not dumped', body: { kind: 'AdmissionReview', apiVersion: { nested: ['x'] } }, problem: /not a map \(register/ },
  { name: 'a subResource that is not a string is refused', body: envelope({ ...request, subResource: 5 }), problem: /must be strings when set/ },
];

for (const c of invalid) {
  t.test(c.name, async (t) => {
    const read = readAdmissionReview(c.body);
    t.equal(read.ok, false);
    if (!read.ok) t.match(read.problem, c.problem);
  });
}

t.test('a complete review is read with defaults for the optional fields', async (t) => {
  const read = readAdmissionReview(envelope({ ...request, name: null, dryRun: null }));
  t.same(read, { ok: true, request: { uid: 'u', kind: request.kind, subResource: '', operation: 'CREATE', name: '', namespace: 'ns', object: {}, oldObject: undefined, dryRun: false, userInfo: undefined } });
});

t.test('dryRun true is carried through', async (t) => {
  const read = readAdmissionReview(envelope({ ...request, dryRun: true, subResource: 'ephemeralcontainers', name: 'p' }));
  t.match(read, { ok: true, request: { dryRun: true, subResource: 'ephemeralcontainers', name: 'p' } });
});

const userInfoCases = [
  { name: 'the requesting user and groups are read', userInfo: { username: 'alice', groups: ['dev', 7, 'ops'], uid: 'x' }, expected: { username: 'alice', groups: ['dev', 'ops'] } },
  { name: 'a user without groups has none', userInfo: { username: 'alice', groups: 'dev' }, expected: { username: 'alice', groups: [] } },
  { name: 'a userInfo without a user name reads as no userInfo', userInfo: { groups: ['system:masters'] }, expected: undefined },
];
for (const c of userInfoCases) {
  t.test(c.name, async (t) => {
    const read = readAdmissionReview(envelope({ ...request, userInfo: c.userInfo }));
    t.same(read.ok ? read.request.userInfo : 'not read', c.expected);
  });
}

t.test('the response is wrapped in an admission.k8s.io/v1 AdmissionReview', async (t) => {
  t.same(reviewOf({ uid: 'u', allowed: true }), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } });
});
