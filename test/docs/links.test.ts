import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';

/**
 * The documentation is one README an operator reads first and pages under docs/ it links: every relative link of
 * README.md, manifests/README.md and docs/*.md names a file that exists and, with #anchor, a heading in it (as
 * GitHub makes anchors), and every page under docs/ is one click from README.
 */
const ROOT = new URL('../../', import.meta.url).pathname;
const PAGES = ['README.md', 'manifests/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
}

function anchorsOf(page: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of readFileSync(join(ROOT, page), 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

function linksOf(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z]+:/.test(target));
}

t.test('every relative link names a file that exists, and a heading in it', async (t) => {
  const anchors = new Map(PAGES.map((page) => [page, anchorsOf(page)]));
  let checked = 0;
  for (const page of PAGES) {
    for (const target of linksOf(page)) {
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const dest = path === '' ? page : relative(ROOT, normalize(join(ROOT, dirname(page), path)));
      t.ok(existsSync(join(ROOT, dest)), `${page}: ${target} exists`);
      if (anchor !== undefined && dest.endsWith('.md')) t.ok(anchors.get(dest)?.has(anchor), `${page}: ${target} names a heading of ${dest}`);
      checked++;
    }
  }
  t.ok(checked > 50, `${checked} links checked`);
});

t.test('every page under docs/ is linked from README', async (t) => {
  const linked = new Set(linksOf('README.md').map((target) => target.split('#')[0]));
  for (const page of PAGES.filter((p) => p.startsWith('docs/'))) t.ok(linked.has(page), `${page} is linked from README`);
});

t.test('README is the page an operator reads first: install, onboard, roll out, alerts, then performance, and short', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.same([...readme.matchAll(/^## (.*)$/gm)].map((m) => m[1]), ['Installing on a cluster', 'Onboarding a tenant', 'Rolling out a tenant', 'Alerts', 'Performance']);
  t.match(readme.slice(readme.indexOf('## Installing on a cluster')), /^## Installing on a cluster\n\n\*\*With Helm\*\*/, 'installing leads with the chart');
  t.ok(readme.length < 25_000, `${readme.length} characters`);
});
