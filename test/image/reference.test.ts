import t from 'tap';
import { checkPath, formatReference, parseImageReference, registryOf, splitHostPort, type ImageReference } from '../../src/image/reference.ts';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;
const HEX64 = '0123456789abcdef'.repeat(4);
const SHA384 = `sha384:${'0123456789abcdef'.repeat(6)}`;
const SHA512 = `sha512:${'0123456789abcdef'.repeat(8)}`;
const ECR = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';

type Fields = Omit<ImageReference, 'original'>;

/** Every field of a parsed reference, so a test states exactly what it expects and nothing is left out. */
function ref(fields: Pick<Fields, 'domain' | 'hostname' | 'path'> & Partial<Fields>): Fields {
  return { port: undefined, tag: undefined, digest: undefined, ...fields };
}

const hub = (path: string, extra: Partial<Fields> = {}): Fields => ref({ domain: 'docker.io', hostname: 'docker.io', path, ...extra });

interface ValidCase {
  name: string;
  input: string;
  want: Fields;
}

const valid: ValidCase[] = [
  // Docker Hub: implicit domain and library/
  { name: 'a bare name lives on Docker Hub under library/', input: 'nginx', want: hub('library/nginx') },
  { name: 'a bare name with a tag keeps the tag and gets no digest', input: 'nginx:1.25', want: hub('library/nginx', { tag: '1.25' }) },
  { name: 'an explicit library/ path is not given a second library/', input: 'library/nginx', want: hub('library/nginx') },
  { name: 'a two-component name without a dot or colon is a Docker Hub user repository', input: 'user/app', want: hub('user/app') },
  { name: 'a lower-case first component without a dot is a Docker Hub user, not a registry', input: 'registry/app:v1', want: hub('registry/app', { tag: 'v1' }) },
  { name: 'a nested Docker Hub path gets no library/ prefix', input: 'user/app/sub', want: hub('user/app/sub') },
  { name: 'an explicit docker.io with a one-component path gets library/', input: 'docker.io/nginx', want: hub('library/nginx') },
  { name: 'an explicit docker.io with library/ and a tag is kept as it is', input: 'docker.io/library/nginx:latest', want: hub('library/nginx', { tag: 'latest' }) },
  { name: 'index.docker.io is folded into docker.io and gets library/', input: 'index.docker.io/nginx', want: hub('library/nginx') },
  { name: 'index.docker.io with a user repository is folded into docker.io', input: 'index.docker.io/user/app:v2', want: hub('user/app', { tag: 'v2' }) },
  { name: 'an upper-case INDEX.DOCKER.IO is folded into docker.io like the lower-case form', input: 'INDEX.DOCKER.IO/nginx', want: hub('library/nginx') },
  { name: 'an upper-case DOCKER.IO names Docker Hub, so a one-component path gets library/ as it does for INDEX.DOCKER.IO', input: 'DOCKER.IO/nginx', want: hub('library/nginx') },
  { name: 'registry-1.docker.io is another name of Docker Hub', input: 'registry-1.docker.io/nginx:1', want: hub('library/nginx', { tag: '1' }) },
  { name: 'index.docker.io with a port is another registry, not Docker Hub', input: 'index.docker.io:5000/nginx', want: ref({ domain: 'index.docker.io:5000', hostname: 'index.docker.io', port: '5000', path: 'nginx' }) },
  { name: 'a one-component name that contains a dot is a repository, not a registry', input: 'a.b', want: hub('library/a.b') },
  { name: 'localhost:5000 without a slash is the image localhost with tag 5000', input: 'localhost:5000', want: hub('library/localhost', { tag: '5000' }) },

  // Registries with a domain
  { name: 'a first component with a dot is a registry host', input: 'registry.example.com/team/app:1.0', want: ref({ domain: 'registry.example.com', hostname: 'registry.example.com', path: 'team/app', tag: '1.0' }) },
  { name: 'a host with a port keeps the port apart and in the domain', input: 'registry.example.com:5000/team/app', want: ref({ domain: 'registry.example.com:5000', hostname: 'registry.example.com', port: '5000', path: 'team/app' }) },
  { name: 'an explicit port 443 is kept in the parsed reference', input: 'registry.example.com:443/app', want: ref({ domain: 'registry.example.com:443', hostname: 'registry.example.com', port: '443', path: 'app' }) },
  { name: 'port 65535 is the highest port accepted', input: 'registry.example.com:65535/app', want: ref({ domain: 'registry.example.com:65535', hostname: 'registry.example.com', port: '65535', path: 'app' }) },
  { name: 'a host with a port and a tag keeps both apart', input: 'registry.example.com:5000/app:5001', want: ref({ domain: 'registry.example.com:5000', hostname: 'registry.example.com', port: '5000', path: 'app', tag: '5001' }) },
  { name: 'localhost is a registry host even without a dot', input: 'localhost/app', want: ref({ domain: 'localhost', hostname: 'localhost', path: 'app' }) },
  { name: 'localhost with a port and a tag is a registry', input: 'localhost:5000/app:dev', want: ref({ domain: 'localhost:5000', hostname: 'localhost', port: '5000', path: 'app', tag: 'dev' }) },
  { name: 'a single-label host with a port is a registry because of the colon', input: 'myhost:5000/app', want: ref({ domain: 'myhost:5000', hostname: 'myhost', port: '5000', path: 'app' }) },
  { name: 'an IPv4 address with a port is a registry', input: '127.0.0.1:5000/app', want: ref({ domain: '127.0.0.1:5000', hostname: '127.0.0.1', port: '5000', path: 'app' }) },
  { name: 'a bracketed IPv6 address with a port is a registry', input: '[::1]:5000/x', want: ref({ domain: '[::1]:5000', hostname: '[::1]', port: '5000', path: 'x' }) },
  { name: 'a bracketed IPv6 address without a port has no port, and its hex is lower-cased in the hostname', input: '[2001:DB8::1]/team/app', want: ref({ domain: '[2001:DB8::1]', hostname: '[2001:db8::1]', path: 'team/app' }) },
  { name: 'an upper-case first component is a registry host even without a dot', input: 'Registry/app', want: ref({ domain: 'Registry', hostname: 'registry', path: 'app' }) },
  { name: 'an upper-case LOCALHOST is a registry whose hostname is lower case', input: 'LOCALHOST/app', want: ref({ domain: 'LOCALHOST', hostname: 'localhost', path: 'app' }) },
  { name: 'a mixed-case host keeps its case in the domain and is lower-cased in the hostname', input: 'My-Registry.Example.COM/app', want: ref({ domain: 'My-Registry.Example.COM', hostname: 'my-registry.example.com', path: 'app' }) },
  { name: 'a private ECR host is parsed like any registry host', input: `${ECR}/team/app:1.0`, want: ref({ domain: ECR, hostname: ECR, path: 'team/app', tag: '1.0' }) },
  { name: 'a private ECR image pinned by digest keeps the digest and gets no tag', input: `${ECR}/team/app@${SHA256}`, want: ref({ domain: ECR, hostname: ECR, path: 'team/app', digest: SHA256 }) },
  { name: 'an ECR Public image keeps its two-component path', input: 'public.ecr.aws/nginx/nginx:1.25', want: ref({ domain: 'public.ecr.aws', hostname: 'public.ecr.aws', path: 'nginx/nginx', tag: '1.25' }) },
  { name: 'a one-component path on a registry other than Docker Hub gets no library/', input: 'public.ecr.aws/nginx', want: ref({ domain: 'public.ecr.aws', hostname: 'public.ecr.aws', path: 'nginx' }) },
  { name: 'a deeply nested path is kept whole', input: 'registry.example.com/a/b/c/d/e:tag', want: ref({ domain: 'registry.example.com', hostname: 'registry.example.com', path: 'a/b/c/d/e', tag: 'tag' }) },

  // Path separators
  { name: 'a double underscore separates path parts', input: 'a__b', want: hub('library/a__b') },
  { name: 'a single underscore separates path parts', input: 'user/a_b', want: hub('user/a_b') },
  { name: 'a single hyphen separates path parts', input: 'a-b', want: hub('library/a-b') },
  { name: 'a run of hyphens separates path parts', input: 'a---b', want: hub('library/a---b') },
  { name: 'a dot separates path parts', input: 'user/a.b', want: hub('user/a.b') },
  { name: 'path components may be all digits', input: 'registry.example.com/123/4-5', want: ref({ domain: 'registry.example.com', hostname: 'registry.example.com', path: '123/4-5' }) },

  // Tags and digests
  { name: 'a digest-only reference keeps its digest and gets no tag', input: `nginx@${SHA256}`, want: hub('library/nginx', { digest: SHA256 }) },
  { name: 'a tag and a digest together are both kept', input: `nginx:1.25@${SHA256}`, want: hub('library/nginx', { tag: '1.25', digest: SHA256 }) },
  { name: 'a registry with a port, a tag and a digest keeps all three apart', input: `localhost:5000/app:v1@${SHA256}`, want: ref({ domain: 'localhost:5000', hostname: 'localhost', port: '5000', path: 'app', tag: 'v1', digest: SHA256 }) },
  { name: 'a sha512 digest with 128 hex digits is accepted', input: `nginx@${SHA512}`, want: hub('library/nginx', { digest: SHA512 }) },
  { name: 'a sha384 digest with 96 hex digits is accepted', input: `nginx@${SHA384}`, want: hub('library/nginx', { digest: SHA384 }) },
  { name: 'a tag may start with an underscore and hold upper case, dots and hyphens', input: 'nginx:_V1.2-rc_3', want: hub('library/nginx', { tag: '_V1.2-rc_3' }) },
  { name: 'a tag of exactly 128 characters is accepted', input: `nginx:${'t'.repeat(128)}`, want: hub('library/nginx', { tag: 't'.repeat(128) }) },
  {
    name: 'a path of exactly 255 characters is accepted whatever the length of the registry host',
    input: `registry.example.com/${'a'.repeat(255)}`,
    want: ref({ domain: 'registry.example.com', hostname: 'registry.example.com', path: 'a'.repeat(255) }),
  },
  {
    name: 'a Docker Hub path of 255 characters with library/ is accepted',
    input: 'a'.repeat(255 - 'library/'.length),
    want: hub(`library/${'a'.repeat(255 - 'library/'.length)}`),
  },

  // 64 hex digits: only the bare identifier is refused (distribution's anchoredIdentifierRegexp on the whole input)
  { name: '64 hex digits with a tag are an image name, not an identifier', input: `${HEX64}:v1`, want: hub(`library/${HEX64}`, { tag: 'v1' }) },
  { name: '64 hex digits with a digest are an image name', input: `${HEX64}@${SHA256}`, want: hub(`library/${HEX64}`, { digest: SHA256 }) },
  { name: '64 hex digits under library/ are an image name', input: `library/${HEX64}`, want: hub(`library/${HEX64}`) },
  { name: '64 hex digits under docker.io are an image name', input: `docker.io/${HEX64}`, want: hub(`library/${HEX64}`) },
  { name: '64 hex digits on another registry are an image name', input: `registry.example.com/${HEX64}`, want: ref({ domain: 'registry.example.com', hostname: 'registry.example.com', path: HEX64 }) },
  { name: '64 hex digits under a user are an image name', input: `user/${HEX64}`, want: hub(`user/${HEX64}`) },
  { name: '63 hex digits alone are an image name', input: HEX64.slice(1), want: hub(`library/${HEX64.slice(1)}`) },
  { name: '65 hex digits alone are an image name', input: `${HEX64}0`, want: hub(`library/${HEX64}0`) },
  { name: '64 characters alone that are not all hex digits are an image name', input: `${HEX64.slice(1)}g`, want: hub(`library/${HEX64.slice(1)}g`) },
];

