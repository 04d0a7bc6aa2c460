/**
 * Pairs lists of the EDC evaluation: LFW `pairs.txt` and `a b label [similarity]` lists.
 *
 * @module
 */
import { EdcInputError, parseFiniteNumber, splitLines } from "./input_text.ts";

/** One comparison named by a pairs list. */
export interface PairRecord {
  /** First image, as named by the list (LFW: `NAME/NAME_%04d.jpg`). */
  a: string;
  /** Second image. */
  b: string;
  /** True for a mated comparison (same subject). */
  mated: boolean;
  /** 1-based line number in the pairs file. */
  line: number;
  /** Similarity from a 4th column of an `a b label similarity` list, when present. */
  similarity?: number;
}

/** A parsed pairs list. */
export interface PairList {
  /** The pairs file. */
  file: string;
  /** "lfw" (pairs.txt) or "labels" (`a b label [similarity]`). */
  format: "lfw" | "labels";
  /** The comparisons, in file order. */
  pairs: PairRecord[];
  /** True when every pair carries a similarity (4th column). */
  hasSimilarity: boolean;
}

/** The image name LFW uses for image `index` (1-based) of `name`: `NAME/NAME_%04d.jpg`. */
export function lfwImageName(name: string, index: number): string {
  return `${name}/${name}_${String(index).padStart(4, "0")}.jpg`;
}

function fields(line: string): string[] {
  return line.includes("\t") ? line.split("\t") : line.trim().split(/\s+/);
}

/**
 * Parse a pairs list. The format is recognised from the first non-blank line:
 * - LFW pairs.txt: header `FOLDS<TAB>N`, then FOLDS × 2N lines, mated `NAME<TAB>i<TAB>j` and
 *   non-mated `NAME1<TAB>i<TAB>NAME2<TAB>j` (image i of NAME is `NAME/NAME_%04d.jpg`);
 * - `a b label [similarity]`: label 1 = mated, 0 = non-mated; fields separated by tabs when the
 *   line has a tab (paths may then contain spaces), else by whitespace; an optional header row
 *   (its third field is not 0 or 1) is skipped.
 *
 * @param text file content.
 * @param file file name for messages.
 * @throws EdcInputError naming file and line for a malformed line, a bad label or index, an LFW
 *   line count that disagrees with the header, and a list with no mated or no non-mated pairs.
 */
export function parsePairs(text: string, file: string): PairList {
  const lines = splitLines(text);
  const first = lines.findIndex((l) => l.trim() !== "");
  if (first < 0) throw new EdcInputError(`${file}: empty pairs file`);
  const pairs: PairRecord[] = [];
  let format: "lfw" | "labels";
  const head = /^\s*(\d+)\s+(\d+)\s*$/.exec(lines[first]);
  if (head) {
    format = "lfw";
    const folds = Number(head[1]), n = Number(head[2]);
    const idx = (t: string, where: string) => {
      if (!/^\d+$/.test(t) || Number(t) < 1) {
        throw new EdcInputError(`${where}: image number "${t}" is not a whole number >= 1`);
      }
      return Number(t);
    };
    for (let i = first + 1; i < lines.length; i++) {
      if (lines[i].trim() === "") continue;
      const where = `${file}:${i + 1}`;
      const f = fields(lines[i]);
      if (f.length === 3) {
        pairs.push({
          a: lfwImageName(f[0], idx(f[1], where)),
          b: lfwImageName(f[0], idx(f[2], where)),
          mated: true,
          line: i + 1,
        });
      } else if (f.length === 4) {
        pairs.push({
          a: lfwImageName(f[0], idx(f[1], where)),
          b: lfwImageName(f[2], idx(f[3], where)),
          mated: false,
          line: i + 1,
        });
      } else {
        throw new EdcInputError(
          `${where}: expected "NAME i j" (mated) or "NAME1 i NAME2 j" (non-mated), got ${f.length} fields`,
        );
      }
    }
    if (pairs.length !== folds * 2 * n) {
      throw new EdcInputError(
        `${file}:${first + 1}: header says ${folds} folds of ${n} mated + ${n} non-mated pairs ` +
          `(${folds * 2 * n} lines), but the file has ${pairs.length} pair lines`,
      );
    }
  } else {
    format = "labels";
    for (let i = first; i < lines.length; i++) {
      if (lines[i].trim() === "") continue;
      const where = `${file}:${i + 1}`;
      const f = fields(lines[i]);
      if (i === first && f.length >= 3 && f[2] !== "0" && f[2] !== "1") continue; // header row
      if (f.length !== 3 && f.length !== 4) {
        throw new EdcInputError(
          `${where}: expected "a b label" or "a b label similarity", got ${f.length} fields`,
        );
      }
      if (f[2] !== "0" && f[2] !== "1") {
        throw new EdcInputError(`${where}: label "${f[2]}" must be 1 (mated) or 0 (non-mated)`);
      }
      const rec: PairRecord = { a: f[0], b: f[1], mated: f[2] === "1", line: i + 1 };
      if (f.length === 4) rec.similarity = parseFiniteNumber(f[3], where, "similarity");
      pairs.push(rec);
    }
    const withSim = pairs.filter((p) => p.similarity !== undefined).length;
    if (withSim !== 0 && withSim !== pairs.length) {
      const bad = pairs.find((p) => p.similarity === undefined)!;
      throw new EdcInputError(
        `${file}:${bad.line}: this pair has no similarity column but others do`,
      );
    }
  }
  if (!pairs.some((p) => p.mated)) {
    throw new EdcInputError(`${file}: no mated pairs (the FNMR-EDC needs at least one)`);
  }
  if (!pairs.some((p) => !p.mated)) {
    throw new EdcInputError(`${file}: no non-mated pairs (the FMR-EDC needs at least one)`);
  }
  return {
    file,
    format,
    pairs,
    hasSimilarity: pairs.length > 0 && pairs.every((p) => p.similarity !== undefined),
  };
}
