/**
 * GraFIQs face image quality assessment (FIQA) on WebGPU: the training-free method of Kolf,
 * Damer and Boutros (_GraFIQs: Face Image Quality Assessment Using Gradient Magnitudes_, CVPR
 * Workshops 2024). A face-recognition network's per-image BatchNorm statistics are compared
 * with its BN running statistics; that discrepancy is back-propagated, and the sum of the
 * absolute gradient at a place φ of the network (a group: the input image, or the output of
 * block1..block4 of an iResNet) is the image's score. Lower scores mean higher quality
 * (docs/ALGORITHM.md).
 *
 * Command line (drop-in for the official extract_grafiqs.py):
 * `deno run -A mod.ts --image-path DIR --weights FILE.pth --output-dir OUT [--bgr2rgb]`,
 * `deno run -A mod.ts calibrate ...` for a 0-100 quality scale (`--calibration`), and
 * `deno run -A mod.ts edc ...` for EDC evaluation. Paths on stdin give one record per image
 * on stdout (`find DIR -print0 | deno run -A mod.ts --weights FILE -0`); `--recursive`,
 * `--shard K/N` and `--resume` serve large runs, and `deno run -A mod.ts merge ...` joins the
 * shards' record files into the official files (docs/PIPELINE.md). As a library, the exports
 * below run the same pipeline.
 *
 * @example Score image files with an iResNet checkpoint
 * ```ts
 * import { ensureRuntimeDir, Executor, Gpu, loadModel, scorePaths } from "@grafiqs/grafiqs-webgpu";
 *
 * const model = await loadModel("auto", "backbone.pth"); // or a converted .gfqw file
 * ensureRuntimeDir(); // keeps Mesa's XDG_RUNTIME_DIR line away (software adapters)
 * const ex = await Executor.create(await Gpu.create(), model.graph, model.weights);
 * const { groups, scored } = await scorePaths(
 *   ex,
 *   ["faces/a.jpg", "faces/b.jpg"],
 *   { batchSize: 8, channelOrder: model.graph.preprocess.channelOrder },
 *   (f) => console.error(`skipped ${f.path}: ${f.reason}`),
 * );
 * ex.destroy();
 * // One score per group (image, block1..block4 for an iResNet); lower = higher quality.
 * for (const s of scored) console.log(s.path, groups.map((g, j) => `${g}=${s.scores[j]}`));
 * ```
 *
 * @module
 */
