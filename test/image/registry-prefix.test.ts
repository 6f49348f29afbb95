import t from 'tap';
import { parseImageReference, type ImageReference } from '../../src/image/reference.ts';
import { movePrefix, parseRegistryPrefix, prefixCovers, prefixesOverlap, type RegistryPrefix } from '../../src/image/registry-prefix.ts';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;
const ECR = '111111111111.dkr.ecr.eu-west-1.amazonaws.com';
const OTHER_ECR = '222222222222.dkr.ecr.eu-west-1.amazonaws.com';

function prefix(text: string): RegistryPrefix {
  const parsed = parseRegistryPrefix(text);
  if (typeof parsed === 'string') throw new Error(`test prefix ${text} is invalid: ${parsed}`);
  return parsed;
}

function image(text: string): ImageReference {
  const parsed = parseImageReference(text);
  if (!parsed.ok) throw new Error(`test image ${text} is invalid: ${parsed.reason}`);
  return parsed.ref;
}

const validPrefixes: { name: string; text: string; want: Omit<RegistryPrefix, 'text'> }[] = [
  { name: 'a host alone has an empty path', text: 'registry.example.com', want: { domain: 'registry.example.com', registry: 'registry.example.com', path: '' } },
  { name: 'a host and a path are split at the first slash', text: `${ECR}/team`, want: { domain: ECR, registry: ECR, path: 'team' } },
  { name: 'a nested path is kept whole', text: `${ECR}/team/sub/app`, want: { domain: ECR, registry: ECR, path: 'team/sub/app' } },
  { name: 'port 443 is dropped from the registry but kept in the domain', text: 'registry.example.com:443/x', want: { domain: 'registry.example.com:443', registry: 'registry.example.com', path: 'x' } },
  { name: 'any other port is part of the registry and the domain', text: 'registry.example.com:5000/x', want: { domain: 'registry.example.com:5000', registry: 'registry.example.com:5000', path: 'x' } },
  { name: 'a mixed-case host keeps its case in the domain and is lower case in the registry', text: 'Registry.Example.COM/x', want: { domain: 'Registry.Example.COM', registry: 'registry.example.com', path: 'x' } },
  { name: 'docker.io is Docker Hub', text: 'docker.io', want: { domain: 'docker.io', registry: 'docker.io', path: '' } },
  { name: 'index.docker.io is written and compared as docker.io', text: 'index.docker.io/library', want: { domain: 'docker.io', registry: 'docker.io', path: 'library' } },
  { name: 'registry-1.docker.io is written and compared as docker.io', text: 'registry-1.docker.io', want: { domain: 'docker.io', registry: 'docker.io', path: '' } },
  { name: 'an upper-case INDEX.DOCKER.IO is written and compared as docker.io', text: 'INDEX.DOCKER.IO/user', want: { domain: 'docker.io', registry: 'docker.io', path: 'user' } },
  { name: 'localhost with a port is a registry', text: 'localhost:5000/a/b', want: { domain: 'localhost:5000', registry: 'localhost:5000', path: 'a/b' } },
  { name: 'a bracketed IPv6 address with a port is a registry', text: '[::1]:5000/x', want: { domain: '[::1]:5000', registry: '[::1]:5000', path: 'x' } },
  { name: 'every path separator form is accepted', text: 'registry.example.com/a__b/c-d/e.f/g---h', want: { domain: 'registry.example.com', registry: 'registry.example.com', path: 'a__b/c-d/e.f/g---h' } },
];

for (const c of validPrefixes) {
  t.test(`parseRegistryPrefix: ${c.name}`, async (t) => {
    t.strictSame(parseRegistryPrefix(c.text), { text: c.text, ...c.want });
  });
}

