/**
 * Deterministic randomness and generic hostile values for the fuzz suite. The seed is fixed so that every run
 * (CI included) generates the very same inputs; FUZZ_SEED overrides it to explore or to reproduce another run.
 * Each input gets its own generator derived from (seed, category, index), so one failing input can be
 * regenerated alone, and adding inputs to one category never changes the inputs of another. A failure names its
 * seed, category and index: `FUZZ_SEED=<seed> npx tap test/fuzz/<file>` reruns it, and
 * `Random.forInput(seed, category, index)` handed to the same generator rebuilds that one input.
 */
export const DEFAULT_SEED = 0x5eed_2026;

export function fuzzSeed(): number {
  const text = process.env.FUZZ_SEED;
  if (text === undefined || text.trim() === '') return DEFAULT_SEED;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${JSON.stringify(text)}`);
  return seed >>> 0;
}

/** FNV-1a: turns a category name into 32 bits to mix into the seed. */
function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** mulberry32: tiny, fast, and good enough to spread fuzz inputs; not for anything secret. */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The generator of one input: the same (seed, category, index) always gives the same stream. */
  static forInput(seed: number, category: string, index: number): Random {
    return new Random((seed ^ hashText(category) ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('cannot pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Calls one of the makers, so a generator reads as a menu of alternatives. */
  oneOf<T>(makers: readonly ((random: Random) => T)[]): T {
    return this.pick(makers)(this);
  }

  /** `count` characters drawn from `alphabet` (a string of single code units or an array of code points). */
  chars(alphabet: string | readonly string[], count: number): string {
    const pool = typeof alphabet === 'string' ? [...alphabet] : alphabet;
    let out = '';
    for (let i = 0; i < count; i++) out += this.pick(pool);
    return out;
  }
}

/** Sets a key as an own, enumerable property: plain assignment of "__proto__" would change the prototype instead. */
export function setOwn(target: Record<string, unknown> | unknown[], key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Keys that trip up code using plain objects as maps, and keys that loggers must censor. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'toJSON'];
export const SECRET_KEYS = ['password', 'token', 'auth', 'authorization', 'Authorization', 'authorizationToken'];

const CONTROL = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '\u007f', '\u0085', '\u00a0'];
const INVISIBLE = ['\u200b', '\u200d', '\u200e', '\u202e', '\u2028', '\u2029', '\u2060', '\ufeff', '\u00ad'];
/** Letters that look like ASCII: Cyrillic а е о р с х у, Greek ο ν, fullwidth ａ ｅ ｃ ｒ and digits ０ １. */
const LOOK_ALIKES = ['а', 'е', 'о', 'р', 'с', 'х', 'у', 'ο', 'ν', 'ａ', 'ｅ', 'ｃ', 'ｒ', 'ｋ', 'ｄ', '０', '１', 'ı', 'ſ', 'K'];
const ODD = ['💥', '\ud800', '\udfff', '𝕒', 'ß', 'İ', 'ﬀ', '\\', '"', "'", '`', '$', '{', '}', '%00', '%2F', '../', '${jndi:x}', '<script>'];

export const HOSTILE_WORDS = ['', ' ', 'null', 'undefined', 'NaN', '-1', '0', 'true', '[]', '{}', ...PROTOTYPE_KEYS, 'system:masters', 'kube-system', '*', '**', '/'];

/** A string built to break parsers and messages: control characters, look-alikes, lone surrogates, huge lengths. */
export function hostileString(random: Random): string {
  return random.oneOf<string>([
    (r) => r.pick(HOSTILE_WORDS),
    (r) => r.chars(CONTROL, r.between(1, 8)),
    (r) => `a${r.pick(CONTROL)}b`,
    (r) => r.chars([...INVISIBLE, ...LOOK_ALIKES], r.between(1, 12)),
    (r) => r.chars(ODD, r.between(1, 6)),
    (r) => r.chars('abcdefghijklmnopqrstuvwxyz0123456789.-_/:@', r.between(1, 40)),
    (r) => 'x'.repeat(r.pick([64, 254, 256, 1025, 10_000])),
    (r) => r.pick(['é', 'ｘ', '\u0000', '😀']).repeat(r.pick([63, 300, 5_000])),
  ]);
}

/** Any JSON value, nested a little, with hostile strings and hostile keys. */
export function junkValue(random: Random, depth = 0): unknown {
  const scalar: ((r: Random) => unknown)[] = [
    () => null,
    (r) => r.chance(0.5),
    (r) => r.pick([0, -0, 1, -1, 0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, 65536]),
    hostileString,
  ];
  if (depth >= 3) return random.oneOf(scalar);
  return random.oneOf<unknown>([
    ...scalar,
    trickyValue,
    (r) => Array.from({ length: r.int(4) }, () => junkValue(r, depth + 1)),
    (r) => junkObject(r, depth + 1),
  ]);
}

/**
 * Values that look harmless to JSON but not to JavaScript: objects whose toString or valueOf is not a function
 * (String() on them throws), arrays holding such objects, and keys that are Object.prototype's own names.
 */
export function trickyValue(random: Random): unknown {
  return random.oneOf<unknown>([
    (r) => ({ [r.pick(['toString', 'valueOf', 'toJSON', 'constructor'])]: junkValue(r, 2) }),
    (r) => ({ toString: r.pick([1, 'x', null, {}]), valueOf: r.pick([1, 'x', null, {}]) }),
    (r) => [{ toString: r.pick([1, 'x', null]) }],
    (r) => [[[r.pick(['a', 1, null])]]],
    (r) => Array.from({ length: r.pick([30, 300]) }, () => r.pick(['a', 0, null])),
    () => ({ length: 1e9 }),
    () => ({ 0: 'a', length: 1 }),
  ]);
}

/** Field names the handlers read: a junk key is sometimes one of them, so that junk lands where it is looked at. */
export const FIELD_NAMES = ['image', 'name', 'containers', 'initContainers', 'ephemeralContainers', 'imagePullSecrets', 'spec', 'template', 'metadata', 'labels', 'uid', 'kind', 'object', 'oldObject', 'userInfo', 'groups', 'username'];

export function junkKey(random: Random): string {
  return random.oneOf<string>([(r) => r.pick(PROTOTYPE_KEYS), (r) => r.pick(SECRET_KEYS), (r) => r.pick(FIELD_NAMES), hostileString, (r) => r.chars('abcdefghij', r.between(1, 6))]);
}

export function junkObject(random: Random, depth = 0): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let i = random.int(4); i > 0; i--) setOwn(object, junkKey(random), junkValue(random, depth + 1));
  return object;
}

