/**
 * What every run of the main command does first: load and check the model.
 *
 * @module
 */
import { type LoadedModel, loadModel } from "../graph/model.ts";
import type { ScoreOptions } from "./score_args.ts";

/**
 * Load and check the model for a run, before any image or output is touched, and choose the
 * channel order: `--bgr2rgb` means "feed RGB"; without it the model's own order applies (BGR
 * for the iResNets, exactly as the official tool; RGB for MobileFaceNet, as it was trained).
 *
 * @param opts the parsed command line (`backbone`, `weights` and `bgr2rgb` are read)
 * @param fingerprint also fingerprint the weights file (for the resume journal)
 * @returns the model and the channel order fed to it
 * @throws what {@link loadModel} throws
 */
export async function setUp(opts: ScoreOptions, fingerprint = false): Promise<{
  model: LoadedModel;
  channelOrder: "rgb" | "bgr";
}> {
  const model = await loadModel(opts.backbone, opts.weights, { fingerprint });
  const channelOrder = opts.bgr2rgb ? "rgb" : model.graph.preprocess.channelOrder;
  return { model, channelOrder };
}
