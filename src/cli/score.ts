/**
 * The main job: score a folder of face images (or one image file, or an image list) with
 * GraFIQs and write the official files OUT/GraFIQs_<group>.txt (docs/ALGORITHM.md#score-files),
 * with the official command line; the record mode and `--resume` are handed to run_pipeline.ts.
 *
 * @module
 */
import { EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE } from "./args.ts";
import { removeEmptyDirectories } from "../io/files.ts";
import { writeResultSet } from "../io/result_set.ts";
import { applyPathReplace } from "../io/select.ts";
import type { LoadedModel } from "../graph/model.ts";
import { scorePaths, type ScoreRunResult } from "../pipeline/score_paths.ts";
import { selectImages } from "../pipeline/select_images.ts";
import { printablePath, Progress } from "./progress.ts";
import { runPipeline } from "./run_pipeline.ts";
import type { AlignStage } from "../pipeline/batch.ts";
import { parseScoreArgs, SCORE_HELP, type ScoreOptions, usesPipeline } from "./score_args.ts";
import { imageInputOptions, loadRunCalibration, openExecutor, setUp, setUpAlign } from "./setup.ts";

/**
 * Run the main command on the images `selectImages` selects (`--image-path DIR|FILE` or
 * `--image-list FILE`). Writes the five official score files, the failure list, optionally the
 * embeddings and, with `--calibration`, GraFIQs_quality.tsv as one set under
 * OUT/GraFIQs_manifest.json (`writeResultSet`); the record mode and `--resume` go to
 * {@link runPipeline}.
 * Progress and errors go to stderr.
 *
 * @example Score a folder as the official extract_grafiqs.py does
 * ```ts
 * import { runScore } from "@grafiqs/grafiqs-webgpu";
 *
 * const status = await runScore([
 *   "--image-path", "faces",
 *   "--weights", "backbone.pth",
 *   "--output-dir", "out",
 *   "--bgr2rgb",
 * ]);
 * // out/GraFIQs_{image,block1,...,block4}.txt, out/GraFIQs_failed.txt and
 * // out/GraFIQs_manifest.json; status 0 or 3
 * ```
 *
 * @param args the command line after the program name (`SCORE_HELP` in score_args.ts)
 * @returns the exit status: {@link EXIT_OK} (every image scored), {@link EXIT_SOME_FAILED}
 *   (some images failed; listed in OUT/GraFIQs_failed.txt), {@link EXIT_USAGE} (bad command
 *   line), {@link EXIT_ERROR} (fatal: weights, GPU, output directory, no image selected, a
 *   calibration that is malformed or made with other weights; nothing written), or
 *   130 (record mode or --resume stopped by SIGINT; the folder mode without --resume is ended
 *   by SIGINT at once and writes nothing). Errors are reported on stderr, not
 *   thrown.
 */
export async function runScore(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseScoreArgs(args);
  } catch (e) {
    console.error(`grafiqs: ${(e as Error).message}\nRun with --help for usage.`);
    return EXIT_USAGE;
  }
  if (opts === "help") {
    console.log(SCORE_HELP);
    return EXIT_OK;
  }
  if (usesPipeline(opts)) return await runPipeline(opts);
  const created: string[] = [];
  try {
    const { model, channelOrder } = await setUp(opts, opts.calibration !== null, created);
    const calibration = await loadRunCalibration(opts, model, channelOrder);
    const align = await setUpAlign(opts, created);
    const paths = await selectImages(opts);
    const { result, secs } = await scoreSelection(opts, model, channelOrder, paths, align);
    await writeResultSet(opts.outputDir, {
      groups: result.groups,
      rows: result.scored.map((s) => ({ path: s.path, scores: s.scores })),
      failures: result.failures,
      embeddings: opts.saveEmbeddings ? result.scored : null,
      quality: calibration?.quantiles ?? null,
    });
    console.error(
      `grafiqs: scored ${result.scored.length} image${result.scored.length === 1 ? "" : "s"} in ` +
        `${secs.toFixed(1)} s ` +
        `(${(result.scored.length / secs).toFixed(2)} images/s); ` +
        `${result.failures.length} failed; wrote ${printablePath(opts.outputDir)}`,
    );
    return result.failures.length ? EXIT_SOME_FAILED : EXIT_OK;
  } catch (e) {
    console.error(`grafiqs: ${(e as Error).message}`);
    await removeEmptyDirectories(created); // an output folder made for this run, still empty
    return EXIT_ERROR;
  }
}

/**
 * Score a selection of images in one go (the folder mode without --resume, and
 * `grafiqs calibrate`): the GPU is opened, the run is announced on stderr, each failure and
 * warning is reported there with a progress bar, and the results come back in `paths`' order.
 *
 * @param opts the parsed command line (batch size, adapter, path replacement and the caps on
 *   hostile input are read)
 * @param model the loaded model ({@link setUp})
 * @param channelOrder the channel order fed to it
 * @param paths the images ({@link selectImages})
 * @param align the `--align` stage ({@link setUpAlign}), or undefined to score the images as
 *   they are (warning once when the first one is not 112 x 112)
 * @returns the scores and failures (`scorePaths`) and the seconds the scoring took
 * @throws Error from the GPU or the executor (fatal; image problems are failures, not errors)
 */
export async function scoreSelection(
  opts: ScoreOptions,
  model: LoadedModel,
  channelOrder: "bgr" | "rgb",
  paths: string[],
  align: AlignStage | undefined,
): Promise<{ result: ScoreRunResult; secs: number }> {
  const { gpu, ex, batchSize } = await openExecutor(opts, model);
  console.error(
    `grafiqs: ${model.description}, ${channelOrder.toUpperCase()} input, ${paths.length} ` +
      `images, batch ${batchSize}, adapter ${gpu.adapterName}, kernels ${ex.kernels}` +
      (align ? `; --align (face: ${opts.face})` : ""),
  );
  const progress = new Progress(paths.length);
  const pr = opts.pathReplace;
  const t0 = performance.now();
  try {
    const result = await scorePaths(
      ex,
      paths,
      {
        batchSize,
        channelOrder,
        pathText: pr ? (p) => applyPathReplace(p, pr.a, pr.b) : undefined,
        ...imageInputOptions(opts, align, (line) => progress.log(line)),
        onWarning: (path, w) => progress.log(`grafiqs: warning: ${printablePath(path)}: ${w}`),
      },
      (f) => progress.log(`grafiqs: skipped ${printablePath(f.path)}: ${f.reason}`),
      (done) => progress.update(done),
    );
    return { result, secs: (performance.now() - t0) / 1000 };
  } finally {
    progress.stop();
    ex.destroy();
  }
}
