/**
 * Backbone registry: turns `--backbone` and `--weights` into a checked graph and its
 * float32 parameters, before any image is read.
 *
 * @module
 */
import { buildIResNet, detectIResNet, IRESNET_DEPTHS, standardIResNet } from "../graph/iresnet.ts";
import type { Graph } from "../graph/ir.ts";
import { extractWeights, type GraphWeights, WeightsMismatchError } from "../graph/weights.ts";
import { readWeightsFile } from "../weights/pth.ts";

/** Backbone names accepted by `--backbone`. */
export const BACKBONES = [...Object.keys(IRESNET_DEPTHS), "auto"];

/** A network ready for the executor. */
export interface LoadedModel {
  graph: Graph;
  weights: GraphWeights;
  /** How the backbone was chosen, for the log ("iresnet50 (recognised from the checkpoint)"). */
  description: string;
}

/**
 * Read `weightsPath` (.pth in zip or legacy format, or a converted .gfqw) and build the
 * backbone. With "auto" (or a converted file that names its backbone) the architecture is
 * recognised from the checkpoint's keys and shapes.
 *
 * @throws {WeightsMismatchError} when the checkpoint does not fit the backbone, naming the
 *   tensor, the expected shape and the found shape.
 * @throws {RangeError} for an unknown backbone name.
 * @throws {Error} when the file cannot be read or parsed (naming it).
 */
export async function loadModel(backbone: string, weightsPath: string): Promise<LoadedModel> {
  if (!BACKBONES.includes(backbone)) {
    throw new RangeError(`Unknown backbone "${backbone}"; choose one of ${BACKBONES.join(", ")}`);
  }
  const loaded = await readWeightsFile(weightsPath);
  const sd = loaded.stateDict;
  const detected = detectIResNet(sd);
  let cfg;
  let description: string;
  if (backbone === "auto") {
    if (!detected) {
      throw new WeightsMismatchError(
        `${weightsPath}: the checkpoint's keys do not match any known backbone ` +
          `(${BACKBONES.filter((b) => b !== "auto").join(", ")})`,
      );
    }
    cfg = detected;
    description = `${cfg.name} (recognised from the checkpoint)`;
  } else {
    cfg = standardIResNet(backbone);
    description = backbone;
  }
  const graph = buildIResNet(cfg);
  const weights = extractWeights(graph, sd, weightsPath);
  return { graph, weights, description };
}
