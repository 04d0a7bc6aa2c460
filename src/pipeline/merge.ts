/**
 * Merging shard outputs: what N jobs of `--shard K/N` wrote becomes the folder mode's output set
 * for the whole input (the official score files in the global order, the failure list, the
 * embeddings when every part kept them), byte for byte what one folder-mode run over the whole
 * input writes.
 *
 * A part is either
 * - a record file (`--output FILE`, TSV or JSONL, some of them resumed) with its settings file
 *   `FILE.settings` (pipeline/resume.ts); every such part must have the same network, weights
 *   fingerprint, groups, channel order, kernel family (`--kernels`; "register" where the
 *   settings predate it), calibration and `--align` face rule (or no `--align`; the format may
 *   differ); or
 * - a folder-mode output folder (`--output-dir OUT_K`, with `--save-embeddings` for embeddings),
 *   read as the set its manifest names (io/result_set.ts). Such a folder records no settings but
 *   its groups, so only those (the embedding width, and whether its set holds
 *   GraFIQs_quality.tsv) can be checked against the other parts (not its kernel family). It does not record `--align`
 *   either, so it is not merged with record files made with `--align`.
 *
 * Record files made with `--align` merge into what the folder mode writes with `--align`: the
 * official score files and failure list, which have no face fields (the face fields of the
 * records, `face_box`, `landmarks`, `face_confidence`, are read past and not written).
 *
 * Parts made with `--calibration` must all have been made with it, with one calibration, which the
 * merge is given too ({@link mergeCalibration}); GraFIQs_quality.tsv is then written from it as
 * the folder mode writes it.
 *
 * A path recorded more than once within one record file (paths fed on stdin may repeat; the
 * record mode scores each line) is kept once when every record of it has the same result, and
 * named as a note; records of one path with different results within one part, and a path held
 * by two parts, keep the merge from being written.
 *
 * The order is the listing's when one is given (the folder mode's sorted listing, or an image
 * list's order), else Python's path order of the paths, which is the folder mode's order for a
 * directory listed without `--path-replace`.
 *
 * @module
 */
import { join } from "node:path";
import {
  type Calibration,
  calibrationFingerprint,
  QUALITY_FILE_NAME,
  qualityFileText,
} from "../io/calibration.ts";
import { isKernelFamily } from "../gpu/gpu.ts";
import { EMBEDDINGS_FILE_NAMES } from "../io/embeddings.ts";
import { readCompleteLines } from "../io/files.ts";
import { parseNpy } from "../io/npy.ts";
import { FACE_COLUMNS, parseRecordLine, type RecordFormat, recordHeader } from "../io/records.ts";
import { readResultSet, type ResultSet } from "../io/result_set.ts";
import {
  FAILED_FILE_NAME,
  FAILED_HEADER,
  type Failure,
  parseScoreFile,
  scoreFileName,
  scorePathProblem,
  type ScoreRow,
  unescapeTsv,
} from "../io/scores.ts";
import { comparePathsPythonOrder } from "../io/select.ts";
import {
  JOURNAL_NAME,
  RECORD_SETTINGS_TAG,
  recordLockPath,
  type RecordSettings,
  recordSettingsPath,
  settingsFamily,
} from "./resume.ts";

/** One scored or failed image as a part holds it. */
export interface PartRecord {
  /** The path text as printed in the record. */
  path: string;
  /** One float32 score per group; null when the image failed. */
  scores: number[] | null;
  /** Why the image failed; null when scored. */
  error: string | null;
  /** Where the part holds it: `FILE:LINE`. */
  place: string;
  /** Its embedding (E float32 values), where the part kept embeddings. */
  embedding?: Float32Array;
}

/** One shard's output, read by {@link readMergePart}. */
export interface MergePart {
  /** The record file's or output folder's path, as given. */
  file: string;
  /** The groups, in column order. */
  groups: string[];
  /** A record file's settings (from `FILE.settings`); null for an output folder. */
  settings: RecordSettings | null;
  /** Its complete records, in file order. */
  records: PartRecord[];
  /** Whether every scored image has its embedding (an output folder with embeddings). */
  embeddings: boolean;
  /**
   * Whether it was made with `--calibration`: a record file whose settings name a calibration
   * (its `quality_<group>` columns), an output folder whose set holds GraFIQs_quality.tsv.
   */
  calibrated: boolean;
  /** An output folder's GraFIQs_quality.tsv text, to check against the merge's calibration. */
  qualityText?: string;
  /**
   * Why the job that wrote it has not finished: a torn last line (a record cut by a killed
   * job), a lock file still present (a job still writing, or killed), an output folder's resume
   * journal; empty when none.
   */
  unfinished: string[];
}

