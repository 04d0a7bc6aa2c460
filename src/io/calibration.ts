/**
 * Calibration: a readable 0-100 quality scale on top of GraFIQs' raw scores.
 *
 * A raw GraFIQs score is a sum of absolute gradients (docs/ALGORITHM.md): lower means higher
 * quality, and its range depends on the network, the group φ and the data. `grafiqs calibrate`
 * scores a reference set the user chooses and keeps, per group, the distribution of its raw
 * scores; `--calibration FILE.json` then maps a raw score x to
 *
 *   quality(x) = 100 x (1 - F(x)),  clamped to 0..100,
 *
 * where F is the reference set's distribution function, linearly interpolated between its
 * stored quantiles. A quality of 73 means the image's raw score is lower (better) than that of
 * about 73 % of the reference images. Higher is better, and quality never increases as the
 * raw score grows.
 *
 * The calibration file (JSON, UTF-8) holds:
 * - `format` {@link CALIBRATION_FORMAT}, `formatVersion` 1, `tool` (`grafiqs VERSION`);
 * - `model`: `architecture` (e.g. `iresnet50`) and `weightsFingerprint` (FNV-1a 64 of the
 *   weights file's bytes, 16 hex digits, io/hash.ts); a calibration is used only with the very
 *   same weights file;
 * - `preprocessing`: `channelOrder` fed to the network, `size` (pixels), `mean` and `std`
 *   (per channel, in units of v/255, network channel order: x' = (v/255 - mean) / std);
 * - `reference`: `scored` and `failed` image counts;
 * - `groups`: per group φ in the model's order, `name`, `count` (finite raw scores) and
 *   `quantiles`: K = min(count, {@link CALIBRATION_QUANTILES}) values, the quantile at
 *   probability i/(K-1) for i = 0..K-1, linearly interpolated between order statistics
 *   (numpy's default `quantile` method). With count <= 1001 these are all the sorted scores.
 *
 * @module
 */
import { fnv1a64 } from "./hash.ts";
import { escapeTsv } from "./scores.ts";
import { VERSION } from "../version.ts";

/** The `format` tag of a calibration file. */
export const CALIBRATION_FORMAT = "GraFIQs calibration";

/** The largest number of quantiles kept per group (probabilities 0, 0.001, ..., 1). */
export const CALIBRATION_QUANTILES = 1001;

/** The largest calibration file read, in bytes (a valid one is under 200 KiB per group). */
export const MAX_CALIBRATION_BYTES = 16 << 20;

/** The folder mode's calibrated quality file (with `--calibration`). */
export const QUALITY_FILE_NAME = "GraFIQs_quality.tsv";

/** How images are prepared for the network (weights/types.ts `Preprocess`, as fed). */
export interface CalibrationPreprocessing {
  /** Channel order fed to the network (after `--bgr2rgb`). */
  channelOrder: "bgr" | "rgb";
  /** Square input size in pixels. */
  size: number;
  /** Per-channel mean, units of v/255, network channel order. */
  mean: number[];
  /** Per-channel standard deviation, units of v/255, network channel order. */
  std: number[];
}

/** One group's reference distribution. */
export interface CalibrationGroup {
  /** The group φ (`image`, `block1`, ...). */
  name: string;
  /** Number of finite raw scores the quantiles summarise. */
  count: number;
  /** K = min(count, 1001) quantiles at probabilities i/(K-1), non-decreasing. */
  quantiles: number[];
}

/** A calibration file's content (the module description gives the meaning of each field). */
export interface Calibration {
  /** Always {@link CALIBRATION_FORMAT}. */
  format: string;
  /** Always 1. */
  formatVersion: number;
  /** The tool that wrote it, `grafiqs VERSION`. */
  tool: string;
  /** The network and its weights file. */
  model: { architecture: string; weightsFingerprint: string };
  /** The preprocessing the scores were made with. */
  preprocessing: CalibrationPreprocessing;
  /** How many reference images were scored and how many failed. */
  reference: { scored: number; failed: number };
  /** One distribution per group, in the model's group order. */
  groups: CalibrationGroup[];
}

