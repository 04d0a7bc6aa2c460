/**
 * Verification figures of an FR network on a pair list: cosine similarity of embeddings and
 * the accuracy at the best single threshold (the LFW protocol's "accuracy" when computed on
 * the same pairs as the threshold). Used by the real-data validation test and the `--align`
 * accuracy tool.
 *
 * @module
 */

/**
 * Cosine similarity of rows `a` and `b` of an [N][E] matrix.
 *
 * @param m N x E values, row-major
 * @param e E, the row length
 * @param a first row index
 * @param b second row index
 * @returns the cosine, in [-1, 1] (NaN for a zero row)
 */
export function cosine(m: Float32Array, e: number, a: number, b: number): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < e; i++) {
    const x = m[a * e + i], y = m[b * e + i];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Verification accuracy with the best single threshold: the largest fraction of pairs
 * classified correctly by "mated iff similarity >= t", over every t between sorted scores.
 *
 * @param sim one similarity per pair
 * @param mated per pair, whether it is mated
 * @returns the accuracy (0..1) and a threshold that reaches it
 */
export function bestAccuracy(sim: Float64Array, mated: boolean[]): { accuracy: number; t: number } {
  const order = [...sim.keys()].sort((i, j) => sim[i] - sim[j]);
  // t below every score: all pairs called mated.
  let correct = mated.filter((m) => m).length;
  let best = correct, bestT = sim[order[0]] - 1;
  for (let k = 0; k < order.length; k++) {
    // Raise t just above order[k]: that pair becomes "non-mated".
    correct += mated[order[k]] ? -1 : 1;
    const tied = k + 1 < order.length && sim[order[k + 1]] === sim[order[k]];
    if (!tied && correct > best) {
      best = correct;
      bestT = k + 1 < order.length ? (sim[order[k]] + sim[order[k + 1]]) / 2 : sim[order[k]] + 1;
    }
  }
  return { accuracy: best / sim.length, t: bestT };
}