/**
 * Deep nesting cannot go through JSON.stringify (it overflows the stack long before 10,000 levels), so a
 * generator places a marker string and `serialize` splices the nested text in its place.
 */
export function deepMarker(shape: 'array' | 'object', depth: number): string {
  return `\u0000deep:${shape}:${depth}\u0000`;
}

const DEEP_MARKER = /"\\u0000deep:(array|object):(\d+)\\u0000"/g;

export function deepText(shape: string, depth: number): string {
  return shape === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;
}

/** JSON text of a value, deep markers expanded. */
export function serialize(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.replace(DEEP_MARKER, (_match, shape: string, depth: string) => deepText(shape, Number(depth)));
}

/** A short, readable rendering of an input for failure messages: deep markers named, long text clipped. */
export function brief(text: string, max = 200): string {
  const named = text.replace(/\[{50,}/g, (run) => `[×${run.length}`).replace(/\]{50,}/g, (run) => `]×${run.length}`).replace(/(\{"a":){50,}/g, (run) => `{"a":×${run.length / 5}`);
  const shown = named.replace(/(.)\1{40,}/gsu, (run, char: string) => `${char}×${[...run].length}`);
  return shown.length <= max ? shown : `${shown.slice(0, max - 1)}…`;
}

/** A value in a few characters, deep markers named rather than expanded. */
export function describeValue(value: unknown): string {
  const text = (JSON.stringify(value) ?? 'undefined').replace(DEEP_MARKER, (_match, shape: string, depth: string) => `<${depth}-deep ${shape}>`);
  return brief(text, 60);
}

/** Every path to a value inside a JSON-like tree, capped so huge inputs stay cheap. */
export function pathsOf(root: unknown, limit = 400): (string | number)[][] {
  const out: (string | number)[][] = [];
  const queue: { value: unknown; path: (string | number)[] }[] = [{ value: root, path: [] }];
  while (queue.length > 0 && out.length < limit) {
    const { value, path } = queue.shift()!;
    out.push(path);
    if (typeof value !== 'object' || value === null) continue;
    for (const key of Object.keys(value)) {
      queue.push({ value: (value as Record<string, unknown>)[key], path: [...path, Array.isArray(value) ? Number(key) : key] });
    }
  }
  return out;
}

/** A random map (plain object) inside a JSON tree; the root when there is no other. */
export function randomMap(random: Random, root: Record<string, unknown>): Record<string, unknown> {
  const maps = pathsOf(root)
    .map((path) => valueAt(root, path))
    .filter((node): node is Record<string, unknown> => typeof node === 'object' && node !== null && !Array.isArray(node));
  return random.pick(maps);
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let node = root;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

function parentOf(root: unknown, path: readonly (string | number)[]): Record<string, unknown> | unknown[] | undefined {
  const node = valueAt(root, path.slice(0, -1));
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>) : undefined;
}

/**
 * Changes one random spot of a JSON tree in place: deletes it, replaces it, or adds a sibling key. Returns what was
 * done, for failure messages. The root itself is never replaced (callers want to keep their envelope).
 */
export function mutateTree(random: Random, root: Record<string, unknown>, replacement: (random: Random) => unknown, under: readonly (string | number)[] = []): string {
  const inside = (path: readonly (string | number)[]) => path.length > under.length && under.every((key, i) => path[i] === key);
  const paths = pathsOf(root, 2000).filter(inside);
  if (paths.length === 0) return 'nothing to mutate';
  const path = random.pick(paths);
  const parent = parentOf(root, path);
  const key = path[path.length - 1]!;
  const where = path.join('.');
  if (parent === undefined) return 'no parent';
  const action = random.int(3);
  if (action === 0) {
    if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
    else delete (parent as Record<string, unknown>)[key];
    return `deleted ${where}`;
  }
  const value = replacement(random);
  if (action === 1 || Array.isArray(parent)) {
    setOwn(parent, key, value);
    return `replaced ${where} with ${describeValue(value)}`;
  }
  const extra = junkKey(random);
  setOwn(parent, extra, value);
  return `added ${JSON.stringify(extra)}: ${describeValue(value)} beside ${where}`;
}

/**
 * Keeps the first few examples of each distinct problem and counts all of them, so a failing category prints
 * a readable summary instead of thousands of lines, while still failing on any single bad input.
 */
export class Failures {
  readonly examples: string[] = [];
  readonly #perProblem = new Map<string, number>();
  count = 0;

  record(problem: string, where: string): void {
    this.count++;
    const seen = this.#perProblem.get(problem) ?? 0;
    this.#perProblem.set(problem, seen + 1);
    if (seen < 3 && this.examples.length < 30) this.examples.push(`${problem} — ${where}`);
  }

  get problems(): string[] {
    return [...this.#perProblem].map(([problem, times]) => `${times}× ${problem}`);
  }
}
