/**
 * Score files in the official GraFIQs format and the list of images that failed.
 *
 * The official `extract_grafiqs.py` creates OUT with `mkdir(parents=True, exist_ok=True)` and
 * writes, per group φ, `OUT/GraFIQs_<φ>.txt` with `f.write(f"{image_path} {score}\n")` for each
 * image in the sorted order, where `score` is `float(torch.abs(grad).sum())`: the float32 sum
 * widened to double, printed as Python's repr (docs/ALGORITHM.md#score-files). Text mode on POSIX
 * writes `\n`, UTF-8.
 *
 * This module holds the formats only (texts in, texts out); score_files.ts reads and writes
 * them as files.
 *
 * @module
 */
import { formatPythonFloat, parsePythonFloat } from "./pyfloat.ts";

/** One image's row for {@link scoreFileTexts} (and `writeScoreFiles`, score_files.ts). */
export interface ScoreRow {
  /** Path text as printed (after any --path-replace). */
  path: string;
  /** One score per group, in the order of the `groups` argument (float32 values). */
  scores: ArrayLike<number>;
}

/**
 * Why a path text cannot be written into a score file, or null when it can. A line break would
 * split the `PATH SCORE` line (the official code writes it anyway and produces a file that
 * cannot be parsed back); callers should report such images as failures before writing.
 *
 * @param path the path text
 * @returns a reason such as `path contains a line break`, or null
 */
export function scorePathProblem(path: string): string | null {
  if (/[\n\r]/.test(path)) {
    return "path contains a line break, which the score file format cannot hold";
  }
  return null;
}

/**
 * Format one score as the official code prints it: the value rounded to float32
 * (`Math.fround`, exact for values that already are float32) and printed with Python's repr
 * ({@link formatPythonFloat}), e.g. `7190.53515625`, `0.018799999728798866`,
 * `9.999999747378752e-06`.
 *
 * @param score a float32 score (any number is rounded to float32 first)
 * @returns the score text
 */
export function formatScore(score: number): string {
  return formatPythonFloat(Math.fround(score));
}

/**
 * The official score files' names and texts, one per group (docs/ALGORITHM.md#score-files): each
 * text has one line `PATH SCORE\n` per row, in the given order (the caller passes the sorted image
 * order), PATH and SCORE separated by one space, `\n` line endings, SCORE as {@link formatScore}.
 *
 * @param groups group names, e.g. `["image", "block1", "block2", "block3", "block4"]` (or
 *   `stage1..5` for MobileFaceNet); non-empty, unique, without `/`, `\` or NUL
 * @param rows one row per image; `rows[i].scores[g]` is the score of image i for `groups[g]`
 * @returns `{ name: "GraFIQs_<group>.txt", data: text }` per group, in group order
 * @throws Error on a bad group name, a row whose score count differs from `groups.length`
 *   (naming the row and path), or a path that {@link scorePathProblem} rejects (naming it).
 */
export function scoreFileTexts(
  groups: string[],
  rows: ScoreRow[],
): { name: string; data: string }[] {
  const seen = new Set<string>();
  for (const g of groups) {
    if (g === "" || /[/\\\0]/.test(g)) throw new Error(`bad score group name ${JSON.stringify(g)}`);
    if (seen.has(g)) throw new Error(`score group ${JSON.stringify(g)} given twice`);
    seen.add(g);
  }
  rows.forEach((r, i) => {
    if (r.scores.length !== groups.length) {
      throw new Error(
        `score row ${i} (${JSON.stringify(r.path)}) has ${r.scores.length} scores, ` +
          `expected ${groups.length} (one per group: ${groups.join(", ")})`,
      );
    }
    const problem = scorePathProblem(r.path);
    if (problem) throw new Error(`score row ${i} (${JSON.stringify(r.path)}): ${problem}`);
  });
  return groups.map((g, gi) => {
    let text = "";
    for (const r of rows) text += `${r.path} ${formatScore(r.scores[gi])}\n`;
    return { name: scoreFileName(g), data: text };
  });
}

/**
 * The official score file name of a group: `GraFIQs_<group>.txt`.
 *
 * @param group e.g. `image`, `block1`
 */
