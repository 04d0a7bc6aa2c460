/**
 * What `--resume` needs to continue an interrupted run: recovering a record file (record mode)
 * and the append-only journal of the folder mode (record formats: io/records.ts).
 *
 * @module
 */
import { atomicWriteFile, readCompleteLines, writeAll } from "../io/files.ts";
import {
  formatRecord,
  type ImageRecord,
  parseRecordLine,
  type RecordFormat,
  recordHeader,
} from "../io/records.ts";
import { isKernelFamily, type KernelFamily } from "../gpu/gpu.ts";

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
 * @param extra the run's columns after `error` (`quality_<group>` with --calibration, then
 *   the face fields `FACE_COLUMNS` with --align)
 * @returns the recovered state; the file then ends with a complete line (or is empty)
 * @throws Error naming the file and line when the header differs from this run's columns or a
 *   record is malformed (another file, or a different format or model), or when the file
 *   cannot be read
 */
export async function recoverRecordFile(
  path: string,
  format: RecordFormat,
  groups: string[],
  extra: string[] = [],
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
  const header = recordHeader(format, groups, extra).replace(/\n$/, "");
  const r = await readCompleteLines(path, (line, no) => {
    if (format === "tsv" && no === 1) {
      if (line !== header) {
        throw new Error(
          `${path}:1: the header ${JSON.stringify(line)} does not match this run's columns ` +
            `${
              JSON.stringify(header)
            }; resume with the same model, format and --calibration (or none), and --align ` +
            `(or none), or choose another --output`,
        );
      }
      return;
    }
    const rec = parseRecordLine(format, groups, line, `${path}:${no}`, false, extra.length);
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

/** What a record file's scores depend on, kept beside it in `FILE.settings` (record mode). */
export interface RecordSettings {
  /** The network (e.g. `iresnet50`). */
  model: string;
  /** FNV-1a 64 of the weights file's bytes, 16 hex digits (`weightsFingerprint`, io/hash.ts). */
  weights: string;
  /** Groups scored, in output order. */
  groups: string[];
  /** Channel order fed to the network. */
  channelOrder: "bgr" | "rgb";
  /**
   * The kernel family that computed the scores (`--kernels`, resolved; the families' scores
   * differ in float32 rounding). Settings files written before it was recorded lack it,
   * which means "register", the only family there was ({@link settingsFamily}).
   */
  kernels?: KernelFamily;
  /** The record format (`tsv` or `jsonl`). */
  format: RecordFormat;
  /**
   * With `--calibration`: the calibration's fingerprint (FNV-1a 64 of its canonical text,
   * `calibrationFingerprint` in io/calibration.ts; its `quality_<group>` columns depend on it);
   * absent without.
   */
  calibration?: string;
  /** `--align` and its face rule; absent without `--align` (older settings files lack it). */
  align?: { face: string };
}

/**
 * The kernel family that settings name: their `kernels` field, or "register" when it is absent
 * (settings written before the family was recorded; "register" was the only family then).
 *
 * @param settings record or journal settings as parsed
 * @returns the family, or the field as found when it is not a string
 */
export function settingsFamily(settings: { kernels?: unknown }): string {
  const k = settings.kernels;
  return k === undefined ? "register" : typeof k === "string" ? k : JSON.stringify(k);
}

/** `v` as JSON with every object's keys sorted, so that key order does not matter. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().filter((k) => o[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

/**
 * Compare the settings JSON found in a settings file or journal with this run's settings.
 *
 * @param found the JSON text after the tag (or anything else found there)
 * @param settings this run's settings
 * @returns "same" when they are equal once a missing kernel family is read as "register";
 *   "family" when they differ in the kernel family only; "other" when they differ otherwise or
 *   `found` is not a JSON object
 */
export function compareSettings(
  found: string,
  settings: { kernels?: KernelFamily },
): "same" | "family" | "other" {
  let old: unknown;
  try {
    old = JSON.parse(found);
  } catch {
    return "other";
  }
  if (typeof old !== "object" || old === null || Array.isArray(old)) return "other";
  const o = old as Record<string, unknown>;
  if (o.kernels !== undefined && !isKernelFamily(o.kernels)) return "other";
  const rest = (s: Record<string, unknown>) => canonicalJson({ ...s, kernels: undefined });
  if (rest(o) !== rest(settings as Record<string, unknown>)) return "other";
  return settingsFamily(o) === settingsFamily(settings) ? "same" : "family";
}

/**
 * The message refusing to resume `what` (a record file or a journal) made with another kernel
 * family: it names both families and the `--kernels` option that resumes it.
 */
function familyMessage(
  what: string,
  where: string,
  found: string,
  run: string,
  otherwise: string,
): string {
  return `${what} was made with the ${found} kernels (${where}) but this run uses the ${run} ` +
    `kernels; their scores differ in float32 rounding, so the two are not mixed: ` +
    `resume with --kernels ${found}, or ${otherwise}`;
}

/** The settings file's first line starts with this tag, followed by a tab and the settings. */
export const RECORD_SETTINGS_TAG = "#grafiqs-records-v1";

/** The settings file of the record file `path`: `path` + `.settings`. */
export function recordSettingsPath(path: string): string {
  return `${path}.settings`;
}

/**
 * Check that the record file `path` was written with `settings` before `--resume` appends to it,
 * then (re)write its settings file `path.settings` (one line: {@link RECORD_SETTINGS_TAG}, a tab,
 * the settings as JSON). The record file itself is left as it is, so its bytes stay those of an
 * uninterrupted run and every reader of records still reads it.
 *
 * A record file that has no settings file (written by an older version, or by redirecting stdout) is accepted: its TSV header was already checked, but the weights and channel order
 * cannot be; `warn` is called with a message saying so.
 *
 * @param path the `--output` file
 * @param settings this run's settings
 * @param resume whether records are being appended (else the file is started afresh and only the
 *   settings file is written)
 * @param hasRecords whether the record file already holds something (a header or records)
 * @param warn where the warning for a record file without settings goes
 * A settings file without a kernel family (written before it was recorded) stands for the
 * "register" family; when it otherwise equals this run's settings it is rewritten with the family.
 *
 * @throws Error naming both settings files' fingerprints when they differ; naming both kernel
 *   families and the `--kernels` option to resume with when only the family differs; naming
 *   the file when the settings file is malformed or cannot be read or written
 */
export async function checkRecordSettings(
  path: string,
  settings: RecordSettings,
  resume: boolean,
  hasRecords: boolean,
  warn: (message: string) => void,
): Promise<void> {
  const sp = recordSettingsPath(path);
  const line = `${RECORD_SETTINGS_TAG}\t${JSON.stringify(settings)}`;
  if (resume && hasRecords) {
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(sp);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new Error(`cannot read ${sp}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (text === undefined) {
      warn(
        `${path} has no settings file ${sp} (written by an older version or by redirecting ` +
          `stdout): the weights and channel order of its records cannot be checked; resuming ` +
          `with this run's settings ${JSON.stringify(settings)}`,
      );
    } else {
      const found = text.replace(/\n$/, "");
      if (found === line) return;
      const tagged = found.startsWith(RECORD_SETTINGS_TAG + "\t");
      const old = tagged
        ? found.slice(RECORD_SETTINGS_TAG.length + 1)
        : JSON.stringify(found.slice(0, 80));
      const same = tagged ? compareSettings(old, settings) : "other";
      if (same === "family") {
        throw new Error(
          familyMessage(
            path,
            sp,
            settingsFamily(JSON.parse(old)),
            settingsFamily(settings),
            "choose another --output",
          ),
        );
      }
      if (same === "other") {
        throw new Error(
          `${path} was written with other settings (${sp}: ${old}; this run: ` +
            `${JSON.stringify(settings)}); resume with the same weights and options, or ` +
            `choose another --output`,
        );
      }
      // Equal settings written by an older version (no kernel family): rewritten with it.
    }
  }
  await atomicWriteFile(sp, line + "\n");
}

/** The lock file of the record file `path`: `path` + `.lock`. */
export function recordLockPath(path: string): string {
  return `${path}.lock`;
}

/** Whether process `pid` is alive (Linux: `/proc/PID` exists); `undefined` without /proc. */
async function processAlive(pid: number): Promise<boolean | undefined> {
  try {
    await Deno.lstat(`/proc/${pid}`);
    return true;
  } catch {
    try {
      await Deno.lstat("/proc/self");
      return false;
    } catch {
      return undefined;
    }
  }
}

/**
 * Take the exclusive lock `path.lock` of a record file, so that a second writer of the same
 * `--output` is refused instead of mixing its records in. The lock file is created exclusively
 * and holds this process's pid; a lock left by a dead process (a killed run; Linux `/proc`) is
 * taken over.
 *
 * @param path the `--output` file
 * @returns a function that removes the lock (call it when the run ends)
 * @throws Error naming the lock file and the pid holding it when another live process (or, where
 *   there is no /proc, any process) holds it, or when it cannot be created
 */
export async function lockRecordFile(path: string): Promise<() => Promise<void>> {
  const lock = recordLockPath(path);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const f = await Deno.open(lock, { write: true, createNew: true });
      try {
        await writeAll(f, new TextEncoder().encode(`${Deno.pid}\n`));
      } finally {
        f.close();
      }
      return async () => {
        try {
          await Deno.remove(lock);
        } catch { /* already gone */ }
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new Error(`cannot create the lock ${lock}: ${(e as Error).message}`, { cause: e });
      }
    }
    // A lock just created by another run may not hold its pid yet: look again shortly; a lock
    // still empty (its writer killed in between) is taken over like a dead process's.
    let text = "";
    for (let look = 0; look < 5 && text === ""; look++) {
      if (look) await new Promise((r) => setTimeout(r, 50));
      try {
        text = await Deno.readTextFile(lock);
      } catch { /* removed meanwhile: try again */ }
    }
    const pid = Number(text.trim());
    const valid = /^\d+\n?$/.test(text) && pid > 0;
    const alive = valid ? await processAlive(pid) : false;
    if (alive === true || (alive === undefined && valid)) {
      throw new Error(
        `${path} is being written by another grafiqs (process ${pid}, lock ${lock}); wait ` +
          `for it to end, or delete ${lock} if that process is not a grafiqs writing ${path}`,
      );
    }
    try {
      await Deno.remove(lock);
    } catch { /* another run took it over first: createNew decides */ }
  }
  throw new Error(`${path} is being written by another grafiqs (lock ${lock})`);
}

