/**
 * `--backbone` and `--weights` to a model: the files side of the backbone registry
 * (model.ts), which builds the model from parsed weights.
 *
 * @module
 */
import { BACKBONES, type LoadedModel, modelFromWeights } from "./model.ts";
import { readWeightsFile } from "../weights/read_file.ts";

/**
 * Read `weightsPath` (.pth/.pt in zip or legacy format, or a converted .gfqw) and build the
 * backbone ({@link modelFromWeights}: "auto" takes a converted file's `meta.backbone` or
 * recognises the architecture from the checkpoint's keys and shapes; a name forces that
 * architecture; a converted file's `meta.preprocess` and `meta.groups` apply).
 *
 * No GPU is needed: the result is plain data, handed to `Executor.create` (executor.ts).
 *
 * @example Load a checkpoint and see what was recognised
 * ```ts
 * import { loadModel } from "@grafiqs/grafiqs-webgpu";
 *
 * const model = await loadModel("auto", "backbone.pth", { fingerprint: true });
 * console.log(model.description); // e.g. "iresnet50 (recognised from the checkpoint)"
 * console.log(model.graph.groups.map((g) => g.name)); // ["image", "block1", ..., "block4"]
 * console.log(model.graph.preprocess); // { channelOrder: "bgr", mean, std, size: 112 }
 * console.log(model.fingerprint); // 16 hex digits
 * ```
 *
 * @param backbone an architecture name (`ARCHITECTURES`) or "auto"
 * @param weightsPath the weights file, named in every error message
 * @param options `fingerprint: true` adds the file's `weightsFingerprint` (from the bytes
 *   already read; the resume journal records it)
 * @throws {RangeError} for an unknown backbone name (before the file is read).
 * @throws {Error} when the file cannot be read or parsed (naming it): missing, not a regular
 *   file (a FIFO, a device), over the size caps, a zip bomb, malformed.
 * @throws what {@link modelFromWeights} throws: `WeightsMismatchError` (the checkpoint does not
 *   fit, "auto" recognises nothing, malformed meta) and `InvalidWeightsError` (NaN, infinite
 *   values, a negative BN running variance).
 */
export async function loadModel(
  backbone: string,
  weightsPath: string,
  options: { fingerprint?: boolean } = {},
): Promise<LoadedModel> {
  if (!BACKBONES.includes(backbone)) {
    throw new RangeError(`Unknown backbone "${backbone}"; choose one of ${BACKBONES.join(", ")}`);
  }
  return modelFromWeights(backbone, await readWeightsFile(weightsPath), weightsPath, options);
}
