/**
 * Reading a weights file: the files side of the weights readers. The bytes are parsed by
 * `parseWeights` (pth.ts), which the web page calls on a picked file's bytes.
 *
 * @module
 */
import { readProblem, readRegularFile } from "../io/files.ts";
import { parseWeights, WEIGHTS_MAX_FILE_BYTES, type WeightsReadLimits } from "./pth.ts";
import type { LoadedWeights } from "./types.ts";

/**
 * Read the weights file with the shared bounded reader of io/files.ts (regular files only, at
 * most `maxBytes`, never more than its size at open time).
 * @throws Error `<path>: cannot read weights file: <reason>` for a missing file, a file that is
 * not regular ("not a regular file (fifo)"), a directory, one over the cap, or one that changes
 * size while it is read.
 */
async function readWeightsBytes(path: string, maxBytes: number): Promise<Uint8Array> {
  try {
    return await readRegularFile(
      path,
      maxBytes,
      (size) => `it has ${size} bytes, more than the cap of ${maxBytes} bytes for weights`,
    );
  } catch (e) {
    throw new Error(`${path}: cannot read weights file: ${readProblem(e)}`);
  }
}

/**
 * Read weights from a file in any supported format, detected from its content (not its name):
 * a PyTorch checkpoint (zip or legacy, see `readTorchCheckpoint` in pth.ts) or the project's
 * converted GFQW file (see `decodeGfqw` in gfqw.ts). This is what `--weights` accepts.
 *
 * Only a regular file (after following symbolic links) of at most `limits.maxFileBytes` bytes
 * (default 4 GiB) is read, and never more than its size at open time: a FIFO or a device such
 * as /dev/zero is refused at once instead of blocking or filling memory. The bytes are then
 * parsed by {@link parseWeights}.
 *
 * @example Read a checkpoint and count its tensors
 * ```ts
 * import { readWeightsFile } from "@grafiqs/grafiqs-webgpu";
 *
 * const w = await readWeightsFile("backbone.pth");
 * console.log(w.format, w.stateDict.size);
 * ```
 *
 * @param path file path.
 * @param limits caps on the file size and on inflated zip data ({@link WeightsReadLimits}).
 * @returns the format, the state_dict and the model description (`meta`: the GFQW header's meta
 * object; `{}` for PyTorch checkpoints, which carry none).
 * @throws Error naming the path when it does not exist, is not a regular file (`not a regular
 * file (fifo)`), is larger than the cap, is empty, has an unknown format, or fails the format's
 * checks.
 */
export async function readWeightsFile(
  path: string,
  limits: WeightsReadLimits = {},
): Promise<LoadedWeights> {
  const bytes = await readWeightsBytes(path, limits.maxFileBytes ?? WEIGHTS_MAX_FILE_BYTES);
  return parseWeights(bytes, path, limits);
}
