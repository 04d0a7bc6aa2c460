/**
 * `--shard K/N`: a deterministic split of the input images over N machines. Image i belongs to
 * shard `FNV-1a-64(utf8(path)) mod N`, where `path` is the path text as listed (as read from
 * stdin, or as the directory listing prints it before any `--path-replace`). The N shards are
 * disjoint and their union is the whole input, whatever order the paths come in, so N jobs can
 * each take `--shard k/N` (k = 0 .. N-1) of the same command and their outputs together cover
 * every image exactly once. The hash is {@link fnv1a64}.
 *
 * @module
 */
import { fnv1a64 } from "../io/hash.ts";

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
