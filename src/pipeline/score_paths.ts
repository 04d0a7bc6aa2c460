/**
 * Scoring a list of image paths into memory: the folder mode's core, also used by the parity
 * tool.
 *
 * @module
 */
import type { Executor } from "../graph/executor.ts";
import { type Failure, scorePathProblem } from "../io/scores.ts";
import type { FaceInfo } from "../align/face.ts";
import { fileImageReader } from "../image/read_file.ts";
import type { AlignStage, ImageInputOptions } from "./batch.ts";
import { scoreStream } from "./score_stream.ts";
import { arraySource } from "./source.ts";

/** One scored image. */
export interface ScoredImage {
  /** Path text as printed (after --path-replace). */
  path: string;
  /** One float32 score per group. */
  scores: number[];
  /** The embedding (E float32 values). */
  embedding: Float32Array;
  /** With `align`: the aligned face's box, landmarks and confidence. */
  face?: FaceInfo;
}

/** Everything a scoring run produced. */
export interface ScoreRunResult {
  /** The executor's group names, the order of each {@link ScoredImage.scores}. */
  groups: string[];
  /** The images scored, in the order of `paths`. */
  scored: ScoredImage[];
  /** The images that could not be read, decoded or printed, in the order of `paths`. */
  failures: Failure[];
}

/** Options of {@link scorePaths}. */
export interface ScorePathsOptions extends ImageInputOptions {
  /** Images per GPU pass (capped at the executor's maximum). */
  batchSize: number;
  /** Channel order fed to the network. */
  channelOrder: "bgr" | "rgb";
  /** The printed text of a listed path (default: the path itself). */
  pathText?: (p: string) => string;
  /**
   * Called for each decoder warning of a scored image (a JPEG that ended early, decoded
   * with `allowTruncated`), with the printed path; the score files have no place for them.
   */
  onWarning?: (path: string, warning: string) => void;
  /** `--align`: score each image's aligned face (see `StreamOptions.align`). */
  align?: AlignStage;
  /** See `StreamOptions.onUnaligned`: the first image resized because it is not aligned. */
  onUnaligned?: (path: string, width: number, height: number) => void;
}

/**
 * Score `paths` (path texts as listed, readable relative to the working directory) in batches.
 * An image that cannot be read or decoded is reported through `onFailure` and left out; the
 * others are unaffected. `onBatch` is called after each batch.
 *
 * @example Score two files, printing the skipped ones and the progress
 * ```ts
 * import { Executor, Gpu, loadModel, scorePaths } from "@grafiqs/grafiqs-webgpu";
 *
 * const model = await loadModel("iresnet50", "backbone.pth");
 * const ex = await Executor.create(await Gpu.create(), model.graph, model.weights);
 * const result = await scorePaths(
 *   ex,
 *   ["faces/a.jpg", "faces/b.jpg"],
 *   { batchSize: 8, channelOrder: "rgb" }, // as --bgr2rgb
 *   (f) => console.error(`skipped ${f.path}: ${f.reason}`),
 *   (done) => console.error(`${done} of 2 done`),
 * );
 * ex.destroy();
 * // result.scored[i].scores[j] is the score of group result.groups[j] (lower = higher quality);
 * // result.failures lists the images that could not be scored.
 * ```
 *
 * @param ex the executor (its groups are scored)
 * @param paths path texts as listed
 * @param opts images per GPU pass (capped at `ex.maxBatch`), the channel order fed to the
 *   network, the printed text of a path (default: the path itself), the input caps and
 *   truncated-JPEG choice, and a warning callback ({@link ScorePathsOptions})
 * @param onFailure called for each image left out, as it happens
 * @param onBatch called after each batch with the number of images done so far
 * @returns the groups, the scored images and the failures, each in the order of `paths`
 * @throws {GpuError} when WebGPU fails (fatal for the run).
 */
export async function scorePaths(
  ex: Executor,
  paths: string[],
  opts: ScorePathsOptions,
  onFailure: (f: Failure) => void,
  onBatch?: (done: number) => void,
): Promise<ScoreRunResult> {
  const scored: ScoredImage[] = [];
  const failures: Failure[] = [];
  let done = 0;
  // The stream machinery on a list: decoding the next batch overlaps the GPU work of this one.
  await scoreStream(ex, arraySource(paths), {
    batchSize: opts.batchSize,
    channelOrder: opts.channelOrder,
    pathText: opts.pathText,
    pathProblem: scorePathProblem,
    keepEmbeddings: true,
    reader: fileImageReader,
    maxPixels: opts.maxPixels,
    maxFileBytes: opts.maxFileBytes,
    allowTruncated: opts.allowTruncated,
    align: opts.align,
    onUnaligned: opts.onUnaligned,
  }, (records) => {
    for (const r of records) {
      if (r.scores === null) {
        const f = { path: r.path, reason: r.error! };
        failures.push(f);
        onFailure(f);
      } else {
        for (const w of r.warnings ?? []) opts.onWarning?.(r.path, w);
        const s: ScoredImage = {
          path: r.path,
          scores: Array.from(r.scores),
          embedding: r.embedding!,
        };
        if (r.face) s.face = r.face;
        scored.push(s);
      }
    }
    done += records.length;
    onBatch?.(done);
    return Promise.resolve();
  });
  return { groups: ex.groups, scored, failures };
}