/** Settings that every part of a merge must share (the record format may differ). */
const SHARED_SETTINGS = ["model", "weights", "groups", "channelOrder"] as const;

/**
 * Read one part. A record file: its settings file, then every complete record (a torn last
 * line is counted, not read), and whether its lock file is present. An output folder: the set
 * its manifest names (score files, failure list, embeddings when saved), and whether a resume
 * journal is there.
 *
 * @param file a record file written with `--output FILE`, or an output folder written with
 *   `--output-dir`
 * @returns the part
 * @throws Error naming the file (and line) when the file, its settings file or a file of the
 *   folder's set is missing, unreadable or malformed, when the TSV header does not match the
 *   settings' groups, or when a folder holds no complete set (its manifest is missing or a file
 *   differs from it)
 */
export async function readMergePart(file: string): Promise<MergePart> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`cannot read ${file}: no such file`);
    throw new Error(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return info.isDirectory ? await readFolderPart(file) : await readRecordPart(file);
}

async function readRecordPart(file: string): Promise<MergePart> {
  const sp = recordSettingsPath(file);
  let text: string;
  try {
    text = await Deno.readTextFile(sp);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `${file} has no settings file ${sp}, so its weights, groups and channel order cannot ` +
          `be checked; merge record files written with --output FILE, or output folders`,
      );
    }
    throw new Error(`cannot read ${sp}: ${(e as Error).message}`, { cause: e });
  }
  const settings = parseSettings(text, sp);
  const format: RecordFormat = settings.format;
  const groups = settings.groups;
  const calibrated = settings.calibration !== undefined;
  const qualityColumns = calibrated ? groups.map((g) => `quality_${g}`) : [];
  // Columns after `error`: the qualities, then the --align face fields (io/records.ts).
  const extra = [...qualityColumns, ...(settings.align ? FACE_COLUMNS : [])];
  const header = recordHeader(format, groups, extra).replace(/\n$/, "");
  const records: PartRecord[] = [];
  const r = await readCompleteLines(file, (line, no) => {
    if (format === "tsv" && no === 1) {
      if (line !== header) {
        throw new Error(
          `${file}:1: the header ${JSON.stringify(line)} does not match the columns of its ` +
            `settings ${sp} (${JSON.stringify(header)})`,
        );
      }
      return;
    }
    const rec = parseRecordLine(
      format,
      groups,
      line,
      `${file}:${no}`,
      false,
      extra.length,
    );
    records.push({
      path: rec.path,
      scores: rec.scores === null ? null : Array.from(rec.scores),
      error: rec.error,
      place: `${file}:${no}`,
    });
  });
  const unfinished: string[] = [];
  if (r.tornBytes) unfinished.push(`ends in a torn line of ${r.tornBytes} bytes`);
  const lock = recordLockPath(file);
  try {
    const pid = (await Deno.readTextFile(lock)).trim() || "?";
    unfinished.push(`its lock ${lock} is present (pid ${pid})`);
  } catch { /* no lock: the job that wrote the file has ended */ }
  return { file, groups, settings, records, embeddings: false, calibrated, unfinished };
}

/**
 * Read a folder-mode output folder as a part: the set its manifest names (score files, failure
 * list, embeddings when saved).
 */
