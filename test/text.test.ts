import t from 'tap';
import { clip, quote } from '../src/text.ts';

const cases: { name: string; got: string; want: string }[] = [
  { name: 'a short text is kept whole', got: clip('abc', 5), want: 'abc' },
  { name: 'a text exactly at the limit is kept whole', got: clip('abcde', 5), want: 'abcde' },
  { name: 'a long text is cut to the limit with an ellipsis', got: clip('abcdefgh', 5), want: 'abcd…' },
  { name: 'a limit of zero still yields only the ellipsis', got: clip('abc', 0), want: '…' },
  { name: 'quoting makes control characters visible', got: quote('a\nb\u0007'), want: '"a\\nb\\u0007"' },
  { name: 'quoting clips hostile lengths', got: quote('x'.repeat(500), 10), want: `"${'x'.repeat(9)}…"` },
];

for (const c of cases) t.test(c.name, async (t) => t.equal(c.got, c.want));
