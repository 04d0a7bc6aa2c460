/**
 * Input files of the EDC evaluation: quality score files (one or more FIQA methods), pairs lists,
 * comparison scores (precomputed similarities, or embeddings as `.npy` plus an index of paths),
 * and the matching of the images a pair names to the paths in those files.
 *
 * Every parse error is an {@link EdcInputError} whose message starts with `FILE:LINE:` (or
 * `FILE:` when no single line is at fault) and says what is wrong.
 *
 * @module
 */
import * as path from "node:path";
import { NpyFormatError, type NpyMatrix, parseNpy } from "../io/npy.ts";
import type { Comparisons } from "./evaluate.ts";

/** A bad input file or option. The message names the file (and line) and what is wrong. */
export class EdcInputError extends Error {
  /** @param message the full message, starting with `FILE:LINE:` where one line is at fault. */
  constructor(message: string) {
    super(message);
    this.name = "EdcInputError";
  }
}

/** Text lines of a file: CR LF and LF endings, a leading UTF-8 BOM dropped; 1-based numbers. */
function splitLines(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NONFINITE_RE = /^[+-]?(nan|inf|infinity)$/i;

/**
 * Parse a decimal number strictly (the forms Python's repr and JavaScript's toString write).
 *
 * @param text the field.
 * @param where `FILE:LINE` for the message.
 * @param what what the number is, e.g. "score".
 * @returns a finite double.
 * @throws EdcInputError for NaN, infinities and anything that is not a number.
 */
export function parseFiniteNumber(text: string, where: string, what: string): number {
  const t = text.trim();
  if (NUMBER_RE.test(t)) {
    const v = Number(t);
    if (Number.isFinite(v)) return v;
    throw new EdcInputError(`${where}: ${what} "${t}" overflows to ${v}`);
  }
  if (NONFINITE_RE.test(t)) {
    throw new EdcInputError(`${where}: ${what} "${t}" is not a finite number`);
  }
  throw new EdcInputError(`${where}: ${what} "${t}" is not a number`);
}

// ---------------------------------------------------------------------------------------------
// Quality score files
// ---------------------------------------------------------------------------------------------

/** The file formats of quality scores. */
export type QualityFormat = "text" | "tsv" | "jsonl";

/**
 * One `--quality` argument: `FILE[,name=NAME][,order=lower|higher][,column=COL][,path=COL]
 * [,format=text|tsv|jsonl]`. Attributes are trailing comma-separated `key=value` parts with a
 * known key, so a file name may itself contain commas.
 */
export interface QualitySource {
  /** The score file. */
  file: string;
  /** Method name (text files), or prefix `NAME/` of the column names (TSV, JSONL). */
  name?: string;
  /** Which scores are better; default "lower" for files named `GraFIQs_*`, else "higher". */
  order?: "lower" | "higher";
  /** TSV/JSONL: the one score column to use; default every column except the path column. */
  column?: string;
  /** TSV/JSONL: the path column; default the first of path, image, file, filename, else the first. */
  pathColumn?: string;
  /** Format; default from the extension: .tsv, .jsonl/.ndjson, anything else text. */
  format?: QualityFormat;
}

/**
 * Parse a `--quality` argument (see {@link QualitySource}).
 *
 * @param spec the argument text.
 * @throws EdcInputError for an empty file name or a bad attribute value.
 */
export function parseQualitySpec(spec: string): QualitySource {
  const parts = spec.split(",");
  const attrs: Record<string, string> = {};
  const known = new Set(["name", "order", "column", "path", "format"]);
  while (parts.length > 1) {
    const m = /^([a-z]+)=(.*)$/.exec(parts[parts.length - 1]);
    if (!m || !known.has(m[1])) break;
    if (m[1] in attrs) throw new EdcInputError(`--quality ${spec}: "${m[1]}=" given twice`);
    attrs[m[1]] = m[2];
    parts.pop();
  }
  const file = parts.join(",");
  if (file === "") throw new EdcInputError(`--quality ${spec}: no file name`);
  const src: QualitySource = { file };
  if (attrs.name !== undefined) src.name = attrs.name;
  if (attrs.order !== undefined) {
    if (attrs.order !== "lower" && attrs.order !== "higher") {
      throw new EdcInputError(`--quality ${spec}: order must be "lower" or "higher"`);
    }
    src.order = attrs.order;
  }
  if (attrs.column !== undefined) src.column = attrs.column;
  if (attrs.path !== undefined) src.pathColumn = attrs.path;
  if (attrs.format !== undefined) {
    if (attrs.format !== "text" && attrs.format !== "tsv" && attrs.format !== "jsonl") {
      throw new EdcInputError(`--quality ${spec}: format must be text, tsv or jsonl`);
    }
    src.format = attrs.format;
  }
  return src;
}

/** The scores of one FIQA method, as read from its file (one entry per image). */
export interface QualityMethod {
  /** Method name (unique within one evaluation). */
  name: string;
  /** The file the scores came from. */
  file: string;
  /** True when a higher score means better quality. */
  higherIsBetter: boolean;
  /** Image path of each entry, as written in the file. */
  paths: string[];
  /** 1-based line number of each entry in the file. */
  lines: number[];
  /** Score of each entry as written (finite), before any sign change. */
  raw: Float64Array;
}

/**
 * Per-image quality with higher = better: the raw scores, negated when lower is better
 * (SPEC section 6: q = -raw for GraFIQs).
 */
export function qualityOf(method: QualityMethod): Float64Array {
  return method.higherIsBetter ? Float64Array.from(method.raw) : method.raw.map((v) => -v);
}

function formatOf(src: QualitySource): QualityFormat {
  if (src.format) return src.format;
  const lower = src.file.toLowerCase();
  if (lower.endsWith(".tsv")) return "tsv";
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  return "text";
}

function higherIsBetter(src: QualitySource): boolean {
  if (src.order) return src.order === "higher";
  return !/^grafiqs_/i.test(path.basename(src.file));
}

function checkDuplicates(file: string, paths: string[], lines: number[]) {
  const seen = new Map<string, number>();
  paths.forEach((p, i) => {
    const first = seen.get(p);
    if (first !== undefined) {
      throw new EdcInputError(
        `${file}:${lines[i]}: duplicate path "${p}" (first at line ${first})`,
      );
    }
    seen.set(p, lines[i]);
  });
}

const PATH_COLUMNS = ["path", "image", "file", "filename"];

function pickColumns(
  src: QualitySource,
  columns: string[],
  where: string,
  isScore: (column: string) => boolean = () => true,
): { pathCol: string; valueCols: string[] } {
  let pathCol: string | undefined;
  if (src.pathColumn !== undefined) {
    if (!columns.includes(src.pathColumn)) {
      throw new EdcInputError(
        `${where}: no path column "${src.pathColumn}" (have ${columns.join(", ")})`,
      );
    }
    pathCol = src.pathColumn;
  } else {
    pathCol = columns.find((c) => PATH_COLUMNS.includes(c.toLowerCase())) ?? columns[0];
  }
  let valueCols: string[];
  if (src.column !== undefined) {
    if (!columns.includes(src.column) || src.column === pathCol) {
      throw new EdcInputError(
        `${where}: no score column "${src.column}" (have ${columns.join(", ")})`,
      );
    }
    valueCols = [src.column];
  } else {
    valueCols = columns.filter((c) => c !== pathCol && isScore(c));
  }
  if (valueCols.length === 0) {
    throw new EdcInputError(`${where}: no score column besides "${pathCol}"`);
  }
  return { pathCol, valueCols };
}

function methodName(src: QualitySource, column: string | undefined, nColumns: number): string {
  if (column === undefined) return src.name ?? path.basename(src.file).replace(/\.[^.]*$/, "");
  if (src.name === undefined) return column;
  return nColumns === 1 ? src.name : `${src.name}/${column}`;
}

/**
 * Parse the text of a quality score file into one or more methods.
 *
 * Formats:
 * - text: the official `PATH SCORE` lines; the line is split at its LAST space (or tab), so the
 *   path may contain spaces; blank lines are skipped. One method.
 * - tsv: a header row, then one row per image; a path column and one or more score columns, each
 *   a method.
 * - jsonl: one JSON object per line with a path field and numeric score fields (the fields of the
 *   first object decide the methods).
 *
 * @param text the file content.
 * @param src the source description (file name used in messages and for defaults).
 * @returns the methods, each with at least one entry.
 * @throws EdcInputError naming file and line: missing fields, non-numeric, NaN or infinite
 *   scores, a duplicate path, an empty file.
 */
export function parseQualityText(text: string, src: QualitySource): QualityMethod[] {
  const file = src.file;
  const lines = splitLines(text);
  const higher = higherIsBetter(src);
  const format = formatOf(src);
  const out: QualityMethod[] = [];
  if (format === "text") {
    const paths: string[] = [], lineNos: number[] = [], raw: number[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      const where = `${file}:${i + 1}`;
      const cut = Math.max(line.lastIndexOf(" "), line.lastIndexOf("\t"));
      if (cut <= 0) throw new EdcInputError(`${where}: expected "PATH SCORE", got "${line}"`);
      paths.push(line.slice(0, cut));
      raw.push(parseFiniteNumber(line.slice(cut + 1), where, "score"));
      lineNos.push(i + 1);
    });
    out.push({
      name: methodName(src, undefined, 1),
      file,
      higherIsBetter: higher,
      paths,
      lines: lineNos,
      raw: Float64Array.from(raw),
    });
  } else if (format === "tsv") {
    const first = lines.findIndex((l) => l.trim() !== "");
    if (first < 0) throw new EdcInputError(`${file}: empty file (expected a header row)`);
    const header = lines[first].split("\t");
    const { pathCol, valueCols } = pickColumns(src, header, `${file}:${first + 1}`);
    const pi = header.indexOf(pathCol);
    const vis = valueCols.map((c) => header.indexOf(c));
    const paths: string[] = [], lineNos: number[] = [];
    const raws: number[][] = valueCols.map(() => []);
    for (let i = first + 1; i < lines.length; i++) {
      if (lines[i].trim() === "") continue;
      const where = `${file}:${i + 1}`;
      const f = lines[i].split("\t");
      if (f.length !== header.length) {
        throw new EdcInputError(
          `${where}: ${f.length} tab-separated fields, header has ${header.length}`,
        );
      }
      paths.push(f[pi]);
      lineNos.push(i + 1);
      vis.forEach((vi, k) =>
        raws[k].push(parseFiniteNumber(f[vi], where, `score "${header[vi]}"`))
      );
    }
    valueCols.forEach((c, k) =>
      out.push({
        name: methodName(src, c, valueCols.length),
        file,
        higherIsBetter: higher,
        paths,
        lines: lineNos,
        raw: Float64Array.from(raws[k]),
      })
    );
  } else {
    let cols: { pathCol: string; valueCols: string[] } | undefined;
    const paths: string[] = [], lineNos: number[] = [];
    let raws: number[][] = [];
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      const where = `${file}:${i + 1}`;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        throw new EdcInputError(`${where}: not valid JSON (${(e as Error).message})`);
      }
      if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
        throw new EdcInputError(`${where}: expected a JSON object`);
      }
      const rec = obj as Record<string, unknown>;
      if (!cols) {
        const keys = Object.keys(rec);
        const c = pickColumns(src, keys, where, (k) => {
          const v = rec[k];
          return typeof v === "number" ||
            (typeof v === "string" && (NUMBER_RE.test(v.trim()) || NONFINITE_RE.test(v.trim())));
        });
        cols = c;
        raws = c.valueCols.map(() => []);
      }
      const p = rec[cols.pathCol];
      if (typeof p !== "string") {
        throw new EdcInputError(`${where}: field "${cols.pathCol}" is not a string path`);
      }
      paths.push(p);
      lineNos.push(i + 1);
      cols.valueCols.forEach((c, k) => {
        const v = rec[c];
        if (typeof v === "string") raws[k].push(parseFiniteNumber(v, where, `score "${c}"`));
        else if (typeof v === "number" && Number.isFinite(v)) raws[k].push(v);
        else {throw new EdcInputError(
            `${where}: score "${c}" is ${JSON.stringify(v) ?? "missing"}, not a finite number`,
          );}
      });
    });
    if (cols) {
      const c = cols;
      c.valueCols.forEach((col, k) =>
        out.push({
          name: methodName(src, col, c.valueCols.length),
          file,
          higherIsBetter: higher,
          paths,
          lines: lineNos,
          raw: Float64Array.from(raws[k]),
        })
      );
    }
  }
  if (out.length === 0 || out[0].paths.length === 0) {
    throw new EdcInputError(`${file}: no scores in the file`);
  }
  checkDuplicates(file, out[0].paths, out[0].lines);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pairs lists
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Matching pair images to score-file paths
// ---------------------------------------------------------------------------------------------

