import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { deepText, hostileString, junkKey, junkValue, mutateTree, PROTOTYPE_KEYS, trickyValue, type Random } from './random.ts';

/**
 * Policy texts for the fuzz of parsePolicy: policies of the right shape with random content, the same with one
 * spot broken (as data and as text), and YAML built to hurt a parser (alias bombs, deep nesting, odd tags).
 */
const FIXTURES = ['../fixtures/policy.yaml', '../fixtures/policies/valid.yaml', '../fixtures/policies/unknown-field.yaml', '../fixtures/schema-example.yaml'];
export const FIXTURE_TEXTS = FIXTURES.map((path) => readFileSync(new URL(path, import.meta.url), 'utf8'));

const REGIONS = ['eu-west-1', 'us-east-1', 'us-west-2', 'cn-north-1', 'us-gov-west-1', 'ap-southeast-2', 'eu-central-1'];
const GLOBS = ['payments/*', 'shared/**', '**', '*', 'a/**/b', 'team-a/*/svc', 'x.y_z-w/*', '**/**', 'a//b', 'Upper/*', 'a**', ''];

function account(random: Random): string {
  return random.chance(0.9) ? random.chars('0123456789', 12) : random.chars('0123456789', random.pick([11, 13]));
}

function ecrHost(random: Random): string {
  const region = random.pick(REGIONS);
  return random.oneOf<string>([
    () => `${account(random)}.dkr.ecr.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`,
    () => `${account(random)}.dkr-ecr.${region}.on.aws`,
    () => `${account(random)}.dkr.ecr-fips.${region}.amazonaws.com`,
    (r) => r.pick(['public.ecr.aws', 'docker.io', 'ghcr.io', '111111111111.dkr.ecr.eu-west-1.amazonaws.com:443', '111111111111.dkr.еcr.eu-west-1.amazonaws.com']),
  ]);
}

function prefix(random: Random): string {
  return `${ecrHost(random)}${random.chance(0.6) ? `/${random.pick(['payments', 'shared', 'a/b', 'team-a', 'Upper', 'x/'])}` : ''}`;
}

function tenantName(random: Random): string {
  return random.chance(0.85) ? random.pick(['payments', 'analytics', 'team-a', 'a', 'A.b_c-9', 'x'.repeat(63)]) : random.oneOf<string>([hostileString, (r) => r.pick(PROTOTYPE_KEYS)]);
}

function grant(random: Random): Record<string, unknown> {
  const out: Record<string, unknown> = { registry: ecrHost(random), repositories: Array.from({ length: random.between(1, 3) }, () => random.pick(GLOBS)) };
  if (random.chance(0.3)) out.roleArn = `arn:aws:iam::${account(random)}:role/${random.pick(['pull', 'ecr-pull-x', 'path/to/role', 'optional override'])}`;
  return out;
}

function tenant(random: Random): Record<string, unknown> {
  const out: Record<string, unknown> = { roleArn: `arn:aws:iam::${account(random)}:role/ecr-pull` };
  if (random.chance(0.3)) out.mode = random.pick(['enforce', 'dry-run', 'audit']);
  if (random.chance(0.3)) out.nonEcrImages = random.pick(['allow', 'deny']);
  if (random.chance(0.2)) out.onCredentialError = random.pick(['allow', 'deny']);
  if (random.chance(0.3)) out.externalId = random.pick(['ext-1', 'payments-7f3a', 'x', 'a b']);
  if (random.chance(0.2)) out.sessionTags = { team: random.pick(['payments', 'ü', '']), [random.pick(['env', 'a b', ''])]: 'prod' };
  out.grants = Array.from({ length: random.between(0, 3) }, () => grant(random));
  if (random.chance(0.4)) out.rewrites = Array.from({ length: random.between(1, 2) }, () => ({ from: prefix(random), to: prefix(random) }));
  return out;
}