const invalidPrefixes: { name: string; text: string; problem: string }[] = [
  { name: 'an empty prefix is refused', text: '', problem: 'is empty' },
  { name: 'a host followed by a bare slash is refused rather than read as the whole host', text: 'registry.example.com/', problem: 'ends with "/"; write the host alone' },
  { name: 'a prefix with a digest is refused', text: `${ECR}/team/app@${SHA256}`, problem: 'must be host[/path-prefix], without tag, digest or spaces' },
  { name: 'a prefix with a bare at sign is refused', text: 'registry.example.com/x@', problem: 'without tag, digest or spaces' },
  { name: 'a prefix with a space is refused', text: 'registry.example.com/team app', problem: 'without tag, digest or spaces' },
  { name: 'a prefix with a leading space is refused', text: ' registry.example.com', problem: 'without tag, digest or spaces' },
  { name: 'a prefix with a tab is refused', text: 'registry.example.com/\tx', problem: 'without tag, digest or spaces' },
  { name: 'a prefix with a non-breaking space is refused', text: 'registry.example.com/\u00a0x', problem: 'without tag, digest or spaces' },
  { name: 'a prefix with a newline is refused', text: 'registry.example.com\n', problem: 'without tag, digest or spaces' },
  { name: 'a prefix with an underscore in the host is refused', text: 'bad_host.example.com/x', problem: '"bad_host.example.com/x": registry host "bad_host.example.com" is not a valid host name' },
  { name: 'a prefix with no host is refused', text: '/team', problem: 'registry host "" is not a valid host name' },
  { name: 'a prefix with a fullwidth digit in the host is refused', text: 'registry\uff11.example.com', problem: 'is not a valid host name' },
  { name: 'a prefix with a port out of range is refused', text: 'registry.example.com:99999/x', problem: 'registry port "99999" is not a number from 0 to 65535' },
  { name: 'a prefix with an upper-case path is refused', text: 'registry.example.com/Team', problem: '"registry.example.com/Team": repository path "Team" must be lower case' },
  { name: 'a prefix with an empty path component is refused', text: 'registry.example.com/a//b', problem: 'has an empty component' },
  { name: 'a prefix whose path ends in a slash after a component is refused', text: 'registry.example.com/a/', problem: 'has an empty component' },
  { name: 'a prefix with a tag is refused as an invalid path component', text: 'registry.example.com/app:1.0', problem: 'repository path component "app:1.0" is invalid' },
  { name: 'a prefix with a zero-width space in the path is refused', text: 'registry.example.com/a\u200b', problem: 'is invalid' },
  { name: 'a prefix with a __proto__ path is refused', text: 'registry.example.com/__proto__', problem: 'component "__proto__" is invalid' },
];

for (const c of invalidPrefixes) {
  t.test(`parseRegistryPrefix: ${c.name}`, async (t) => {
    const got = parseRegistryPrefix(c.text);
    t.type(got, 'string');
    t.match(got, c.problem);
  });
}

