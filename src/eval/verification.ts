/**
 * Verification figures of an FR network on a pair list: cosine similarity of embeddings and
 * the accuracy at the best single threshold (the LFW protocol's "accuracy" when computed on
 * the same pairs as the threshold). Used by the real-data validation test and the `--align`
 * accuracy tool.
 *
 * @module
 */
import { computeEdc, edcPauc, edcThreshold, pairQualities, randomOrderBaseline } from "./edc.ts";

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

/** One group's FNMR-EDC pAUC beside the random-ordering baseline ({@link groupPaucsVsRandom}). */
export interface GroupPaucVsRandom {
  /** The group's name. */
  group: string;
  /** pAUC of the FNMR-EDC with the images ordered by this group's quality. */
  pauc: number;
  /** Mean and standard deviation of the pAUC over the random orderings. */
  random: { mean: number; std: number };
}

/**
 * The FNMR-EDC pAUC of each group's ordering against random orderings of the same images: the
 * validation figure of docs/EDC.md (threshold from the starting error `e0` on the mated pairs'
 * similarities, pAUC up to `discard`, `shuffles` seeded random orderings).
 *
 * @param groups the group names, in the order `qualityOf` takes
 * @param qualityOf per group index, one quality per image (higher = better; for GraFIQs pass
 *   the negated raw score)
 * @param mated the mated comparisons: image indices `a`, `b` and their similarity `sim`
 * @param opts `e0` (default 0.05), `discard` (default 0.2), `shuffles` (default 100), `seed`
 *   (default 0)
 * @returns the threshold and one row per group
 * @throws what {@link edcThreshold} and {@link computeEdc} throw (e.g. no mated comparison)
 */
export function groupPaucsVsRandom(
  groups: readonly string[],
  qualityOf: (group: number) => Float64Array,
  mated: { a: number[]; b: number[]; sim: number[] },
  opts: { e0?: number; discard?: number; shuffles?: number; seed?: number } = {},
): { threshold: number; rows: GroupPaucVsRandom[] } {
  const { e0 = 0.05, discard = 0.2, shuffles = 100, seed = 0 } = opts;
  const { a, b, sim } = mated;
  const threshold = edcThreshold("FNMR", sim, { kind: "starting-error", value: e0 });
  const rows = groups.map((group, gi) => {
    const q = qualityOf(gi);
    const pauc = edcPauc(computeEdc("FNMR", pairQualities(q, a, b), sim, threshold), discard);
    const [base] = randomOrderBaseline(
      q,
      [{ errorType: "FNMR", a, b, similarity: sim, threshold }],
      [discard],
      { shuffles, seed },
    );
    return { group, pauc, random: base.pauc[0] };
  });
  return { threshold, rows };
}

/**
 * A Markdown table row of {@link groupPaucsVsRandom}: group, pAUC, random mean ± std, and how
 * far below the random mean the pAUC is, in percent.
 *
 * @param r one row
 * @returns `| group | pauc | mean ± std | x % |`, 5 decimals
 */
export function paucVsRandomRow(r: GroupPaucVsRandom): string {
  const { mean, std } = r.random;
  return `| ${r.group} | ${r.pauc.toFixed(5)} | ${mean.toFixed(5)} ± ${std.toFixed(5)} | ` +
    `${(100 * (1 - r.pauc / mean)).toFixed(1)} % |`;
}