/** A policy of the documented shape with random tenants, grants, rewrites and defaults. */
export function randomPolicy(random: Random): Record<string, unknown> {
  const tenants: Record<string, unknown> = {};
  for (let i = random.between(0, 4); i > 0; i--) tenants[tenantName(random)] = tenant(random);
  const spec: Record<string, unknown> = { tenants };
  if (random.chance(0.5)) spec.defaults = { mode: random.pick(['enforce', 'dry-run']), nonEcrImages: random.pick(['allow', 'deny']) };
  if (random.chance(0.3)) spec.rewrites = [{ from: prefix(random), to: prefix(random) }];
  if (random.chance(0.3)) spec.labelAdmins = { users: ['platform-admin'], groups: ['system:masters'], serviceAccounts: [random.pick(['argocd/argocd-application-controller', 'bad', 'a/B'])] };
  return { apiVersion: 'ecr-tenant-webhook.io/v1alpha1', kind: 'TenantPolicy', spec };
}

/** A policy as YAML (block or flow style) or as JSON: the loader accepts both. */
export function render(random: Random, policy: unknown): string {
  return random.oneOf<string>([() => stringify(policy), () => JSON.stringify(policy, null, random.pick([0, 2])), () => stringify(policy, { collectionStyle: 'flow' })]);
}

function basePolicy(random: Random): Record<string, unknown> {
  return random.chance(0.5) ? randomPolicy(random) : (parse(random.pick(FIXTURE_TEXTS)) as Record<string, unknown>);
}

/** A policy with one to three spots deleted, replaced with junk, or given a junk sibling, rendered as text. */
export function mutatedPolicy(random: Random): { what: string; text: string } {
  const policy = basePolicy(random);
  const changes: string[] = [];
  for (let i = random.between(1, 3); i > 0; i--) changes.push(mutateTree(random, policy, (r) => (r.chance(0.2) ? trickyValue(r) : junkValue(r))));
  return { what: changes.join(', '), text: render(random, policy) };
}

const YAML_PIECES = [':', ': ', '- ', '[', ']', '{', '}', '&a ', '*a', '!!binary ', '!!js/function ', '!custom ', '!!set ', '!!float .nan', '<<: *a', '|', '>', "'", '"', '%', '@', '`', '#', ',', '?', '\t', '\u0000', '\ufeff', '\n', '\n---\n', '\n...\n', '\r', '  ', '~', '__proto__: 1', 'constructor: {}', '\\'];

/** The text of a good policy with random edits: insertions, cuts, swapped lines, re-indented lines. */
export function editedPolicyText(random: Random): { what: string; text: string } {
  const text = random.chance(0.5) ? random.pick(FIXTURE_TEXTS) : render(random, randomPolicy(random));
  const lines = text.split('\n');
  const at = random.int(text.length + 1);
  const line = random.int(lines.length);
  return random.oneOf<{ what: string; text: string }>([
    (r) => {
      const piece = r.pick(YAML_PIECES);
      return { what: `inserted ${JSON.stringify(piece)} at ${at}`, text: text.slice(0, at) + piece + text.slice(at) };
    },
    () => ({ what: `cut at ${at}`, text: text.slice(0, at) }),
    () => ({ what: `deleted line ${line}`, text: lines.filter((_, i) => i !== line).join('\n') }),
    () => ({ what: `doubled line ${line}`, text: lines.flatMap((l, i) => (i === line ? [l, l] : [l])).join('\n') }),
    (r) => ({ what: `re-indented line ${line}`, text: lines.map((l, i) => (i === line ? `${' '.repeat(r.int(9))}${l.trimStart()}` : l)).join('\n') }),
    (r) => ({ what: `replaced a character at ${at}`, text: text.slice(0, at) + r.chars(':-[]{}&*!|>\'"%@` #,?aZ0\u0000\u00e9', 1) + text.slice(at + 1) }),
    (r) => ({ what: 'appended a second document', text: `${text}\n---\n${r.pick(FIXTURE_TEXTS)}` }),
    (r) => ({ what: 'prefixed a directive', text: `${r.pick(['%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '%TAG ! tag:x,2000:\n---\n', '--- !!map\n', '\ufeff'])}${text}` }),
    (r) => {
      const key = junkKey(r);
      return { what: `added key ${JSON.stringify(key)} under spec`, text: text.replace(/^spec:\n/m, `spec:\n  ${JSON.stringify(key)}: ${JSON.stringify(junkValue(r))}\n`) };
    },
  ]);
}