const covers: { name: string; prefix: string; image: string; want: boolean }[] = [
  { name: 'a prefix covers the repository equal to it', prefix: 'x.example.com/pay', image: 'x.example.com/pay', want: true },
  { name: 'a prefix covers a repository below it', prefix: 'x.example.com/pay', image: 'x.example.com/pay/a:1.0', want: true },
  { name: 'a prefix covers a repository several levels below it', prefix: 'x.example.com/pay', image: 'x.example.com/pay/a/b/c', want: true },
  { name: 'a prefix does not cover a repository that only starts with the same letters', prefix: 'x.example.com/pay', image: 'x.example.com/payments', want: false },
  { name: 'a prefix does not cover a sibling with a separator after the same letters', prefix: 'x.example.com/pay', image: 'x.example.com/pay-b/a', want: false },
  { name: 'a prefix does not cover the repository above it', prefix: 'x.example.com/a/b', image: 'x.example.com/a', want: false },
  { name: 'a prefix matches from the start of the path, not anywhere in it', prefix: 'x.example.com/pay', image: 'x.example.com/team/pay', want: false },
  { name: 'a host-only prefix covers every repository on the host', prefix: 'x.example.com', image: 'x.example.com/any/deep/path:tag', want: true },
  { name: 'a prefix does not cover the same path on another host', prefix: 'x.example.com/pay', image: 'y.example.com/pay', want: false },
  { name: 'a host-only prefix does not cover a host that merely ends with it', prefix: 'example.com', image: 'x.example.com/pay', want: false },
  { name: 'a prefix with :443 covers an image without a port', prefix: 'x.example.com:443/pay', image: 'x.example.com/pay/a', want: true },
  { name: 'a prefix without a port covers an image with :443', prefix: 'x.example.com/pay', image: 'x.example.com:443/pay/a', want: true },
  { name: 'a prefix without a port does not cover the same host on port 5000', prefix: 'x.example.com/pay', image: 'x.example.com:5000/pay', want: false },
  { name: 'a prefix on port 5000 does not cover the same host without a port', prefix: 'x.example.com:5000/pay', image: 'x.example.com/pay', want: false },
  { name: 'a prefix on port 5000 covers an image on port 5000', prefix: 'x.example.com:5000/pay', image: 'x.example.com:5000/pay/a', want: true },
  { name: 'an upper-case prefix host covers a lower-case image host', prefix: 'X.Example.COM/pay', image: 'x.example.com/pay/a', want: true },
  { name: 'a lower-case prefix host covers an upper-case image host', prefix: 'x.example.com/pay', image: 'X.EXAMPLE.COM/pay/a', want: true },
  { name: 'docker.io covers a bare official image', prefix: 'docker.io', image: 'nginx', want: true },
  { name: 'index.docker.io covers a bare official image', prefix: 'index.docker.io', image: 'nginx:1.25', want: true },
  { name: 'registry-1.docker.io covers a bare official image', prefix: 'registry-1.docker.io', image: 'nginx', want: true },
  { name: 'docker.io/library covers a bare official image, parsed as library/nginx', prefix: 'docker.io/library', image: 'nginx', want: true },
  { name: 'docker.io/library/nginx covers nginx with a digest', prefix: 'docker.io/library/nginx', image: `nginx@${SHA256}`, want: true },
  { name: 'docker.io covers an image written with index.docker.io', prefix: 'docker.io/user', image: 'index.docker.io/user/app', want: true },
  { name: 'docker.io/library does not cover a Docker Hub user repository', prefix: 'docker.io/library', image: 'user/app', want: false },
  { name: 'docker.io/user covers that user repository', prefix: 'docker.io/user', image: 'user/app:v1', want: true },
  {
    name: 'registry-1.docker.io/library covers an image written with the same registry-1.docker.io host',
    prefix: 'registry-1.docker.io/library',
    image: 'registry-1.docker.io/library/nginx',
    want: true,
  },
  { name: 'docker.io does not cover a look-alike host that starts with docker.io', prefix: 'docker.io', image: 'docker.io.evil.com/library/nginx', want: false },
  { name: 'docker.io does not cover a bare image pushed to another registry', prefix: 'docker.io', image: 'public.ecr.aws/nginx', want: false },
  { name: 'an ECR prefix does not cover another account in the same region', prefix: `${ECR}/team`, image: `${OTHER_ECR}/team/app`, want: false },
  { name: 'an ECR prefix covers its own account and path', prefix: `${ECR}/team`, image: `${ECR}/team/app:1.0`, want: true },
  { name: 'localhost:5000 does not cover localhost without a port', prefix: 'localhost:5000/x', image: 'localhost/x/y', want: false },
];

for (const c of covers) {
  t.test(`prefixCovers: ${c.name}`, async (t) => {
    t.equal(prefixCovers(prefix(c.prefix), image(c.image)), c.want, `${c.prefix} ${c.want ? 'covers' : 'does not cover'} ${c.image}`);
  });
}

const overlaps: { name: string; a: string; b: string; want: boolean }[] = [
  { name: 'a prefix overlaps itself', a: 'x.example.com/pay', b: 'x.example.com/pay', want: true },
  { name: 'a prefix overlaps one below it', a: 'x.example.com/pay', b: 'x.example.com/pay/a', want: true },
  { name: 'a host-only prefix overlaps every prefix on the host', a: 'x.example.com', b: 'x.example.com/any/path', want: true },
  { name: 'two host-only prefixes on the same host overlap', a: 'x.example.com', b: 'X.EXAMPLE.COM', want: true },
  { name: 'prefixes that only share leading letters do not overlap', a: 'x.example.com/pay', b: 'x.example.com/payments', want: false },
  { name: 'sibling prefixes do not overlap', a: 'x.example.com/team/a', b: 'x.example.com/team/b', want: false },
  { name: 'the same path on two hosts does not overlap', a: 'x.example.com/pay', b: 'y.example.com/pay', want: false },
  { name: ':443 and no port on the same path overlap', a: 'x.example.com:443/pay', b: 'x.example.com/pay', want: true },
  { name: 'two ports on the same host do not overlap', a: 'x.example.com:5000/pay', b: 'x.example.com/pay', want: false },
  { name: 'docker.io and index.docker.io overlap', a: 'docker.io/library', b: 'index.docker.io/library/nginx', want: true },
  { name: 'two ECR accounts do not overlap', a: `${ECR}/team`, b: `${OTHER_ECR}/team`, want: false },
];

