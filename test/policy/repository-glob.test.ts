import t from 'tap';
import { compileRepositoryGlob, globCovers, repositoryGlobProblem } from '../../src/policy/repository-glob.ts';

/**
 * Repository globs of a grant: `*` within one path segment, `**` (a whole segment) across segments, gitignore-style.
 * Every glob is first checked with repositoryGlobProblem, as the schema does, then compiled and matched.
 */
interface CoverCase {
  name: string;
  glob: string;
  covers: string[];
  doesNotCover: string[];
}

const coverCases: CoverCase[] = [
  {
    name: 'a trailing single star covers one segment below the prefix, never a look-alike prefix nor two segments',
    glob: 'payments/*',
    covers: ['payments/api', 'payments/a-b_c.d'],
    doesNotCover: ['paymentsevil/x', 'payments/a/b', 'payments', 'x/payments/api'],
  },
  {
    name: 'a trailing double star covers every depth below the prefix but not the prefix itself',
    glob: 'shared/**',
    covers: ['shared/a', 'shared/a/b', 'shared/a/b/c/d'],
    doesNotCover: ['shared', 'sharedx/a', 'x/shared/a'],
  },
  {
    name: 'a double star in the middle covers zero, one or many segments between its neighbours',
    glob: 'a/**/b',
    covers: ['a/b', 'a/x/b', 'a/x/y/b'],
    doesNotCover: ['a/x/c', 'ab', 'a/bb', 'a/x/b/c', 'x/a/b'],
  },
  {
    name: 'a leading double star covers the last segment at any depth, including the top level',
    glob: '**/b',
    covers: ['b', 'x/b', 'x/y/b'],
    doesNotCover: ['xb', 'x/bb', 'b/x'],
  },
  {
    name: 'a lone double star covers every repository',
    glob: '**',
    covers: ['a', 'a/b', 'a/b/c/d/e', 'payments/api'],
    doesNotCover: [],
  },
  {
    name: 'a star inside a segment matches within that segment only',
    glob: 'app-*',
    covers: ['app-web', 'app-api-v2'],
    doesNotCover: ['app/web', 'app', 'xapp-web', 'app-web/x'],
  },
  {
    name: 'a star inside a deeper segment is anchored on both sides of the segment',
    glob: 'team/*-svc',
    covers: ['team/a-svc', 'team/billing-svc'],
    doesNotCover: ['team/a-svcx', 'team/a/b-svc', 'team/svc'],
  },
  {
    name: 'a dot is a literal dot, not any character',
    glob: 'a.b',
    covers: ['a.b'],
    doesNotCover: ['axb', 'a-b', 'a.bc'],
  },
  {
    name: 'a dot inside a starred segment is still literal',
    glob: 'v1.*',
    covers: ['v1.2', 'v1.x'],
    doesNotCover: ['v102', 'v1', 'v1.2/x'],
  },
  {
    name: 'a plain glob without stars covers exactly that repository',
    glob: 'payments/api',
    covers: ['payments/api'],
    doesNotCover: ['payments/api2', 'payments/api/x', 'payments', 'xpayments/api'],
  },
  {
    name: 'a lone single star covers a top-level repository but no nested one',
    glob: '*',
    covers: ['a', 'nginx'],
    doesNotCover: ['a/b'],
  },
  {
    name: 'a single star between literals stands for exactly one segment',
    glob: 'a/*/b',
    covers: ['a/x/b'],
    doesNotCover: ['a/b', 'a/x/y/b'],
  },
  {
    name: 'two double stars in different places each cover any depth',
    glob: 'x/**/y/**/z',
    covers: ['x/y/z', 'x/1/y/z', 'x/y/2/z', 'x/1/2/y/3/4/z'],
    doesNotCover: ['x/z', 'x/y', 'y/z'],
  },
  {
    name: 'leading and trailing double stars cover the middle segment at any depth when something lies below it',
    glob: '**/x/**',
    covers: ['x/a', 'b/x/a', 'b/c/x/a/d'],
    doesNotCover: ['x', 'b/x', 'a/b'],
  },
  {
    name: 'the prefix and suffix of a starred segment may not overlap in the repository',
    glob: 'a*a',
    covers: ['aa', 'aba', 'aaa'],
    doesNotCover: ['a', 'ab', 'ba'],
  },
  {
    name: 'a segment with a star on both sides covers any segment holding the middle piece, even at its very ends',
    glob: '*a*',
    covers: ['a', 'ba', 'ab', 'bab', 'aaa'],
    doesNotCover: ['b', 'bb', 'b/a', 'a/b'],
  },
  {
    name: 'middle pieces are found in order and never inside the suffix',
    glob: 'a*b*c',
    covers: ['abc', 'axbxc', 'acbc', 'abbc', 'abcc'],
    doesNotCover: ['ac', 'acb', 'cba', 'abcx', 'ab/c'],
  },
  {
    name: 'repeated pieces each need their own characters',
    glob: 'ab*ab*ab',
    covers: ['ababab', 'abxabxab', 'abababab'],
    doesNotCover: ['abab', 'ab', 'ababa'],
  },
  {
    name: 'a middle piece overlapping the one before it does not count twice',
    glob: '*aa*aa*',
    covers: ['aaaa', 'aaxaa', 'xaaaax'],
    doesNotCover: ['aaa', 'aa', 'aaxa'],
  },
  {
    name: 'several stars in a segment, as in a naming scheme, stay within the segment',
    glob: '*-*-*-svc',
    covers: ['a-b-c-svc', 'a--b-c-svc', '---svc', 'a-b-c-d-svc'],
    doesNotCover: ['a-b-svc', 'a-b-c-svcx', 'a-b/c-svc', '--svc'],
  },
  {
    name: 'a leading double star gives back segments when the rest needs them',
    glob: '**/a/b',
    covers: ['a/b', 'a/a/b', 'a/b/a/b', 'x/a/a/b'],
    doesNotCover: ['a/b/b', 'a', 'b', 'a/b/a'],
  },
  {
    name: 'a middle double star covers nothing between equal neighbours too',
    glob: 'x/**/x',
    covers: ['x/x', 'x/x/x', 'x/y/x', 'x/x/y/x'],
    doesNotCover: ['x', 'x/x/y', 'y/x/x'],
  },
  {
    name: 'a single star before a trailing double star needs two segments or more',
    glob: '*/**',
    covers: ['a/b', 'a/b/c'],
    doesNotCover: ['a'],
  },
  {
    name: 'a leading double star before a single star covers every repository, like a lone double star',
    glob: '**/*',
    covers: ['a', 'a/b', 'a/b/c'],
    doesNotCover: [],
  },
  {
    name: 'double stars at the start, middle and end together',
    glob: '**/a/**/b/**',
    covers: ['a/b/c', 'x/a/b/c', 'a/x/b/c', 'x/a/y/b/z/w', 'a/a/b/b/b'],
    doesNotCover: ['a/b', 'b/a/c', 'x/a/y/b', 'a/c'],
  },
  {
    name: 'starred segments around a double star keep their own rules',
    glob: 'team-*/**/*-svc',
    covers: ['team-a/x-svc', 'team-a/b/c/x-svc', 'team-/-svc'],
    doesNotCover: ['team-a/svc', 'team/x-svc', 'team-a/x-svc/y', 'x/team-a/x-svc'],
  },
  {
    name: 'a repository with an empty segment is covered by no glob, not even a lone double star',
    glob: '**',
    covers: ['a'],
    doesNotCover: ['', '/', 'a//b', '/a', 'a/', '//'],
  },
  {
    name: 'an empty segment is not a segment for a single star, nor for a double star anywhere',
    glob: '**/a/*/**',
    covers: ['a/b/c', 'x/a/b/c'],
    doesNotCover: ['a//c', 'a/b/', '/a/b/c', 'x//a/b/c', 'a/b//c'],
  },
];

