import t from 'tap';
import { protoKeyPath, readYamlDocuments } from '../src/yaml-documents.ts';

t.test('every document of a stream becomes a plain value', async (t) => {
  t.same(readYamlDocuments('a: 1\n---\n- x\n---\n'), { ok: true, values: [{ a: 1 }, ['x'], null] });
});

t.test('an empty text has no documents', async (t) => {
  t.same(readYamlDocuments(''), { ok: true, values: [] });
});

const problems: { name: string; text: string; want: { document: number; line?: number; col?: number; message: RegExp } }[] = [
  { name: 'a syntax error is placed by line and column, in one line without the source excerpt', text: 'a: [1, 2\nb: 3\n', want: { document: 1, line: 2, col: 1, message: /^Flow sequence in block collection must be sufficiently indented and end with a \]$/ } },
  { name: 'a duplicate key is an error', text: 'a: 1\na: 2\n', want: { document: 1, line: 2, col: 1, message: /^Map keys must be unique$/ } },
  { name: 'an error in the second document names that document', text: 'a: 1\n---\nb: [\n', want: { document: 2, message: /Flow sequence/ } },
  { name: 'an alias bomb is refused instead of expanded', text: 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n', want: { document: 1, message: /^Excessive alias count/ } },
  { name: 'a __proto__ key is refused with its path', text: 'spec:\n  items:\n    - __proto__: {polluted: true}\n', want: { document: 1, message: /^spec\.items\[0\]: the key "__proto__" is not allowed$/ } },
  { name: 'a __proto__ key at the top is refused too', text: '__proto__: 1\n', want: { document: 1, message: /^\(top level\): the key "__proto__" is not allowed$/ } },
];

for (const c of problems) {
  t.test(c.name, async (t) => {
    const read = readYamlDocuments(c.text);
    t.equal(read.ok, false);
    if (read.ok) return;
    t.match(read.problems[0], c.want);
    t.notMatch(read.problems[0]?.message, /\n/);
  });
}

t.test('YAML 1.1 tags such as !!binary are not resolved into buffers', async (t) => {
  t.same(readYamlDocuments('data: !!binary aGVsbG8=\n'), { ok: true, values: [{ data: 'aGVsbG8=' }] });
});

t.test('protoKeyPath finds nothing in ordinary values', async (t) => {
  t.equal(protoKeyPath({ a: [1, { b: 'constructor' }], constructor: 1 }), undefined);
  t.equal(protoKeyPath('text'), undefined);
});

t.test('a YAML error the parser could not place has no line or column', async (t) => {
  const yaml = await import('yaml');
  const unplaced = new yaml.YAMLParseError([0, 1], 'UNEXPECTED_TOKEN', 'Something odd');
  const { readYamlDocuments: read } = await t.mockImport<typeof import('../src/yaml-documents.ts')>('../src/yaml-documents.ts', {
    yaml: { ...yaml, parseAllDocuments: () => [{ errors: [unplaced], toJS: () => ({}) }] },
  });
  t.same(read('x'), { ok: false, problems: [{ document: 1, line: undefined, col: undefined, message: 'Something odd' }] });
});