function normalizeName(p: string): string {
  let n = path.normalize(p);
  while (n.startsWith("./")) n = n.slice(2);
  return n;
}

/**
 * Finds the entry of a score file (or embeddings index) that an image named by a pairs list
 * refers to. A name matches a path
 * 1. when it equals the path taken relative to the images root (with no root: the path as
 *    written), after normalisation (`./`, `//`, `..` resolved lexically); else
 * 2. when its file name equals the file name of exactly one path in the file.
 */
export class PathMatcher {
  private readonly byKey = new Map<string, number>();
  private readonly byBase = new Map<string, number[]>();

  /**
   * @param file the file holding the paths (for messages).
   * @param paths the paths, as written in the file.
   * @param lines the 1-based line of each path (for messages).
   * @param imagesRoot the images root directory, or undefined.
   * @throws EdcInputError for two entries that are the same path after normalisation.
   */
  constructor(
    readonly file: string,
    readonly paths: string[],
    readonly lines: number[],
    imagesRoot?: string,
  ) {
    const root = imagesRoot === undefined ? undefined : path.resolve(imagesRoot);
    paths.forEach((p, i) => {
      let key = normalizeName(p);
      if (root !== undefined) {
        const rel = path.relative(root, path.resolve(p));
        if (rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel)) key = rel;
      }
      const prev = this.byKey.get(key);
      if (prev !== undefined) {
        throw new EdcInputError(
          `${file}:${lines[i]}: duplicate path "${p}" (same image as line ${lines[prev]})`,
        );
      }
      this.byKey.set(key, i);
      const base = path.basename(p);
      const list = this.byBase.get(base);
      if (list) list.push(i);
      else this.byBase.set(base, [i]);
    });
  }

  /**
   * The entry index for an image name.
   *
   * @param name the image as named by the pairs list.
   * @param where `PAIRSFILE:LINE` of the pair naming it.
   * @throws EdcInputError (naming `where`, the image and this file) when no path or several
   *   paths match.
   */
  match(name: string, where: string): number {
    const hit = this.byKey.get(normalizeName(name));
    if (hit !== undefined) return hit;
    const cands = this.byBase.get(path.basename(name)) ?? [];
    if (cands.length === 1) return cands[0];
    if (cands.length === 0) {
      throw new EdcInputError(`${where}: image "${name}" has no entry in ${this.file}`);
    }
    throw new EdcInputError(
      `${where}: image "${name}" is ambiguous in ${this.file}: its file name matches lines ` +
        `${
          cands.map((c) => this.lines[c]).join(", ")
        }; give --images-root so paths match by relative path`,
    );
  }
}

