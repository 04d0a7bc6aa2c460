/**
 * Error-versus-Discard Characteristic (EDC) arithmetic: thresholds, FNMR-EDC and FMR-EDC curves,
 * stepwise pAUC, the theoretical-best area and a seeded random-order baseline.
 *
 * Definitions follow docs/EDC.md#definitions-exactly (ISO/IEC 29794-1:2024 as formulated by Schlett
 * et al., IEEE TBIOM 2023). The arithmetic is ordered so that results equal those of the public
 * reference implementation (dasec/quality-assessment-evaluation, `edc.py`) to the last bit where
 * the operations are the same; the cross-check test holds them to 1e-9.
 *
 * Everything here is pure: no I/O, no global state. All numbers are IEEE-754 doubles.
 *
 * @module
 */

/** Which error an EDC plots: FNMR on mated comparisons, FMR on non-mated comparisons. */
export type ErrorType = "FNMR" | "FMR";

/**
 * How the comparison-score threshold t is fixed, once per curve (docs/EDC.md#definitions-exactly):
 * - `starting-error` E0 in [0, 1]: t = type-7 quantile of the similarities at E0 (FNMR) or at
 *   1 - E0 (FMR), so that the error at zero discard is close to E0;
 * - `quantile` q in [0, 1]: t = type-7 quantile at q, for both error types;
 * - `value`: t given directly (a similarity score, any finite number).
 */
export type ThresholdSpec =
  | { kind: "starting-error"; value: number }
  | { kind: "quantile"; value: number }
  | { kind: "value"; value: number };

/**
 * Sample quantile with linear interpolation between order statistics: Hyndman and Fan type 7,
 * NumPy's default `np.quantile(..., method="linear")`.
 *
 * With the ascending values x[0..n-1] and h = (n - 1) q: below index 0 or at/after index n-1 the
 * extreme value is returned; otherwise, with i = floor(h) and g = h - i, the result is
 * x[i] + (x[i+1] - x[i]) g when g < 0.5 and x[i+1] - (x[i+1] - x[i]) (1 - g) when g >= 0.5 — the
 * two-sided form NumPy (>= 1.22) uses, reproduced here so that thresholds agree bit for bit.
 *
 * @param values finite numbers, any order, length n >= 1 (not modified).
 * @param q probability in [0, 1].
 * @returns the q-quantile.
 * @throws RangeError when `values` is empty, holds a non-finite value, or q is outside [0, 1].
 */
