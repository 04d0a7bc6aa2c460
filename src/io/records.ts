/**
 * Result records (TSV and JSONL): one line per image, written by the record mode and read back
 * by `--resume` (pipeline/resume.ts).
 *
 * Record formats (one record per input image, in input order):
 * - TSV: UTF-8, `\n` line ends, a header line `path<TAB>GROUP...<TAB>status<TAB>error`, then one
 *   line per image. Scores are printed as in the official score files (the float32 value in
 *   Python's repr, e.g. `7190.53515625`); a failed image has empty score fields. In the path
 *   and error fields a backslash, tab, line feed, carriage return and NUL are written `\\`,
 *   `\t`, `\n`, `\r`, `\0` (the escaping of GraFIQs_failed.txt), so every record is exactly
 *   one line.
 * - JSONL: one JSON object per line, keys in the order `path`, each group, `status`, `error`.
 *   A score is a JSON number (the shortest text that reads back as the same double, so the
 *   float32 value is exact), or the string `"inf"`, `"-inf"` or `"nan"` for a non-finite one
 *   (JSON has no such numbers); `null` for a failed image. `error` is null when scored.
 * - `status` is `ok` or `failed`; `error` says why a failed image could not be scored.
 * - With `--calibration`, the columns `quality_<group>` follow `error` (TSV: after it, two
 *   decimals, empty for a failed image; JSONL: keys after `error`, a number or null): the
 *   calibrated 0-100 quality (io/calibration.ts).
 * - With `--align` ({@link FACE_COLUMNS}), after those: TSV has three more columns,
 *   `face_box` (`x,y,width,height`), `landmarks` (`x1,y1,...,x5,y5`: eyes, nose tip, mouth
 *   corners, ArcFace order) in image pixels with 2 decimals, and `face_confidence` (the
 *   detector's, 4 decimals); empty for a failed image. JSONL has one more key, last: `face`,
 *   `{"box": [x, y, w, h], "landmarks": [[x, y], ...], "confidence": c}` (same rounding) or
 *   null. A run with both options thus has `error`, the `quality_<group>` columns, then the
 *   face fields; a run with neither has the columns it always had.
 *
 * @module
 */
import { formatQuality } from "./calibration.ts";
import { formatPythonFloat, parsePythonFloat } from "./pyfloat.ts";
import { escapeTsv, formatScore, unescapeTsv } from "./scores.ts";
import type { FaceInfo } from "../align/face.ts";

/** Output format of the record mode. */
export type RecordFormat = "tsv" | "jsonl";

/** One image's result. */
export interface ImageRecord {
  /** Path text as printed (record mode) or as listed (journal). */
  path: string;
  /** One float32 score per group, in the run's group order; null when the image failed. */
  scores: ArrayLike<number> | null;
  /** Why the image failed; null when it was scored. */
  error: string | null;
  /** The embedding (E float32 values), kept only where the run saves embeddings. */
  embedding?: Float32Array | null;
  /**
   * The calibrated quality per group (0..100), written as the `quality_<group>` columns; null
   * for a failed image of a calibrated run (empty columns); absent: no such columns.
   */
  quality?: ArrayLike<number> | null;
  /** With `--align`: the aligned face's box, landmarks and confidence (null when failed). */
  face?: FaceInfo | null;
}

/** The TSV columns that `--align` adds after `error` (and the `quality_<group>` columns). */
export const FACE_COLUMNS: readonly string[] = ["face_box", "landmarks", "face_confidence"];

const round = (v: number, d: number) => Number(v.toFixed(d));

/** A face as the JSONL `face` value (coordinates to 2 decimals, confidence to 4). */
function faceJson(f: FaceInfo): Record<string, unknown> {
  return {
    box: f.box.map((v) => round(v, 2)),
    landmarks: f.landmarks.map((p) => [round(p[0], 2), round(p[1], 2)]),
    confidence: round(f.confidence, 4),
  };
}

/** A face as the three TSV fields of {@link FACE_COLUMNS}. */
function faceFields(f: FaceInfo | null | undefined): string[] {
  if (!f) return ["", "", ""];
  const j = faceJson(f) as { box: number[]; landmarks: number[][]; confidence: number };
  return [j.box.join(","), j.landmarks.flat().join(","), String(j.confidence)];
}

/** Status column value of a scored image. */
export const STATUS_OK = "ok";
/** Status column value of an image that could not be scored. */
export const STATUS_FAILED = "failed";

/**
 * The header line of a TSV record file, with its line feed; empty for JSONL (which has none).
 *
 * @param format output format
 * @param groups the group names, e.g. `["image", "block1", "block2", "block3", "block4"]`
 * @param extra extra trailing columns (the journal's `embedding`; `quality_<group>` with
 *   --calibration, then {@link FACE_COLUMNS} with --align)
 */
export function recordHeader(format: RecordFormat, groups: string[], extra: string[] = []): string {
  if (format === "jsonl") return "";
  return ["path", ...groups, "status", "error", ...extra].join("\t") + "\n";
}

function jsonScore(x: number): number | string {
  const v = Math.fround(x);
  if (Number.isFinite(v)) return v;
  return formatPythonFloat(v); // "inf", "-inf", "nan"
}

