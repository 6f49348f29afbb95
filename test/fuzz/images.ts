import { hostileString, PROTOTYPE_KEYS, type Random } from './random.ts';

/**
 * Image strings for the fuzz: ones the test policy grants, rewrites or refuses (so admission reaches its deep
 * paths), and hostile ones built from them (so the parser meets every odd character in every position).
 */
export const GRANTED_IMAGES = [
  '111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.2',
  '111111111111.dkr.ecr.eu-west-1.amazonaws.com/shared/base/node:22',
  '222222222222.dkr.ecr.us-west-2.amazonaws.com/tools/kubectl:1.31',
  '111111111111.dkr.ecr.eu-west-1.amazonaws.com:443/payments/web@sha256:' + 'a'.repeat(64),
];
/** Rewritten by the test policy into a granted registry. */
export const REWRITTEN_IMAGES = ['999999999999.dkr.ecr.us-east-1.amazonaws.com/payments/api:1.2', '999999999999.dkr.ecr.us-east-1.amazonaws.com/shared/x:3'];
export const REFUSED_IMAGES = [
  '111111111111.dkr.ecr.eu-west-1.amazonaws.com/paymentsevil/x:1',
  '333333333333.dkr.ecr.eu-central-1.amazonaws.com/analytics/etl:7',
  '444444444444.dkr.ecr.ap-south-1.amazonaws.com/other/thing:1',
  // ECR of an ISO partition without a grant; a host shaped like ECR of no known form; a granted host in upper case
  '777777777777.dkr.ecr.us-iso-east-1.c2s.ic.gov/payments/api:1',
  '111111111111.dkr-ecr.eu-west-1.amazonaws.com/payments/api:1',
  '111111111111.DKR.ECR.EU-WEST-1.AMAZONAWS.COM/payments/api:1',
];
export const PLAIN_IMAGES = ['nginx', 'nginx:1.27', 'library/busybox:latest', 'docker.io/library/redis:7', 'ghcr.io/org/app:v1', 'localhost:5000/app', 'public.ecr.aws/nginx/nginx:1', '[::1]:5000/a/b:c'];
export const KNOWN_IMAGES = [...GRANTED_IMAGES, ...REWRITTEN_IMAGES, ...REFUSED_IMAGES, ...PLAIN_IMAGES];

const HEX = '0123456789abcdef';

function badDigest(random: Random): string {
  return random.oneOf<string>([
    () => '@sha256:',
    (r) => `@sha256:${r.chars(HEX, r.pick([1, 63, 65, 128]))}`,
    (r) => `@sha256:${r.chars('0123456789ABCDEF', 64)}`,
    (r) => `@sha256:${r.chars(HEX, 63)}g`,
    (r) => `@sha1:${r.chars(HEX, 40)}`,
    (r) => `@${r.pick(['', ':', 'sha256', 'SHA256:' + 'a'.repeat(64), 'sha512:' + 'b'.repeat(96), '@@', 'sha256:' + 'a'.repeat(64) + '@x'])}`,
    (r) => `@sha256:${'a'.repeat(64)}${r.pick(['\u0000', '\n', ' ', 'ａ', '\u200b'])}`,
    (r) => `@${hostileString(r)}`,
  ]);
}

function lookAlikeHost(random: Random): string {
  return random.pick([
    '111111111111.dkr.еcr.eu-west-1.amazonaws.com', // Cyrillic е
    '１１１１１１１１１１１１.dkr.ecr.eu-west-1.amazonaws.com', // fullwidth digits
    '111111111111.dkr.ecr.eu-west-1.amazonaws.соm', // Cyrillic с, о
    '111111111111.ｄｋｒ.ecr.eu-west-1.amazonaws.com',
    '111111111111.dkr.ecr.eu-west-1.amazonaws.com\u200b',
    '111111111111.DKR.ECR.EU-WEST-1.AMAZONAWS.COM',
    '111111111111.dkr.ecr.eu-west-1.amazonaws.com.',
    '111111111111.dkr.ecr.eu-west-1.amazonaws.com.evil.example',
    'xn--111111111111-dkr.ecr.eu-west-1.amazonaws.com',
    '111111111111.dkr.ecr.eu-west-1.amazonaws.com:99999',
    '111111111111.dkr.ecr.eu-west-1.amazonaws.com:-1',
    '111111111111.dkr.ecr.eu-west-1.amazonaws.com::443',
    '[::ffff:127.0.0.1]',
    '[]:80',
    'localhost',
    'LOCALHOST',
  ]);
}

/** Puts `insert` at a random position of `text`. */
function insertAt(random: Random, text: string, insert: string): string {
  const at = random.int(text.length + 1);
  return text.slice(0, at) + insert + text.slice(at);
}