export {
  type BindingKind,
  type Dispatch,
  Gpu,
  GpuError,
  type GpuOptions,
  isSoftwareAdapter,
  KERNEL_CHOICES,
  KERNEL_FAMILIES,
  type KernelChoice,
  type KernelFamily,
  type KernelSource,
  type Pipeline,
  resolveKernels,
} from "./src/gpu/gpu.ts";
export { ensureRuntimeDir } from "./src/gpu/runtime_dir.ts";
export type { UniformField, UniformStruct, UniformType } from "./src/gpu/uniforms.ts";
export { type BatchResult, Executor, type ExecutorOptions } from "./src/graph/executor.ts";
export {
  buildIResNet,
  detectIResNet,
  type IResNetConfig,
  standardIResNet,
} from "./src/graph/iresnet.ts";
export type {
  BnNode,
  ConvNode,
  Graph,
  Group,
  LinearBn1dNode,
  Node,
  TensorInfo,
} from "./src/graph/ir.ts";
export type { Activation } from "./src/kernels/batchnorm.ts";
export {
  extractWeights,
  type GraphWeights,
  InvalidWeightsError,
  WeightsMismatchError,
} from "./src/graph/weights.ts";
export { type LoadedModel, modelFromWeights } from "./src/graph/model.ts";
export { loadModel } from "./src/graph/load_model.ts";
export { readWeightsFile } from "./src/weights/read_file.ts";
export {
  parseWeights,
  PICKLE_MAX_BYTES,
  readTorchCheckpoint,
  WEIGHTS_MAX_FILE_BYTES,
  WEIGHTS_MAX_INFLATED_BYTES,
  type WeightsReadLimits,
} from "./src/weights/pth.ts";
export type {
  DType,
  LoadedWeights,
  Preprocess,
  StateDict,
  WeightsFormat,
  WeightTensor,
} from "./src/weights/types.ts";
export { prepareImage, type PrepareOptions } from "./src/image/normalize.ts";
export {
  type DecodedImage,
  decodeImage,
  type DecodeOptions,
  DEFAULT_MAX_PIXELS,
} from "./src/image/decode.ts";
export { DEFAULT_MAX_FILE_BYTES, fileImageReader } from "./src/image/read_file.ts";
export type {
  AlignStage,
  ImageInputOptions,
  ImageReader,
  ImageSourceOptions,
} from "./src/pipeline/batch.ts";
export {
  ALIGNED_SIZE,
  type AlignedFace,
  alignedName,
  Aligner,
  type FaceAligner,
  type FaceInfo,
  saveAligned,
} from "./src/align/align.ts";
export {
  type AlignOptions,
  DEFAULT_MIN_FACE_PX,
  DEFAULT_MIN_SCORE,
  type DetectedFace,
  FaceDetector,
  type FaceLandmarks,
  type FaceRule,
  MESH_MIN_FLAG,
  NoFaceError,
} from "./src/align/detect.ts";
export {
  type Affine,
  applyAffine,
  ARCFACE_TEMPLATE,
  estimateSimilarity,
  invertAffine,
  type Point,
  warpAffineBilinear,
} from "./src/align/similarity.ts";
export { TfjsModelError } from "./src/align/tfjs_model.ts";
export { runScore } from "./src/cli/score.ts";
export type { PipelineOptions, ScoreOptions } from "./src/cli/score_args.ts";
export {
  type ScoredImage,
  scorePaths,
  type ScorePathsOptions,
  type ScoreRunResult,
} from "./src/pipeline/score_paths.ts";
export type { Failure } from "./src/io/scores.ts";
export type { FileSetFile, ManifestEntry } from "./src/io/file_set.ts";
export { readResultSet, RESULT_MANIFEST_NAME } from "./src/io/result_set.ts";
export {
  arraySource,
  type BadPath,
  DelimitedPathReader,
  type PathSource,
  STALL,
} from "./src/pipeline/source.ts";
export { runPipeline } from "./src/cli/run_pipeline.ts";
export {
  scoreStream,
  type StreamOptions,
  type StreamRecord,
  type StreamStats,
} from "./src/pipeline/score_stream.ts";
export { StopSignal } from "./src/pipeline/stop.ts";
export { type ImageSelection, selectImages } from "./src/pipeline/select_images.ts";
export {
  formatRecord,
  type ImageRecord,
  parseRecordLine,
  type RecordFormat,
} from "./src/io/records.ts";
export { Journal, type RecoveredRecords, recoverRecordFile } from "./src/pipeline/resume.ts";
export { fnv1a64 } from "./src/io/hash.ts";
export { inShard, parseShard, type Shard, shardOf } from "./src/pipeline/shard.ts";
export { runEdc } from "./src/cli/edc.ts";
export { CALIBRATE_HELP, runCalibrate } from "./src/cli/calibrate.ts";
export {
  calibratedQuality,
  type Calibration,
  CalibrationError,
  type CalibrationGroup,
  type CalibrationPreprocessing,
  quantileSummary,
} from "./src/io/calibration.ts";
export { readCalibration } from "./src/io/calibration_file.ts";
export { EXIT_INCOMPLETE, runMerge } from "./src/cli/merge.ts";
export { VERSION } from "./src/version.ts";

import { runScore } from "./src/cli/score.ts";
import { runEdc } from "./src/cli/edc.ts";
import { runCalibrate } from "./src/cli/calibrate.ts";
import { runMerge } from "./src/cli/merge.ts";
import { VERSION } from "./src/version.ts";
import { relaunchForCommand } from "./src/cli/huge_pages.ts";

/** Dispatch a command line to the main job or a subcommand; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "--version" || args[0] === "-V") {
    console.log(`grafiqs ${VERSION}`);
    return 0;
  }
  if (args[0] === "edc") return await runEdc(args.slice(1));
  if (args[0] === "calibrate") return await runCalibrate(args.slice(1));
  if (args[0] === "merge") return await runMerge(args.slice(1));
  return await runScore(args);
}

if (import.meta.main) {
  // The GPU work of scoring and calibrate runs faster with huge pages on software adapters
  // (src/cli/huge_pages.ts); the re-execution happens before anything is read or written.
  relaunchForCommand(Deno.args);
  Deno.exit(await main(Deno.args));
}