for (const c of valid) {
  t.test(c.name, async (t) => {
    const parsed = parseImageReference(c.input);
    t.strictSame(parsed, { ok: true, ref: { original: c.input, ...c.want } }, 'parses to exactly these fields');
    if (!parsed.ok) return;
    const again = parseImageReference(formatReference(parsed.ref.domain, parsed.ref.path, parsed.ref.tag, parsed.ref.digest));
    t.ok(again.ok, 'writing it back gives a valid reference');
    if (!again.ok) return;
    const { hostname, port, path, tag, digest } = again.ref;
    t.strictSame({ hostname, port, path, tag, digest }, { hostname: c.want.hostname, port: c.want.port, path: c.want.path, tag: c.want.tag, digest: c.want.digest }, 'writing it back gives the same image');
  });
}

interface InvalidCase {
  name: string;
  input: unknown;
  reason: string | RegExp;
}

const invalid: InvalidCase[] = [
  // Not a usable string
  { name: 'an empty string is refused', input: '', reason: 'image is empty' },
  { name: 'a number is refused as not a string', input: 42, reason: 'image must be a string' },
  { name: 'null is refused as not a string', input: null, reason: 'image must be a string' },
  { name: 'undefined is refused as not a string', input: undefined, reason: 'image must be a string' },
  { name: 'an object is refused as not a string', input: { image: 'nginx' }, reason: 'image must be a string' },
  { name: 'a 10,000-character input is refused for its length before anything else', input: 'a'.repeat(10_000), reason: 'image is 10000 characters long, over 1024' },
  { name: 'a 1,025-character input is refused for its length', input: `nginx:${'t'.repeat(1019)}`, reason: 'image is 1025 characters long, over 1024' },
  { name: 'a path of 256 characters is refused, the registry host not counted', input: `r.io/${'a'.repeat(256)}:v1`, reason: /^repository path "a{40}…" is 256 characters long, over 255 \(the registry host is not counted\)$/ },
  { name: 'the path limit counts the library/ that Docker Hub images get', input: `${'a'.repeat(250)}:v1`, reason: /^repository path "library\/a{32}…" is 258 characters long, over 255/ },
  { name: 'a path of many short components over 255 characters is refused', input: `registry.example.com/${'a/'.repeat(128)}a`, reason: 'is 257 characters long, over 255' },

  // 64 hex digits alone read as an image ID, which the kubelet refuses as a name
  { name: '64 lower-case hex digits alone are refused as an image ID', input: HEX64, reason: /^image is 64 hex digits alone, which the kubelet reads as an image ID and refuses as a name; .*\(docker\.io\/<name>\)$/ },
  { name: '64 upper-case hex digits alone are refused as an upper-case name', input: HEX64.toUpperCase(), reason: 'must be lower case' },

  // Whitespace and control characters
  { name: 'a trailing newline is refused with its code point and position', input: 'nginx\n', reason: 'whitespace or control character (U+000A) at position 5' },
  { name: 'a NUL character is refused', input: 'ngi\u0000nx', reason: '(U+0000) at position 3' },
  { name: 'a tab is refused', input: 'nginx:\t1', reason: '(U+0009) at position 6' },
  { name: 'a leading space is refused', input: ' nginx', reason: '(U+0020) at position 0' },
  { name: 'a non-breaking space is refused', input: 'ng\u00a0inx', reason: '(U+00A0) at position 2' },
  { name: 'a zero-width space is refused', input: 'nginx\u200b:1.25', reason: '(U+200B) at position 5' },
  { name: 'a byte-order mark is refused', input: '\ufeffnginx', reason: '(U+FEFF) at position 0' },
  { name: 'a DEL character is refused', input: 'nginx\u007f', reason: '(U+007F)' },
  { name: 'a C1 control character is refused', input: 'nginx\u0085', reason: '(U+0085)' },
  { name: 'a line separator is refused', input: 'nginx\u2028', reason: '(U+2028)' },
  { name: 'a word joiner is refused', input: 'ngi\u2060nx', reason: '(U+2060)' },

  // Repository path
  { name: 'an upper-case bare name is refused as not lower case', input: 'Nginx', reason: 'repository path "library/Nginx" must be lower case' },
  { name: 'an upper-case path under a registry is refused', input: 'registry.example.com/Team/app', reason: 'must be lower case' },
  { name: 'an empty path component is refused', input: 'a//b', reason: 'repository path "a//b" has an empty component' },
  { name: 'a trailing slash is refused as an empty component', input: 'nginx/', reason: 'has an empty component' },
  { name: 'a leading slash is refused as an empty component', input: '/nginx', reason: 'has an empty component' },
  { name: 'a registry with no path is refused', input: 'registry.example.com/', reason: 'repository path "" has an empty component' },
  { name: 'a __proto__ path is refused as an invalid component', input: '__proto__', reason: 'repository path component "__proto__" is invalid' },
  { name: 'a __proto__ component under a user is refused', input: 'user/__proto__:latest', reason: 'component "__proto__" is invalid' },
  { name: 'three underscores do not form a separator', input: 'user/a___b', reason: 'component "a___b" is invalid' },
  { name: 'two dots do not form a separator', input: 'user/a..b', reason: 'component "a..b" is invalid' },
  { name: 'a component may not start with a separator', input: 'user/-app', reason: 'component "-app" is invalid' },
  { name: 'a component may not end with a separator', input: 'user/app_', reason: 'component "app_" is invalid' },
  { name: 'a second colon leaves the first one inside the name', input: 'nginx:1.25:extra', reason: 'component "nginx:1.25" is invalid' },

  // Tag
  { name: 'a tag starting with a hyphen is refused', input: 'nginx:-x', reason: 'tag "-x" is invalid' },
  { name: 'a tag starting with a dot is refused', input: 'nginx:.x', reason: 'tag ".x" is invalid' },
  { name: 'an empty tag is refused', input: 'nginx:', reason: 'tag "" is invalid' },
  { name: 'a tag of 129 characters is refused', input: `nginx:${'t'.repeat(129)}`, reason: /tag "t{129}" is invalid: up to 128/ },
  { name: 'a tag with a plus sign is refused', input: 'nginx:1+2', reason: 'tag "1+2" is invalid' },
  { name: 'a tag with no name before it is refused', input: ':latest', reason: 'image has no repository name' },

  // Digest
  { name: 'a digest that is not algorithm:hex is refused', input: 'nginx@sha256:xyz', reason: 'sha256 digest must be 64 lower-case hex digits' },
  { name: 'an empty digest is refused', input: 'nginx@', reason: 'digest "" is invalid' },
  { name: 'a digest without a colon is refused', input: 'nginx@sha256', reason: 'digest "sha256" is invalid' },
  { name: 'a digest with fewer than 32 hex digits is refused by the grammar', input: `nginx@sha256:${'a'.repeat(31)}`, reason: 'sha256 digest must be 64 lower-case hex digits' },
  { name: 'a too-short sha256 digest is refused with the length it needs', input: `nginx@sha256:${'a'.repeat(63)}`, reason: 'sha256 digest must be 64 lower-case hex digits' },
  { name: 'a too-long sha256 digest is refused', input: `nginx@sha256:${'a'.repeat(65)}`, reason: 'sha256 digest must be 64 lower-case hex digits' },
  { name: 'a sha512 digest with 64 hex digits is refused', input: `nginx@sha512:${'a'.repeat(64)}`, reason: 'sha512 digest must be 128 lower-case hex digits' },
  { name: 'a second digest makes the digest invalid', input: `nginx@${SHA256}@${SHA256}`, reason: 'sha256 digest must be 64 lower-case hex digits' },
  { name: 'a digest with no name before it is refused', input: `@${SHA256}`, reason: 'image has no repository name' },
  { name: 'a digest algorithm starting with a digit is refused', input: `nginx@256sha:${'a'.repeat(64)}`, reason: 'is invalid: expected sha256:<64 hex digits>' },
  { name: 'an algorithm containerd does not know is refused', input: `nginx@blake3:${'ab'.repeat(32)}`, reason: 'digest "blake3:' },
  { name: 'an algorithm named like an Object.prototype member is refused like any unknown one', input: `nginx@constructor:${'ab'.repeat(32)}`, reason: 'expected sha256:<64 hex digits> (or sha384, sha512)' },
  { name: 'a digest in upper-case hex is refused, as go-digest does', input: `nginx@sha256:${'AB'.repeat(32)}`, reason: 'sha256 digest must be 64 lower-case hex digits' },

  // Registry host and port
  { name: 'a port above 65535 is refused', input: 'host:99999/x', reason: 'registry port "99999" is not a number from 0 to 65535' },
  { name: 'port 65536 is refused', input: 'registry.example.com:65536/x', reason: 'registry port "65536"' },
  { name: 'a port of six digits is refused', input: 'registry.example.com:000080/x', reason: 'registry port "000080"' },
  { name: 'an empty port is refused', input: 'registry.example.com:/x', reason: 'registry port ""' },
  { name: 'a port that is not a number is refused', input: 'registry.example.com:http/x', reason: 'registry port "http"' },
  { name: 'a host with an underscore is refused', input: 'bad_host.example.com/x', reason: 'registry host "bad_host.example.com" is not a valid host name' },
  { name: 'a host label starting with a hyphen is refused', input: '-registry.example.com/x', reason: 'registry host "-registry.example.com"' },
  { name: 'a host with an empty label is refused', input: 'registry..example.com/x', reason: 'registry host "registry..example.com"' },
  { name: 'a fullwidth look-alike digit in a host is refused', input: 'registry\uff11.example.com/x', reason: 'registry host "registry\uff11.example.com" is not a valid host name' },
  { name: 'an IPv4 address written with fullwidth digits is refused', input: '\uff11\uff12\uff17.0.0.1:5000/x', reason: 'is not a valid host name' },
  { name: 'an IPv6 address with a non-hex character is refused', input: '[::g]:5000/x', reason: 'registry host "[::g]"' },
  { name: 'an IPv6 address without its closing bracket is refused', input: '[::1/x', reason: 'is not a valid host name' },
];

