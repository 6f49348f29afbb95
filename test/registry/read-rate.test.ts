import t from 'tap';
import { ReadRate } from '../../src/registry/read-rate.ts';

/** The token bucket per credential identity, on a clock the test moves. */
t.test('an identity reads a burst of ten seconds, then at its rate, and never banks more than the burst', async (t) => {
  let now = 0;
  const rate = new ReadRate(3, () => now);
  t.same(rate.limits, { perSecond: 3, burst: 30 });
  const taken = (identity: string, n: number) => Array.from({ length: n }, () => rate.take(identity)).filter(Boolean).length;
  t.equal(taken('a', 40), 30, 'a full bucket of 30');
  t.equal(taken('b', 5), 5, 'another identity is not charged');
  now += 1000;
  t.equal(taken('a', 10), 3, 'a second refills three');
  now += 3_600_000;
  t.equal(taken('a', 40), 30, 'an hour idle banks the burst, no more');
  now -= 5000;
  t.equal(taken('a', 1), 0, 'a clock going back refills nothing');
});

t.test('identities past the bound are forgotten and start full again', async (t) => {
  const rate = new ReadRate(1, () => 0, 2);
  for (let i = 0; i < 10; i++) rate.take('a');
  t.notOk(rate.take('a'));
  rate.take('b');
  rate.take('c');
  t.ok(rate.take('a'), 'a was the least recently used, forgotten, and starts full');
});