/** The journal's file name inside the output folder. */
export const JOURNAL_NAME = ".grafiqs_journal.tsv";

/** The journal's first line starts with this tag, followed by a tab and the run's settings. */
export const JOURNAL_TAG = "#grafiqs-journal-v1";

/** What a journal's results depend on; a journal is only resumed by a run with equal settings. */
export interface JournalSettings {
  /** The network (e.g. `iresnet50`). */
  model: string;
  /** FNV-1a 64 of the weights file's bytes, 16 hex digits (`weightsFingerprint`, io/hash.ts). */
  weights: string;
  /** Groups scored, in output order. */
  groups: string[];
  /** Channel order fed to the network. */
  channelOrder: "bgr" | "rgb";
  /**
   * The kernel family that computed the results (`--kernels`, resolved); journals written
   * before it was recorded lack it, which means "register" ({@link settingsFamily}).
   */
  kernels?: KernelFamily;
  /** Whether embeddings are kept (for --save-embeddings). */
  embeddings: boolean;
  /** `--align` and its face rule; absent without `--align`. */
  align?: { face: string };
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
   *   settings (one without a kernel family, written before it was recorded, stands for the
   *   "register" family)
   * @returns the journal, ready to append, and the records it already holds, by path (a later
   *   record of the same path replaces an earlier one)
   * @throws Error naming the journal when it was written with other settings (naming both kernel
   *   families and the `--kernels` option to resume with when only the family differs), is
   *   malformed, or cannot be read or written
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
          const tagged = line.startsWith(JOURNAL_TAG + "\t");
          const found = tagged
            ? line.slice(JOURNAL_TAG.length + 1)
            : JSON.stringify(line.slice(0, 80));
          const same = line === tagLine
            ? "same"
            : tagged
            ? compareSettings(found, settings)
            : "other";
          if (same === "family") {
            throw new Error(
              familyMessage(
                path,
                "its first line",
                settingsFamily(JSON.parse(found)),
                settingsFamily(settings),
                "delete the journal to start over",
              ),
            );
          }
          if (same === "other") {
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
