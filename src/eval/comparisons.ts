/**
 * Comparison scores of the EDC evaluation: precomputed similarities, or the cosine similarity
 * of embeddings (`.npy` plus an index of paths).
 *
 * @module
 */
import type { NpyMatrix } from "../io/npy.ts";
import {
  EdcInputError,
  NONFINITE_RE,
  NUMBER_RE,
  parseFiniteNumber,
  splitLines,
} from "./input_text.ts";
import type { PairImages } from "./matching.ts";

/**
 * Parse a file of precomputed similarity scores: one number per line, in the order of the pairs
 * list; an optional header row (a first line that is not a number) is skipped.
 *
 * @param text file content.
 * @param file name for messages.
 * @param expected the number of pairs.
 * @throws EdcInputError naming file and line for a non-numeric, NaN or infinite value, and for a
 *   count that differs from `expected`.
 */
export function parseSimilarities(text: string, file: string, expected: number): Float64Array {
  const lines = splitLines(text);
  const out: number[] = [];
  let first = true;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const t = line.trim();
    if (first && !NUMBER_RE.test(t) && !NONFINITE_RE.test(t)) {
      first = false;
      return; // header
    }
    first = false;
    out.push(parseFiniteNumber(t, `${file}:${i + 1}`, "similarity"));
  });
  if (out.length !== expected) {
    throw new EdcInputError(
      `${file}: ${out.length} similarities, but the pairs list has ${expected} pairs`,
    );
  }
  return Float64Array.from(out);
}

/**
 * Parse an embeddings index: one image path per line, row i of the `.npy` belonging to line i.
 *
 * @returns the paths and their 1-based lines.
 * @throws EdcInputError for a blank line between paths.
 */
export function parseIndex(text: string, file: string): { paths: string[]; lines: number[] } {
  const lines = splitLines(text);
  while (lines.length > 0 && lines[lines.length - 1].trim() === "") lines.pop();
  lines.forEach((l, i) => {
    if (l.trim() === "") {
      throw new EdcInputError(`${file}:${i + 1}: blank line in the index of paths`);
    }
  });
  return { paths: lines, lines: lines.map((_, i) => i + 1) };
}

/**
 * Cosine similarity of the L2-normalised embeddings of each pair (docs/EDC.md#definitions-exactly).
 *
 * @param emb N × D embeddings.
 * @param rows for each pair image, its row in `emb`.
 * @param pi the pair images (pairs as indices into `rows`).
 * @param file `.npy` name for messages.
 * @param indexLines 1-based index-file line of each row (for messages).
 * @returns one similarity per pair, in [-1, 1] up to rounding.
 * @throws EdcInputError naming the row's index line when a used embedding has a non-finite value
 *   or zero norm.
 */
export function cosineSimilarities(
  emb: NpyMatrix,
  rows: Uint32Array,
  pi: PairImages,
  file: string,
  indexLines: number[],
): Float64Array {
  const d = emb.cols;
  const unit = new Map<number, Float64Array>();
  const normalized = (r: number) => {
    let u = unit.get(r);
    if (u) return u;
    const v = emb.data.subarray(r * d, r * d + d);
    let ss = 0;
    for (let j = 0; j < d; j++) {
      if (!Number.isFinite(v[j])) {
        throw new EdcInputError(`${file}: row ${r} (index line ${indexLines[r]}) holds ${v[j]}`);
      }
      ss += v[j] * v[j];
    }
    if (!(ss > 0)) {
      throw new EdcInputError(`${file}: row ${r} (index line ${indexLines[r]}) has zero norm`);
    }
    const norm = Math.sqrt(ss);
    u = v.map((x) => x / norm);
    unit.set(r, u);
    return u;
  };
  const out = new Float64Array(pi.a.length);
  for (let k = 0; k < pi.a.length; k++) {
    const ua = normalized(rows[pi.a[k]]), ub = normalized(rows[pi.b[k]]);
    let s = 0;
    for (let j = 0; j < d; j++) s += ua[j] * ub[j];
    out[k] = s;
  }
  return out;
}
