/**
 * FNV-1a 64 (Fowler, Noll, Vo), the project's one non-cryptographic hash: it assigns paths to
 * shards (`--shard K/N`) and fingerprints weights files for the resume journal.
 *
 * Offset basis 0xcbf29ce484222325, prime 0x100000001b3 = 2^40 + 0x1b3; for each byte,
 * `h = (h XOR byte) * prime mod 2^64`.
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

/**
 * The fingerprint of a weights file for the resume journal (`JournalSettings.weights`): FNV-1a
 * 64 of its bytes (`LoadedWeights.bytes`, as already read) in 16 hex digits (about 0.1 s per
 * 100 MB).
 *
 * @param bytes the whole weights file
 * @returns 16 lowercase hex digits
 */
export function weightsFingerprint(bytes: Uint8Array): string {
  return fnv1a64(bytes).toString(16).padStart(16, "0");
}
