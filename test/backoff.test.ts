import t from 'tap';
import { Backoff, jittered } from '../src/backoff.ts';

/** Exponential backoff with jitter: steps double up to the maximum; each wait is in [step/2, step]. */
const top = () => 1;
const bottom = () => 0;

const doubling = [
  { name: 'steps double up to the maximum', options: { initialMs: 100, maxMs: 1000 }, want: [100, 200, 400, 800, 1000, 1000] },
  { name: 'a maximum below twice the start is reached at once', options: { initialMs: 700, maxMs: 1000 }, want: [700, 1000, 1000] },
  { name: 'a start above the maximum stays at the start once, then the maximum holds', options: { initialMs: 2000, maxMs: 1000 }, want: [2000, 1000, 1000] },
  { name: 'a zero start stays zero', options: { initialMs: 0, maxMs: 1000 }, want: [0, 0, 0] },
];
for (const c of doubling) {
  t.test(c.name, async (t) => {
    const backoff = new Backoff(c.options, top);
    t.same(c.want.map(() => backoff.next()), c.want, 'with the most random draw the wait is the whole step');
  });
}

t.test('with the least random draw each wait is half its step', async (t) => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 800 }, bottom);
  t.same([1, 2, 3, 4, 5].map(() => backoff.next()), [50, 100, 200, 400, 400]);
});

t.test('reset starts again from the initial step', async (t) => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 1000 }, top);
  backoff.next();
  backoff.next();
  t.equal(backoff.next(), 400);
  backoff.reset();
  t.same([backoff.next(), backoff.next()], [100, 200]);
});

const jitter = [
  { step: 1000, random: 0, want: 500 },
  { step: 1000, random: 0.5, want: 750 },
  { step: 1000, random: 0.999, want: 1000 },
  { step: 1000, random: 1, want: 1000 },
  { step: 3, random: 0, want: 2 },
  { step: 0, random: 0.7, want: 0 },
];
for (const c of jitter) {
  t.test(`jittered(${c.step}) with a draw of ${c.random} is ${c.want}`, async (t) => {
    t.equal(jittered(c.step, () => c.random), c.want);
  });
}

t.test('with the real random source every wait lies in [step/2, step]', async (t) => {
  const backoff = new Backoff({ initialMs: 1000, maxMs: 1000 });
  for (let i = 0; i < 1000; i++) {
    const wait = backoff.next();
    if (wait < 500 || wait > 1000) t.fail(`wait ${wait} out of range`);
    const alone = jittered(1000);
    if (alone < 500 || alone > 1000) t.fail(`jittered ${alone} out of range`);
  }
  t.pass('a thousand draws in range');
});