async function readFolderPart(dir: string): Promise<MergePart> {
  const files = await readResultSet(dir).catch((e) => {
    throw new Error(`${dir}: no complete output set (${(e as Error).message})`, { cause: e });
  });
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const text = new Map<string, string>();
  const bytes = new Map<string, Uint8Array>();
  for (const f of files) {
    bytes.set(f.name, f.data);
    if (!f.name.endsWith(".npy")) {
      try {
        text.set(f.name, decoder.decode(f.data));
      } catch {
        throw new Error(`${join(dir, f.name)}: not valid UTF-8`);
      }
    }
  }
  // The score files come first in the manifest, in group order.
  const groups: string[] = [];
  for (const f of files) {
    const m = /^GraFIQs_(.+)\.txt$/s.exec(f.name);
    if (!m || f.name === FAILED_FILE_NAME || f.name === EMBEDDINGS_FILE_NAMES[1]) break;
    groups.push(m[1]);
  }
  if (groups.length === 0) throw new Error(`${dir}: the output set holds no score file`);
  const records: PartRecord[] = [];
  groups.forEach((g, gi) => {
    const name = join(dir, scoreFileName(g));
    const entries = parseScoreFile(text.get(scoreFileName(g))!, name);
    if (gi === 0) {
      entries.forEach((e, i) =>
        records.push({ path: e.path, scores: [e.score], error: null, place: `${name}:${i + 1}` })
      );
      return;
    }
    if (entries.length !== records.length) {
      throw new Error(
        `${name}: ${entries.length} lines, ${scoreFileName(groups[0])} has ${records.length}`,
      );
    }
    entries.forEach((e, i) => {
      if (e.path !== records[i].path) {
        throw new Error(
          `${name}:${i + 1}: ${JSON.stringify(e.path)}, expected ${
            JSON.stringify(records[i].path)
          }`,
        );
      }
      records[i].scores!.push(e.score);
    });
  });
  let embeddings = false;
  const npy = bytes.get(EMBEDDINGS_FILE_NAMES[0]);
  const index = text.get(EMBEDDINGS_FILE_NAMES[1]);
  if (npy && index !== undefined) {
    const where = join(dir, EMBEDDINGS_FILE_NAMES[0]);
    const m = parseNpy(npy, where);
    const paths = index.split("\n");
    paths.pop();
    if (m.rows !== records.length || paths.some((p, i) => p !== records[i].path)) {
      throw new Error(
        `${where}: its rows and ${EMBEDDINGS_FILE_NAMES[1]} do not match the score files`,
      );
    }
    records.forEach((r, i) => {
      r.embedding = Float32Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols));
    });
    embeddings = true;
  }
  const failedName = join(dir, FAILED_FILE_NAME);
  const failed = text.get(FAILED_FILE_NAME);
  if (failed === undefined) throw new Error(`${dir}: the output set has no ${FAILED_FILE_NAME}`);
  const lines = failed.split("\n");
  lines.pop();
  if (lines[0] !== FAILED_HEADER) {
    throw new Error(`${failedName}:1: expected the header ${JSON.stringify(FAILED_HEADER)}`);
  }
  lines.slice(1).forEach((line, i) => {
    const f = line.split("\t");
    if (f.length !== 2) throw new Error(`${failedName}:${i + 2}: expected 2 tab-separated fields`);
    records.push({
      path: unescapeTsv(f[0]),
      scores: null,
      error: unescapeTsv(f[1]),
      place: `${failedName}:${i + 2}`,
    });
  });
  const unfinished: string[] = [];
  try {
    await Deno.lstat(join(dir, JOURNAL_NAME));
    unfinished.push(
      `a --resume run left its journal ${join(dir, JOURNAL_NAME)}: the set in the folder is ` +
        `not that run's (finish it with --resume)`,
    );
  } catch { /* no journal */ }
  const qualityText = text.get(QUALITY_FILE_NAME);
  return {
    file: dir,
    groups,
    settings: null,
    records,
    embeddings,
    calibrated: qualityText !== undefined,
    ...(qualityText !== undefined ? { qualityText } : {}),
    unfinished,
  };
}

