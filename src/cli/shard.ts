/**
 * `--shard K/N`: a deterministic split of the input images over N machines. Image i belongs to
 * shard `FNV-1a-64(utf8(path)) mod N`, where `path` is the path text as listed (as read from
 * stdin, or as the directory listing prints it before any `--path-replace`). The N shards are
 * disjoint and their union is the whole input, whatever order the paths come in, so N jobs can
 * each take `--shard k/N` (k = 0 .. N-1) of the same command and their outputs together cover
 * every image exactly once.
 *
 * FNV-1a 64 (Fowler, Noll, Vo): offset basis 0xcbf29ce484222325, prime 0x100000001b3 = 2^40 +
 * 0x1b3; for each byte, `h = (h XOR byte) * prime mod 2^64`.
 *
 * @module
 */

/**
 * FNV-1a 64 of a byte string.
 *
 * Computed in four 16-bit limbs with small-integer arithmetic (every intermediate stays below
 * 2^28), which is several times faster than BigInt per byte; the result is returned as a BigInt
 * in [0, 2^64).
 *
 * @param bytes the data (for a path: its UTF-8 encoding)
 * @returns the 64-bit hash, e.g. `0xcbf29ce484222325n` for no bytes, `0xaf63dc4c8601ec8cn`
 *   for the single byte "a"
 */
export function fnv1a64(bytes: Uint8Array): bigint {
  // The offset basis 0xcbf29ce484222325, lowest limb first.
  let h0 = 0x2325, h1 = 0x8422, h2 = 0x9ce4, h3 = 0xcbf2;
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i];
    // h * (2^40 + 0x1b3) mod 2^64: each limb times 0x1b3, plus h << 40, which adds limb 0
    // shifted by 8 into limb 2 and limb 1 shifted by 8 into limb 3; then the carries.
    const t0 = h0 * 0x1b3;
    let t1 = h1 * 0x1b3;
    let t2 = h2 * 0x1b3 + (h0 << 8);
    let t3 = h3 * 0x1b3 + (h1 << 8);
    t1 += t0 >>> 16;
    t2 += t1 >>> 16;
    t3 += t2 >>> 16;
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  return (BigInt(h3 * 0x10000 + h2) << 32n) | BigInt(h1 * 0x10000 + h0);
}

/** One shard of N: the images whose hash is `index` modulo `count`. */
export interface Shard {
  /** K, from 0 to count - 1. */
  index: number;
  /** N, at least 1. */
  count: number;
}

/**
 * Parse the `--shard` value `K/N`.
 *
 * @param text e.g. `"0/4"`; K and N are decimal integers, 0 <= K < N, N >= 1
 * @returns the shard
 * @throws Error saying what is wrong (not K/N, N < 1, K >= N, or numbers beyond 2^31)
 */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--shard must be K/N (e.g. 0/4), got ${JSON.stringify(text)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > 0x7fffffff) {
    throw new Error(`--shard ${text}: N must be between 1 and 2147483647`);
  }
  if (index >= count) {
    throw new Error(`--shard ${text}: K must be between 0 and N-1 = ${count - 1}`);
  }
  return { index, count };
}

const encoder = new TextEncoder();

/**
 * The shard a path belongs to: `FNV-1a-64(UTF-8 bytes of path) mod count`.
 *
 * @param path the path text as listed (a lone surrogate, which only a non-UTF-8 file name can
 *   produce, is encoded as U+FFFD like `TextEncoder` does)
 * @param count N, at least 1
 * @returns K in [0, count)
 */
export function shardOf(path: string, count: number): number {
  return Number(fnv1a64(encoder.encode(path)) % BigInt(count));
}

/**
 * Whether `path` belongs to `shard`.
 *
 * @param path the path text as listed
 * @param shard the shard, or null for "no sharding" (every path belongs)
 */
export function inShard(path: string, shard: Shard | null): boolean {
  return shard === null || shard.count === 1 || shardOf(path, shard.count) === shard.index;
}