for (const c of invalid) {
  t.test(c.name, async (t) => {
    const parsed = parseImageReference(c.input);
    t.equal(parsed.ok, false);
    if (parsed.ok) return;
    t.match(parsed.reason, c.reason);
  });
}

const registries: { name: string; input: string; want: string }[] = [
  { name: 'a host without a port is the registry', input: 'registry.example.com/x', want: 'registry.example.com' },
  { name: 'port 443 names the same registry as no port', input: 'registry.example.com:443/x', want: 'registry.example.com' },
  { name: 'any other port is part of the registry', input: 'registry.example.com:5000/x', want: 'registry.example.com:5000' },
  { name: 'the registry is lower case whatever the case written', input: 'Registry.Example.COM:5000/x', want: 'registry.example.com:5000' },
  { name: 'an implicit Docker Hub image is on docker.io', input: 'nginx', want: 'docker.io' },
  { name: 'an index.docker.io image is on docker.io', input: 'index.docker.io/user/app', want: 'docker.io' },
  { name: 'an IPv6 registry keeps its brackets and port', input: '[::1]:5000/x', want: '[::1]:5000' },
  { name: 'an IPv6 registry on port 443 drops the port', input: '[::1]:443/x', want: '[::1]' },
];

for (const c of registries) {
  t.test(`registryOf: ${c.name}`, async (t) => {
    const parsed = parseImageReference(c.input);
    t.ok(parsed.ok, 'the input parses');
    if (parsed.ok) t.equal(registryOf(parsed.ref), c.want);
  });
}