/** The images a pairs list names, each once, and each pair as indices into that list. */
export interface PairImages {
  /** Distinct image names, in order of first appearance. */
  images: string[];
  /** For each image, the pair line that first named it as `FILE:LINE` (for messages). */
  firstSeen: string[];
  /** Index into `images` of each pair's first image. */
  a: Uint32Array;
  /** Index into `images` of each pair's second image. */
  b: Uint32Array;
}

/** Collect the distinct images of a pairs list (see {@link PairImages}). */
export function pairImages(list: PairList): PairImages {
  const index = new Map<string, number>();
  const images: string[] = [], firstSeen: string[] = [];
  const id = (name: string, line: number) => {
    let i = index.get(name);
    if (i === undefined) {
      i = images.length;
      index.set(name, i);
      images.push(name);
      firstSeen.push(`${list.file}:${line}`);
    }
    return i;
  };
  const a = new Uint32Array(list.pairs.length), b = new Uint32Array(list.pairs.length);
  list.pairs.forEach((p, k) => {
    a[k] = id(p.a, p.line);
    b[k] = id(p.b, p.line);
  });
  return { images, firstSeen, a, b };
}

/**
 * Map each pair image to its entry in a file of paths.
 *
 * @returns for each of `pi.images`, the index of its entry in `matcher.paths`.
 * @throws EdcInputError naming the pair's file and line when an image has no (or an ambiguous)
 *   entry.
 */
