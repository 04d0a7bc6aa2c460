/**
 * What every run of the main command does first: check that its output can be written, then
 * load and check the model.
 *
 * @module
 */
import { Aligner, saveAligned } from "../align/align.ts";
import type { AlignStage } from "../pipeline/batch.ts";
import { dirname } from "node:path";
import { Gpu, type GpuOptions } from "../gpu/gpu.ts";
import { ensureRuntimeDir } from "../gpu/runtime_dir.ts";
import { loadModel } from "../graph/load_model.ts";
import type { LoadedModel } from "../graph/model.ts";
import {
  calibrationFingerprint,
  calibrationFor,
  type CalibrationPreprocessing,
} from "../io/calibration.ts";
import { readCalibration } from "../io/calibration_file.ts";
import { checkWritableDirectory, removeEmptyDirectories, removeStaleTemps } from "../io/files.ts";
import { RESULT_FILE_PREFIX } from "../io/result_set.ts";
import type { ScoreOptions } from "./score_args.ts";
import type { StreamOptions } from "../pipeline/score_stream.ts";
import { printablePath } from "./progress.ts";
import { Executor } from "../graph/executor.ts";

/**
 * Check, before any model, image or GPU is touched, that the run's output can be written, so a
 * bad output location costs milliseconds instead of a whole run: the folder mode's
 * `--output-dir` (created when missing) or the folder of the record mode's `--output FILE`
 * (created when missing; FILE itself must not be a directory) gets a probe file written and
 * removed ({@link checkWritableDirectory}). Records on stdout need no check. In the folder
 * mode, the temporary files that killed runs left in OUT (`.GraFIQs_*.<pid>.<random>.tmp`) are
 * removed and counted on stderr.
 *
 * @param opts the parsed command line (`records`, `output` and `outputDir` are read)
 * @returns the folders created for the output, innermost first (see
 *   {@link checkWritableDirectory})
 * @throws Error `cannot write to output directory OUT: <OS error>`, `cannot write to the
 *   output file's folder DIR: <OS error>` or `output file FILE is a directory`
 */
export async function checkOutput(opts: ScoreOptions): Promise<string[]> {
  if (!opts.records) {
    const created = await checkWritableDirectory(opts.outputDir);
    // Nothing of this run is there yet: every temporary file of ours there is a killed run's.
    const stale = await removeStaleTemps(opts.outputDir, RESULT_FILE_PREFIX, true);
    if (stale.length) {
      console.error(
        `grafiqs: removed ${stale.length} temporary file(s) of an interrupted earlier run ` +
          `from ${opts.outputDir}`,
      );
    }
    return created;
  }
  if (opts.output === null || opts.output === "-") return [];
  const created = await checkWritableDirectory(dirname(opts.output), "the output file's folder");
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(opts.output);
  } catch { /* a new file, or one the open reports on */ }
  if (info?.isDirectory) {
    await removeEmptyDirectories(created);
    throw new Error(`output file ${opts.output} is a directory`);
  }
  return created;
}

/**
 * Prepare a run before any image is read: check that the output can be written
 * ({@link checkOutput}), then load and check the model and choose the channel order:
 * `--bgr2rgb` means "feed RGB"; without it the model's own order applies (BGR for the
 * iResNets, exactly as the official tool; RGB for MobileFaceNet, as it was trained).
 *
 * @param opts the parsed command line (`backbone`, `weights`, `bgr2rgb` and the output options
 *   are read)
 * @param fingerprint also fingerprint the weights file (for the resume journal)
 * @param created receives the folders created for the output, innermost first: a run that
 *   fails before writing anything removes them again ({@link removeEmptyDirectories}), so
 *   that a fatal error writes nothing
 * @returns the model and the channel order fed to it
 * @throws what {@link checkOutput} and {@link loadModel} throw
 */
export async function setUp(
  opts: ScoreOptions,
  fingerprint = false,
  created: string[] = [],
): Promise<{
  model: LoadedModel;
  channelOrder: "rgb" | "bgr";
}> {
  created.push(...(await checkOutput(opts)));
  const model = await loadModel(opts.backbone, opts.weights, { fingerprint });
  const channelOrder = opts.bgr2rgb ? "rgb" : model.graph.preprocess.channelOrder;
  return { model, channelOrder };
}

/**
 * The preprocessing a run feeds the network: the model's size, mean and std, and the channel
 * order chosen by {@link setUp}. What a calibration records and is checked against.
 */
export function fedPreprocessing(
  model: LoadedModel,
  channelOrder: "bgr" | "rgb",
): CalibrationPreprocessing {
  const p = model.graph.preprocess;
  return { channelOrder, size: p.size, mean: [...p.mean], std: [...p.std] };
}

/**
 * Read `--calibration FILE.json` and check it against this run (io/calibration.ts
 * `calibrationFor`): same weights file (fingerprint), groups and preprocessing.
 *
 * @param opts the parsed command line (`calibration` is read)
 * @param model the loaded model, with its fingerprint (`setUp` with `fingerprint` true)
 * @param channelOrder the channel order fed to it
 * @returns each group's quantiles and the calibration's own fingerprint (FNV-1a 64 of its
 *   canonical text, for the record settings), or null without `--calibration`
 * @throws CalibrationError naming the file: unreadable, malformed, or made with other weights
 *   (both fingerprints named), groups or preprocessing
 */
