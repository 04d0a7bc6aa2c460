/**
 * `grafiqs calibrate`: score a reference set with the main command's options and pipeline and
 * write its raw-score distribution per group as a calibration file (io/calibration.ts), which
 * `--calibration FILE.json` turns into a 0-100 quality scale.
 *
 * @module
 */
import { EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE } from "./args.ts";
import { buildCalibration, CALIBRATION_QUANTILES, calibrationText } from "../io/calibration.ts";
import { atomicWriteFile, removeEmptyDirectories } from "../io/files.ts";
import { selectImages } from "../pipeline/select_images.ts";
import { printablePath } from "./progress.ts";
import { scoreSelection } from "./score.ts";
import { parseScoreArgs } from "./score_args.ts";
import { fedPreprocessing, setUp, setUpAlign } from "./setup.ts";

/** Help text of `grafiqs calibrate`. */
export const CALIBRATE_HELP =
  `Usage: grafiqs calibrate (--image-path DIR|FILE | --image-list FILE) --weights FILE
                         --output FILE.json [options]

Scores a reference set of face images you choose and writes, per group, the distribution of
its raw GraFIQs scores to FILE.json (written atomically). Give that file to the main command
as --calibration FILE.json to get a quality_<group> value from 0 to 100 per image:
100 x (1 - F(raw)), F the reference distribution, linearly interpolated between its quantiles.
A quality of 73 means the image's raw score is lower (better) than that of about 73 % of the
reference images; higher is better. Choose a reference set like the images you will score.

FILE.json holds per group the count and ${CALIBRATION_QUANTILES} quantiles at probabilities 0,
0.001, ..., 1 (all sorted scores when there are fewer), the weights file's fingerprint (FNV-1a
64 of its bytes: a calibration is used only with the very same file), the preprocessing
(channel order, size, mean, std) and the tool version.

Options are the main command's (see grafiqs --help), with the same meaning:
  --image-path DIR|FILE, --image-list FILE, --image-extension, --recursive, --weights,
  --backbone, --bgr2rgb, --gpu, --batch-size, --max-pixels, --max-file-bytes,
  --allow-truncated, --align, --face, --save-aligned (raw photos: calibrate with --align as
  you will score with it)
  --output FILE.json          where the calibration goes (its folder is created)
Not taken: --output-dir, --save-embeddings, --format, --resume, --shard, -0, --calibration,
--path-replace(-with).

Exit status: 0 written, 3 written from the images that could be scored (the others are
listed on stderr), 2 bad command line, 1 fatal error (nothing written).`;

/**
 * Run `grafiqs calibrate` (arguments after `calibrate`).
 *
 * @example Calibrate on a reference set, then score with the calibrated scale
 * ```ts
 * import { runCalibrate, runScore } from "@grafiqs/grafiqs-webgpu";
 *
 * await runCalibrate([
 *   "--image-path", "reference_faces", "--image-extension", "jpg",
 *   "--weights", "backbone.pth", "--output", "calibration.json",
 * ]);
 * await runScore([
 *   "--image-path", "faces", "--weights", "backbone.pth", "--output-dir", "out",
 *   "--calibration", "calibration.json",
 * ]); // out/GraFIQs_quality.tsv besides the official files
 * ```
 *
 * @param args the command line after `calibrate` ({@link CALIBRATE_HELP})
 * @returns the exit status: 0 (written), 3 (written; some images failed), 2 (bad command
 *   line), 1 (fatal: weights, GPU, no image, nothing scored; nothing written). Errors are
 *   reported on stderr, not thrown.
 */
export async function runCalibrate(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseScoreArgs(args, "calibrate");
  } catch (e) {
    console.error(
      `grafiqs calibrate: ${(e as Error).message}\nRun 'grafiqs calibrate --help' for usage.`,
    );
    return EXIT_USAGE;
  }
  if (opts === "help") {
    console.log(CALIBRATE_HELP);
    return EXIT_OK;
  }
  const created: string[] = [];
  const output = opts.output!;
  try {
    // records: true makes setUp check --output's folder as the record mode checks its file's.
    const { model, channelOrder } = await setUp({ ...opts, records: true }, true, created);
    const align = await setUpAlign(opts, created);
    const paths = await selectImages(opts);
    const { result, secs } = await scoreSelection(opts, model, channelOrder, paths, align);
    if (result.scored.length === 0) {
      throw new Error(`none of the ${paths.length} reference images could be scored`);
    }
    const calibration = buildCalibration(
      { architecture: model.graph.name, weightsFingerprint: model.fingerprint! },
      fedPreprocessing(model, channelOrder),
      result.groups,
      result.scored.map((s) => s.scores),
      result.failures.length,
    );
    for (const g of calibration.groups) {
      if (g.count < result.scored.length) {
        console.error(
          `grafiqs calibrate: warning: group ${g.name}: ${result.scored.length - g.count} ` +
            `non-finite raw scores left out`,
        );
      }
    }
    await atomicWriteFile(output, calibrationText(calibration));
    console.error(
      `grafiqs calibrate: ${result.scored.length} reference images scored in ` +
        `${secs.toFixed(1)} s, ${result.failures.length} failed; wrote ${printablePath(output)}` +
        (result.scored.length < 100
          ? ` (only ${result.scored.length} images: the scale is coarse; a few hundred or more ` +
            `give a smoother one)`
          : ""),
    );
    return result.failures.length ? EXIT_SOME_FAILED : EXIT_OK;
  } catch (e) {
    console.error(`grafiqs calibrate: ${(e as Error).message}`);
    await removeEmptyDirectories(created);
    return EXIT_ERROR;
  }
}
