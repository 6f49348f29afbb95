import t from 'tap';
import { Provenance } from '../../src/credentials/provenance.ts';
import { projectSecret, buildPullSecret, type Sealer, type StoredPullSecret } from '../../src/credentials/pull-secret.ts';
import { ProvenanceKeyring, type ProvenanceKeyStore } from '../../src/kube/provenance-key.ts';
import { logSink } from '../admission/harness.ts';

const HOST = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);
const sealedWith = (sealer: Sealer) =>
  projectSecret(buildPullSecret({ name: 'ecr-pull-111111111111-eu-west-1', namespace: 'shop', tenant: 'payments', credential: 'c', hosts: [HOST] }, { username: 'AWS', password: 'pw', expiresAt: new Date('2026-11-23T12:00:00Z') }, sealer)) as StoredPullSecret;

/** A key store answering from a script: a key, or an error. */
function scripted(answers: (Buffer | Error)[]): ProvenanceKeyStore & { calls: number } {
  const store = {
    calls: 0,
    async load() {
      const answer = answers[Math.min(store.calls++, answers.length - 1)] as Buffer | Error;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return store;
}

function keyring(store: ProvenanceKeyStore, refreshMs = 60_000) {
  const sink = logSink();
  const ring = new ProvenanceKeyring({ store, log: sink.log, refreshMs, backoff: { initialMs: 10, maxMs: 20 } });
  t.teardown(() => ring.stop());
  return { ring, logs: sink.lines };
}

t.test('no sealer until the key is loaded; failures before that are retried with backoff', async (t) => {
  const { ring, logs } = keyring(scripted([new Error('the provenance key in Secret w/k cannot be had: HTTP 403 from the API server'), KEY_A]));
  await ring.refresh();
  t.equal(ring.sealer(), undefined);
  t.match(logs.at(-1), { msg: 'provenance key not loaded; pull secrets wait for it', err: /HTTP 403/, retryInMs: Number });
  t.ok((logs.at(-1)?.retryInMs as number) <= 10, 'the backoff, not the refresh interval');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(ring.sealer()?.sealsWith(KEY_A), 'loaded by the retry');
  t.match(logs.at(-1), { msg: 'provenance key loaded' });
});

t.test('a key that changed is sealed with from then on, and what the old key sealed still verifies', async (t) => {
  const { ring, logs } = keyring(scripted([KEY_A, KEY_A, KEY_B]));
  await ring.refresh();
  const first = ring.sealer() as Provenance;
  const old = sealedWith(first);
  await ring.refresh();
  t.equal(ring.sealer(), first, 'the same key read again: the same sealer');
  await ring.refresh();
  const rotated = ring.sealer() as Provenance;
  t.ok(rotated.sealsWith(KEY_B));
  t.match(logs.at(-1), { level: 40, msg: 'provenance key changed; sealing with the new one, still verifying the old one' });
  t.same(rotated.originOf(old), { tenant: 'payments', credential: 'c' }, 'a Secret sealed under the old key verifies');
  t.same(new Provenance(KEY_B).originOf(sealedWith(rotated)), { tenant: 'payments', credential: 'c' }, 'new seals are under the new key');
  t.equal(new Provenance(KEY_A).originOf(sealedWith(rotated)), undefined);
});

t.test('a failed re-read keeps the key in use and tries again at the refresh interval', async (t) => {
  const { ring, logs } = keyring(scripted([KEY_A, new Error('the provenance key in Secret w/k cannot be had: reading it took longer than 5000 ms')]), 40);
  await ring.refresh();
  await ring.refresh();
  t.ok(ring.sealer()?.sealsWith(KEY_A));
  t.match(logs.at(-1), { msg: 'provenance key not read again; the one loaded stays in use', retryInMs: 40 });
});

t.test('start() loads at once and keeps reading on its own until stopped', async (t) => {
  const store = scripted([KEY_A]);
  const { ring } = keyring(store, 10);
  ring.start();
  await new Promise((resolve) => setTimeout(resolve, 60));
  ring.stop();
  const calls = store.calls;
  t.ok(calls >= 3, `read ${calls} times`);
  await new Promise((resolve) => setTimeout(resolve, 40));
  t.equal(store.calls, calls, 'nothing after stop');
  await ring.refresh();
  t.equal(store.calls, calls + 1, 'a refresh after stop reads once and schedules nothing');
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.equal(store.calls, calls + 1);
});

t.test('an older key shorter than 32 bytes is refused like the key itself', async (t) => {
  t.throws(() => new Provenance(KEY_A, [Buffer.alloc(8)]), { message: 'a provenance key needs at least 32 bytes, got 8' });
});

t.test('the keyring is the sealer serve hands out: nothing proven and nothing sealed until the key is loaded', async (t) => {
  const { ring } = keyring(scripted([KEY_A]));
  const stranger = sealedWith(new Provenance(KEY_A));
  t.equal(ring.originOf(stranger), undefined);
  t.throws(() => sealedWith(ring), { message: 'the provenance key is not loaded yet' });
  await ring.refresh();
  t.same(ring.originOf(stranger), { tenant: 'payments', credential: 'c' });
  t.same(new Provenance(KEY_A).originOf(sealedWith(ring)), { tenant: 'payments', credential: 'c' });
});
