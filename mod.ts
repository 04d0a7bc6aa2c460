/**
 * GraFIQs face image quality assessment on WebGPU.
 *
 * Command line (drop-in for the official extract_grafiqs.py):
 * `deno run -A mod.ts --image-path DIR --weights FILE.pth --output-dir OUT [--bgr2rgb]`,
 * and `deno run -A mod.ts edc ...` for EDC evaluation. Paths on stdin give one record per image
 * on stdout (`find DIR -print0 | deno run -A mod.ts --weights FILE -0`); `--recursive`,
 * `--shard K/N` and `--resume` serve large runs (docs/PIPELINE.md). As a library, the exports
 * below run the same pipeline.
 *
 * @module
 */
export { Gpu, GpuError, type GpuOptions } from "./src/gpu/gpu.ts";
export { type BatchResult, Executor, type ExecutorOptions } from "./src/graph/executor.ts";
export {
  buildIResNet,
  detectIResNet,
  type IResNetConfig,
  standardIResNet,
} from "./src/graph/iresnet.ts";
export type { Graph, Group, Node, TensorInfo } from "./src/graph/ir.ts";
export { extractWeights, WeightsMismatchError } from "./src/graph/weights.ts";
export { type LoadedModel, loadModel } from "./src/graph/model.ts";
export { readTorchCheckpoint, readWeightsFile } from "./src/weights/pth.ts";
export { prepareImage } from "./src/image/normalize.ts";
export { runScore } from "./src/cli/score.ts";
export { scorePaths } from "./src/pipeline/score_paths.ts";
export { arraySource, DelimitedPathReader, type PathSource } from "./src/pipeline/source.ts";
export { runPipeline } from "./src/cli/run_pipeline.ts";
export {
  scoreStream,
  type StreamOptions,
  type StreamRecord,
  type StreamStats,
} from "./src/pipeline/score_stream.ts";
export { selectImages } from "./src/pipeline/select_images.ts";
export {
  formatRecord,
  type ImageRecord,
  parseRecordLine,
  type RecordFormat,
} from "./src/io/records.ts";
export { Journal, recoverRecordFile } from "./src/pipeline/resume.ts";
export { fnv1a64 } from "./src/io/hash.ts";
export { inShard, parseShard, type Shard, shardOf } from "./src/pipeline/shard.ts";
export { runEdc } from "./src/cli/edc.ts";
export { VERSION } from "./src/version.ts";

import { runScore } from "./src/cli/score.ts";
import { runEdc } from "./src/cli/edc.ts";
import { VERSION } from "./src/version.ts";

/** Dispatch a command line to the main job or a subcommand; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "--version" || args[0] === "-V") {
    console.log(`grafiqs ${VERSION}`);
    return 0;
  }
  if (args[0] === "edc") return await runEdc(args.slice(1));
  return await runScore(args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