export async function loadRunCalibration(
  opts: ScoreOptions,
  model: LoadedModel,
  channelOrder: "bgr" | "rgb",
): Promise<{ quantiles: number[][]; fingerprint: string } | null> {
  if (opts.calibration === null) return null;
  const c = await readCalibration(opts.calibration);
  const quantiles = calibrationFor(c, opts.calibration, {
    weightsFingerprint: model.fingerprint!,
    groups: model.graph.groups.map((g) => g.name),
    preprocessing: fedPreprocessing(model, channelOrder),
  });
  return { quantiles, fingerprint: calibrationFingerprint(c) };
}

/**
 * The command line's WebGPU device: points `XDG_RUNTIME_DIR` at a private folder when needed
 * ({@link ensureRuntimeDir}, which silences Mesa's error line), then {@link Gpu.create}.
 *
 * @param adapter the `--adapter` choice
 * @returns the device wrapper
 * @throws {GpuError} when WebGPU is unavailable or no adapter matches
 */
export function createGpu(adapter: GpuOptions["adapter"]): Promise<Gpu> {
  ensureRuntimeDir();
  return Gpu.create({ adapter });
}

/**
 * Open the adapter `--gpu` names and the executor for `model` on the `--kernels` family, and
 * resolve `--batch-size auto` ({@link Executor.autoBatch}); a number above the executor's
 * {@link Executor.maxBatch} is lowered to it (the stderr line shows the batch that runs).
 *
 * @returns the device, the executor and the batch size to run
 * @throws {GpuError} when no adapter is found or WebGPU fails
 */
export async function openExecutor(
  opts: ScoreOptions,
  model: LoadedModel,
): Promise<{ gpu: Gpu; ex: Executor; batchSize: number }> {
  const gpu = await createGpu(opts.adapter);
  const ex = await Executor.create(gpu, model.graph, model.weights, { kernels: opts.kernels });
  // The executor runs at most maxBatch images per pass (its largest tensor fits one binding).
  const batchSize = opts.batchSize === "auto"
    ? ex.autoBatch()
    : Math.min(opts.batchSize, ex.maxBatch);
  return { gpu, ex, batchSize };
}

/**
 * The `--align` stage of a run, or undefined without `--align`: the face models are loaded
 * and a `--save-aligned DIR` is created and checked writable (a probe file) before any image
 * is read.
 *
 * @param opts the parsed command line (`align`, `face`, `saveAligned` are read)
 * @param created receives the folders created for `--save-aligned`, innermost first
 * @throws Error naming the model file that cannot be read, or the folder that cannot be
 *   written
 */
export async function setUpAlign(
  opts: ScoreOptions,
  created: string[] = [],
): Promise<AlignStage | undefined> {
  if (!opts.align) return undefined;
  if (opts.saveAligned !== null) {
    created.push(...(await checkWritableDirectory(opts.saveAligned, "--save-aligned folder")));
  }
  const aligner = await Aligner.create({ face: opts.face });
  const dir = opts.saveAligned;
  return { aligner, save: dir === null ? null : (path, crop) => saveAligned(dir, path, crop) };
}

/**
 * The one warning of a run without `--align` whose first resized image shows that the input
 * is not aligned faces.
 *
 * @param path the printed path of that image
 * @param width its width in pixels
 * @param height its height in pixels
 * @returns the warning text (without the program name)
 */
export function unalignedWarning(path: string, width: number, height: number): string {
  return `${path} is ${width}x${height}, not 112x112: GraFIQs expects faces already aligned ` +
    `to the ArcFace 112x112 template and resizes other images as they are; for raw photos ` +
    `use --align (detect, align, then score)`;
}

/**
 * The image-input options every mode of the main command gives the pipeline: the caps on
 * hostile input (`--max-pixels`, `--max-file-bytes`, `--allow-truncated`), the `--align` stage,
 * and the one warning of a run whose images are not aligned faces ({@link unalignedWarning}).
 *
 * @param opts the parsed command line
 * @param align the `--align` stage ({@link setUpAlign}), or undefined
 * @param log writes one warning line (e.g. above the progress bar)
 * @returns options to spread into `scorePaths` / `scoreStream` options
 */
export function imageInputOptions(
  opts: ScoreOptions,
  align: AlignStage | undefined,
  log: (line: string) => void,
): Pick<
  StreamOptions,
  "maxPixels" | "maxFileBytes" | "allowTruncated" | "align" | "onUnaligned"
> {
  return {
    maxPixels: opts.maxPixels,
    maxFileBytes: opts.maxFileBytes,
    allowTruncated: opts.allowTruncated,
    align,
    onUnaligned: (path, w, h) =>
      log(`grafiqs: warning: ${unalignedWarning(printablePath(path), w, h)}`),
  };
}
