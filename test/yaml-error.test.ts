import t from 'tap';
import { parseDocument, YAMLParseError } from 'yaml';
import { yamlErrorText } from '../src/yaml-error.ts';

t.test('a parse error is one line with its position and without the source excerpt', async (t) => {
  const [error] = parseDocument('a: [1, 2\nb: 3\n', { prettyErrors: true }).errors;
  const text = yamlErrorText(error!);
  t.equal(text.line, 2);
  t.equal(text.col, 1);
  t.notMatch(text.message, /\n| at line/);
  t.match(text.message, /Flow sequence/);
});

t.test('an error without a position has no line or column', async (t) => {
  const text = yamlErrorText(new YAMLParseError([0, 1], 'BAD_INDENT', 'something odd'));
  t.same(text, { line: undefined, col: undefined, message: 'something odd' });
});
