/**
 * Merging shard outputs: the record files that N jobs of `--shard K/N --output FILE` wrote
 * (TSV or JSONL, some of them resumed) become the folder mode's output set for the whole input
 * (the official score files in the global order, the failure list), byte for byte what one
 * folder-mode run over the whole input writes.
 *
 * Each part is a record file with its settings file `FILE.settings` (pipeline/resume.ts); every
 * part must have the same network, weights fingerprint, groups and channel order (the format may
 * differ). The order is the listing's when one is given (the folder mode's sorted listing, or an
 * image list's order), else Python's path order of the record paths, which is the folder mode's
 * order for a directory listed without `--path-replace`.
 *
 * @module
 */
import { readCompleteLines } from "../io/files.ts";
import { parseRecordLine, type RecordFormat, recordHeader } from "../io/records.ts";
import type { ResultSet } from "../io/result_set.ts";
import { type Failure, scorePathProblem, type ScoreRow } from "../io/scores.ts";
import { comparePathsPythonOrder } from "../io/select.ts";
import {
  RECORD_SETTINGS_TAG,
  recordLockPath,
  type RecordSettings,
  recordSettingsPath,
} from "./resume.ts";

/** One scored or failed image as a part holds it. */
export interface PartRecord {
  /** The path text as printed in the record. */
  path: string;
  /** One float32 score per group; null when the image failed. */
  scores: number[] | null;
  /** Why the image failed; null when scored. */
  error: string | null;
  /** The 1-based line of the record in its file. */
  line: number;
}

/** One shard's record file, read by {@link readMergePart}. */
export interface MergePart {
  /** The record file's path, as given. */
  file: string;
  /** Its settings (from `FILE.settings`). */
  settings: RecordSettings;
  /** Its complete records, in file order. */
  records: PartRecord[];
  /** Bytes of a torn last line (a record cut by a killed job), 0 when none. */
  tornBytes: number;
  /** The pid in `FILE.lock` when a lock is present (a job writes it, or one was killed). */
  lockPid: string | null;
}

/** Settings that every part of a merge must share (the record format may differ). */
const SHARED_SETTINGS = ["model", "weights", "groups", "channelOrder"] as const;

/**
 * Read one part: its settings file, then every complete record (a torn last line is counted,
 * not read), and whether its lock file is present.
 *
 * @param file a record file written with `--output FILE`
 * @returns the part
 * @throws Error naming the file (and line) when the file or its settings file is missing,
 *   unreadable or malformed, or when the TSV header does not match the settings' groups
 */
export async function readMergePart(file: string): Promise<MergePart> {
  const sp = recordSettingsPath(file);
  let text: string;
  try {
    text = await Deno.readTextFile(sp);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      try {
        await Deno.lstat(file);
      } catch {
        throw new Error(`cannot read ${file}: no such file`);
      }
      throw new Error(
        `${file} has no settings file ${sp}, so its weights, groups and channel order cannot ` +
          `be checked; merge only record files written with --output FILE`,
      );
    }
    throw new Error(`cannot read ${sp}: ${(e as Error).message}`, { cause: e });
  }
  const settings = parseSettings(text, sp);
  const format: RecordFormat = settings.format;
  const groups = settings.groups;
  const header = recordHeader(format, groups).replace(/\n$/, "");
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
    const rec = parseRecordLine(format, groups, line, `${file}:${no}`);
    records.push({
      path: rec.path,
      scores: rec.scores === null ? null : Array.from(rec.scores),
      error: rec.error,
      line: no,
    });
  });
  let lockPid: string | null = null;
  try {
    lockPid = (await Deno.readTextFile(recordLockPath(file))).trim() || "?";
  } catch { /* no lock: the job that wrote the file has ended */ }
  return { file, settings, records, tornBytes: r.tornBytes, lockPid };
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
    (s.format === "tsv" || s.format === "jsonl");
  if (!ok) {
    throw new Error(
      `${where}: expected model, weights, groups, channelOrder and format in the settings`,
    );
  }
  return s;
}

