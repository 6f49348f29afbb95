import t from 'tap';
import { clip, describeValue, nestsDeeperThan, quote } from '../src/text.ts';

const cases: { name: string; got: string; want: string }[] = [
  { name: 'a short text is kept whole', got: clip('abc', 5), want: 'abc' },
  { name: 'a text exactly at the limit is kept whole', got: clip('abcde', 5), want: 'abcde' },
  { name: 'a long text is cut to the limit with an ellipsis', got: clip('abcdefgh', 5), want: 'abcd…' },
  { name: 'a limit of zero still yields only the ellipsis', got: clip('abc', 0), want: '…' },
  { name: 'quoting makes control characters visible', got: quote('a\nb\u0007'), want: '"a\\nb\\u0007"' },
  { name: 'quoting clips hostile lengths', got: quote('x'.repeat(500), 10), want: `"${'x'.repeat(9)}…"` },
  { name: 'a string value is described quoted and clipped', got: describeValue('y'.repeat(300), 5), want: '"yyyy…"' },
  { name: 'a number, boolean or null is described as written', got: [describeValue(42), describeValue(false), describeValue(null)].join(' '), want: '42 false null' },
  { name: 'a list is described by its kind, never converted', got: describeValue([[['deep']]]), want: 'a list' },
  { name: 'a map whose toString is not a function is described by its kind', got: describeValue({ toString: 1 }), want: 'a map' },
  { name: 'anything else is described by its type', got: describeValue(undefined), want: 'undefined' },
];

for (const c of cases) t.test(c.name, async (t) => t.equal(c.got, c.want));

function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

const depthCases = [
  { name: 'a scalar nests no deeper than any limit', value: 'x', limit: 0, deeper: false },
  { name: 'a value nested exactly to the limit is within it', value: nested(5), limit: 5, deeper: false },
  { name: 'one level more is deeper', value: nested(6), limit: 5, deeper: true },
  { name: 'a hundred thousand levels are measured without overflowing the stack', value: nested(100_000), limit: 256, deeper: true },
  { name: 'a wide but shallow value is within the limit', value: { a: Array.from({ length: 1000 }, () => ({ b: [1] })) }, limit: 4, deeper: false },
];
for (const c of depthCases) t.test(c.name, async (t) => t.equal(nestsDeeperThan(c.value, c.limit), c.deeper));