/** An image string meant to break a reference parser or what is built on it. */
export function hostileImage(random: Random): string {
  return random.oneOf<string>([
    (r) => insertAt(r, r.pick(KNOWN_IMAGES), r.pick(['\u0000', '\t', '\n', '\r', ' ', '\u007f', '\u0085', '\u00a0', '\u2028', '\ufeff', '\u200b', '\u202e'])),
    (r) => insertAt(r, r.pick(KNOWN_IMAGES), r.pick(['а', 'е', 'о', 'ｅ', 'ｃ', 'ｒ', '１', 'İ', 'ß', '💥', '\ud800'])),
    (r) => `${lookAlikeHost(r)}/payments/api:1`,
    (r) => `${r.pick(KNOWN_IMAGES).replace(/[:@].*$/, '')}${badDigest(r)}`,
    (r) => `111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/${'a'.repeat(r.pick([200, 241, 242, 300, 10_000]))}`,
    (r) => `${'a'.repeat(r.pick([255, 256, 1023, 1024, 1025, 10_000]))}`,
    (r) => `111111111111.dkr.ecr.eu-west-1.amazonaws.com/payments/api:${r.pick(['', '.x', '-x', 'a'.repeat(129), 'ａ', 'x y', 'x/y', '__proto__'])}`,
    (r) => `${r.pick(['', '111111111111.dkr.ecr.eu-west-1.amazonaws.com/', 'docker.io/', 'payments/'])}${r.pick(PROTOTYPE_KEYS)}${r.pick(['', ':1', '/x'])}`,
    (r) => `111111111111.dkr.ecr.eu-west-1.amazonaws.com/${r.pick(PROTOTYPE_KEYS.map((k) => k.toLowerCase()))}/x`,
    (r) => r.pick(['/', '//', ':', '@', ':@', 'a//b', 'a/', '/a', 'a:', 'a@', 'a::b', 'a/:b', 'A', 'Upper/Case', 'x/Y', 'a..b', 'a__b', 'a___b', 'a--b', 'a-', '-a', '.a', 'a.', 'a_']),
    (r) => r.chars('abc019.:/@-_ABZ', r.between(1, 30)),
    (r) => r.pick(KNOWN_IMAGES).repeat(r.between(2, 30)),
    (r) => hostileString(r),
  ]);
}

/** Any image, mostly sensible: admission needs valid pods as much as broken ones. */
export function anyImage(random: Random): string {
  return random.chance(0.7) ? random.pick(KNOWN_IMAGES) : hostileImage(random);
}

const NAME_CHARS = 'abcxyz0189._-';

/** A reference assembled from random parts: host, port, path components, tag and digest, each sometimes odd. */
export function assembledReference(random: Random): string {
  const host = random.oneOf<string>([
    () => '',
    (r) => `${r.chars(NAME_CHARS, r.between(1, 12))}.${r.pick(['com', 'io', 'amazonaws.com', 'local'])}/`,
    (r) =>
      `${r.chars('0123456789', r.pick([11, 12, 12, 12, 13]))}.${r.pick(['dkr.ecr', 'dkr.ecr-fips', 'dkr-ecr', 'dkr-ecr-fips', 'DKR.ECR', 'dkr.registry'])}.` +
      `${r.pick(['eu-west-1', 'us-east-1', 'cn-north-1', 'us-gov-west-1', 'us-iso-east-1', 'us-isob-east-1', 'eu-isoe-west-1', 'us-isof-south-1', 'eusc-de-east-1'])}.` +
      `${r.pick(['amazonaws.com', 'amazonaws.com.cn', 'on.aws', 'on.amazonwebservices.com.cn', 'c2s.ic.gov', 'on.aws.ic.gov', 'sc2s.sgov.gov', 'cloud.adc-e.uk', 'csp.hci.ic.gov', 'amazonaws.eu', 'AMAZONAWS.COM'])}` +
      `${r.pick(['', '', ':443', ':5000'])}/`,
    (r) => `${r.pick(['localhost', 'LocalHost', 'Registry', '[::1]', '[fe80::1%eth0]', '127.0.0.1', 'docker.io', 'index.docker.io', 'registry-1.docker.io'])}${r.pick(['', ':0', ':65535', ':65536', ':x'])}/`,
  ]);
  const components = Array.from({ length: random.between(1, 4) }, () => random.chars(random.chance(0.9) ? NAME_CHARS : `${NAME_CHARS}A/:`, random.between(1, 10)));
  const tag = random.chance(0.5) ? `:${random.chars('abcXYZ019_.-', random.between(1, 12))}` : '';
  const digest = random.chance(0.2) ? `@${random.pick(['sha256', 'sha384', 'sha512', 'md5'])}:${random.chars(HEX, random.pick([64, 96, 128, 10]))}` : '';
  return `${host}${components.join('/')}${tag}${digest}`;
}

const EDIT_CHARS = [...'abcZ09.-_/:@ \t\n\u0000', 'а', 'ｅ', '\u200b', '\ufeff', '💥', '\ud800'];

/** A known image with one to three characters inserted, deleted or replaced. */
export function editedReference(random: Random): string {
  let text = random.pick(KNOWN_IMAGES);
  for (let edits = random.between(1, 3); edits > 0; edits--) {
    const at = random.int(text.length + 1);
    const action = random.int(3);
    const char = action === 1 ? '' : random.pick(EDIT_CHARS);
    text = text.slice(0, at) + char + text.slice(action === 0 ? at : at + 1);
  }
  return text;
}