/**
 * Check that every part was written with the same network, weights, groups and channel order.
 *
 * @param parts the parts, at least one
 * @throws Error naming the first part and each part that differs, with both settings
 */
export function checkSameSettings(parts: readonly MergePart[]): void {
  const key = (p: MergePart) =>
    JSON.stringify(Object.fromEntries(SHARED_SETTINGS.map((k) => [k, p.settings[k]])));
  const first = parts[0];
  const differ = parts.filter((p) => key(p) !== key(first));
  if (differ.length === 0) return;
  throw new Error(
    `the shards were made with different settings; merge only the parts of one run:\n` +
      `  ${first.file}: ${key(first)}\n` +
      differ.map((p) => `  ${p.file}: ${key(p)}`).join("\n"),
  );
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
  /** Paths held more than once, with every `FILE:LINE` holding them, in output order. */
  duplicates: { path: string; places: string[] }[];
  /** Paths a part holds that the listing does not (`FILE:LINE`), in part and line order. */
  unlisted: { path: string; place: string }[];
  /** Parts that end in a torn line (a job killed mid-write), with the torn byte count. */
  torn: { file: string; bytes: number }[];
  /** Parts whose lock file is still present (a job still writing, or killed). */
  locked: { file: string; lock: string; pid: string }[];
}

/** The result of {@link mergeParts}. */
export interface MergeResult {
  /** The output set, in the folder mode's order (embeddings are not kept in records: null). */
  set: ResultSet;
  /** What is wrong with the parts' union; all empty when the merge is complete. */
  problems: MergeProblems;
}

/** Whether a merge found nothing wrong. */
export function mergeComplete(p: MergeProblems): boolean {
  return p.missing.length + p.duplicates.length + p.unlisted.length + p.torn.length +
      p.locked.length === 0;
}

/**
 * Join the parts into one output set, in the folder mode's order, and find what keeps the union
 * from being the whole input exactly once. An ok record whose path the score files cannot hold
 * (a line break) becomes a failure with the folder mode's reason ({@link scorePathProblem}).
 * A path held twice is kept once (its first place) in the set; the problems name both.
 *
 * @param parts parts with equal settings ({@link checkSameSettings})
 * @param listing the original listing, or null: then the order is Python's path order of the
 *   record paths, and only duplicates, torn lines and locks can be found
 * @returns the set and the problems
 */
export function mergeParts(parts: readonly MergePart[], listing: MergeListing | null): MergeResult {
  const groups = parts[0].settings.groups;
  const byPath = new Map<string, { rec: PartRecord; places: string[] }>();
  for (const part of parts) {
    for (const rec of part.records) {
      const place = `${part.file}:${rec.line}`;
      const seen = byPath.get(rec.path);
      if (seen) seen.places.push(place);
      else byPath.set(rec.path, { rec, places: [place] });
    }
  }
  const problems: MergeProblems = {
    missing: [],
    duplicates: [],
    unlisted: [],
    torn: parts.filter((p) => p.tornBytes > 0).map((p) => ({ file: p.file, bytes: p.tornBytes })),
    locked: parts.filter((p) => p.lockPid !== null).map((p) => ({
      file: p.file,
      lock: recordLockPath(p.file),
      pid: p.lockPid!,
    })),
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
          problems.unlisted.push({ path: rec.path, place: `${part.file}:${rec.line}` });
        }
      }
    }
  } else {
    order = [...byPath.keys()].sort(comparePathsPythonOrder);
  }
  const rows: ScoreRow[] = [];
  const failures: Failure[] = [];
  for (const path of order) {
    const { rec, places } = byPath.get(path)!;
    if (places.length > 1) problems.duplicates.push({ path, places });
    const problem = scorePathProblem(path);
    if (problem) failures.push({ path, reason: problem });
    else if (rec.scores === null) failures.push({ path, reason: rec.error ?? "" });
    else rows.push({ path, scores: rec.scores });
  }
  return { set: { groups, rows, failures, embeddings: null }, problems };
}