for (const c of overlaps) {
  t.test(`prefixesOverlap: ${c.name}`, async (t) => {
    const a = prefix(c.a);
    const b = prefix(c.b);
    t.equal(prefixesOverlap(a, b), c.want, `${c.a} against ${c.b}`);
    t.equal(prefixesOverlap(b, a), c.want, `${c.b} against ${c.a}`);
  });
}

const moves: { name: string; image: string; from: string; to: string; want: string }[] = [
  { name: 'a tagged official image moves under the target with its tag', image: 'nginx:1.25', from: 'docker.io/library', to: `${ECR}/hub`, want: `${ECR}/hub/nginx:1.25` },
  { name: 'an image without a tag is given no tag', image: 'nginx', from: 'docker.io/library', to: `${ECR}/hub`, want: `${ECR}/hub/nginx` },
  { name: 'a digest-only image keeps exactly its digest and is given no tag', image: `nginx@${SHA256}`, from: 'docker.io/library', to: `${ECR}/hub`, want: `${ECR}/hub/nginx@${SHA256}` },
  { name: 'an image with a tag and a digest keeps both', image: `nginx:1.25@${SHA256}`, from: 'docker.io/library', to: `${ECR}/hub`, want: `${ECR}/hub/nginx:1.25@${SHA256}` },
  { name: 'a tag keeps its case and punctuation', image: 'x.example.com/a/b:V1.0_RC-2', from: 'x.example.com/a', to: `${ECR}/m`, want: `${ECR}/m/b:V1.0_RC-2` },
  { name: 'a host-only source moves the whole path, library/ included', image: 'nginx', from: 'docker.io', to: `${ECR}/hub`, want: `${ECR}/hub/library/nginx` },
  { name: 'a host-only target keeps only the rest of the path', image: 'x.example.com/a/b/c:1', from: 'x.example.com/a', to: `${ECR}`, want: `${ECR}/b/c:1` },
  { name: 'host-only on both sides keeps the whole path', image: 'x.example.com/a/b:1', from: 'x.example.com', to: 'y.example.com', want: 'y.example.com/a/b:1' },
  { name: 'an image equal to the source moves onto the target exactly', image: 'x.example.com/a/b:1', from: 'x.example.com/a/b', to: 'y.example.com/c', want: 'y.example.com/c:1' },
  { name: 'deeper paths keep every level below the source', image: 'x.example.com/a/b/c/d', from: 'x.example.com/a', to: 'y.example.com/m/n', want: 'y.example.com/m/n/b/c/d' },
  { name: 'an image with :443 moves like one without a port', image: 'x.example.com:443/a/b', from: 'x.example.com/a', to: 'y.example.com/z', want: 'y.example.com/z/b' },
  { name: 'the target port is written into the result', image: 'x.example.com/a/b', from: 'x.example.com/a', to: 'y.example.com:5000/z', want: 'y.example.com:5000/z/b' },
  { name: 'the target host is written as the prefix spelled it', image: 'x.example.com/a/b', from: 'x.example.com/a', to: 'Y.Example.com/z', want: 'Y.Example.com/z/b' },
  { name: 'an index.docker.io target is written as docker.io', image: 'x.example.com/a/b', from: 'x.example.com/a', to: 'index.docker.io/mirror', want: 'docker.io/mirror/b' },
  { name: 'an image written with index.docker.io moves like a bare one', image: 'index.docker.io/library/redis:7', from: 'docker.io/library', to: `${ECR}/hub`, want: `${ECR}/hub/redis:7` },
];

for (const c of moves) {
  t.test(`movePrefix: ${c.name}`, async (t) => {
    const ref = image(c.image);
    const from = prefix(c.from);
    const to = prefix(c.to);
    t.ok(prefixCovers(from, ref), 'the source covers the image');
    const moved = movePrefix(ref, from, to);
    t.equal(moved, c.want);
    const again = parseImageReference(moved);
    t.ok(again.ok, 'the result is a valid reference');
    if (!again.ok) return;
    t.equal(again.ref.tag, ref.tag, 'the tag is unchanged');
    t.equal(again.ref.digest, ref.digest, 'the digest is unchanged');
    t.ok(prefixCovers(to, again.ref), 'the result lies under the target');
  });
}