const formats: { name: string; args: [string, string, string | undefined, string | undefined]; want: string }[] = [
  { name: 'no tag and no digest writes just the name, adding no tag', args: ['docker.io', 'library/nginx', undefined, undefined], want: 'docker.io/library/nginx' },
  { name: 'a tag is written after a colon', args: ['docker.io', 'library/nginx', '1.25', undefined], want: 'docker.io/library/nginx:1.25' },
  { name: 'a digest alone is written after an at sign, with no tag', args: [ECR, 'team/app', undefined, SHA256], want: `${ECR}/team/app@${SHA256}` },
  { name: 'a tag and a digest are both written, tag first', args: [ECR, 'team/app', 'v1', SHA256], want: `${ECR}/team/app:v1@${SHA256}` },
  { name: 'a domain with a port is written as given', args: ['localhost:5000', 'app', 'dev', undefined], want: 'localhost:5000/app:dev' },
  { name: 'an empty tag is still written, since only undefined means no tag', args: ['r.example.com', 'app', '', undefined], want: 'r.example.com/app:' },
];

for (const c of formats) {
  t.test(`formatReference: ${c.name}`, async (t) => {
    t.equal(formatReference(...c.args), c.want);
  });
}

const hostPorts: { name: string; input: string; want: { hostname: string; port: string | undefined } | string }[] = [
  { name: 'a plain host has no port', input: 'registry.example.com', want: { hostname: 'registry.example.com', port: undefined } },
  { name: 'a host and port are split and the host lower-cased', input: 'Registry.Example.COM:8080', want: { hostname: 'registry.example.com', port: '8080' } },
  { name: 'port 0 is accepted', input: 'localhost:0', want: { hostname: 'localhost', port: '0' } },
  { name: 'a bracketed IPv6 address alone has no port', input: '[::1]', want: { hostname: '[::1]', port: undefined } },
  { name: 'a bracketed IPv6 address with a port is split after the bracket', input: '[FE80::1]:443', want: { hostname: '[fe80::1]', port: '443' } },
  { name: 'an empty host is refused', input: '', want: 'registry host "" is not a valid host name' },
  { name: 'a host with an underscore is refused', input: 'bad_host', want: 'registry host "bad_host" is not a valid host name' },
  { name: 'a host label ending with a hyphen is refused', input: 'registry-.example.com', want: 'is not a valid host name' },
  { name: 'a trailing colon is an empty port', input: 'registry.example.com:', want: 'registry port "" is not a number from 0 to 65535' },
  { name: 'a negative port is refused', input: 'registry.example.com:-1', want: 'registry port "-1"' },
  { name: 'port 65536 is refused', input: 'registry.example.com:65536', want: 'registry port "65536"' },
  { name: 'a non-numeric port after an IPv6 address is refused', input: '[::1]:x', want: 'registry port "x"' },
];

