/**
 * The main command's folder output as one set: the official score files, the failure list and
 * (with `--save-embeddings`) the embeddings, published together under the manifest
 * `GraFIQs_manifest.json` (file_set.ts), so that a reader never takes a mix of two runs for a
 * result.
 *
 * @module
 */
import { QUALITY_FILE_NAME, qualityFileText } from "./calibration.ts";
import { embeddingFiles } from "./embeddings.ts";
import {
  type FileSetEntry,
  type FileSetFile,
  type FileSetOptions,
  type ManifestEntry,
  publishFileSet,
  readFileSet,
} from "./file_set.ts";
import { ensureDirectory, removeStaleTemps } from "./files.ts";
import {
  FAILED_FILE_NAME,
  failedListText,
  type Failure,
  scoreFileTexts,
  type ScoreRow,
} from "./scores.ts";

/** The manifest of the folder output: it names the files of the last complete run. */
export const RESULT_MANIFEST_NAME = "GraFIQs_manifest.json";

/**
 * The start of the names of every file the folder output writes (score files, failure list,
 * embeddings, manifest); the temporary files of killed runs are recognised by it.
 */
export const RESULT_FILE_PREFIX = "GraFIQs_";

/** What a run writes to its output folder, for {@link writeResultSet}. */
export interface ResultSet {
  /** The group names, the order of each row's scores. */
  groups: string[];
  /** One row per scored image, in the output order. */
  rows: ScoreRow[];
  /** The images that failed, in the output order. */
  failures: Failure[];
  /** The scored images' embeddings, in the order of `rows`, or null when not saved. */
  embeddings: readonly { path: string; embedding: Float32Array }[] | null;
  /**
   * With `--calibration`: each group's calibration quantiles (`calibrationFor`,
   * io/calibration.ts), from which GraFIQs_quality.tsv is written; null or absent: no such file.
   */
  quality?: readonly number[][] | null;
}

/**
 * Write a run's folder output as one set: `GraFIQs_<group>.txt` for each group (the official
 * files, byte for byte as `writeScoreFiles` writes them), `GraFIQs_failed.txt`, with embeddings
 * `GraFIQs_embeddings.npy` and `.txt`, with a calibration `GraFIQs_quality.tsv`
 * (`qualityFileText`), then the manifest `GraFIQs_manifest.json` naming them
 * with their sizes and SHA-256 ({@link publishFileSet}). Until the manifest is in place the
 * new files are not a result; on any error the previous set is left as it was. OUT is created
 * when missing, and the temporary files that killed runs left there are removed first.
 *
 * @param outDir output directory OUT
 * @param set the results
 * @param options test hook and sync (the manifest name is fixed)
 * @returns the manifest's entries
 * @throws Error what `scoreFileTexts` throws (bad groups, rows or paths), or `cannot write
 *   <path>: <reason>` (see {@link publishFileSet}); the earlier set is then intact
 */
export async function writeResultSet(
  outDir: string,
  set: ResultSet,
  options: Omit<FileSetOptions, "manifest"> = {},
): Promise<ManifestEntry[]> {
  const files: FileSetEntry[] = scoreFileTexts(set.groups, set.rows);
  files.push({ name: FAILED_FILE_NAME, data: failedListText(set.failures) });
  if (set.embeddings) files.push(...embeddingFiles(set.embeddings));
  if (set.quality) {
    files.push({
      name: QUALITY_FILE_NAME,
      data: qualityFileText(set.groups, set.rows, set.quality),
    });
  }
  await ensureDirectory(outDir);
  await removeStaleTemps(outDir, RESULT_FILE_PREFIX, false);
  return await publishFileSet(outDir, files, { ...options, manifest: RESULT_MANIFEST_NAME });
}

/**
 * Read the folder output in OUT as one checked set ({@link readFileSet} with
 * `GraFIQs_manifest.json`): the files of the last complete run, as published.
 *
 * @example Read a run's image scores only as part of a complete set
 * ```ts
 * import { readResultSet } from "@grafiqs/grafiqs-webgpu";
 *
 * // Throws while a run is publishing (read again) or after one was killed mid-publish.
 * const files = await readResultSet("out");
 * const image = files.find((f) => f.name === "GraFIQs_image.txt")!;
 * console.log(new TextDecoder().decode(image.data));
 * ```
 *
 * @param outDir output directory OUT
 * @returns the files of the set with their bytes, in manifest order
 * @throws Error naming the manifest or the file that is missing or differs
 */
export function readResultSet(outDir: string): Promise<FileSetFile[]> {
  return readFileSet(outDir, RESULT_MANIFEST_NAME);
}
