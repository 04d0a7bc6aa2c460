/**
 * The main command's command line: its help text, its options and their checks.
 *
 * @module
 */
import { describeParseError, parseArgs, UsageError } from "./args.ts";
import { type GpuOptions, KERNEL_CHOICES, type KernelChoice } from "../gpu/gpu.ts";
import { BACKBONES } from "../graph/model.ts";
import { DEFAULT_MAX_PIXELS } from "../image/decode.ts";
import { DEFAULT_MAX_FILE_BYTES } from "../image/read_file.ts";
import type { RecordFormat } from "../io/records.ts";
import type { FaceRule } from "../align/detect.ts";
import { checkPathReplaceArgs } from "../io/select.ts";
import { parseShard, type Shard } from "../pipeline/shard.ts";

/** Options added by the pipeline stage (see {@link PIPELINE_ARGS}). */
export interface PipelineOptions {
  /**
   * `--image-extension`, each value split at commas, one leading dot dropped (`.jpg` is `jpg`)
   * (default `["jpg"]`).
   */
  imageExtensions: string[];
  /** `--image-list FILE`: the images to score are the list's paths (io/image_list.ts); or null. */
  imageList: string | null;
  /** `--recursive`: walk DIR's subfolders, extensions case-insensitive. */
  recursive: boolean;
  /** `-0`/`--null`: paths on stdin are NUL-separated. */
  nullSeparated: boolean;
  /** `--format`: record format (default tsv, or jsonl for an --output named *.jsonl/*.ndjson). */
  format: RecordFormat;
  /** `--output FILE`: records go to FILE (`-`: stdout); null when not given. */
  output: string | null;
  /** `--resume`: continue an interrupted run. */
  resume: boolean;
  /** `--shard K/N`, or null. */
  shard: Shard | null;
  /** Whether the run writes records (stdin input or --output) instead of the five files. */
  records: boolean;
}

/** The `parseArgs` definitions of the pipeline options (merged into the main command's). */
export const PIPELINE_ARGS = {
  "image-extension": { type: "string", multiple: true },
  "image-list": { type: "string" },
  "recursive": { type: "boolean", default: false },
  "null": { type: "boolean", short: "0", default: false },
  "format": { type: "string" },
  "output": { type: "string", short: "o" },
  "resume": { type: "boolean", default: false },
  "shard": { type: "string" },
} as const;

/**
 * Check and convert the pipeline options parsed with {@link PIPELINE_ARGS}.
 *
 * @param v the parsed values of the whole main command (`image-path`, `output-dir` and
 *   `save-embeddings` are read too)
 * @returns the pipeline options
 * @throws Error saying which options do not go together or which value is bad
 */
export function pipelineOptions(v: Record<string, unknown>): PipelineOptions {
  const given = v["image-extension"] as string[] | undefined;
  const raw = given ?? ["jpg"];
  // The dot users type (".jpg") is dropped: the official tool would glob "*..jpg" and find
  // nothing. A lone "." stays as typed (the empty extension's pattern "*.").
  const undot = (e: string) => (e.length > 1 && e.startsWith(".") ? e.slice(1) : e);
  const imageExtensions = [
    ...new Set(
      raw.flatMap((x) => (x === "" ? [""] : x.split(",").filter((e) => e !== "").map(undot))),
    ),
  ];
  if (imageExtensions.length === 0) throw new Error("--image-extension is empty");
  const imagePath = v["image-path"] as string | undefined;
  const imageList = (v["image-list"] as string | undefined) ?? null;
  if (imageList !== null) {
    if (imagePath !== undefined) {
      throw new Error("--image-list and --image-path both name the images; give one of them");
    }
    if (imageList === "" || imageList === "-") {
      throw new Error(
        imageList === ""
          ? "--image-list needs a file name"
          : "--image-list - is not supported: paths on stdin are read without --image-path " +
            "(the record mode)",
      );
    }
    if (given !== undefined) {
      throw new Error(
        "--image-extension selects files in a folder; an --image-list names its files itself",
      );
    }
    if (v.recursive === true) throw new Error("--recursive walks a folder; not with --image-list");
  }
  const stdin = imageList === null && (imagePath === undefined || imagePath === "-");
  const output = (v.output as string | undefined) ?? null;
  const records = stdin || output !== null;
  const recursive = v.recursive === true;
  const nullSeparated = v.null === true;
  if (recursive && stdin) throw new Error("--recursive needs --image-path DIR");
  if (nullSeparated && imageList !== null) {
    throw new Error("-0 applies to paths read from stdin; an --image-list has one path a line");
  }
  if (nullSeparated && !stdin) throw new Error("-0 applies to paths read from stdin");
  let format: RecordFormat;
  const f = v.format as string | undefined;
  if (f !== undefined) {
    if (f !== "tsv" && f !== "jsonl") throw new Error(`--format must be tsv or jsonl, got "${f}"`);
    if (!records) {
      throw new Error("--format applies to records (paths from stdin, or --output FILE)");
    }
    format = f;
  } else format = output && /\.(jsonl|ndjson)$/i.test(output) ? "jsonl" : "tsv";
  if (records && v["output-dir"] !== undefined) {
    throw new Error(
      "--output-dir is for the five score files of the folder mode (--image-path DIR|FILE or " +
        "--image-list without --output); records go to stdout or --output FILE",
    );
  }
  if (records && v["save-embeddings"] === true) {
    throw new Error(
      "--save-embeddings is for the folder mode (--image-path DIR|FILE or --image-list, with " +
        "--output-dir)",
    );
  }
  const resume = v.resume === true;
  if (resume && records && (output === null || output === "-")) {
    throw new Error("--resume in the record mode needs --output FILE (stdout cannot be resumed)");
  }
  const shard = v.shard === undefined ? null : parseShard(v.shard as string);
  return {
    imageExtensions,
    imageList,
    recursive,
    nullSeparated,
    format,
    output,
    resume,
    shard,
    records,
  };
}

