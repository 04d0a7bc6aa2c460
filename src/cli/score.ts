/**
 * The main job: score a folder of face images with GraFIQs and write the official files
 * OUT/GraFIQs_<group>.txt (SPEC section 5), with the official command line.
 *
 * @module
 */
import {
  describeParseError,
  EXIT_ERROR,
  EXIT_OK,
  EXIT_SOME_FAILED,
  EXIT_USAGE,
  parseArgs,
  UsageError,
} from "./args.ts";
export { EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, UsageError } from "./args.ts";
import { BACKBONES } from "../graph/model.ts";
import { Gpu, type GpuOptions } from "../gpu/gpu.ts";
import { Executor } from "../graph/executor.ts";
import { encodeNpyFloat32 } from "../io/npy.ts";
import { atomicWriteFile } from "../io/files.ts";
import { type Failure, scorePathProblem, writeFailedList, writeScoreFiles } from "../io/scores.ts";
import { applyPathReplace, checkPathReplaceArgs } from "../io/select.ts";
import { Progress } from "./progress.ts";
import {
  arraySource,
  PIPELINE_ARGS,
  type PipelineOptions,
  pipelineOptions,
  runPipeline,
  scoreStream,
  selectImages,
  setUp,
  usesPipeline,
} from "./stream.ts";

/** Help text of the main command. */
export const SCORE_HELP = `Usage: grafiqs --image-path DIR --weights FILE [options]
       ... | grafiqs --weights FILE [--format tsv|jsonl] [-0] [options] | ...
       grafiqs edc ...            (EDC evaluation; see 'grafiqs edc --help')

GraFIQs face image quality on WebGPU. Drop-in for the official extract_grafiqs.py.

Official options (same meaning):
  --image-path DIR            folder of images (not recursive unless --recursive)
  --image-extension EXT       file extension, case sensitive (default: jpg)
  --output-dir OUT            where GraFIQs_{image,block1..block4}.txt go, and GraFIQs_failed.txt
                              (path<TAB>reason, header only if none failed) (created; default: .)
  --backbone NAME             ${BACKBONES.join(", ")} (default: auto, recognised from the weights)
  --weights FILE              PyTorch .pth (zip or legacy format) or a converted .gfqw file
  --gpu N|NAME                adapter: 0 or "default", "high-performance", "low-power",
                              "fallback" (software); WebGPU cannot select adapters by index
  --path-replace A            replace every occurrence of A in the printed paths ...
  --path-replace-with B       ... by B (both options are required together)
  --bgr2rgb                   feed RGB instead of OpenCV's BGR. Without it the model's own order
                              is used: BGR for the iResNets (the official default), RGB for
                              MobileFaceNet (as trained) or a converted file's meta.preprocess

Added options:
  --batch-size N              images per GPU pass (default: 8); results do not depend on it
  --save-embeddings           also write OUT/GraFIQs_embeddings.npy (N x E float32) and
                              OUT/GraFIQs_embeddings.txt (the paths, one per line, same order)
  --version, --help

Pipelines and large runs (docs/PIPELINE.md):
  --image-path -              read image paths from stdin, one per line (also without
                              --image-path); one record per image goes to stdout as soon as
                              its batch is scored, in input order
  -0, --null                  paths on stdin are NUL-separated (find -print0)
  --output FILE               write records to FILE (- for stdout), also with --image-path DIR
  --format tsv|jsonl          record format (default: tsv, jsonl for FILE.jsonl); columns:
                              path, one score per group, status (ok|failed), error
  --image-extension A,B       several extensions (comma-separated or repeated)
  --recursive                 also the folders below DIR; extensions case-insensitive
  --shard K/N                 only the paths whose FNV-1a 64 of the UTF-8 path text, mod N, is K
  --resume                    continue an interrupted run: with --output FILE, keep its records
                              and skip their paths; in the folder mode, continue from
                              OUT/.grafiqs_journal.tsv and write the five files at the end

Lower scores mean higher quality. Exit status: 0 all images scored, 3 some images failed
(listed in OUT/GraFIQs_failed.txt and on stderr, or as failed records; the others are scored),
2 bad command line, 1 fatal error (nothing written), 130 interrupted by SIGINT (what was done
is kept; rerun with --resume). A reader of stdout that goes away ends the run early with 0 or 3.`;