function parseSettings(text: string, where: string): RecordSettings {
  const line = text.replace(/\n$/, "");
  if (!line.startsWith(RECORD_SETTINGS_TAG + "\t")) {
    throw new Error(`${where}: not a record settings file (no ${RECORD_SETTINGS_TAG} tag)`);
  }
  let s: RecordSettings;
  try {
    s = JSON.parse(line.slice(RECORD_SETTINGS_TAG.length + 1));
  } catch (e) {
    throw new Error(`${where}: the settings are not JSON (${(e as Error).message})`);
  }
  const ok = typeof s === "object" && s !== null && typeof s.model === "string" &&
    typeof s.weights === "string" && Array.isArray(s.groups) &&
    s.groups.every((g) => typeof g === "string") && s.groups.length > 0 &&
    (s.channelOrder === "bgr" || s.channelOrder === "rgb") &&
    (s.format === "tsv" || s.format === "jsonl") &&
    (s.kernels === undefined || isKernelFamily(s.kernels)) &&
    (s.calibration === undefined || typeof s.calibration === "string") &&
    (s.align === undefined ||
      (typeof s.align === "object" && s.align !== null && typeof s.align.face === "string"));
  if (!ok) {
    throw new Error(
      `${where}: expected model, weights, groups, channelOrder, format (and kernels ` +
        `"register", "tiled" or "winograd", a string calibration, and an align with a string face, if ` +
        `any) in the settings`,
    );
  }
  return s;
}

/**
 * Check that every part was written with the same groups and with `--calibration` or without
 * it, and, among the record files, the same network, weights, channel order, kernel family
 * (`--kernels`, resolved; a settings file without one, written before it was recorded, stands
 * for "register"), calibration and `--align` (its face rule, or none); and that the output
 * folders' embeddings have one width. An output folder records no kernel family, so it cannot
 * be checked for one.
 *
 * @param parts the parts, at least one
 * @throws Error naming the first part and each part that differs, with both settings (a record
 *   file's calibration as its fingerprint, null without; its align as `{"face": RULE}`, absent
 *   without; an output folder's calibration as `calibrated`), or naming a record file made
 *   with `--align` and an output folder (which records no `--align`) given together
 */
export function checkSameSettings(parts: readonly MergePart[]): void {
  const key = (p: MergePart) =>
    JSON.stringify(
      p.settings
        ? {
          ...Object.fromEntries(SHARED_SETTINGS.map((k) => [k, p.settings![k]])),
          kernels: settingsFamily(p.settings),
          calibration: p.settings.calibration ?? null,
          ...(p.settings.align ? { align: p.settings.align } : {}),
        }
        : { groups: p.groups, calibrated: p.calibrated },
    );
  const differ = (a: MergePart, b: MergePart) =>
    a.settings && b.settings
      ? key(a) !== key(b)
      : a.groups.join("\t") !== b.groups.join("\t") || a.calibrated !== b.calibrated;
  const first = parts.find((p) => p.settings) ?? parts[0];
  const bad = parts.filter((p) => differ(p, first));
  if (bad.length) {
    throw new Error(
      `the shards were made with different settings; merge only the parts of one run:\n` +
        `  ${first.file}: ${key(first)}\n` +
        bad.map((p) => `  ${p.file}: ${key(p)}`).join("\n"),
    );
  }
  const aligned = parts.find((p) => p.settings?.align);
  const folder = parts.find((p) => !p.settings);
  if (aligned && folder) {
    throw new Error(
      `${aligned.file} was made with --align, but the output folder ${folder.file} does not ` +
        `record whether it was, so the two cannot be checked against each other; merge the ` +
        `record files of the --align run only, or its output folders only`,
    );
  }
  const widths = parts.filter((p) => p.embeddings).map((p) => ({
    file: p.file,
    width: p.records.find((r) => r.embedding)?.embedding?.length,
  })).filter((w) => w.width !== undefined);
  const other = widths.find((w) => w.width !== widths[0].width);
  if (other) {
    throw new Error(
      `the shards' embeddings differ in width: ${widths[0].file} ${widths[0].width}, ` +
        `${other.file} ${other.width}`,
    );
  }
}

/**
 * The calibration a merge writes GraFIQs_quality.tsv with, checked against the parts: they must
 * all have been made with `--calibration` when it is given (and none when not); a record file's
 * settings must name this calibration's fingerprint, and an output folder's GraFIQs_quality.tsv
 * must hold the qualities this calibration gives its scores (two decimals), so that a folder made
 * with another calibration is found even though the folder records no fingerprint.
 *
 * @param parts parts with equal settings ({@link checkSameSettings})
 * @param calibration the merge's `--calibration` as parsed, with its file name; or null
 * @returns each group's quantiles, in the parts' group order, for {@link mergeParts}; null
 *   without a calibration
 * @throws Error naming the parts: calibrated parts and no calibration given (or the reverse), a
 *   record file made with another calibration (both fingerprints), an output folder whose
 *   qualities differ, a group the calibration lacks
 */