function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(',')}]`);
  return lines.join('\n');
}

/** Texts chosen to hurt a YAML parser or a schema: bombs, deep nesting, huge values, odd documents. */
export function hostilePolicyText(random: Random): { what: string; text: string } {
  // 10,000 levels cost the YAML parser a tenth of a second each, so most deep texts are 1,000 levels deep.
  const depth = random.chance(0.25) ? 10_000 : 1_000;
  return random.oneOf<{ what: string; text: string }>([
    (r) => ({ what: 'alias bomb', text: aliasBomb(r.between(2, 9)) }),
    () => ({ what: `${depth}-deep flow list`, text: `spec: ${deepText('array', depth)}` }),
    () => ({ what: `${depth}-deep flow map`, text: `spec: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}` }),
    () => ({ what: `${depth}-deep JSON`, text: `{"apiVersion":"ecr-tenant-webhook.io/v1alpha1","kind":"TenantPolicy","spec":${deepText('object', depth)}}` }),
    () => ({ what: `${depth / 10}-deep block list`, text: Array.from({ length: depth / 10 }, (_, i) => `${' '.repeat(i * 2)}-`).join('\n') + ' x' }),
    () => ({ what: `${depth / 10}-deep block map`, text: Array.from({ length: depth / 10 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x' }),
    (r) => ({ what: 'a huge scalar', text: `apiVersion: ${'x'.repeat(r.pick([10_000, 300_000]))}` }),
    (r) => ({ what: 'many tenants', text: render(r, { ...randomPolicy(r), spec: { tenants: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`t${i}`, { grants: [] }])) } }) }),
    (r) => ({ what: 'a __proto__ key', text: `apiVersion: ecr-tenant-webhook.io/v1alpha1\nkind: TenantPolicy\nspec:\n  ${r.pick(['__proto__', 'tenants:\n    __proto__', 'tenants:\n    constructor', 'tenants:\n    prototype'])}:\n    grants: []\n` }),
    (r) => ({ what: 'an empty-ish text', text: r.pick(['', ' ', '\n', '---', '...', '~', 'null', '[]', '{}', '42', '"x"', '#only a comment', '--- |\n  text', '\u0000', '\ufeff']) }),
    (r) => ({ what: 'duplicate JSON keys', text: `{"kind":"TenantPolicy","kind":"TenantPolicy","apiVersion":"ecr-tenant-webhook.io/v1alpha1","spec":{"tenants":{}},"spec":${JSON.stringify(r.pick([{}, null, []]))}}` }),
    (r) => ({ what: 'random bytes', text: r.chars(':-[]{}&*!|>\'"%@` #,?\n\t aZ09\u0000é', r.between(1, 200)) }),
    (r) => ({ what: 'anchors and merge keys', text: `x: &t {grants: []}\napiVersion: ecr-tenant-webhook.io/v1alpha1\nkind: TenantPolicy\nspec:\n  tenants:\n    a: {<<: *t, ${r.pick(['mode: enforce', 'roleArn: x', '<<: *t', 'grants: *t'])}}\n` }),
    () => ({ what: 'an undefined alias', text: 'spec: *nowhere' }),
    (r) => ({ what: 'a tagged value', text: `apiVersion: ${r.pick(['!!binary aGVsbG8=', '!!js/function "x"', '!!timestamp 2001-12-14', '!!int 0x1F', '!!float .inf', '!!null ""', '!!str', '!<tag:yaml.org,2002:str> x', '!!set {a, b}', '!!omap [a: 1]'])}\nkind: TenantPolicy\nspec: {}` }),
  ]);
}
