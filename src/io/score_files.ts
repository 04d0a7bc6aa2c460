/**
 * The score files and the failure list as files: writing them into OUT and reading them back
 * (the files side of scores.ts, which holds the formats).
 *
 * @module
 */
import { join } from "node:path";
import { atomicWriteFile, ensureDirectory } from "./files.ts";
import {
  FAILED_FILE_NAME,
  failedListText,
  type Failure,
  parseFailedList,
  parseScoreFile,
  type ScoreEntry,
  scoreFileTexts,
  type ScoreRow,
} from "./scores.ts";

/**
 * Write the official score files `OUT/GraFIQs_<group>.txt`, one per group
 * (docs/ALGORITHM.md#score-files), in
 * the format of `scoreFileTexts` (scores.ts), UTF-8. OUT is created with its parents when missing
 * (like the official `mkdir(parents=True, exist_ok=True)`). Each file is written atomically
 * ({@link atomicWriteFile}); the files are written one after another, so a crash can leave
 * some groups new and others old. The main command writes its files as one set instead
 * (`writeResultSet`, result_set.ts).
 *
 * @param outDir output directory OUT
 * @param groups group names (see `scoreFileTexts` (scores.ts))
 * @param rows one row per image; `rows[i].scores[g]` is the score of image i for `groups[g]`
 * @throws Error what `scoreFileTexts` (scores.ts) throws, or when OUT cannot be created or a file
 *   cannot be written (naming it).
 */
export async function writeScoreFiles(
  outDir: string,
  groups: string[],
  rows: ScoreRow[],
): Promise<void> {
  const files = scoreFileTexts(groups, rows);
  await ensureDirectory(outDir);
  for (const f of files) await atomicWriteFile(join(outDir, f.name), f.data);
}

/**
 * Read an official (or this project's) score file; see `parseScoreFile` (scores.ts). Synchronous,
 * for tests and tools.
 *
 * @param path file path
 * @returns the entries in file order
 * @throws Error naming the file when it cannot be read, is not UTF-8, or a line is malformed.
 */
export function readScoreFile(path: string): ScoreEntry[] {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Deno.readFileSync(path));
  } catch (e) {
    throw new Error(`cannot read score file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseScoreFile(text, path);
}

/**
 * Write `OUT/GraFIQs_failed.txt`, the images left out of the score files, in the format of
 * `failedListText` (scores.ts). With no failures the file holds just the header, which marks a
 * clean run (and replaces any list from an earlier run). OUT is created when missing; the write is atomic.
 *
 * @param outDir output directory OUT
 * @param failures the images that failed
 * @throws Error naming the file or directory when it cannot be written
 */
export async function writeFailedList(outDir: string, failures: Failure[]): Promise<void> {
  await ensureDirectory(outDir);
  await atomicWriteFile(join(outDir, FAILED_FILE_NAME), failedListText(failures));
}

/**
 * Read a failure list written by {@link writeFailedList}; see `parseFailedList` (scores.ts).
 *
 * @param path file path
 * @returns the failures in file order, fields unescaped
 * @throws Error naming the file when it cannot be read, the header is missing, or a line does
 *   not have exactly two tab-separated fields.
 */
export function readFailedList(path: string): Failure[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new Error(`cannot read failure list ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseFailedList(text, path);
}
