/**
 * What every run of the main command does first: check that its output can be written, then
 * load and check the model.
 *
 * @module
 */
import { Aligner } from "../align/align.ts";
import type { AlignStage } from "../pipeline/batch.ts";
import { dirname } from "node:path";
import { type LoadedModel, loadModel } from "../graph/model.ts";
import { checkWritableDirectory, removeEmptyDirectories, removeStaleTemps } from "../io/files.ts";
import { RESULT_FILE_PREFIX } from "../io/result_set.ts";
import type { ScoreOptions } from "./score_args.ts";

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
  return { aligner, saveDir: opts.saveAligned };
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
