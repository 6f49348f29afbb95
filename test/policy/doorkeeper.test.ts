import t from 'tap';
import { Doorkeeper } from '../../src/policy/doorkeeper.ts';

t.test('a key is new the first time and seen the second', async (t) => {
  const door = new Doorkeeper();
  t.equal(door.seenBefore('111111111111.dkr.ecr.eu-west-1.amazonaws.com/app:1'), false);
  t.equal(door.seenBefore('111111111111.dkr.ecr.eu-west-1.amazonaws.com/app:1'), true);
  t.equal(door.seenBefore('111111111111.dkr.ecr.eu-west-1.amazonaws.com/app:2'), false, 'another key is new');
  t.equal(door.seenBefore(''), false, 'the empty key is a key like any other');
  t.equal(door.seenBefore(''), true);
});

t.test('filled to capacity at 8 bits per key, it says yes for few keys it has not seen, and no for none it has', async (t) => {
  const door = new Doorkeeper(16, 2 ** 13);
  const keys = Array.from({ length: 8191 }, (_, i) => `pod:tenant-${i % 97}:registry/app-${i}:1.${i}`);
  const falseYes = keys.filter((key) => door.seenBefore(key)).length;
  t.ok(falseYes / keys.length < 0.06, `${falseYes} of ${keys.length} new keys taken for seen ones`);
  t.ok(keys.every((key) => door.seenBefore(key)), 'every key offered since the last clearing is seen');
});

t.test('by default, filled to capacity, it takes fewer than one new key in a hundred for a seen one', async (t) => {
  const door = new Doorkeeper();
  const keys = Array.from({ length: 8191 }, (_, i) => `pod:tenant-${i % 97}:registry/app-${i}:1.${i}`);
  const falseYes = keys.filter((key) => door.seenBefore(key)).length;
  t.ok(falseYes / keys.length < 0.01, `${falseYes} of ${keys.length} new keys taken for seen ones`);
  t.ok(keys.every((key) => door.seenBefore(key)), 'every key offered since the last clearing is seen');
  // Keys taken for seen ones were not added: the clearing comes at the 8,192nd key that was.
  const more = Array.from({ length: 8192 - (keys.length - falseYes) }, (_, i) => `more-${i}`);
  t.notOk(more.some((key) => door.seenBefore(key)), 'a few more new keys, each new');
  t.equal(door.seenBefore(keys[0]!), false, 'the 8,192nd new key cleared it: what it knew is forgotten');
});

t.test('after capacity new keys it forgets, so what it knows stays recent', async (t) => {
  const door = new Doorkeeper(10, 4);
  for (const key of ['a', 'b', 'c']) door.seenBefore(key);
  t.equal(door.seenBefore('a'), true);
  door.seenBefore('d');
  t.equal(door.seenBefore('a'), false, 'cleared after the fourth new key');
});
