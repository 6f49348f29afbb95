import type { Random } from './random.ts';

/**
 * Repository globs and repository paths for timing the glob matcher: globs the policy may hold (every one valid)
 * shaped to make a backtracking matcher explode, and repositories a pod may name shaped to almost match them.
 * A backtracking matcher is slowest on a near miss: it tries every way to split the repository between the stars
 * before it gives up. The named shapes come first, the random ones after.
 */

/** The longest repository path the reference parser admits (distribution/reference limits the path to 255). */
export const MAX_PATH = 255;
/** The longest glob repositoryGlobProblem admits. */
const MAX_GLOB = 256;

export const NAMED_GLOBS: readonly string[] = [
  '*-*-*-*-*-svc',
  'a*a*a*a*a*a*a*a*b',
  '*a*a*a*a*a*a*a*a*a*a*a*a*b*',
  '*-*-*-*-*-*-*-*-*-*-*-*-x',
  `${'a*'.repeat(127)}b`,
  `${'*a'.repeat(127)}*`,
  `*${'a'.repeat(120)}*${'a'.repeat(120)}*b`,
  `${'a'.repeat(254)}*`,
  `*${'a'.repeat(254)}`,
  `${'a/'.repeat(127)}b`,
  `${'*/'.repeat(127)}b`,
  '**/a/**/a/**/a/**/b',
  `${'**/a/'.repeat(51)}b`,
  '**/*/**/*/**/*/**/*/**/b',
  'a*/**/a*/**/a*/**/a*b',
  '**/a*a*a*a*b/**',
  '**/a-*-*-*-*-svc/**/*-*-*-x',
  '**',
  '**/*',
  '*/**',
];

/** Segments for random globs: stars alone, stars around the letter every repository is made of, separators. */
const GLOB_SEGMENTS = ['*', '**', 'a*', '*a', 'a*a', '*a*', '*-*', 'a', '-', 'a-*', '*-a', 'a*a*a*b', '*-*-*-svc', 'a*-*b'];

/** A glob of random segments, double stars included but never two in a row ("**\/**" is refused). */
function segmentGlob(random: Random): string {
  const segments: string[] = [];
  let length = -1;
  for (let wanted = random.between(1, 60); wanted > 0; wanted--) {
    let segment = random.pick(GLOB_SEGMENTS);
    if (segment === '**' && segments[segments.length - 1] === '**') segment = '*';
    if (length + 1 + segment.length > MAX_GLOB) break;
    segments.push(segment);
    length += 1 + segment.length;
  }
  return segments.join('/');
}

/** One long segment of letters, dashes and single stars. */
function starredSegment(random: Random): string {
  return random.chars('aa-*', random.between(1, MAX_GLOB)).replace(/\*+/g, '*');
}

/** A long literal run with a few stars in it, ending in a letter the repositories lack. */
function literalRun(random: Random): string {
  const ending = random.pick(['b', '*b', '-svc']);
  const chars = [...'a'.repeat(random.between(1, MAX_GLOB - ending.length))];
  for (let stars = random.between(1, 4); stars > 0; stars--) chars[random.int(chars.length)] = '*';
  return `${chars.join('')}${ending}`.replace(/\*+/g, '*');
}

export function adversarialGlob(random: Random): string {
  return random.oneOf<string>([segmentGlob, starredSegment, literalRun, (r) => r.pick(NAMED_GLOBS)]);
}

/** A string of `length` characters repeating `unit`, cut to fit. */
function repeated(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

const NEAR_MISS_ENDINGS = ['', 'a', 'c', '-sv', '-svcx', '/a', '/c'];

export const NAMED_REPOSITORIES: readonly string[] = [
  'a'.repeat(MAX_PATH),
  'a'.repeat(80),
  `${repeated('a-', MAX_PATH - 1)}a`,
  repeated('-', MAX_PATH),
  `${repeated('a-', MAX_PATH - 4)}-sv`,
  repeated('a/', MAX_PATH),
  `${repeated('a/', MAX_PATH - 2)}ac`,
  `${repeated('a/', MAX_PATH - 1)}c`,
  `${repeated('aa-/', MAX_PATH - 1)}a`,
  `${repeated(`${'a'.repeat(50)}/`, MAX_PATH - 1)}a`,
  `${'a'.repeat(MAX_PATH - 1)}b`,
  `${repeated('a-', MAX_PATH - 5)}a-svc`,
];

/** A path of random segments made of `alphabet`, never an empty segment, about `length` characters long. */
function randomPath(random: Random, alphabet: string, length: number): string {
  const segments: string[] = [];
  let used = -1;
  while (used + 2 <= length) {
    const segment = random.chars(alphabet, Math.min(random.between(1, 40), length - used - 1));
    segments.push(segment);
    used += 1 + segment.length;
  }
  return segments.join('/');
}

/** A repository path that almost matches the globs above: runs of "a", "a-a-a", many segments, odd endings. */
export function adversarialRepository(random: Random): string {
  const length = random.chance(0.5) ? MAX_PATH : random.between(1, MAX_PATH);
  const body = random.oneOf<string>([
    () => 'a'.repeat(length),
    () => repeated('a-', length),
    () => repeated('a/', length),
    (r) => repeated(`${'a'.repeat(r.between(1, 60))}/`, length),
    (r) => repeated(`${r.pick(['a', 'a-', 'aa-', 'a-a'])}${r.pick(['', '/'])}`, length),
    (r) => randomPath(r, 'aaaa-', length),
    (r) => r.pick(NAMED_REPOSITORIES),
  ]);
  const ending = random.pick(NEAR_MISS_ENDINGS);
  // Ends in a letter or the ending, so no segment is empty and the path stays within the limit.
  return `${body.slice(0, MAX_PATH - ending.length).replace(/[/-]+$/, '')}${ending}`.replace(/^\//, '') || 'a';
}
