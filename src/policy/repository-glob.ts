/**
 * Repository globs of a grant, matched segment by segment:
 *   `*`  matches within one path segment (`payments/*` covers `payments/api`, not `payments/a/b` nor `paymentsevil/x`);
 *   `**` as a whole segment matches across segments, gitignore-style: `shared/**` covers everything below `shared/`,
 *        `a/**\/b` covers `a/b` and `a/x/y/b`, `**` alone covers every repository.
 */
export type CompiledGlob = { readonly source: string; readonly regex: RegExp };

const SEGMENT = /^[a-z0-9._*-]+$/;

/** Returns the problem with a glob, or undefined when it is valid. */
export function repositoryGlobProblem(glob: string): string | undefined {
  if (glob === '') return 'repository pattern is empty';
  // ECR repository names are at most 256 characters; a longer pattern can only be a mistake (or an attack on the regex).
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

function segmentRegex(segment: string): string {
  if (segment === '*') return '[^/]+';
  return segment.split('*').map((literal) => literal.replace(/[.]/g, '\\.')).join('[^/]*');
}

/** Compiles a glob already checked with repositoryGlobProblem. */
export function compileRepositoryGlob(glob: string): CompiledGlob {
  const segments = glob.split('/');
  if (glob === '**') return { source: glob, regex: /^.+$/ };
  let pattern = '';
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '**') {
      pattern += i === 0 ? '(?:[^/]+/)*' : last ? '(?:/[^/]+)+' : '(?:/[^/]+)*';
      return;
    }
    const separator = i === 0 || segments[i - 1] === '**' && i === 1 ? '' : '/';
    pattern += separator + segmentRegex(segment);
  });
  return { source: glob, regex: new RegExp(`^${pattern}$`) };
}

export function globCovers(glob: CompiledGlob, repository: string): boolean {
  return glob.regex.test(repository);
}
