/**
 * Repository globs of a grant, matched segment by segment:
 *   `*`  matches within one path segment (`payments/*` covers `payments/api`, not `payments/a/b` nor `paymentsevil/x`);
 *   `**` as a whole segment matches across segments, gitignore-style: `shared/**` covers everything below `shared/`,
 *        `a/**\/b` covers `a/b` and `a/x/y/b`, `**\/b` covers `b` and `x/y/b`, `**` alone covers every repository.
 * A path with an empty segment (`a//b`, `/a`, `a/`) names no repository, and no glob covers it.
 *
 * The glob comes from the policy but the repository from the pod, so one match must cost time linear in the
 * repository's length whatever the pod sends. A glob turned into a JavaScript regex backtracks: `*-*-*-*-*-svc`
 * took over a second against 201 characters, `a*a*a*a*a*a*a*a*b` over a minute against 80, and the event loop
 * stalled meanwhile. So globs are matched by hand, in two levels that each take a choice once and never revisit it:
 *   - within a segment, the glob splits on `*` into literal pieces: the first must start the segment, the last end
 *     it, and each one between is taken at its leftmost place after the one before. That leaves the most room for
 *     the pieces after it, and the star that follows absorbs the gap, so it never loses a match.
 *   - across segments, `**` is the star of the classic wildcard match over lists of segments: on a mismatch, the
 *     last `**` seen takes one more segment and matching resumes after it. Earlier `**`s never have to give back
 *     what they took, so this costs at most (repository segments × glob segments) segment comparisons.
 */
/** One segment of a glob: `**`, or the literal pieces between the segment's `*`s (one piece when it has none). */
type GlobSegment = { readonly anyDepth: true } | { readonly anyDepth: false; readonly pieces: readonly string[] };

export type CompiledGlob = { readonly source: string; readonly segments: readonly GlobSegment[] };

const SEGMENT = /^[a-z0-9._*-]+$/;

/** Returns the problem with a glob, or undefined when it is valid. */
export function repositoryGlobProblem(glob: string): string | undefined {
  if (glob === '') return 'repository pattern is empty';
  // ECR repository names are at most 256 characters; a longer pattern can only be a mistake.
  if (glob.length > 256) return `repository pattern is ${glob.length} characters long, over 256`;
  for (const segment of glob.split('/')) {
    if (segment === '') return `repository pattern ${JSON.stringify(glob)} has an empty path segment`;
    if (!SEGMENT.test(segment)) {
      return `repository pattern ${JSON.stringify(glob)} may hold only lower-case letters, digits, ".", "_", "-", "/" and "*"`;
    }
    if (segment.includes('**') && segment !== '**') {
      return `repository pattern ${JSON.stringify(glob)}: "**" must be a whole path segment`;
    }
  }
  if (glob.includes('**/**')) return `repository pattern ${JSON.stringify(glob)}: "**/**" says nothing more than "**"`;
  return undefined;
}

const ANY_DEPTH: GlobSegment = { anyDepth: true };
/** What a lone `*` compiles to: any one segment (never an empty one, which no repository has). */
const ONE_SEGMENT: GlobSegment = { anyDepth: false, pieces: ['', ''] };

/** Compiles a glob already checked with repositoryGlobProblem. */
export function compileRepositoryGlob(glob: string): CompiledGlob {
  const segments = glob.split('/').map((segment): GlobSegment => (segment === '**' ? ANY_DEPTH : { anyDepth: false, pieces: segment.split('*') }));
  // A trailing `**` (or a lone one) stands for one segment or more: `shared/**` covers what lies below shared/, not
  // shared itself. Elsewhere it stands for zero or more. So it becomes `*/**`: one segment, then zero or more.
  if (segments[segments.length - 1] === ANY_DEPTH) segments.splice(segments.length - 1, 0, ONE_SEGMENT);
  return { source: glob, segments };
}

/** One repository segment against the pieces of one glob segment: prefix, suffix, then the middle pieces in order. */
function segmentCovers(pieces: readonly string[], name: string): boolean {
  if (pieces.length === 1) return name === pieces[0];
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const end = name.length - last.length;
  // The prefix and the suffix may not overlap: `a*a` does not cover `a`.
  if (end < first.length || !name.startsWith(first) || !name.endsWith(last)) return false;
  let from = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    const at = name.indexOf(piece, from);
    if (at === -1 || at + piece.length > end) return false;
    from = at + piece.length;
  }
  return true;
}

/** Whether the glob covers a repository path, in time linear in the path's length for a given glob. */
export function globCovers(glob: CompiledGlob, repository: string): boolean {
  const names = repository.split('/');
  // The reference parser refuses a path with an empty segment; should one come here anyway, nothing covers it.
  if (names.includes('')) return false;
  const segments = glob.segments;
  let g = 0;
  let r = 0;
  /** The last `**` seen (-1 before any), and the repository segment its match ends before. */
  let star = -1;
  let starEnd = 0;
  while (r < names.length) {
    const segment = segments[g];
    if (segment?.anyDepth === true) {
      star = g++;
      starEnd = r;
    } else if (segment !== undefined && segmentCovers(segment.pieces, names[r]!)) {
      g++;
      r++;
    } else if (star !== -1) {
      // Let the last `**` take one more segment and match what follows it again from there.
      g = star + 1;
      r = ++starEnd;
    } else {
      return false;
    }
  }
  // The repository is used up: what is left of the glob must be `**`s, each of them covering no segment.
  while (segments[g]?.anyDepth === true) g++;
  return g === segments.length;
}
