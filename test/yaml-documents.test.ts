import { readFileSync } from 'node:fs';
import t from 'tap';
import { jsonKeysPlainAndDistinct, protoKeyPath, readYamlDocuments } from '../src/yaml-documents.ts';

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

t.test('JSON text is read without YAML when it is plain JSON', async (t) => {
  const yaml = await import('yaml');
  const { readYamlDocuments: read } = await t.mockImport<typeof import('../src/yaml-documents.ts')>('../src/yaml-documents.ts', {
    yaml: { ...yaml, parseAllDocuments: () => { throw new Error('YAML was asked'); } },
  });
  t.same(read(' \n{"a": {"b": [1, "x\\"y"]}, "c": null}'), { ok: true, values: [{ a: { b: [1, 'x"y'] }, c: null }] });
  t.same(read('[{"a": 1}, {"a": 2}]'), { ok: true, values: [[{ a: 1 }, { a: 2 }]] }, 'the same key in two objects is no repeat');
  t.same(read('{"__proto__": {"x": 1}}'), { ok: false, problems: [{ document: 1, line: undefined, col: undefined, message: '(top level): the key "__proto__" is not allowed' }] });
  t.throws(() => read('{"a": 1, "a": 2}'), /YAML was asked/, 'a repeated key goes to YAML');
  t.throws(() => read('{"a": 1,}'), /YAML was asked/, 'text JSON.parse refuses goes to YAML');
  t.throws(() => read('a: 1'), /YAML was asked/, 'YAML goes to YAML');
  t.throws(() => read(`${'['.repeat(70)}${']'.repeat(70)}`), /YAML was asked/, 'what nests deeper than a policy goes to YAML, as before');
});

t.test('a key repeated in JSON is refused by YAML with its place', async (t) => {
  const read = readYamlDocuments('{\n  "spec": {"a": 1,\n    "a": 2}\n}');
  t.equal(read.ok, false);
  if (!read.ok) t.match(read.problems[0], { document: 1, line: 3, message: /^Map keys must be unique$/ });
});

const plainKeys: { text: string; plain: boolean; name: string }[] = [
  { name: 'no keys', text: '[1, "a", []]', plain: true },
  { name: 'distinct keys', text: '{"a": 1, "b": {"a": 2}}', plain: true },
  { name: 'a repeat', text: '{"a": 1, "b": 2, "a": 3}', plain: false },
  { name: 'a repeat after a nested object closes', text: '{"a": {"b": 1, "c": [{"b": 2}]}, "a": 0}', plain: false },
  { name: 'a key written with an escape', text: '{"a": 1, "\\u0062": 2}', plain: false },
  { name: 'a key ending in an escaped backslash', text: '{"imag\\\\": "x"}', plain: false },
  { name: 'a value equal to a key', text: '{"a": "a", "b": ["a", "b"]}', plain: true },
  { name: 'escapes, brackets and quotes inside values', text: '{"a": "}{[\\"", "b": "\\u0041", "c": "\\\\"}', plain: true },
  { name: 'whitespace before the colon', text: '{"a" : 1, "a"\n: 2}', plain: false },
];

for (const c of plainKeys) {
  t.test(`jsonKeysPlainAndDistinct: ${c.name}`, async (t) => {
    JSON.parse(c.text);
    t.equal(jsonKeysPlainAndDistinct(c.text), c.plain);
  });
}

t.test('JSON whose keys use escapes is read by YAML, whatever JSON.parse would make of them', async (t) => {
  // A key ending in a backslash, then a Pod spelling "image" with an escape: JSON.parse in Node 24 has been seen
  // to give the Pod's container the earlier key (nodejs/node#63785), which would hide its image from check.
  const text = readFileSync(new URL('./fixtures/json-escaped-keys.json', import.meta.url), 'utf8');
  t.match(text, /"imag\\u0065"/);
  const read = readYamlDocuments(text);
  t.equal(read.ok, true);
  const list = (read.ok ? read.values[0] : undefined) as { items: { spec: { containers?: Record<string, string>[] } }[] };
  t.same(list.items[1]?.spec.containers?.[0], { name: 'c', image: '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/setup:1', imagePullPolicy: 'Always' });
});
