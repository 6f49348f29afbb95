import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseImageReference, splitHostPort } from '../../src/image/reference.ts';

/**
 * The test vectors of distribution/reference v0.6.0 (the parser the kubelet and containerd use), kept in
 * test/fixtures/distribution-reference-v0.6.json with where each came from: every one must be answered as
 * ParseNormalizedNamed answers it, or as the entry's note says this parser deliberately differs.
 */
interface Want {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}
interface Vector {
  from: string;
  input: string;
  want?: Want;
  error?: string;
  note?: string;
}
interface HostVector {
  input: string;
  valid: boolean;
  note?: string;
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/distribution-reference-v0.6.json', import.meta.url), 'utf8')) as {
  source: string;
  references: Vector[];
  hosts: HostVector[];
};

t.match(fixture.source, /distribution\/reference v0\.6\.0/, 'the vectors name their source and version');
t.ok(fixture.references.length >= 200, `${fixture.references.length} references`);

const label = (input: string) => JSON.stringify(input.length > 80 ? `${input.slice(0, 77)}…` : input);

for (const v of fixture.references) {
  t.test(`${v.from}: ${label(v.input)} is ${v.want === undefined ? 'refused' : 'accepted'}${v.note === undefined ? '' : ` (${v.note})`}`, async (t) => {
    const parsed = parseImageReference(v.input);
    if (v.want === undefined) {
      t.equal(parsed.ok, false, 'refused');
      if (!parsed.ok) t.match(parsed.reason, v.error ?? '', 'with this reason');
      return;
    }
    t.ok(parsed.ok, parsed.ok ? 'accepted' : `accepted, not refused: ${parsed.reason}`);
    if (!parsed.ok) return;
    const { domain, path, tag, digest } = parsed.ref;
    t.strictSame({ domain, path, tag, digest }, { tag: undefined, digest: undefined, ...v.want });
  });
}

for (const v of fixture.hosts) {
  t.test(`regexp_test.go TestDomainRegexp: host ${label(v.input)} is ${v.valid ? 'valid' : 'refused'}${v.note === undefined ? '' : ` (${v.note})`}`, async (t) => {
    const got = splitHostPort(v.input);
    t.equal(typeof got !== 'string', v.valid, typeof got === 'string' ? got : `${got.hostname} port ${got.port}`);
  });
}