/**
 * One record as a line of the given format, with its line feed (see the module comment).
 *
 * @param format output format
 * @param groups the group names, in column order
 * @param r the record; `r.scores` must have one value per group when not null
 * @param withEmbedding append the `embedding` column (TSV only: the little-endian float32
 *   bytes in base64, empty for a failed image); used by the folder-mode journal
 * @param withFace add the `--align` face fields ({@link FACE_COLUMNS}, JSONL `face`)
 * @throws RangeError when the score count differs from the group count
 *
 * When `r.quality` is present (an array or null), the `quality_<group>` columns follow `error`;
 * with `withFace`, the face fields come after them.
 */
export function formatRecord(
  format: RecordFormat,
  groups: string[],
  r: ImageRecord,
  withEmbedding = false,
  withFace = false,
): string {
  if (r.scores && r.scores.length !== groups.length) {
    throw new RangeError(
      `record for ${JSON.stringify(r.path)} has ${r.scores.length} scores, expected ` +
        `${groups.length} (${groups.join(", ")})`,
    );
  }
  const ok = r.scores !== null;
  if (format === "jsonl") {
    const o: Record<string, unknown> = { path: r.path };
    groups.forEach((g, i) => (o[g] = ok ? jsonScore(r.scores![i]) : null));
    o.status = ok ? STATUS_OK : STATUS_FAILED;
    o.error = ok ? null : (r.error ?? "");
    if (r.quality !== undefined) {
      groups.forEach((g, i) => {
        const q = r.quality ? formatQuality(r.quality[i]) : "";
        o[`quality_${g}`] = q === "" ? null : Number(q);
      });
    }
    if (withFace) o.face = r.face ? faceJson(r.face) : null;
    return JSON.stringify(o) + "\n";
  }
  const fields = [escapeTsv(r.path)];
  for (let i = 0; i < groups.length; i++) fields.push(ok ? formatScore(r.scores![i]) : "");
  fields.push(ok ? STATUS_OK : STATUS_FAILED, ok ? "" : escapeTsv(r.error ?? ""));
  if (withEmbedding) fields.push(ok && r.embedding ? encodeEmbedding(r.embedding) : "");
  if (r.quality !== undefined) {
    for (let i = 0; i < groups.length; i++) {
      fields.push(r.quality ? formatQuality(r.quality[i]) : "");
    }
  }
  if (withFace) fields.push(...faceFields(r.face));
  return fields.join("\t") + "\n";
}

function encodeEmbedding(e: Float32Array): string {
  const bytes = new Uint8Array(e.length * 4);
  const dv = new DataView(bytes.buffer);
  e.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function decodeEmbedding(text: string, where: string): Float32Array {
  let bin: string;
  try {
    bin = atob(text);
  } catch {
    throw new Error(`${where}: the embedding is not valid base64`);
  }
  if (bin.length % 4 !== 0) throw new Error(`${where}: the embedding is not whole float32 values`);
  const dv = new DataView(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) dv.setUint8(i, bin.charCodeAt(i));
  const out = new Float32Array(bin.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/**
 * Parse one complete line (without its line feed) written by {@link formatRecord}.
 *
 * @param format output format
 * @param groups the group names, in column order
 * @param line the line text
 * @param where `FILE:LINE` for messages
 * @param withEmbedding whether the line has the journal's `embedding` column
 * @param extraFields TSV columns after `error` that are not read: the `quality_<group>`
 *   columns of a calibrated run, then the `--align` face fields ({@link FACE_COLUMNS})
 * @returns the record (scores as doubles holding the float32 values)
 * @throws Error naming `where` when the line does not have the expected fields
 */
export function parseRecordLine(
  format: RecordFormat,
  groups: string[],
  line: string,
  where: string,
  withEmbedding = false,
  extraFields = 0,
): ImageRecord {
  if (format === "jsonl") {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not a JSON record (${(e as Error).message})`);
    }
    if (typeof o !== "object" || o === null || typeof o.path !== "string") {
      throw new Error(`${where}: expected a JSON object with a string "path"`);
    }
    if (o.status !== STATUS_OK && o.status !== STATUS_FAILED) {
      throw new Error(`${where}: "status" must be "ok" or "failed"`);
    }
    if (o.status === STATUS_FAILED) {
      return { path: o.path, scores: null, error: String(o.error ?? "") };
    }
    const scores = groups.map((g) => {
      const v = o[g];
      if (typeof v === "number") return v;
      if (typeof v === "string") return parsePythonFloat(v);
      throw new Error(`${where}: score "${g}" is missing`);
    });
    return { path: o.path, scores, error: null };
  }
  const f = line.split("\t");
  const want = groups.length + 3 + (withEmbedding ? 1 : 0) + extraFields;
  if (f.length !== want) {
    throw new Error(`${where}: ${f.length} tab-separated fields, expected ${want}`);
  }
  const path = unescapeTsv(f[0]);
  const status = f[groups.length + 1];
  if (status === STATUS_FAILED) {
    return { path, scores: null, error: unescapeTsv(f[groups.length + 2]) };
  }
  if (status !== STATUS_OK) throw new Error(`${where}: status must be "ok" or "failed"`);
  const scores = groups.map((g, i) => {
    try {
      return parsePythonFloat(f[1 + i]);
    } catch (e) {
      throw new Error(`${where}: score "${g}": ${(e as Error).message}`);
    }
  });
  const embedding = withEmbedding ? decodeEmbedding(f[groups.length + 3], where) : null;
  return { path, scores, error: null, embedding };
}