export function mergeCalibration(
  parts: readonly MergePart[],
  calibration: { calibration: Calibration; source: string } | null,
): number[][] | null {
  const calibrated = parts.filter((p) => p.calibrated);
  const fp = (p: MergePart) => p.settings?.calibration ?? QUALITY_FILE_NAME;
  if (calibration === null) {
    if (calibrated.length === 0) return null;
    throw new Error(
      `the parts were made with --calibration (${
        calibrated.map((p) => `${p.file}: ${fp(p)}`).join(", ")
      }); give merge the same --calibration FILE.json, from which GraFIQs_quality.tsv is written`,
    );
  }
  const { calibration: c, source } = calibration;
  if (calibrated.length !== parts.length) {
    throw new Error(
      `--calibration ${source}: the parts were made without --calibration (${
        parts.filter((p) => !p.calibrated).map((p) => p.file).join(", ")
      }); merge them without it`,
    );
  }
  const want = calibrationFingerprint(c);
  const other = parts.filter((p) => p.settings && p.settings.calibration !== want);
  if (other.length) {
    throw new Error(
      `the shards were made with another calibration than ${source} (fingerprint ${want}):\n` +
        other.map((p) => `  ${p.file}: calibration ${fp(p)}`).join("\n"),
    );
  }
  const groups = parts[0].groups;
  const quantiles = groups.map((g) => {
    const found = c.groups.find((x) => x.name === g);
    if (!found) {
      throw new Error(
        `calibration ${source} has no group ${g} (it has ${
          c.groups.map((x) => x.name).join(", ")
        })`,
      );
    }
    return found.quantiles;
  });
  for (const p of parts) {
    if (p.qualityText === undefined) continue;
    const rows = p.records.flatMap((r) => (r.scores ? [{ path: r.path, scores: r.scores }] : []));
    if (qualityFileText(groups, rows, quantiles) !== p.qualityText) {
      throw new Error(
        `${join(p.file, QUALITY_FILE_NAME)} does not hold the qualities that calibration ` +
          `${source} gives its scores: the folder was made with another calibration`,
      );
    }
  }
  return quantiles;
}

/** The listing the shards were cut from, to check their union against. */
export interface MergeListing {
  /** The paths as listed (the folder mode's order: sorted, or the image list's order). */
  listed: readonly string[];
  /** The printed path text of a listed path (applies `--path-replace`); identity when absent. */
  text?: (listed: string) => string;
}

/** What keeps a merge from equalling one run over the whole input. */
export interface MergeProblems {
  /** Listed paths (printed text) that no part holds, in listing order. */
  missing: string[];
  /**
   * Paths held by more than one part, with every `FILE:LINE` holding them, in output order.
   */
  duplicates: { path: string; places: string[] }[];
  /**
   * Paths recorded more than once within one part with different results (scores, or failed
   * and scored, or other reasons), with every `FILE:LINE` of them, in part and line order.
   */
  conflicting: { path: string; places: string[] }[];
  /** Paths a part holds that the listing does not (`FILE:LINE`), in part and line order. */
  unlisted: { path: string; place: string }[];
  /** Parts whose job has not finished, with why ({@link MergePart.unfinished}). */
  unfinished: { file: string; why: string }[];
}

/** The result of {@link mergeParts}. */
export interface MergeResult {
  /** The output set, in the folder mode's order; embeddings only when every part has them. */
  set: ResultSet;
  /** What is wrong with the parts' union; all empty when the merge is complete. */
  problems: MergeProblems;
  /**
   * Paths recorded more than once within one part, every time with the same result, kept once
   * (not a problem: the record mode scores a path each time it is fed), with every `FILE:LINE`,
   * in part and line order.
   */
  repeated: { path: string; places: string[] }[];
}

/** Whether a merge found nothing wrong. */
export function mergeComplete(p: MergeProblems): boolean {
  return p.missing.length + p.duplicates.length + p.conflicting.length + p.unlisted.length +
      p.unfinished.length === 0;
}