for (const c of hostPorts) {
  t.test(`splitHostPort: ${c.name}`, async (t) => {
    const got = splitHostPort(c.input);
    if (typeof c.want === 'string') {
      t.type(got, 'string');
      t.match(got, c.want);
    } else {
      t.strictSame(got, c.want);
    }
  });
}

const paths: { name: string; input: string; want: string | undefined }[] = [
  { name: 'a single component is valid', input: 'app', want: undefined },
  { name: 'several components are valid', input: 'team/sub/app', want: undefined },
  { name: 'every separator form is valid', input: 'a__b/c-d/e.f/g---h/i_j', want: undefined },
  { name: 'an empty path is an empty component', input: '', want: 'repository path "" has an empty component' },
  { name: 'a double slash is an empty component', input: 'a//b', want: 'has an empty component' },
  { name: 'a trailing slash is an empty component', input: 'a/', want: 'has an empty component' },
  { name: 'an upper-case component is refused as not lower case', input: 'a/B', want: 'repository path "a/B" must be lower case' },
  { name: 'three underscores are refused', input: 'a___b', want: 'component "a___b" is invalid' },
  { name: 'an underscore next to a dot is refused', input: 'a_.b', want: 'component "a_.b" is invalid' },
  { name: 'a component starting with a dot is refused', input: '.a', want: 'component ".a" is invalid' },
  { name: 'a component ending with a hyphen is refused', input: 'a-', want: 'component "a-" is invalid' },
  { name: 'a colon in a component is refused', input: 'a:b', want: 'component "a:b" is invalid' },
  { name: 'a __proto__ component is refused', input: 'x/__proto__', want: 'component "__proto__" is invalid' },
];