/**
 * The quantiles kept for a set of raw scores: K = min(n, `k`) values at probabilities
 * i/(K-1), each linearly interpolated between order statistics (numpy's default: position
 * h = (n-1)p, value x[⌊h⌋] + (h-⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])). For n <= k they are the sorted
 * scores themselves.
 *
 * @param values finite raw scores (not modified)
 * @param k the most quantiles kept (default {@link CALIBRATION_QUANTILES}); at least 2
 * @returns the quantiles, non-decreasing; empty for no values
 * @example
 * ```ts
 * import { quantileSummary } from "./calibration.ts";
 * quantileSummary([3, 1, 2]); // [1, 2, 3]
 * quantileSummary([0, 10, 20, 30, 40], 3); // [0, 20, 40]
 * ```
 */
export function quantileSummary(values: readonly number[], k = CALIBRATION_QUANTILES): number[] {
  const x = Float64Array.from(values).sort();
  const n = x.length;
  if (n <= k) return Array.from(x);
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const h = (n - 1) * (i / (k - 1));
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, n - 1);
    out.push(x[lo] + (h - lo) * (x[hi] - x[lo]));
  }
  return out;
}

/**
 * The reference distribution's value F(x) in 0..1: 0 below the first quantile, 1 from the last
 * on, linearly interpolated in between (where tied quantiles make F jump, the upper value).
 * Non-decreasing in x.
 *
 * @param x a raw score
 * @param q the group's quantiles (non-decreasing, at least one)
 * @returns F(x); NaN for a NaN score
 */
export function calibratedCdf(x: number, q: readonly number[]): number {
  if (Number.isNaN(x)) return NaN;
  const k = q.length;
  if (x < q[0]) return 0;
  if (x >= q[k - 1]) return 1;
  // The last i with q[i] <= x (then q[i+1] > x, and i < k-1).
  let lo = 0, hi = k - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (q[mid] <= x) lo = mid;
    else hi = mid;
  }
  const p = (i: number) => i / (k - 1);
  return p(lo) + (p(hi) - p(lo)) * (x - q[lo]) / (q[hi] - q[lo]);
}

/**
 * The calibrated quality of a raw score: 100 x (1 - F(x)), clamped to 0..100
 * ({@link calibratedCdf}). Higher is better; never increases as `x` grows.
 *
 * @param x a raw GraFIQs score (lower = better)
 * @param q the group's quantiles
 * @returns the quality in 0..100; NaN for a NaN score
 */
export function calibratedQuality(x: number, q: readonly number[]): number {
  const f = calibratedCdf(x, q);
  return Number.isNaN(f) ? NaN : Math.min(100, Math.max(0, 100 * (1 - f)));
}

/**
 * A quality as printed in records and GraFIQs_quality.tsv: two decimals (`73.41`), empty for
 * NaN.
 */
export function formatQuality(q: number): string {
  return Number.isNaN(q) ? "" : q.toFixed(2);
}

/**
 * Build a calibration from a reference set's raw scores. Non-finite scores are left out of the
 * distributions (each group's `count` says how many were kept).
 *
 * @param model the network's name and its weights file's fingerprint (16 hex digits)
 * @param preprocessing the preprocessing the scores were made with
 * @param groups the group names, the order of each row's scores
 * @param rows the raw scores of the scored reference images, one value per group
 * @param failed how many reference images could not be scored
 * @returns the calibration
 * @throws Error when a group has no finite score (nothing to calibrate with)
 */
export function buildCalibration(
  model: { architecture: string; weightsFingerprint: string },
  preprocessing: CalibrationPreprocessing,
  groups: readonly string[],
  rows: readonly ArrayLike<number>[],
  failed: number,
): Calibration {
  return {
    format: CALIBRATION_FORMAT,
    formatVersion: 1,
    tool: `grafiqs ${VERSION}`,
    model: { ...model },
    preprocessing: {
      channelOrder: preprocessing.channelOrder,
      size: preprocessing.size,
      mean: [...preprocessing.mean],
      std: [...preprocessing.std],
    },
    reference: { scored: rows.length, failed },
    groups: groups.map((name, g) => {
      const values = rows.map((r) => r[g]).filter(Number.isFinite);
      if (values.length === 0) {
        throw new Error(`no finite raw score in group ${name}: nothing to calibrate with`);
      }
      return { name, count: values.length, quantiles: quantileSummary(values) };
    }),
  };
}