export function quantileType7(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) throw new RangeError("quantile of an empty set of values");
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile probability ${q} is outside [0, 1]`);
  const x = Float64Array.from(values);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(x[i])) throw new RangeError(`value ${i} is ${x[i]}, not finite`);
  }
  x.sort(); // Float64Array sorts numerically
  const h = (n - 1) * q;
  if (h >= n - 1) return x[n - 1];
  if (h < 0) return x[0];
  const i = Math.floor(h);
  const g = h - i;
  const a = x[i], b = x[i + 1];
  const d = b - a;
  return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

/**
 * The comparison-score threshold of one EDC (docs/EDC.md#definitions-exactly).
 *
 * @param errorType FNMR (similarities of mated comparisons) or FMR (non-mated).
 * @param similarities comparison scores (higher = more similar) of that comparison set, n >= 1.
 * @param spec how the threshold is fixed; see {@link ThresholdSpec}.
 * @returns the threshold t: an FNMR error is similarity < t, an FMR error similarity >= t.
 * @throws RangeError when a starting error or quantile is outside [0, 1], a value is not finite,
 *   or the similarities are empty or not finite.
 */
export function edcThreshold(
  errorType: ErrorType,
  similarities: ArrayLike<number>,
  spec: ThresholdSpec,
): number {
  switch (spec.kind) {
    case "value":
      if (!Number.isFinite(spec.value)) {
        throw new RangeError(`threshold value ${spec.value} is not finite`);
      }
      return spec.value;
    case "quantile":
      return quantileType7(similarities, spec.value);
    case "starting-error": {
      const e0 = spec.value;
      if (!(e0 >= 0 && e0 <= 1)) throw new RangeError(`starting error ${e0} is outside [0, 1]`);
      return quantileType7(similarities, errorType === "FNMR" ? e0 : 1 - e0);
    }
  }
}

/**
 * One EDC curve. The arrays are parallel, one entry per point, in ascending discard order. Point 0
 * is zero discard; each further point starts a new block of tied pair qualities; the last point
 * is (1, 0), added to close the curve (discard count = comparisons, remaining 0, errors 0).
 */
export interface EdcCurve {
  /** FNMR (mated comparisons) or FMR (non-mated comparisons). */
  errorType: ErrorType;
  /** The similarity threshold t used for every point. */
  threshold: number;
  /** N, the number of comparisons. */
  comparisons: number;
  /** k: comparisons discarded at each point (integers, 0 first, N last). */
  discardCounts: number[];
  /** Errors among the N - k kept comparisons (integers; 0 at the closing point). */
  errorCounts: number[];
  /** D = k / N, in [0, 1]. */
  discardFractions: number[];
  /** E = errors / (N - k), in [0, 1]; 0 at the closing point. */
  errorFractions: number[];
}

/**
 * Pair qualities: the quality of comparison (a, b) is min(q_a, q_b), with higher = better
 * (docs/EDC.md#definitions-exactly).
 *
 * @param qualities per-image quality, higher is better, finite.
 * @param a index into `qualities` of each comparison's first image.
 * @param b index of each comparison's second image (same length as `a`).
 * @returns one pair quality per comparison.
 */
export function pairQualities(
  qualities: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.min(qualities[a[i]], qualities[b[i]]);
  return out;
}

/**
 * Compute an EDC curve (docs/EDC.md#definitions-exactly): sort comparisons by pair quality
 * ascending, discard whole blocks of tied qualities at once, and at each block start k report
 * D = k / N and E = (errors among the kept) / (N - k); close with (1, 0).
 *
 * An error is similarity < t for FNMR and similarity >= t for FMR. The result does not depend on
 * the order of comparisons inside a tie block, so no particular sort stability is needed.
 *
 * @param errorType FNMR or FMR.
 * @param pairQuality quality of each comparison, higher is better, finite; length N >= 1.
 * @param similarity comparison score of each comparison, length N.
 * @param threshold the fixed threshold t (see {@link edcThreshold}).
 * @returns the curve.
 * @throws RangeError when N = 0, the lengths differ, or a quality or similarity is not finite.
 */
export function computeEdc(
  errorType: ErrorType,
  pairQuality: ArrayLike<number>,
  similarity: ArrayLike<number>,
  threshold: number,
): EdcCurve {
  const n = pairQuality.length;
  if (n === 0) throw new RangeError(`no comparisons for the ${errorType}-EDC`);
  if (similarity.length !== n) {
    throw new RangeError(`${n} pair qualities but ${similarity.length} similarities`);
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(pairQuality[i])) {
      throw new RangeError(`pair quality ${i} is ${pairQuality[i]}, not finite`);
    }
    if (!Number.isFinite(similarity[i])) {
      throw new RangeError(`similarity ${i} is ${similarity[i]}, not finite`);
    }
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => pairQuality[i] - pairQuality[j]);

  // suffix[k] = errors among sorted positions k..n-1 (the comparisons kept after discarding k).
  const suffix = new Uint32Array(n + 1);
  for (let k = n - 1; k >= 0; k--) {
    const s = similarity[order[k]];
    const isError = errorType === "FNMR" ? s < threshold : s >= threshold;
    suffix[k] = suffix[k + 1] + (isError ? 1 : 0);
  }

  const discardCounts: number[] = [], errorCounts: number[] = [];
  const discardFractions: number[] = [], errorFractions: number[] = [];
  for (let k = 0; k < n; k++) {
    if (k > 0 && pairQuality[order[k]] === pairQuality[order[k - 1]]) continue;
    discardCounts.push(k);
    errorCounts.push(suffix[k]);
    discardFractions.push(k / n);
    errorFractions.push(suffix[k] / (n - k));
  }
  // The last block starts below n, so the curve never reaches D = 1 by itself: close it.
  discardCounts.push(n);
  errorCounts.push(0);
  discardFractions.push(1);
  errorFractions.push(0);
  return {
    errorType,
    threshold,
    comparisons: n,
    discardCounts,
    errorCounts,
    discardFractions,
    errorFractions,
  };
}

/**
 * Area under the theoretical best EDC up to a discard limit L (docs/EDC.md#definitions-exactly):
 * the best possible order discards exactly the erroneous comparisons first, so E falls linearly
 * from the observed error e at zero discard to 0 at D = e; its area is e²/2 - max(0, e - L)²/2.
 *
 * @param curve an EDC; e is `curve.errorFractions[0]` (observed, not the requested E0).
 * @param limit discard limit L in [0, 1].
 * @returns the area, in [0, e²/2].
 * @throws RangeError when `limit` is outside [0, 1].
 */
export function theoreticalBestArea(curve: EdcCurve, limit: number): number {
  if (!(limit >= 0 && limit <= 1)) throw new RangeError(`discard limit ${limit} is outside [0, 1]`);
  const e = curve.errorFractions[0];
  let area = (e * e) / 2;
  if (limit < e) area -= ((e - limit) * (e - limit)) / 2;
  return area;
}

/**
 * Stepwise partial area under an EDC up to a discard limit L (docs/EDC.md#definitions-exactly):
 * Σ_j E_j (min(D_{j+1}, L) - D_j) over the points with D_j < L. Each E_j holds from D_j up to the
 * next point, so a limit inside a step counts that step's error up to L only. Lower is better.
 *
 * Summation runs left to right, in the order of the reference implementation.
 *
 * @param curve an EDC from {@link computeEdc}.
 * @param limit discard limit L in [0, 1]; 0 gives 0, 1 the full area.
 * @param options `minusTheoreticalBest`: subtract {@link theoreticalBestArea} (default false).
 * @returns the area (fraction × fraction, unitless), >= 0 unless the best area is subtracted.
 * @throws RangeError when `limit` is outside [0, 1].
 */
export function edcPauc(
  curve: EdcCurve,
  limit: number,
  options: { minusTheoreticalBest?: boolean } = {},
): number {
  if (!(limit >= 0 && limit <= 1)) throw new RangeError(`discard limit ${limit} is outside [0, 1]`);
  const d = curve.discardFractions, e = curve.errorFractions;
  let area = 0;
  if (limit > 0) {
    for (let j = 0; j < d.length; j++) {
      if (j === d.length - 1 || d[j + 1] >= limit) {
        area += e[j] * (limit - d[j]);
        break;
      }
      area += e[j] * (d[j + 1] - d[j]);
    }
  }
  return options.minusTheoreticalBest ? area - theoreticalBestArea(curve, limit) : area;
}

/**
 * The error of a stepwise EDC at an arbitrary discard fraction: E_j of the last point with
 * D_j <= x (the curve is constant from one point to the next, "step after").
 *
 * @param curve an EDC.
 * @param x discard fraction in [0, 1].
 * @returns the error fraction there (0 at x = 1).
 */
export function edcErrorAt(curve: EdcCurve, x: number): number {
  const d = curve.discardFractions;
  let lo = 0, hi = d.length - 1; // invariant: d[lo] <= x (d[0] = 0), answer index in [lo, hi]
  if (x >= d[hi]) return curve.errorFractions[hi];
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (d[mid] <= x) lo = mid;
    else hi = mid;
  }
  return curve.errorFractions[lo];
}

/**
 * mulberry32, a small 32-bit pseudo-random generator (one 32-bit state word; each call adds the
 * Weyl constant 0x6D2B79F5 and returns a multiply-xorshift mix of the state). It is not
 * cryptographic; it is used so that the random-order baseline is reproducible everywhere.
 *
 * @param seed any integer; taken modulo 2^32.
 * @returns a function giving the next uniform integer in [0, 2^32).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  };
}

/**
 * An unbiased uniform integer in [0, n) from a 32-bit generator, by rejection: draws at or above
 * the largest multiple of n below 2^32 are redrawn, the rest are reduced modulo n.
 *
 * @param next a generator of uniform integers in [0, 2^32), e.g. {@link mulberry32}.
 * @param n range size, 1 <= n <= 2^32.
 */
export function uniformBelow(next: () => number, n: number): number {
  const limit = 4294967296 - (4294967296 % n);
  let r = next();
  while (r >= limit) r = next();
  return r % n;
}

/**
 * Fisher–Yates shuffle in place: for i from length-1 down to 1, swap element i with element
 * j = {@link uniformBelow}(next, i + 1).
 *
 * @param values the array to permute (modified).
 * @param next a generator of uniform integers in [0, 2^32).
 */
export function shuffleInPlace(
  values: { [i: number]: number; length: number },
  next: () => number,
) {
  for (let i = values.length - 1; i > 0; i--) {
    const j = uniformBelow(next, i + 1);
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
}

/** Mean and standard deviation of a sample. */
export interface MeanStd {
  /** Arithmetic mean. */
  mean: number;
  /** Sample standard deviation (divisor n - 1; 0 when n = 1). */
  std: number;
}

/**
 * Mean and sample standard deviation (divisor n - 1, two-pass).
 *
 * @param values n >= 1 finite numbers.
 * @throws RangeError when `values` is empty.
 */
export function meanStd(values: ArrayLike<number>): MeanStd {
  const n = values.length;
  if (n === 0) throw new RangeError("mean of no values");
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  const mean = s / n;
  if (n === 1) return { mean, std: 0 };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) * (values[i] - mean);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/** The comparisons of one EDC: image indices, similarity and fixed threshold. */
export interface ComparisonSet {
  /** FNMR for mated comparisons, FMR for non-mated. */
  errorType: ErrorType;
  /** Index of each comparison's first image into the per-image quality vector. */
  a: ArrayLike<number>;
  /** Index of each comparison's second image. */
  b: ArrayLike<number>;
  /** Similarity of each comparison, finite. */
  similarity: ArrayLike<number>;
  /** Threshold t (see {@link edcThreshold}). */
  threshold: number;
}

/** Result of {@link randomOrderBaseline} for one comparison set. */
export interface RandomBaseline {
  /** FNMR or FMR. */
  errorType: ErrorType;
  /** Number of shuffles. */
  shuffles: number;
  /** pAUC mean and sample std over the shuffles, one per limit (same order as `limits`). */
  pauc: MeanStd[];
  /** The limits. */
  limits: number[];
  /** Discard fractions of the summary grid (evenly spaced, 0 and 1 included). */
  grid: number[];
  /** Mean and sample std over the shuffles of the step-curve error at each grid point. */
  curve: MeanStd[];
}

/**
 * The random-order baseline: what an EDC looks like when the quality order carries no
 * information. The per-image qualities are permuted among the images `shuffles` times (Fisher–
 * Yates driven by {@link mulberry32} seeded with `seed`, restarted for every call so that a
 * method's baseline does not depend on other methods), the pair qualities recomputed as the min,
 * and the EDC of every comparison set recomputed with its fixed threshold. One permutation serves
 * all comparison sets (mated and non-mated) of a shuffle. Because the method's own values are
 * permuted, its ties are kept.
 *
 * @param qualities per-image quality, higher is better, finite (not modified).
 * @param sets the comparison sets (typically FNMR on mated, FMR on non-mated).
 * @param limits discard limits in [0, 1] for the pAUC summary.
 * @param options `shuffles` (default 100), `seed` (default 0), `gridPoints` (default 401).
 * @returns one baseline per comparison set, in the order of `sets`.
 * @throws RangeError when shuffles < 1 or gridPoints < 2, and as {@link computeEdc}.
 */
export function randomOrderBaseline(
  qualities: ArrayLike<number>,
  sets: ComparisonSet[],
  limits: number[],
  options: { shuffles?: number; seed?: number; gridPoints?: number } = {},
): RandomBaseline[] {
  const shuffles = options.shuffles ?? 100;
  const seed = options.seed ?? 0;
  const gridPoints = options.gridPoints ?? 401;
  if (!(Number.isInteger(shuffles) && shuffles >= 1)) {
    throw new RangeError(`shuffles must be a whole number >= 1, got ${shuffles}`);
  }
  if (!(Number.isInteger(gridPoints) && gridPoints >= 2)) {
    throw new RangeError(`gridPoints must be a whole number >= 2, got ${gridPoints}`);
  }
  const grid: number[] = [];
  for (let g = 0; g < gridPoints; g++) grid.push(g / (gridPoints - 1));
  const next = mulberry32(seed);
  const q = Float64Array.from(qualities);
  const paucs = sets.map(() => limits.map(() => new Float64Array(shuffles)));
  const curves = sets.map(() => grid.map(() => new Float64Array(shuffles)));
  for (let s = 0; s < shuffles; s++) {
    shuffleInPlace(q, next);
    sets.forEach((set, si) => {
      const curve = computeEdc(
        set.errorType,
        pairQualities(q, set.a, set.b),
        set.similarity,
        set.threshold,
      );
      limits.forEach((limit, li) => paucs[si][li][s] = edcPauc(curve, limit));
      grid.forEach((x, gi) => curves[si][gi][s] = edcErrorAt(curve, x));
    });
  }
  return sets.map((set, si) => ({
    errorType: set.errorType,
    shuffles,
    limits: [...limits],
    pauc: paucs[si].map(meanStd),
    grid,
    curve: curves[si].map(meanStd),
  }));
}