/** Parsed options of the main command. */
export interface ScoreOptions extends PipelineOptions {
  imagePath: string;
  outputDir: string;
  backbone: string;
  weights: string;
  adapter: GpuOptions["adapter"];
  pathReplace: { a: string; b: string } | null;
  bgr2rgb: boolean;
  batchSize: number;
  saveEmbeddings: boolean;
}

/**
 * The main command's options, for `parseArgs`. A function, not a constant: stream.ts (which
 * defines PIPELINE_ARGS) imports this module too, so a module-level spread could run first.
 */
const scoreOptions = () => ({
  "image-path": { type: "string" },
  ...PIPELINE_ARGS,
  "output-dir": { type: "string" },
  "backbone": { type: "string", default: "auto" },
  "weights": { type: "string" },
  "gpu": { type: "string" },
  "path-replace": { type: "string" },
  "path-replace-with": { type: "string" },
  "bgr2rgb": { type: "boolean", default: false },
  "batch-size": { type: "string", default: "8" },
  "save-embeddings": { type: "boolean", default: false },
  "help": { type: "boolean", short: "h", default: false },
} as const);

/**
 * Parse the main command's arguments.
 *
 * @returns the options, or "help" when --help was given
 * @throws {UsageError} for unknown options, missing --image-path/--weights or bad values.
 */
export function parseScoreArgs(args: string[]): ScoreOptions | "help" {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: scoreOptions(),
    }).values;
  } catch (e) {
    throw new UsageError(describeParseError(e, Object.keys(scoreOptions())));
  }
  if (v.help) return "help";
  if (!v.weights) throw new UsageError("--weights FILE is required");
  if (!BACKBONES.includes(v.backbone!)) {
    throw new UsageError(`--backbone must be one of ${BACKBONES.join(", ")}, got "${v.backbone}"`);
  }
  const batchSize = Number(v["batch-size"]);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new UsageError(`--batch-size must be a positive integer, got "${v["batch-size"]}"`);
  }
  let adapter: GpuOptions["adapter"] = "default";
  const gpu = v.gpu;
  if (gpu !== undefined) {
    if (/^\d+$/.test(gpu)) {
      if (gpu !== "0") {
        console.error(
          `grafiqs: --gpu ${gpu}: WebGPU cannot choose adapters by index; using the default ` +
            `adapter (use --gpu high-performance|low-power|fallback, or DENO_WEBGPU_BACKEND)`,
        );
      }
    } else if (["default", "high-performance", "low-power", "fallback"].includes(gpu)) {
      adapter = gpu as GpuOptions["adapter"];
    } else {
      throw new UsageError(`--gpu must be an index or default|high-performance|low-power|fallback`);
    }
  }
  let pathReplace;
  try {
    pathReplace = checkPathReplaceArgs(v["path-replace"], v["path-replace-with"]);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let pipeline;
  try {
    pipeline = pipelineOptions(v);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    ...pipeline,
    imagePath: v["image-path"] ?? "-",
    outputDir: v["output-dir"] ?? ".",
    backbone: v.backbone!,
    weights: v.weights!,
    adapter,
    pathReplace,
    bgr2rgb: v.bgr2rgb!,
    batchSize,
    saveEmbeddings: v["save-embeddings"]!,
  };
}

/** One scored image. */
export interface ScoredImage {
  /** Path text as printed (after --path-replace). */
  path: string;
  /** One float32 score per group. */
  scores: number[];
  /** The embedding (E float32 values). */
  embedding: Float32Array;
}

/** Everything a scoring run produced. */
export interface ScoreRunResult {
  groups: string[];
  scored: ScoredImage[];
  failures: Failure[];
}

/**
 * Score `paths` (path texts as listed, readable relative to the working directory) in batches.
 * An image that cannot be read or decoded is reported through `onFailure` and left out; the
 * others are unaffected. `onBatch` is called after each batch.
 *
 * @throws {GpuError} when WebGPU fails (fatal for the run).
 */