/**
 * A calibration as its file text: JSON, 2-space indent, each quantile list on one line, with a
 * final line feed.
 */
export function calibrationText(c: Calibration): string {
  const text = JSON.stringify(c, null, 2).replace(
    /\[\n\s+([^\[\]{}"]*?)\n\s*\]/g,
    (_, inner: string) => `[${inner.split(/,\s+/).join(", ")}]`,
  );
  return text + "\n";
}

/**
 * The fingerprint of a calibration, kept in the record settings of a calibrated run
 * (`RecordSettings.calibration`) and compared by `grafiqs merge`: FNV-1a 64 of its canonical
 * text ({@link calibrationText}), 16 lowercase hex digits. Two files with the same content
 * (whatever their spacing) have the same fingerprint.
 *
 * @param c the calibration (as parsed)
 * @returns 16 lowercase hex digits
 */
export function calibrationFingerprint(c: Calibration): string {
  return fnv1a64(new TextEncoder().encode(calibrationText(c))).toString(16).padStart(16, "0");
}

/** Raised for a calibration file that is malformed or does not fit the run; names the file. */
export class CalibrationError extends Error {
  /**
   * Make the error.
   *
   * @param message the file and what is wrong
   */
  constructor(message: string) {
    super(message);
    this.name = "CalibrationError";
  }
}

/**
 * Parse and check a calibration file's text.
 *
 * @param text the file's text
 * @param source the file's name for messages
 * @returns the calibration
 * @throws {CalibrationError} `calibration SOURCE: <what is wrong>` for text that is not JSON, a
 *   wrong `format` or version, or a missing or ill-typed field (quantiles not finite,
 *   decreasing, or not K = min(count, 1001) of them)
 */
export function parseCalibration(text: string, source: string): Calibration {
  const bad = (what: string) => new CalibrationError(`calibration ${source}: ${what}`);
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObj(o) || o.format !== CALIBRATION_FORMAT) {
    throw bad(
      `not a calibration file (no "format": "${CALIBRATION_FORMAT}"; made by grafiqs calibrate)`,
    );
  }
  if (o.formatVersion !== 1) {
    throw bad(`formatVersion ${JSON.stringify(o.formatVersion)}, expected 1`);
  }
  const str = (v: unknown, what: string) => {
    if (typeof v !== "string") throw bad(`${what} must be a string`);
    return v;
  };
  const count = (v: unknown, what: string, min: number) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw bad(`${what} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const numbers = (v: unknown, what: string, len?: number) => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
      throw bad(`${what} must be a list of finite numbers`);
    }
    if (len !== undefined && v.length !== len) {
      throw bad(`${what} has ${v.length} values, expected ${len}`);
    }
    return v as number[];
  };
  if (!isObj(o.model)) throw bad(`"model" is missing`);
  const architecture = str(o.model.architecture, "model.architecture");
  const weightsFingerprint = str(o.model.weightsFingerprint, "model.weightsFingerprint");
  if (!/^[0-9a-f]{16}$/.test(weightsFingerprint)) {
    throw bad(`model.weightsFingerprint must be 16 lowercase hex digits`);
  }
  const pp = o.preprocessing;
  if (!isObj(pp)) throw bad(`"preprocessing" is missing`);
  if (pp.channelOrder !== "bgr" && pp.channelOrder !== "rgb") {
    throw bad(`preprocessing.channelOrder must be "bgr" or "rgb"`);
  }
  const preprocessing: CalibrationPreprocessing = {
    channelOrder: pp.channelOrder,
    size: count(pp.size, "preprocessing.size", 1),
    mean: numbers(pp.mean, "preprocessing.mean", 3),
    std: numbers(pp.std, "preprocessing.std", 3),
  };
  if (!isObj(o.reference)) throw bad(`"reference" is missing`);
  const reference = {
    scored: count(o.reference.scored, "reference.scored", 1),
    failed: count(o.reference.failed, "reference.failed", 0),
  };
  if (!Array.isArray(o.groups) || o.groups.length === 0) {
    throw bad(`"groups" must be a non-empty list`);
  }
  const names = new Set<string>();
  const groups = o.groups.map((g: unknown, i: number) => {
    if (!isObj(g)) throw bad(`groups[${i}] must be an object`);
    const name = str(g.name, `groups[${i}].name`);
    if (names.has(name)) throw bad(`group ${name} is listed twice`);
    names.add(name);
    const n = count(g.count, `group ${name}: count`, 1);
    const q = numbers(g.quantiles, `group ${name}: quantiles`, Math.min(n, CALIBRATION_QUANTILES));
    for (let j = 1; j < q.length; j++) {
      if (q[j] < q[j - 1]) throw bad(`group ${name}: quantiles decrease at index ${j}`);
    }
    return { name, count: n, quantiles: q };
  });
  return {
    format: CALIBRATION_FORMAT,
    formatVersion: 1,
    tool: str(o.tool, "tool"),
    model: { architecture, weightsFingerprint },
    preprocessing,
    reference,
    groups,
  };
}

/**
 * Check that a calibration was made with this run's weights file, groups and preprocessing,
 * and return each of the run's groups' quantiles.
 *
 * @param c the calibration
 * @param source its file name, for messages
 * @param run this run's weights fingerprint, group names and preprocessing as fed
 * @returns the quantiles of each of `run.groups`, in that order
 * @throws {CalibrationError} naming both fingerprints when the weights differ, or the group or
 *   preprocessing field that differs
 */
export function calibrationFor(
  c: Calibration,
  source: string,
  run: {
    weightsFingerprint: string;
    groups: readonly string[];
    preprocessing: CalibrationPreprocessing;
  },
): number[][] {
  if (c.model.weightsFingerprint !== run.weightsFingerprint) {
    throw new CalibrationError(
      `calibration ${source} was made with other weights (fingerprint ` +
        `${c.model.weightsFingerprint}, ${c.model.architecture}); this run's weights have ` +
        `fingerprint ${run.weightsFingerprint}. Calibrate with these weights (grafiqs calibrate)`,
    );
  }
  const a = c.preprocessing;
  const b = run.preprocessing;
  if (a.channelOrder !== b.channelOrder) {
    throw new CalibrationError(
      `calibration ${source} was made with ${a.channelOrder.toUpperCase()} input; this run ` +
        `feeds ${b.channelOrder.toUpperCase()} (check --bgr2rgb)`,
    );
  }
  if (a.size !== b.size || String(a.mean) !== String(b.mean) || String(a.std) !== String(b.std)) {
    throw new CalibrationError(
      `calibration ${source} was made with other preprocessing (${JSON.stringify(a)}; this ` +
        `run: ${JSON.stringify(b)})`,
    );
  }
  return run.groups.map((g) => {
    const found = c.groups.find((x) => x.name === g);
    if (!found) {
      throw new CalibrationError(
        `calibration ${source} has no group ${g} (it has ${
          c.groups.map((x) => x.name).join(", ")
        })`,
      );
    }
    return found.quantiles;
  });
}

/**
 * Each group's calibrated quality of one image's raw scores.
 *
 * @param scores the raw scores, one per group
 * @param quantiles each group's quantiles ({@link calibrationFor})
 * @returns the qualities (0..100, NaN for a NaN score)
 */
export function qualitiesOf(scores: ArrayLike<number>, quantiles: readonly number[][]): number[] {
  return quantiles.map((q, g) => calibratedQuality(scores[g], q));
}

/**
 * The text of GraFIQs_quality.tsv: a header `path<TAB>quality_<group>...`, then one line per
 * scored image, in the score files' order; the path escaped as in GraFIQs_failed.txt
 * (`escapeTsv`), each quality by {@link formatQuality}.
 *
 * @param groups the group names
 * @param rows the scored images' printed paths and raw scores
 * @param quantiles each group's quantiles
 */
export function qualityFileText(
  groups: readonly string[],
  rows: readonly { path: string; scores: ArrayLike<number> }[],
  quantiles: readonly number[][],
): string {
  let text = ["path", ...groups.map((g) => `quality_${g}`)].join("\t") + "\n";
  for (const r of rows) {
    text += [escapeTsv(r.path), ...qualitiesOf(r.scores, quantiles).map(formatQuality)].join("\t") +
      "\n";
  }
  return text;
}