/**
 * Join the parts into one output set, in the folder mode's order, and find what keeps the union
 * from being the whole input exactly once. An ok record whose path the score files cannot hold
 * (a line break) becomes a failure with the folder mode's reason ({@link scorePathProblem}).
 * A path recorded more than once within one part is kept once when every record of it has the
 * same result (`repeated`), else it is a problem (`conflicting`); a path held by two parts is
 * kept once (its first place) in the set, and the problems name every place. The embeddings are
 * written when every part kept them (output folders with `--save-embeddings`).
 *
 * @param parts parts with equal settings ({@link checkSameSettings})
 * @param listing the original listing, or null: then the order is Python's path order of the
 *   record paths, and only duplicates, torn lines and locks can be found
 * @param quality each group's calibration quantiles ({@link mergeCalibration}), from which
 *   GraFIQs_quality.tsv is written; null: no such file
 * @returns the set, the problems and the paths kept once
 */
export function mergeParts(
  parts: readonly MergePart[],
  listing: MergeListing | null,
  quality: readonly number[][] | null = null,
): MergeResult {
  const groups = parts[0].groups;
  const withEmbeddings = parts.every((p) => p.embeddings);
  const byPath = new Map<string, { rec: PartRecord; places: string[]; parts: number }>();
  const repeated: MergeResult["repeated"] = [];
  const conflicting: MergeProblems["conflicting"] = [];
  for (const part of parts) {
    // Within the part first: one entry per path, with every place of it.
    const own = new Map<string, { rec: PartRecord; places: string[]; same: boolean }>();
    for (const rec of part.records) {
      const o = own.get(rec.path);
      if (!o) own.set(rec.path, { rec, places: [rec.place], same: true });
      else {
        o.places.push(rec.place);
        o.same &&= sameResult(o.rec, rec);
      }
    }
    for (const [path, o] of own) {
      if (o.places.length > 1) (o.same ? repeated : conflicting).push({ path, places: o.places });
      const seen = byPath.get(path);
      if (seen) {
        seen.places.push(...o.places);
        seen.parts++;
      } else byPath.set(path, { rec: o.rec, places: [...o.places], parts: 1 });
    }
  }
  const problems: MergeProblems = {
    missing: [],
    duplicates: [],
    conflicting,
    unlisted: [],
    unfinished: parts.flatMap((p) => p.unfinished.map((why) => ({ file: p.file, why }))),
  };
  let order: string[];
  if (listing) {
    const text = listing.text ?? ((p: string) => p);
    order = [];
    const listedTexts = new Set<string>();
    for (const l of listing.listed) {
      const t = text(l);
      listedTexts.add(t);
      if (byPath.has(t)) order.push(t);
      else problems.missing.push(t);
    }
    for (const part of parts) {
      for (const rec of part.records) {
        if (!listedTexts.has(rec.path)) {
          problems.unlisted.push({ path: rec.path, place: rec.place });
        }
      }
    }
  } else {
    order = [...byPath.keys()].sort(comparePathsPythonOrder);
  }
  const rows: ScoreRow[] = [];
  const failures: Failure[] = [];
  const embeddings: { path: string; embedding: Float32Array }[] = [];
  for (const path of order) {
    const { rec, places, parts: held } = byPath.get(path)!;
    if (held > 1) problems.duplicates.push({ path, places });
    const problem = scorePathProblem(path);
    if (problem) failures.push({ path, reason: problem });
    else if (rec.scores === null) failures.push({ path, reason: rec.error ?? "" });
    else {
      rows.push({ path, scores: rec.scores });
      if (withEmbeddings) embeddings.push({ path, embedding: rec.embedding! });
    }
  }
  return {
    set: { groups, rows, failures, embeddings: withEmbeddings ? embeddings : null, quality },
    problems,
    repeated,
  };
}

/** Whether two records of one path have the same result: the same scores (bit for bit, NaN
 * equal to NaN) and embedding, or both failed for the same reason. */
function sameResult(a: PartRecord, b: PartRecord): boolean {
  if (a.scores === null || b.scores === null) {
    return a.scores === b.scores && a.error === b.error;
  }
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) =>
    x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));
  if (!same(a.scores, b.scores)) return false;
  if (a.embedding && b.embedding) return same(a.embedding, b.embedding);
  return !a.embedding && !b.embedding;
}