for (const c of coverCases) {
  t.test(c.name, async (t) => {
    t.equal(repositoryGlobProblem(c.glob), undefined, `${c.glob} is a valid glob`);
    const glob = compileRepositoryGlob(c.glob);
    t.equal(glob.source, c.glob, 'the compiled glob keeps its source for messages');
    for (const repository of c.covers) t.ok(globCovers(glob, repository), `${c.glob} covers ${repository}`);
    for (const repository of c.doesNotCover) t.notOk(globCovers(glob, repository), `${c.glob} does not cover ${repository}`);
  });
}

interface ProblemCase {
  name: string;
  glob: string;
  problem: string;
}

const problemCases: ProblemCase[] = [
  { name: 'an empty pattern is refused', glob: '', problem: 'repository pattern is empty' },
  { name: 'a pattern longer than any ECR repository name is refused before it becomes a regex', glob: 'a/'.repeat(5000) + 'b', problem: 'repository pattern is 10001 characters long, over 256' },
  { name: 'a pattern of exactly 256 characters is still judged segment by segment', glob: `${'a'.repeat(255)}/`, problem: `repository pattern "${'a'.repeat(255)}/" has an empty path segment` },
  { name: 'a doubled slash makes an empty segment', glob: 'a//b', problem: 'repository pattern "a//b" has an empty path segment' },
  { name: 'a leading slash makes an empty segment', glob: '/a', problem: 'repository pattern "/a" has an empty path segment' },
  { name: 'a trailing slash makes an empty segment', glob: 'a/', problem: 'repository pattern "a/" has an empty path segment' },
  {
    name: 'upper-case letters are refused because ECR repository names are lower case',
    glob: 'Payments/*',
    problem: 'repository pattern "Payments/*" may hold only lower-case letters, digits, ".", "_", "-", "/" and "*"',
  },
  {
    name: 'a space is refused',
    glob: 'a b',
    problem: 'repository pattern "a b" may hold only lower-case letters, digits, ".", "_", "-", "/" and "*"',
  },
  {
    name: 'a regular-expression character is refused rather than interpreted',
    glob: 'a?',
    problem: 'repository pattern "a?" may hold only lower-case letters, digits, ".", "_", "-", "/" and "*"',
  },
  { name: 'a double star glued to a literal is refused', glob: 'a**', problem: 'repository pattern "a**": "**" must be a whole path segment' },
  { name: 'a triple star is refused', glob: 'a/***', problem: 'repository pattern "a/***": "**" must be a whole path segment' },
  { name: 'two double stars in a row say nothing more than one', glob: '**/**', problem: 'repository pattern "**/**": "**/**" says nothing more than "**"' },
  {
    name: 'two double stars in a row are refused inside a longer pattern too',
    glob: 'a/**/**/b',
    problem: 'repository pattern "a/**/**/b": "**/**" says nothing more than "**"',
  },
];

for (const c of problemCases) {
  t.test(c.name, async (t) => t.equal(repositoryGlobProblem(c.glob), c.problem));
}