export function matchImages(pi: PairImages, matcher: PathMatcher): Uint32Array {
  const rows = new Uint32Array(pi.images.length);
  pi.images.forEach((name, i) => rows[i] = matcher.match(name, pi.firstSeen[i]));
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Comparison scores
// ---------------------------------------------------------------------------------------------

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
 * Cosine similarity of the L2-normalised embeddings of each pair (SPEC section 6).
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

// ---------------------------------------------------------------------------------------------
// Loading everything
// ---------------------------------------------------------------------------------------------

/** Where the inputs of one evaluation come from. */
export interface EdcInputFiles {
  /** The quality score files (one or more methods each). */
  qualities: QualitySource[];
  /** The pairs list. */
  pairs: string;
  /** Directory the LFW / relative image names are relative to (optional). */
  imagesRoot?: string;
  /** File of one similarity per pair, in pairs order (optional). */
  similarities?: string;
  /** `.npy` embeddings, N × D float32/float64 (optional; needs `embeddingsIndex`). */
  embeddings?: string;
  /** Paths of the embedding rows, one per line. */
  embeddingsIndex?: string;
}

/** Everything an evaluation needs, parsed and matched. */
export interface EdcInputs {
  /** The pairs list. */
  pairs: PairList;
  /** Distinct images of the pairs and the pairs as indices. */
  images: PairImages;
  /** Similarity of each pair, in pairs order. */
  similarity: Float64Array;
  /** Where the similarities came from, in words. */
  similaritySource: string;
  /** The methods, with per-image quality (higher = better) for `images.images`. */
  methods: { name: string; file: string; higherIsBetter: boolean; qualities: Float64Array }[];
  /** The comparisons as `evaluateEdc` takes them: image indices, mated flags, similarity. */
  comparisons: Comparisons;
}

async function readText(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    throw new EdcInputError(`${file}: cannot read (${(e as Error).message})`);
  }
}