/**
 * Whether a parsed command line needs `runPipeline` (records, or the folder mode with
 * --resume) rather than the plain folder mode.
 */
export function usesPipeline(o: PipelineOptions): boolean {
  return o.records || o.resume;
}

/** Help text of the main command. */
export const SCORE_HELP = `Usage: grafiqs --image-path DIR|FILE --weights FILE [options]
       grafiqs --image-list FILE --weights FILE [options]
       ... | grafiqs --weights FILE [--format tsv|jsonl] [-0] [options] | ...
       grafiqs calibrate ...      (a 0-100 quality scale; see 'grafiqs calibrate --help')
       grafiqs edc ...            (EDC evaluation; see 'grafiqs edc --help')
       grafiqs merge ...          (join --shard record files; see 'grafiqs merge --help')

GraFIQs face image quality on WebGPU. Drop-in for the official extract_grafiqs.py.

Official options (same meaning):
  --image-path DIR            folder of images (not recursive unless --recursive); a folder
                              where nothing matches is an error (the official tool writes
                              five empty files)
  --image-path FILE           one image file, its path printed exactly as given
  --image-extension EXT       file extension, case sensitive (default: jpg); ".jpg" is "jpg"
  --output-dir OUT            where GraFIQs_{image,block1..block4}.txt go, and GraFIQs_failed.txt
                              (path<TAB>reason, header only if none failed) (created; default: .);
                              checked writable (a probe file) before the model or any image.
                              GraFIQs_manifest.json, written last, names the run's files (size,
                              SHA-256): they are a valid set only when it does
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
  --batch-size N|auto         images per GPU pass (default: 8); results do not depend on it.
                              auto: the largest batch the device's limits allow (at most 256)
                              on a hardware GPU, 8 on a software adapter
  --kernels auto|register|tiled|winograd
                              kernel family (default: auto = register on a software adapter
                              such as llvmpipe, tiled on a hardware GPU); register and tiled
                              differ in float32 arithmetic only (scores within ~1e-4 relative).
                              winograd: register with the forward 3x3 stride-1 convolutions (16+
                              input channels) by Winograd too: ~1.3-1.5x faster on a CPU
                              adapter, ~0.2 GB more memory, scores within ~2e-4 of the
                              official ones (which are themselves up to ~1.6e-4 from exact
                              arithmetic)
  --save-embeddings           also write OUT/GraFIQs_embeddings.npy (N x E float32) and
                              OUT/GraFIQs_embeddings.txt (the paths, one per line, same order)
  --image-list FILE           score the paths FILE lists, one per line (# comments and blank
                              lines skipped), in its order, each printed as written; a path
                              listed again is scored once and reported on stderr. Output as
                              for a folder (or records with --output)
  --calibration FILE.json     also give each image a quality from 0 to 100, higher is better:
                              100 x (1 - F(raw)), F the distribution of a reference set's raw
                              scores made by 'grafiqs calibrate' with the same weights file.
                              Writes OUT/GraFIQs_quality.tsv (path, quality_<group>...) beside
                              the unchanged official files, or quality_<group> record columns
  --version, --help

Hostile or damaged input (such an image fails with its reason; the others are scored):
  --max-pixels N              refuse images larger than N pixels (width x height as the file's
                              header declares it, checked before decoding: decompression bombs)
                              (default: ${DEFAULT_MAX_PIXELS})
  --max-file-bytes N          refuse image files larger than N bytes (default: ${DEFAULT_MAX_FILE_BYTES},
                              256 MiB); only regular files are read (FIFOs, devices and sockets
                              fail as "not a regular file", without being opened)
  --allow-truncated           score a JPEG whose data ends early (no end-of-image marker),
                              padded as OpenCV does, with a warning on stderr; by default it
                              fails as "truncated JPEG"

Raw photos (docs/ALIGN.md):
  --align                     find the face, fit its five landmarks (eyes, nose tip, mouth
                              corners) onto the ArcFace 112x112 template, warp (bilinear, zero
                              border) and score the crop. An image without a face fails with
                              "no face found"; records gain face_box, landmarks, face_confidence
  --face center|largest       which face of several: the one nearest the image centre
                              (default) or the largest
  --save-aligned DIR          also write each aligned crop as DIR/<path>.png

Pipelines and large runs (docs/PIPELINE.md):
  --image-path -              read image paths from stdin, one per line (also without
                              --image-path); one record per image goes to stdout as soon as
                              its batch is scored, in input order
                              (a path over 65536 bytes is a failed record: path too long)
  -0, --null                  paths on stdin are NUL-separated (find -print0)
  --output FILE               write records to FILE (- for stdout), also with --image-path DIR;
                              its folder is created and checked writable first
  --format tsv|jsonl          record format (default: tsv, jsonl for FILE.jsonl); columns:
                              path, one score per group, status (ok|failed), error
  --image-extension A,B       several extensions (comma-separated or repeated)
  --recursive                 also the folders below DIR; extensions case-insensitive
  --shard K/N                 only the paths whose FNV-1a 64 of the UTF-8 path text, mod N, is K
  --resume                    continue an interrupted run: with --output FILE, keep its records
                              and skip their paths (refused when FILE.settings, the weights
                              and options it was written with, differs); in the folder mode,
                              continue from OUT/.grafiqs_journal.tsv and write the five files
                              at the end. One run writes FILE at a time (lock FILE.lock)

A lower raw score means better quality; a calibrated quality of 73 means the image scored better
than about 73 % of the reference set. Exit status: 0 all images scored, 3 some images failed
(listed in OUT/GraFIQs_failed.txt and on stderr, or as failed records; the others are scored),
2 bad command line, 1 fatal error (nothing written), 130 interrupted by SIGINT (record mode
and --resume: what was done is kept, rerun with --resume; the folder mode without --resume
writes nothing). A reader of stdout that goes away ends the run early with 0 or 3.`;

