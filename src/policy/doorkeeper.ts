/**
 * Whether a key was offered before: a Bloom filter of fixed size, so asking allocates nothing and holds no key. It may
 * say yes for a key it has not seen (about one in 270 when full, by default) and never says no for one it has, until
 * it is cleared, which it does after `capacity` new keys so that what it knows stays recent.
 *
 * It keeps one-off keys out of a cache: an image named once (a bare pod, a one-off job) would otherwise take a
 * cache entry that lives long enough to reach V8's old generation and is then evicted, and a stream of such images
 * turns into major collections, which are the latency tail.
 */
export class Doorkeeper {
  readonly #bits: Uint32Array;
  readonly #mask: number;
  readonly #capacity: number;
  #added = 0;

  /**
   * 2^bitsLog2 bits, cleared after `capacity` new keys. With two bits per key, false yeses when full are about
   * (1 - e^(-2 × capacity / bits))²: 5 % at 8 bits per key, 0.4 % at 32. The default, 32 KiB for 8,192 keys, is the
   * latter: every false yes puts a one-off image's verdict into the cache, and its eviction later is old-generation
   * garbage (at 8 bits per key, about half of what the verdict cache left to major collections at 500 reviews/s).
   */
  constructor(bitsLog2 = 18, capacity = 2 ** 13) {
    this.#bits = new Uint32Array(2 ** (bitsLog2 - 5));
    this.#mask = 2 ** bitsLog2 - 1;
    this.#capacity = capacity;
  }

  /** True when `key` was offered since the last clearing (or another key set the same bits); remembers it either way. */
  seenBefore(key: string): boolean {
    // FNV-1a over the UTF-16 code units, and a second position from a multiplicative mix of the first hash.
    let hash = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    const first = hash & this.#mask;
    const second = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) & this.#mask;
    if (this.#has(first) && this.#has(second)) return true;
    this.#set(first);
    this.#set(second);
    if (++this.#added >= this.#capacity) {
      this.#bits.fill(0);
      this.#added = 0;
    }
    return false;
  }

  #has(bit: number): boolean {
    return (this.#bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  #set(bit: number): void {
    this.#bits[bit >>> 5]! |= 1 << (bit & 31);
  }
}
