/**
 * What every run of the main command does first: check that its output can be written, then
 * load and check the model.
 *
 * @module
 */
import { dirname } from "node:path";
import { type LoadedModel, loadModel } from "../graph/model.ts";
import { checkWritableDirectory, removeEmptyDirectories, removeStaleTemps } from "../io/files.ts";
import { RESULT_FILE_PREFIX } from "../io/result_set.ts";
import type { ScoreOptions } from "./score_args.ts";
import { Gpu } from "../gpu/gpu.ts";
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
  const gpu = await Gpu.create({ adapter: opts.adapter });
  const ex = await Executor.create(gpu, model.graph, model.weights, { kernels: opts.kernels });
  // The executor runs at most maxBatch images per pass (its largest tensor fits one binding).
  const batchSize = opts.batchSize === "auto"
    ? ex.autoBatch()
    : Math.min(opts.batchSize, ex.maxBatch);
  return { gpu, ex, batchSize };
}