/** Parsed options of the main command ({@link SCORE_HELP} describes each flag). */
export interface ScoreOptions extends PipelineOptions {
  /** `--image-path`: the image folder, or `-` (the default) for paths on stdin. */
  imagePath: string;
  /** `--output-dir`: where the score files go (default `.`). */
  outputDir: string;
  /** `--backbone`: an architecture name or "auto" (the default; recognised from the weights). */
  backbone: string;
  /** `--weights`: a PyTorch .pth/.pt checkpoint or a converted .gfqw file. */
  weights: string;
  /** `--gpu`: the adapter choice (an index maps to "default"). */
  adapter: GpuOptions["adapter"];
  /** `--path-replace A --path-replace-with B` as `{ a, b }`, or null when not given. */
  pathReplace: { a: string; b: string } | null;
  /** `--bgr2rgb`: feed RGB; without it the model's own channel order applies. */
  bgr2rgb: boolean;
  /** `--batch-size`: images per GPU pass, a positive integer (default 8), or "auto". */
  batchSize: number | "auto";
  /** `--kernels`: the kernel family choice (default "auto"). */
  kernels: KernelChoice;
  /** `--save-embeddings`: also write OUT/GraFIQs_embeddings.{npy,txt}. */
  saveEmbeddings: boolean;
  /** `--max-pixels`: the largest image decoded, in pixels (default 50,000,000). */
  maxPixels: number;
  /** `--max-file-bytes`: the largest image file read, in bytes (default 256 MiB). */
  maxFileBytes: number;
  /** `--allow-truncated`: score JPEGs that end early (padded), with a warning. */
  allowTruncated: boolean;
  /** `--calibration FILE.json`: add the calibrated 0-100 quality (io/calibration.ts); or null. */
  calibration: string | null;
  /** `--align`: detect, align to the ArcFace 112 x 112 template, then score. */
  align: boolean;
  /** `--face`: which face `--align` takes (default "center"). */
  face: FaceRule;
  /** `--save-aligned DIR`: where `--align` writes each crop as PNG; null when not given. */
  saveAligned: string | null;
}