export function scoreFileName(group: string): string {
  return `GraFIQs_${group}.txt`;
}

/** One parsed line of a score file. */
export interface ScoreEntry {
  /** The PATH text (everything before the last space). */
  path: string;
  /** The SCORE as a double (Python float text, including `inf`, `nan`). */
  score: number;
}

/**
 * Parse the text of an official score file: lines `PATH SCORE`, split on the LAST space (a path
 * may contain spaces), `\n` line endings (a `\r` before the `\n` is tolerated), an optional final
 * newline.
 *
 * @param text the file content
 * @param source file name for error messages
 * @returns the entries in file order
 * @throws Error `<source>:<line>: ...` for a line without a space, an empty line inside the
 *   file, or a score that is not a Python float literal.
 */
export function parseScoreFile(text: string, source: string): ScoreEntry[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const sp = line.lastIndexOf(" ");
    if (sp < 0) {
      throw new Error(`${source}:${i + 1}: expected "PATH SCORE", got ${JSON.stringify(line)}`);
    }
    let score: number;
    try {
      score = parsePythonFloat(line.slice(sp + 1));
    } catch (e) {
      throw new Error(`${source}:${i + 1}: bad score: ${(e as Error).message}`);
    }
    return { path: line.slice(0, sp), score };
  });
}

/** One image that could not be scored, for {@link failedListText}. */
export interface Failure {
  /** Path text as in the score files (after any --path-replace). */
  path: string;
  /** Human-readable reason, e.g. `cannot decode: ...` or `is a directory`. */
  reason: string;
}

/** The failure list's file name in OUT. */
export const FAILED_FILE_NAME = "GraFIQs_failed.txt";

/** The failure list's header line (without the newline). */
export const FAILED_HEADER = "path\treason";

/**
 * Escape a TSV field: backslash, tab, line feed, carriage return and NUL become `\\`, `\t`,
 * `\n`, `\r`, `\0`. The convention of GraFIQs_failed.txt, the record output and the resume
 * journal.
 */
export function escapeTsv(s: string): string {
  return s.replace(
    /[\\\t\n\r\0]/g,
    (c) =>
      c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : "\\0",
  );
}

/** Undo {@link escapeTsv}; a backslash before any other character stands for that character. */
export function unescapeTsv(s: string): string {
  return s.replace(
    /\\(.)/gs,
    (_m, c: string) =>
      c === "t" ? "\t" : c === "n" ? "\n" : c === "r" ? "\r" : c === "0" ? "\0" : c,
  );
}

/**
 * The text of `GraFIQs_failed.txt`, the images left out of the score files (this project's
 * addition; the official code crashes on the first undecodable image instead).
 *
 * Format: UTF-8 TSV with `\n` line endings; the header line `path<TAB>reason`, then one line
 * `PATH<TAB>REASON` per failure in the given order. In both fields a backslash, tab, line feed,
 * carriage return and NUL are written as `\\`, `\t`, `\n`, `\r`, `\0`, so every record is
 * one line. With no failures it holds just the header, which marks a clean run.
 *
 * @param failures the images that failed, in order
 */
export function failedListText(failures: Failure[]): string {
  let text = FAILED_HEADER + "\n";
  for (const f of failures) text += `${escapeTsv(f.path)}\t${escapeTsv(f.reason)}\n`;
  return text;
}

/**
 * Parse the text of a failure list ({@link failedListText}).
 *
 * @param text the file's text
 * @param source the file's name, for messages
 * @returns the failures in file order, fields unescaped
 * @throws Error naming `source` and the line when the header is missing or a line does not
 *   have exactly two tab-separated fields.
 */
export function parseFailedList(text: string, source: string): Failure[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines[0] !== FAILED_HEADER) {
    throw new Error(`${source}:1: expected the header ${JSON.stringify(FAILED_HEADER)}`);
  }
  return lines.slice(1).map((line, i) => {
    const fields = line.split("\t");
    if (fields.length !== 2) {
      throw new Error(`${source}:${i + 2}: expected 2 tab-separated fields, got ${fields.length}`);
    }
    return { path: unescapeTsv(fields[0]), reason: unescapeTsv(fields[1]) };
  });
}