for (const c of paths) {
  t.test(`checkPath: ${c.name}`, async (t) => {
    const got = checkPath(c.input);
    if (c.want === undefined) t.equal(got, undefined);
    else t.match(got, c.want);
  });
}

/**
 * Hostile inputs of the greatest accepted length, one for each part of the grammar, shaped to make a backtracking
 * matcher retry: long runs that fail only at their last character. Parsing must stay linear, so each is answered
 * within a small bound: about 80 times what the slowest takes under tap's coverage (some 60 µs; 10 µs without), and
 * far below what a quadratic or exponential blow-up on 1024 characters costs.
 */
const LONGEST = 1024;
const PARSE_BOUND_MS = 5;

/** `head`, then `unit` repeated, then `tail`, exactly 1024 characters in all. */
function fill(head: string, unit: string, tail: string): string {
  const room = LONGEST - head.length - tail.length;
  return head + unit.repeat(Math.ceil(room / unit.length)).slice(0, room) + tail;
}

const hostile: { name: string; input: string }[] = [
  { name: 'host of hyphenated labels that ends in a hyphen', input: fill('', 'a-b.', 'a-/x') },
  { name: 'host of one-letter labels that ends in an empty label', input: fill('', 'a.', './x') },
  { name: 'host of one long label with a bad last character', input: fill('', 'a', '_.io/x') },
  { name: 'IPv6 host of colons with a bad last character', input: fill('[', ':', 'g]/x') },
  { name: 'port of many digits', input: fill('registry.example.com:', '9', '/x') },
  { name: 'path component of single separators ending in one', input: fill('registry.example.com/', 'a_', '_') },
  { name: 'path component of double underscores ending in a third', input: fill('registry.example.com/', 'a__', '_') },
  { name: 'path component of hyphen runs ending in a hyphen', input: fill('registry.example.com/', 'a---', '-') },
  { name: 'path component of dots with a bad last character', input: fill('registry.example.com/', 'a.', 'a!') },
  { name: 'path of many components ending in an empty one', input: fill('registry.example.com/', 'a/', '/') },
  { name: 'Docker Hub name over the path limit', input: fill('', 'a-b', '') },
  { name: 'tag over 128 characters', input: fill('nginx:', 't', '') },
  { name: 'tag of dots and hyphens with a bad last character', input: fill('nginx:a', '.-', '+') },
  { name: 'digest of many hex digits', input: fill('nginx@sha256:', 'a', '') },
  { name: 'run of hex digits that is not 64 long', input: fill('', '0123456789abcdef', '') },
  { name: 'run of colons', input: fill('', ':', '') },
  { name: 'run of slashes', input: fill('', '/', '') },
  { name: 'run of at signs', input: fill('', '@', '') },
  { name: 'name whose control character is last', input: fill('', 'a', '\u2028') },
];

for (const c of hostile) {
  t.test(`a hostile 1024-character ${c.name} is answered within ${PARSE_BOUND_MS} ms`, async (t) => {
    t.equal(c.input.length, LONGEST, 'the input is as long as an image may be');
    const runs = 200;
    const answer = parseImageReference(c.input);
    const started = performance.now();
    for (let i = 0; i < runs; i++) parseImageReference(c.input);
    const each = (performance.now() - started) / runs;
    t.comment(`${(each * 1000).toFixed(1)} µs a parse (bound ${PARSE_BOUND_MS} ms); ${answer.ok ? 'accepted' : `refused: ${answer.reason.slice(0, 80)}`}`);
    t.ok(each < PARSE_BOUND_MS, `${each.toFixed(4)} ms a parse, under ${PARSE_BOUND_MS} ms`);
  });
}