/** The main command's options, for `parseArgs`. */
const SCORE_ARGS = {
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
  "kernels": { type: "string", default: "auto" },
  "save-embeddings": { type: "boolean", default: false },
  "max-pixels": { type: "string", default: String(DEFAULT_MAX_PIXELS) },
  "max-file-bytes": { type: "string", default: String(DEFAULT_MAX_FILE_BYTES) },
  "allow-truncated": { type: "boolean", default: false },
  "calibration": { type: "string" },
  "align": { type: "boolean", default: false },
  "face": { type: "string" },
  "save-aligned": { type: "string" },
  "help": { type: "boolean", short: "h", default: false },
} as const;

/**
 * The main command's options that `grafiqs calibrate` does not take: it scores a whole reference
 * set in one go and writes one JSON file (`--output FILE.json`).
 */
const NOT_FOR_CALIBRATE = [
  "output-dir",
  "save-embeddings",
  "format",
  "resume",
  "shard",
  "null",
  "calibration",
  "path-replace",
  "path-replace-with",
] as const;

/**
 * Parse the main command's arguments, or those of `grafiqs calibrate` (the same options and
 * checks, less {@link NOT_FOR_CALIBRATE}; `--output FILE.json` and `--image-path DIR|FILE` or
 * `--image-list FILE` required; see CALIBRATE_HELP in calibrate.ts).
 *
 * @param args the command line after the program name (and after `calibrate`)
 * @param command which command's rules apply (default: the main command)
 * @returns the options, or "help" when --help was given. For `calibrate`, `records` is true:
 *   its output is the one file `--output`, checked writable as the record mode's file is.
 * @throws {UsageError} for unknown options, missing --image-path/--weights or bad values.
 */
export function parseScoreArgs(
  args: string[],
  command: "score" | "calibrate" = "score",
): ScoreOptions | "help" {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: SCORE_ARGS,
    }).values;
  } catch (e) {
    throw new UsageError(describeParseError(e, Object.keys(SCORE_ARGS)));
  }
  if (v.help) return "help";
  if (!v.weights) throw new UsageError("--weights FILE is required");
  if (command === "calibrate") {
    for (const name of NOT_FOR_CALIBRATE) {
      if (v[name] !== undefined && v[name] !== false) {
        throw new UsageError(
          `--${name === "null" ? "null (-0)" : name} does not apply to calibrate, which ` +
            `scores one reference set and writes --output FILE.json`,
        );
      }
    }
    if (v.output === undefined || v.output === "-" || v.output === "") {
      throw new UsageError("calibrate needs --output FILE.json (where the calibration goes)");
    }
    if (v["image-list"] === undefined && (v["image-path"] ?? "-") === "-") {
      throw new UsageError(
        "calibrate needs the reference images: --image-path DIR|FILE or --image-list FILE",
      );
    }
  }
  if (!BACKBONES.includes(v.backbone!)) {
    throw new UsageError(`--backbone must be one of ${BACKBONES.join(", ")}, got "${v.backbone}"`);
  }
  const batchSize = v["batch-size"] === "auto" ? "auto" : Number(v["batch-size"]);
  if (batchSize !== "auto" && (!Number.isInteger(batchSize) || batchSize < 1)) {
    throw new UsageError(
      `--batch-size must be a positive integer or auto, got "${v["batch-size"]}"`,
    );
  }
  const kernels = v.kernels as KernelChoice;
  if (!KERNEL_CHOICES.includes(kernels)) {
    throw new UsageError(`--kernels must be one of ${KERNEL_CHOICES.join(", ")}, got "${kernels}"`);
  }
  const cap = (name: "max-pixels" | "max-file-bytes") => {
    const text = v[name]!;
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`--${name} must be a positive integer, got "${text}"`);
    }
    return n;
  };
  const maxPixels = cap("max-pixels");
  const maxFileBytes = cap("max-file-bytes");
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
  const face = v.face ?? "center";
  if (face !== "center" && face !== "largest") {
    throw new UsageError(`--face must be center or largest, got "${face}"`);
  }
  if (!v.align && (v.face !== undefined || v["save-aligned"] !== undefined)) {
    throw new UsageError(`--${v.face !== undefined ? "face" : "save-aligned"} needs --align`);
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
    kernels,
    saveEmbeddings: v["save-embeddings"]!,
    maxPixels,
    maxFileBytes,
    allowTruncated: v["allow-truncated"]!,
    calibration: v.calibration ?? null,
    align: v.align!,
    face,
    saveAligned: v["save-aligned"] ?? null,
  };
}