/**
 * Read, parse and match all inputs of an evaluation.
 *
 * Exactly one similarity source must be given: a similarities file, a 4th column in an
 * `a b label similarity` pairs list, or embeddings plus index (cosine similarity).
 *
 * @throws EdcInputError naming the file (and line) of any problem: unreadable file, parse error,
 *   a pair image without score or embedding, a duplicate path, non-finite values, two methods of
 *   the same name, no or several similarity sources.
 */
export async function loadEdcInputs(src: EdcInputFiles): Promise<EdcInputs> {
  if (src.qualities.length === 0) {
    throw new EdcInputError("no quality score file given (--quality)");
  }
  const pairs = parsePairs(await readText(src.pairs), src.pairs);
  const images = pairImages(pairs);
  const sources = [
    src.similarities !== undefined,
    pairs.hasSimilarity,
    src.embeddings !== undefined || src.embeddingsIndex !== undefined,
  ].filter(Boolean).length;
  if (sources !== 1) {
    throw new EdcInputError(
      sources === 0
        ? `${src.pairs}: no comparison scores: give --similarities, --embeddings with --embeddings-index, ` +
          `or a 4th (similarity) column in the pairs list`
        : `${src.pairs}: comparison scores given more than once (similarity column, --similarities, --embeddings); give one`,
    );
  }
  let similarity: Float64Array;
  let similaritySource: string;
  if (src.similarities !== undefined) {
    similarity = parseSimilarities(
      await readText(src.similarities),
      src.similarities,
      pairs.pairs.length,
    );
    similaritySource = src.similarities;
  } else if (pairs.hasSimilarity) {
    similarity = Float64Array.from(pairs.pairs, (p) => p.similarity!);
    similaritySource = `${src.pairs} (similarity column)`;
  } else {
    if (src.embeddings === undefined || src.embeddingsIndex === undefined) {
      throw new EdcInputError("--embeddings and --embeddings-index must be given together");
    }
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(src.embeddings);
    } catch (e) {
      throw new EdcInputError(`${src.embeddings}: cannot read (${(e as Error).message})`);
    }
    let emb: NpyMatrix;
    try {
      emb = parseNpy(bytes, src.embeddings);
    } catch (e) {
      if (e instanceof NpyFormatError) throw new EdcInputError(e.message);
      throw e;
    }
    const index = parseIndex(await readText(src.embeddingsIndex), src.embeddingsIndex);
    if (index.paths.length !== emb.rows) {
      throw new EdcInputError(
        `${src.embeddingsIndex}: ${index.paths.length} paths, but ${src.embeddings} has ${emb.rows} rows`,
      );
    }
    const matcher = new PathMatcher(src.embeddingsIndex, index.paths, index.lines, src.imagesRoot);
    const rows = matchImages(images, matcher);
    similarity = cosineSimilarities(emb, rows, images, src.embeddings, index.lines);
    similaritySource = `cosine of L2-normalised embeddings in ${src.embeddings}`;
  }
  const methods: EdcInputs["methods"] = [];
  const names = new Map<string, string>();
  for (const q of src.qualities) {
    const parsed = parseQualityText(await readText(q.file), q);
    const matcher = new PathMatcher(q.file, parsed[0].paths, parsed[0].lines, src.imagesRoot);
    const rows = matchImages(images, matcher);
    for (const m of parsed) {
      const other = names.get(m.name);
      if (other !== undefined) {
        throw new EdcInputError(
          `${q.file}: method name "${m.name}" is already used by ${other}; give ,name=OTHER`,
        );
      }
      names.set(m.name, q.file);
      const all = qualityOf(m);
      methods.push({
        name: m.name,
        file: m.file,
        higherIsBetter: m.higherIsBetter,
        qualities: Float64Array.from(rows, (r) => all[r]),
      });
    }
  }
  const comparisons = {
    a: images.a,
    b: images.b,
    mated: pairs.pairs.map((p) => p.mated),
    similarity,
  };
  return { pairs, images, similarity, similaritySource, methods, comparisons };
}
