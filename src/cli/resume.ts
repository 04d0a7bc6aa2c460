/**
 * Result records (TSV and JSONL), and what `--resume` needs to continue an interrupted run:
 * recovering a record file (record mode) and the append-only journal of the folder mode.
 *
 * Record formats (one record per input image, in input order):
 * - TSV: UTF-8, `\n` line ends, a header line `path<TAB>GROUP...<TAB>status<TAB>error`, then one
 *   line per image. Scores are printed as in the official score files (the float32 value in
 *   Python's repr, e.g. `7190.53515625`); a failed image has empty score fields. In the path
 *   and error fields a backslash, tab, line feed and carriage return are written `\\`, `\t`,
 *   `\n`, `\r` (the escaping of GraFIQs_failed.txt), so every record is exactly one line.
 * - JSONL: one JSON object per line, keys in the order `path`, each group, `status`, `error`.
 *   A score is a JSON number (the shortest text that reads back as the same double, so the
 *   float32 value is exact), or the string `"inf"`, `"-inf"` or `"nan"` for a non-finite one
 *   (JSON has no such numbers); `null` for a failed image. `error` is null when scored.
 * - `status` is `ok` or `failed`; `error` says why a failed image could not be scored.
 *
 * @module
 */
import { formatPythonFloat, parsePythonFloat } from "../io/pyfloat.ts";
import { readCompleteLines, writeAll } from "../io/files.ts";
import { escapeTsv, formatScore, unescapeTsv } from "../io/scores.ts";

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
 * @param extra extra trailing columns (the journal's `embedding`)
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
 * @throws RangeError when the score count differs from the group count
 */
export function formatRecord(
  format: RecordFormat,
  groups: string[],
  r: ImageRecord,
  withEmbedding = false,
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
    return JSON.stringify(o) + "\n";
  }
  const fields = [escapeTsv(r.path)];
  for (let i = 0; i < groups.length; i++) fields.push(ok ? formatScore(r.scores![i]) : "");
  fields.push(ok ? STATUS_OK : STATUS_FAILED, ok ? "" : escapeTsv(r.error ?? ""));
  if (withEmbedding) fields.push(ok && r.embedding ? encodeEmbedding(r.embedding) : "");
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
 * @returns the record (scores as doubles holding the float32 values)
 * @throws Error naming `where` when the line does not have the expected fields
 */
export function parseRecordLine(
  format: RecordFormat,
  groups: string[],
  line: string,
  where: string,
  withEmbedding = false,
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
  const want = groups.length + 3 + (withEmbedding ? 1 : 0);
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
  const embedding = withEmbedding ? decodeEmbedding(f[want - 1], where) : null;
  return { path, scores, error: null, embedding };
}

/** What {@link recoverRecordFile} found in an existing record file. */
export interface RecoveredRecords {
  /** How many records each path text already has (a path may be listed more than once). */
  done: Map<string, number>;
  /** Number of complete records. */
  records: number;
  /** How many of them are failed images. */
  failed: number;
  /** Bytes of a torn last line that were cut off (0 when none). */
  tornBytes: number;
  /** Whether the (TSV) header still has to be written: the file is missing or empty. */
  needsHeader: boolean;
}

/**
 * Prepare a record file for `--resume`: read its complete records, cut a torn last line, and
 * count the path texts already done. A missing file is an empty start.
 *
 * @param path the `--output` file
 * @param format its format
 * @param groups the run's groups (the TSV header must match them)
 * @returns the recovered state; the file then ends with a complete line (or is empty)
 * @throws Error naming the file and line when the header differs from this run's columns or a
 *   record is malformed (another file, or a different format or model), or when the file
 *   cannot be read
 */
export async function recoverRecordFile(
  path: string,
  format: RecordFormat,
  groups: string[],
): Promise<RecoveredRecords> {
  const done = new Map<string, number>();
  let records = 0;
  let failed = 0;
  try {
    await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { done, records, failed, tornBytes: 0, needsHeader: true };
    }
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  const header = recordHeader(format, groups).replace(/\n$/, "");
  const r = await readCompleteLines(path, (line, no) => {
    if (format === "tsv" && no === 1) {
      if (line !== header) {
        throw new Error(
          `${path}:1: the header ${JSON.stringify(line)} does not match this run's columns ` +
            `${JSON.stringify(header)}; resume with the same model and format, or choose ` +
            `another --output`,
        );
      }
      return;
    }
    const rec = parseRecordLine(format, groups, line, `${path}:${no}`);
    done.set(rec.path, (done.get(rec.path) ?? 0) + 1);
    records++;
    if (rec.scores === null) failed++;
  });
  return {
    done,
    records,
    failed,
    tornBytes: r.tornBytes,
    needsHeader: format === "tsv" && r.lines === 0,
  };
}

/** The journal's file name inside the output folder. */
export const JOURNAL_NAME = ".grafiqs_journal.tsv";

/** The journal's first line starts with this tag, followed by a tab and the run's settings. */
export const JOURNAL_TAG = "#grafiqs-journal-v1";

/** What a journal's results depend on; a journal is only resumed by a run with equal settings. */
export interface JournalSettings {
  /** The network (e.g. `iresnet50`). */
  model: string;
  /** FNV-1a 64 of the weights file's bytes, 16 hex digits. */
  weights: string;
  /** Groups scored, in output order. */
  groups: string[];
  /** Channel order fed to the network. */
  channelOrder: "bgr" | "rgb";
  /** Whether embeddings are kept (for --save-embeddings). */
  embeddings: boolean;
}

/**
 * The folder mode's append-only journal `OUT/.grafiqs_journal.tsv`.
 *
 * Layout: the line `#grafiqs-journal-v1<TAB>SETTINGS_JSON` ({@link JournalSettings}), the TSV
 * header of {@link recordHeader} plus an `embedding` column, then one TSV record per image done
 * (the path as listed, before --path-replace; the embedding column holds base64 float32 when
 * embeddings are kept, else is empty). Records are appended and flushed to disk after every
 * batch, so a killed run loses at most the batch in flight; a torn last line is cut on open.
 */
export class Journal {
  /** The journal file's path. */
  readonly path: string;
  #file: Deno.FsFile;
  #groups: string[];

  private constructor(path: string, file: Deno.FsFile, groups: string[]) {
    this.path = path;
    this.#file = file;
    this.#groups = groups;
  }

  /**
   * Open (or start) the journal in `outDir`, which must exist.
   *
   * @param outDir the output folder
   * @param settings this run's settings; an existing journal must have been written with equal
   *   settings
   * @returns the journal, ready to append, and the records it already holds, by path (a later
   *   record of the same path replaces an earlier one)
   * @throws Error naming the journal when it was written with other settings, is malformed,
   *   or cannot be read or written
   */
  static async open(
    outDir: string,
    settings: JournalSettings,
  ): Promise<{ journal: Journal; done: Map<string, ImageRecord> }> {
    const path = `${outDir}/${JOURNAL_NAME}`;
    const groups = settings.groups;
    const tagLine = `${JOURNAL_TAG}\t${JSON.stringify(settings)}`;
    const header = recordHeader("tsv", groups, ["embedding"]).replace(/\n$/, "");
    const done = new Map<string, ImageRecord>();
    let lines = 0;
    let exists = true;
    try {
      await Deno.lstat(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
      }
      exists = false;
    }
    if (exists) {
      const r = await readCompleteLines(path, (line, no) => {
        if (no === 1) {
          if (line !== tagLine) {
            const found = line.startsWith(JOURNAL_TAG + "\t")
              ? line.slice(JOURNAL_TAG.length + 1)
              : JSON.stringify(line.slice(0, 80));
            throw new Error(
              `${path} was written by a run with other settings (${found}; this run: ` +
                `${JSON.stringify(settings)}); rerun with the same weights and options, or ` +
                `delete the journal to start over`,
            );
          }
        } else if (no === 2) {
          if (line !== header) throw new Error(`${path}:2: unexpected header`);
        } else {
          const rec = parseRecordLine("tsv", groups, line, `${path}:${no}`, true);
          done.set(rec.path, rec);
        }
      });
      lines = r.lines;
    }
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, append: true, create: true });
    } catch (e) {
      throw new Error(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
    }
    const j = new Journal(path, file, groups);
    if (lines < 2) {
      // A missing journal, or one cut before its header was complete: start it afresh.
      await file.truncate(0);
      await j.#write(tagLine + "\n" + header + "\n");
    }
    return { journal: j, done };
  }

  async #write(text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    try {
      await writeAll(this.#file, bytes);
      await this.#file.syncData();
    } catch (e) {
      throw new Error(`cannot write ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Append one batch of records (paths as listed) and flush them to disk.
   *
   * @throws Error naming the journal when it cannot be written
   */
  async append(records: ImageRecord[]): Promise<void> {
    if (records.length === 0) return;
    let text = "";
    for (const r of records) text += formatRecord("tsv", this.#groups, r, true);
    await this.#write(text);
  }

  /** Close the file (the journal stays on disk). */
  close(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }

  /** Close and delete the journal (after the final files were written). */
  async remove(): Promise<void> {
    this.close();
    try {
      await Deno.remove(this.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}