export async function scorePaths(
  ex: Executor,
  paths: string[],
  opts: { batchSize: number; channelOrder: "bgr" | "rgb"; pathText?: (p: string) => string },
  onFailure: (f: Failure) => void,
  onBatch?: (done: number) => void,
): Promise<ScoreRunResult> {
  const scored: ScoredImage[] = [];
  const failures: Failure[] = [];
  let done = 0;
  // The stream machinery on a list: decoding the next batch overlaps the GPU work of this one.
  await scoreStream(ex, arraySource(paths), {
    batchSize: opts.batchSize,
    channelOrder: opts.channelOrder,
    pathText: opts.pathText,
    pathProblem: scorePathProblem,
    keepEmbeddings: true,
  }, (records) => {
    for (const r of records) {
      if (r.scores === null) {
        const f = { path: r.path, reason: r.error! };
        failures.push(f);
        onFailure(f);
      } else scored.push({ path: r.path, scores: Array.from(r.scores), embedding: r.embedding! });
    }
    done += records.length;
    onBatch?.(done);
    return Promise.resolve();
  });
  return { groups: ex.groups, scored, failures };
}

/**
 * Run the main command. Writes the five official score files (atomically), the failure list
 * and optionally the embeddings; returns the exit status (see {@link EXIT_OK} and friends).
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
  try {
    const { model, channelOrder } = await setUp(opts);
    const paths = await selectImages(opts);
    const gpu = await Gpu.create({ adapter: opts.adapter });
    console.error(
      `grafiqs: ${model.description}, ${channelOrder.toUpperCase()} input, ${paths.length} ` +
        `images, batch ${opts.batchSize}, adapter ${gpu.adapterName}`,
    );
    const ex = await Executor.create(gpu, model.graph, model.weights);
    const progress = new Progress(paths.length);
    const pr = opts.pathReplace;
    const t0 = performance.now();
    const result = await scorePaths(
      ex,
      paths,
      {
        batchSize: opts.batchSize,
        channelOrder,
        pathText: pr ? (p) => applyPathReplace(p, pr.a, pr.b) : undefined,
      },
      (f) => progress.log(`grafiqs: skipped ${f.path}: ${f.reason}`),
      (done) => progress.update(done),
    );
    progress.stop();
    ex.destroy();
    const secs = (performance.now() - t0) / 1000;
    await writeScoreFiles(
      opts.outputDir,
      result.groups,
      result.scored.map((s) => ({ path: s.path, scores: s.scores })),
    );
    await writeFailedList(opts.outputDir, result.failures);
    if (opts.saveEmbeddings) await saveEmbeddings(opts.outputDir, result.scored);
    console.error(
      `grafiqs: scored ${result.scored.length} images in ${secs.toFixed(1)} s ` +
        `(${(result.scored.length / secs).toFixed(2)} images/s); ` +
        `${result.failures.length} failed; wrote ${opts.outputDir}`,
    );
    return result.failures.length ? EXIT_SOME_FAILED : EXIT_OK;
  } catch (e) {
    console.error(`grafiqs: ${(e as Error).message}`);
    return EXIT_ERROR;
  }
}

/**
 * Write OUT/GraFIQs_embeddings.npy (N x E float32, rows in score-file order, not normalised)
 * and OUT/GraFIQs_embeddings.txt (one path per line, same order), both atomically.
 */
export async function saveEmbeddings(outDir: string, scored: ScoredImage[]): Promise<void> {
  const E = scored.length ? scored[0].embedding.length : 0;
  const all = new Float32Array(scored.length * E);
  scored.forEach((s, i) => all.set(s.embedding, i * E));
  await atomicWriteFile(
    `${outDir}/GraFIQs_embeddings.npy`,
    encodeNpyFloat32(all, scored.length, E),
  );
  await atomicWriteFile(
    `${outDir}/GraFIQs_embeddings.txt`,
    scored.map((s) => s.path + "\n").join(""),
  );
}
