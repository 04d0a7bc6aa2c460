/**
 * Quality score files of the EDC evaluation: the `--quality` specification and the official
 * text, TSV and JSONL formats, each holding one or more FIQA methods.
 *
 * @module
 */
import * as path from "node:path";
import {
  EdcInputError,
  NONFINITE_RE,
  NUMBER_RE,
  parseFiniteNumber,
  splitLines,
} from "./input_text.ts";

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
 * (docs/EDC.md: q = -raw for GraFIQs).
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
