/**
 * The EDC evaluation of several FIQA methods on one set of comparisons: thresholds, FNMR-EDC and
 * FMR-EDC curves, pAUC (with and without the theoretical-best area) and the random-order
 * baseline, per method. Pure: the inputs are already parsed (see load.ts).
 *
 * @module
 */
import {
  type ComparisonSet,
  computeEdc,
  type EdcCurve,
  edcPauc,
  edcThreshold,
  type ErrorType,
  pairQualities,
  type RandomBaseline,
  randomOrderBaseline,
  theoreticalBestArea,
  type ThresholdSpec,
} from "./edc.ts";

/** One FIQA method's per-image quality, ready for the EDC. */
export interface MethodQualities {
  /** Method name (unique). */
  name: string;
  /** The file the scores came from. */
  file: string;
  /** Whether the raw scores were higher-is-better (false: they were negated). */
  higherIsBetter: boolean;
  /** Quality of each image of the comparisons, higher is better, finite. */
  qualities: Float64Array;
}

/** The comparisons: pairs of images (indices into the per-image quality vectors). */
export interface Comparisons {
  /** Index of each comparison's first image. */
  a: ArrayLike<number>;
  /** Index of each comparison's second image. */
  b: ArrayLike<number>;
  /** True for mated comparisons. */
  mated: ArrayLike<boolean>;
  /** Similarity of each comparison (higher = more similar), finite. */
  similarity: ArrayLike<number>;
}

/** Settings of an evaluation. */
export interface EdcOptions {
  /** How the thresholds are fixed (default: starting error 0.05). */
  threshold?: ThresholdSpec;
  /** Discard limits of the pAUC, each in (0, 1] (default [0.2]). */
  limits?: number[];
  /** Random-order shuffles (default 100; 0 skips the baseline). */
  shuffles?: number;
  /** Seed of the mulberry32 generator of the shuffles (default 0). */
  seed?: number;
  /** Points of the baseline's summary grid over [0, 1] (default 401). */
  gridPoints?: number;
}

/** pAUC of one method, error type and limit. */
export interface PaucEntry {
  /** FNMR or FMR. */
  errorType: ErrorType;
  /** Discard limit L. */
  limit: number;
  /** Stepwise pAUC up to L. */
  pauc: number;
  /** Theoretical-best area up to L (from the observed error at zero discard). */
  bestArea: number;
  /** pauc - bestArea. */
  paucMinusBest: number;
  /** Random-order pAUC up to L: mean over the shuffles (NaN when shuffles = 0). */
  randomMean: number;
  /** Random-order pAUC up to L: sample standard deviation over the shuffles (NaN when none). */
  randomStd: number;
}

/** All results of one method. */
export interface MethodEdc {
  /** Method name. */
  name: string;
  /** Score file. */
  file: string;
  /** Whether raw scores were higher-is-better. */
  higherIsBetter: boolean;
  /** FNMR-EDC then FMR-EDC. */
  curves: EdcCurve[];
  /** pAUC per error type (FNMR first) and limit (in the given order). */
  pauc: PaucEntry[];
  /** Random-order baseline, FNMR then FMR (empty when shuffles = 0). */
  baseline: RandomBaseline[];
}

/** Result of {@link evaluateEdc}. */
export interface EdcEvaluation {
  /** Threshold rule. */
  threshold: ThresholdSpec;
  /** Threshold value per error type. */
  thresholds: Record<ErrorType, number>;
  /** Mated comparisons. */
  mated: number;
  /** Non-mated comparisons. */
  nonMated: number;
  /** Discard limits. */
  limits: number[];
  /** Shuffles of the random-order baseline. */
  shuffles: number;
  /** Seed of the shuffles. */
  seed: number;
  /** One entry per method, in the given order. */
  methods: MethodEdc[];
}

/**
 * Evaluate FIQA methods with EDC curves (docs/EDC.md#definitions-exactly).
 *
 * @param comparisons the comparisons (at least one mated and one non-mated).
 * @param methods per-image qualities of each method (same image indexing as `comparisons`).
 * @param options see {@link EdcOptions}.
 * @returns curves, pAUC and baselines per method.
 * @throws RangeError for no mated or no non-mated comparison, no limit or a limit outside (0, 1],
 *   a negative or fractional shuffle count, and the
 *   errors of {@link computeEdc} (non-finite values).
 */
export function evaluateEdc(
  comparisons: Comparisons,
  methods: MethodQualities[],
  options: EdcOptions = {},
): EdcEvaluation {
  const threshold = options.threshold ?? { kind: "starting-error", value: 0.05 };
  const limits = options.limits ?? [0.2];
  const shuffles = options.shuffles ?? 100;
  const seed = options.seed ?? 0;
  if (!(Number.isInteger(shuffles) && shuffles >= 0)) {
    throw new RangeError(`shuffles must be a whole number >= 0, got ${shuffles}`);
  }
  if (limits.length === 0) throw new RangeError("no discard limit given");
  for (const l of limits) {
    if (!(l > 0 && l <= 1)) throw new RangeError(`discard limit ${l} is outside (0, 1]`);
  }
  const split = (want: boolean) => {
    const a: number[] = [], b: number[] = [], s: number[] = [];
    for (let k = 0; k < comparisons.a.length; k++) {
      if (comparisons.mated[k] !== want) continue;
      a.push(comparisons.a[k]);
      b.push(comparisons.b[k]);
      s.push(comparisons.similarity[k]);
    }
    return { a: Uint32Array.from(a), b: Uint32Array.from(b), similarity: Float64Array.from(s) };
  };
  const m = split(true), nm = split(false);
  if (m.a.length === 0) {
    throw new RangeError("no mated comparisons (the FNMR-EDC needs at least one)");
  }
  if (nm.a.length === 0) {
    throw new RangeError("no non-mated comparisons (the FMR-EDC needs at least one)");
  }
  const sets: ComparisonSet[] = [
    { errorType: "FNMR", ...m, threshold: edcThreshold("FNMR", m.similarity, threshold) },
    { errorType: "FMR", ...nm, threshold: edcThreshold("FMR", nm.similarity, threshold) },
  ];
  const results = methods.map((method): MethodEdc => {
    const curves = sets.map((set) =>
      computeEdc(
        set.errorType,
        pairQualities(method.qualities, set.a, set.b),
        set.similarity,
        set.threshold,
      )
    );
    const baseline = shuffles === 0 ? [] : randomOrderBaseline(method.qualities, sets, limits, {
      shuffles,
      seed,
      gridPoints: options.gridPoints,
    });
    const pauc: PaucEntry[] = [];
    curves.forEach((curve, ci) =>
      limits.forEach((limit, li) => {
        const p = edcPauc(curve, limit);
        const best = theoreticalBestArea(curve, limit);
        pauc.push({
          errorType: curve.errorType,
          limit,
          pauc: p,
          bestArea: best,
          paucMinusBest: p - best,
          randomMean: shuffles === 0 ? NaN : baseline[ci].pauc[li].mean,
          randomStd: shuffles === 0 ? NaN : baseline[ci].pauc[li].std,
        });
      })
    );
    return {
      name: method.name,
      file: method.file,
      higherIsBetter: method.higherIsBetter,
      curves,
      pauc,
      baseline,
    };
  });
  return {
    threshold,
    thresholds: { FNMR: sets[0].threshold, FMR: sets[1].threshold },
    mated: m.a.length,
    nonMated: nm.a.length,
    limits: [...limits],
    shuffles,
    seed,
    methods: results,
  };
}
