/**
 * The pipeline stage: image paths in (stdin, or a directory listing), one result record per
 * image out, as soon as each batch is scored, in input order; and the folder mode's `--resume`.
 *
 * The run is three concurrent loops joined by bounded queues, so memory stays bounded however
 * long the input is (at most about five batches exist at once) and the stages overlap:
 * 1. the collector reads paths and fills a batch; a partial batch goes out when the input
 *    stalls (no new path for {@link STALL_MS}) or its first path has waited
 *    {@link MAX_WAIT_MS}, so a slow or interactive producer still gets its results;
 * 2. the decoder reads and decodes the images of the next batch into one input buffer while
 * 3. the runner scores the previous batch on the GPU and hands its records, in input order, to
 *    the sink (stdout, an output file, or the journal).
 *
 * Stopping: on SIGINT, or when stdout's reader went away (EPIPE), the collector stops reading,
 * the batch on the GPU finishes and is written, and the queued batches are dropped.
 *
 * @module
 */
import { Gpu } from "../gpu/gpu.ts";
import { Executor } from "../graph/executor.ts";
import { ensureDirectory, writeAll } from "../io/files.ts";
import {
  type Failure,
  scorePathProblem,
  type ScoreRow,
  writeFailedList,
  writeScoreFiles,
} from "../io/scores.ts";
import {
  applyPathReplace,
  comparePathsPythonOrder,
  listImages,
  listImagesRecursive,
} from "../io/select.ts";
import { type Item, prepareBatch, type Prepared } from "./batch.ts";
import type { PrepareOptions } from "../image/normalize.ts";
import { type LoadedModel, loadModel } from "../graph/model.ts";
import { Progress } from "./progress.ts";
import {
  formatRecord,
  type ImageRecord,
  Journal,
  type RecordFormat,
  recordHeader,
  recoverRecordFile,
} from "./resume.ts";
import {
  EXIT_ERROR,
  EXIT_OK,
  EXIT_SOME_FAILED,
  saveEmbeddings,
  type ScoredImage,
  type ScoreOptions,
} from "./score.ts";
import { inShard, parseShard, type Shard } from "./shard.ts";

/** Exit status: stopped by SIGINT (128 + 2, the shell's convention); finished records are kept. */
export const EXIT_INTERRUPTED = 130;

/** A partial batch is scored when no new path arrived for this long (milliseconds). */
export const STALL_MS = 150;

/** A partial batch is scored at the latest when its first path has waited this long (ms). */
export const MAX_WAIT_MS = 1000;

/** Returned by {@link PathSource.next} when no path arrived within the wait. */
export const STALL: unique symbol = Symbol("stall");

/** A stream of path texts. */
export interface PathSource {
  /**
   * The next path, {@link STALL} when none arrived within `waitMs` (the read goes on in the
   * background; call again), or null at the end of the input.
   */
  next(waitMs: number): Promise<string | typeof STALL | null>;
}

/** A {@link PathSource} over a list (a directory listing); it never stalls. */
export function arraySource(paths: readonly string[]): PathSource {
  let i = 0;
  return { next: () => Promise.resolve(i < paths.length ? paths[i++] : null) };
}

/**
 * Paths from a byte stream (stdin), separated by line feeds or by NUL bytes (`find -print0`).
 *
 * The bytes are read one chunk at a time, only when the next path is wanted, and decoded as
 * UTF-8 (bytes that are not UTF-8 become U+FFFD, so such a file cannot be opened and its record
 * says so). With line feeds, a carriage return before the line feed is removed (CRLF lists).
 * Empty records are skipped. Memory: one chunk plus one partial path.
 */
export class DelimitedPathReader implements PathSource {
  /** Longest accepted path, in UTF-16 code units. */
  static readonly MAX_PATH = 65536;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #sep: "\n" | "\0";
  #name: string;
  #buf = "";
  #queue: string[] = [];
  #qi = 0;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  #eof = false;

  /**
   * Read paths from `stream` (locks it).
   *
   * @param stream the bytes, e.g. `Deno.stdin.readable`
   * @param separator `"\n"` (lines) or `"\0"` (NUL-separated, `-0`)
   * @param name the stream's name for messages
   */
  constructor(stream: ReadableStream<Uint8Array>, separator: "\n" | "\0", name = "stdin") {
    this.#reader = stream.getReader();
    this.#sep = separator;
    this.#name = name;
  }

  /**
   * See {@link PathSource.next}.
   *
   * @throws Error naming the stream when a path is longer than {@link MAX_PATH} (e.g. binary
   *   data, or NUL-separated input read without `-0`), or when reading fails
   */
  async next(waitMs: number): Promise<string | typeof STALL | null> {
    for (;;) {
      if (this.#qi < this.#queue.length) {
        const p = this.#queue[this.#qi++];
        if (this.#qi === this.#queue.length) {
          this.#queue = [];
          this.#qi = 0;
        }
        return p;
      }
      if (this.#eof) return null;
      this.#pending ??= this.#reader.read();
      let r: ReadableStreamReadResult<Uint8Array> | typeof STALL;
      if (waitMs === Infinity) r = await this.#pending;
      else {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const t = new Promise<typeof STALL>((res) => {
          timer = setTimeout(() => res(STALL), waitMs);
        });
        r = await Promise.race([this.#pending, t]);
        clearTimeout(timer);
        if (r === STALL) return STALL;
      }
      this.#pending = undefined;
      if (r.done) {
        this.#eof = true;
        this.#take(this.#decoder.decode(), true);
      } else this.#take(this.#decoder.decode(r.value, { stream: true }), false);
    }
  }

  #take(text: string, end: boolean): void {
    const parts = (this.#buf + text).split(this.#sep);
    this.#buf = end ? "" : parts.pop()!;
    for (let p of parts) {
      if (this.#sep === "\n" && p.endsWith("\r")) p = p.slice(0, -1);
      if (p !== "") this.#queue.push(p);
    }
    if (this.#buf.length > DelimitedPathReader.MAX_PATH) {
      const hint = this.#sep === "\n" ? " (NUL-separated input needs -0)" : "";
      throw new Error(
        `${this.#name}: a path longer than ${DelimitedPathReader.MAX_PATH} characters${hint}`,
      );
    }
  }

  /** Stop reading (releases the stream). */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch { /* already closed */ }
  }
}

/** A bounded first-in first-out queue between two async loops. */
export class Channel<T> {
  #items: T[] = [];
  #capacity: number;
  #closed = false;
  #recvWaiters: (() => void)[] = [];
  #sendWaiters: (() => void)[] = [];

  /**
   * An empty, open channel.
   *
   * @param capacity how many items may wait (at least 1)
   */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  static #wake(list: (() => void)[]): void {
    for (const w of list.splice(0)) w();
  }

  /** Add an item, waiting while the queue is full; false when the channel was closed. */
  async send(item: T): Promise<boolean> {
    while (!this.#closed && this.#items.length >= this.#capacity) {
      await new Promise<void>((r) => this.#sendWaiters.push(r));
    }
    if (this.#closed) return false;
    this.#items.push(item);
    Channel.#wake(this.#recvWaiters);
    return true;
  }

  /** The next item, waiting while the queue is empty; undefined once closed and drained. */
  async recv(): Promise<T | undefined> {
    while (this.#items.length === 0 && !this.#closed) {
      await new Promise<void>((r) => this.#recvWaiters.push(r));
    }
    const item = this.#items.shift();
    Channel.#wake(this.#sendWaiters);
    return item;
  }

  /** No more items will be sent; waiting senders get false, receivers drain what is left. */
  close(): void {
    this.#closed = true;
    Channel.#wake(this.#recvWaiters);
    Channel.#wake(this.#sendWaiters);
  }
}

/** A stop request shared by the loops of {@link scoreStream}. */
export class StopSignal {
  /** Why the run stops (e.g. "interrupt", "epipe"), or null while it runs. */
  reason: string | null = null;
  /** Ask the run to stop; the first reason given is kept. */
  request(reason: string): void {
    this.reason ??= reason;
  }
  /** Whether a stop was requested. */
  get stopped(): boolean {
    return this.reason !== null;
  }
}

/** One result of {@link scoreStream}. */
export interface StreamRecord extends ImageRecord {
  /** The path as listed (opened to read the image); `path` is its printed text. */
  listed: string;
}

/** Options of {@link scoreStream}. */
export interface StreamOptions {
  /** Images per GPU pass (capped at the executor's maximum). */
  batchSize: number;
  /** Channel order fed to the network. */
  channelOrder: "bgr" | "rgb";
  /** The printed text of a listed path (default: the path itself). */
  pathText?: (listed: string) => string;
  /** Whether to score a path (shard and resume filters); rejected paths get no record. */
  accept?: (listed: string, text: string) => boolean;
  /** Why a printed path cannot be output (the folder mode's line-break check), or null. */
  pathProblem?: (text: string) => string | null;
  /** Keep each image's embedding in its record. */
  keepEmbeddings?: boolean;
  /** See {@link STALL_MS}. */
  stallMs?: number;
  /** See {@link MAX_WAIT_MS}. */
  maxWaitMs?: number;
  /** Stop request (SIGINT, EPIPE); checked between reads and batches. */
  stop?: StopSignal;
}

/** Counts of a {@link scoreStream} run. */
export interface StreamStats {
  /** Paths read from the source. */
  read: number;
  /** Paths that `accept` rejected. */
  skipped: number;
  /** Images scored. */
  scored: number;
  /** Images that could not be scored. */
  failed: number;
  /** Why the run stopped early, or null when the input was exhausted. */
  stopped: string | null;
}

/**
 * Score the paths of `source` in batches and hand the records of each batch, in input order,
 * to `sink` as soon as the batch is scored (see the module comment for the stages).
 *
 * Each record's scores are bit-identical to the folder mode's (the executor scores every image
 * on its own, whatever the batch). An image that cannot be read or decoded gets a record with
 * `scores: null` and the reason, as `scorePaths` reports it.
 *
 * @param ex the executor
 * @param source the paths
 * @param opts see {@link StreamOptions}
 * @param sink receives each batch's records; may call `opts.stop.request` (e.g. on EPIPE)
 * @returns counts, and why the run stopped early (null when the input ran out)
 * @throws whatever the source, the decoder setup, the GPU or the sink throws (the other loops
 *   are stopped first)
 */
export async function scoreStream(
  ex: Executor,
  source: PathSource,
  opts: StreamOptions,
  sink: (records: StreamRecord[]) => Promise<void>,
): Promise<StreamStats> {
  const g = ex.graph;
  const inT = g.tensors[g.input];
  const per = inT.c * inT.h * inT.w;
  const E = g.tensors[g.embedding].c;
  const G = ex.groups.length;
  const batchSize = Math.max(1, Math.min(opts.batchSize, ex.maxBatch));
  const prep: PrepareOptions = { ...g.preprocess, channelOrder: opts.channelOrder };
  const stallMs = opts.stallMs ?? STALL_MS;
  const maxWaitMs = opts.maxWaitMs ?? MAX_WAIT_MS;
  const stop = opts.stop ?? new StopSignal();
  const stats: StreamStats = { read: 0, skipped: 0, scored: 0, failed: 0, stopped: null };
  const batches = new Channel<Item[]>(1);
  const prepared = new Channel<Prepared>(1);

  const collect = async () => {
    let batch: Item[] = [];
    let first = 0;
    try {
      while (!stop.stopped) {
        // With a partial batch, wait no longer than the stall time or its first path's budget;
        // with none, wake up now and then to notice a stop request.
        const wait = batch.length
          ? Math.max(0, Math.min(stallMs, first + maxWaitMs - performance.now()))
          : 250;
        const p = await source.next(wait);
        if (p === STALL) {
          if (batch.length && !(await batches.send(batch))) break;
          batch = [];
          continue;
        }
        if (p === null) {
          if (batch.length) await batches.send(batch);
          batch = [];
          break;
        }
        stats.read++;
        const text = opts.pathText ? opts.pathText(p) : p;
        if (opts.accept && !opts.accept(p, text)) {
          stats.skipped++;
          continue;
        }
        if (batch.length === 0) first = performance.now();
        batch.push({ listed: p, text });
        if (batch.length >= batchSize) {
          if (!(await batches.send(batch))) break;
          batch = [];
        }
      }
    } finally {
      batches.close();
    }
  };

  const decode = async () => {
    try {
      for (let b = await batches.recv(); b; b = await batches.recv()) {
        if (stop.stopped) continue; // drop queued work
        if (!(await prepared.send(await prepareBatch(b, per, prep, opts.pathProblem)))) break;
      }
    } finally {
      prepared.close();
    }
  };

  const run = async () => {
    for (let p = await prepared.recv(); p; p = await prepared.recv()) {
      if (stop.stopped) continue;
      // A short batch reuses the executor's plan for the full size (Executor.run).
      const r = p.count ? await ex.run(p.input.subarray(0, p.count * per), p.count) : undefined;
      const records: StreamRecord[] = p.items.map((it, i) => {
        const s = p.slots[i];
        if (typeof s === "string") {
          stats.failed++;
          return { path: it.text, listed: it.listed, scores: null, error: s };
        }
        stats.scored++;
        return {
          path: it.text,
          listed: it.listed,
          scores: r!.scores.subarray(s * G, (s + 1) * G),
          error: null,
          embedding: opts.keepEmbeddings ? r!.embeddings.slice(s * E, (s + 1) * E) : null,
        };
      });
      await sink(records);
    }
  };

  // Any loop that fails stops the others; the first error is reported.
  const guard = (f: () => Promise<void>) => async () => {
    try {
      await f();
    } catch (e) {
      stop.request("error");
      batches.close();
      prepared.close();
      throw e;
    }
  };
  const results = await Promise.allSettled([guard(collect)(), guard(decode)(), guard(run)()]);
  for (const r of results) if (r.status === "rejected") throw r.reason;
  stats.stopped = stop.reason;
  return stats;
}

/** Options added by the pipeline stage (see {@link PIPELINE_ARGS}). */
export interface PipelineOptions {
  /** `--image-extension`, each value split at commas (default `["jpg"]`). */
  imageExtensions: string[];
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
  const raw = (v["image-extension"] as string[] | undefined) ?? ["jpg"];
  const imageExtensions = [
    ...new Set(raw.flatMap((x) => (x === "" ? [""] : x.split(",").filter((e) => e !== "")))),
  ];
  if (imageExtensions.length === 0) throw new Error("--image-extension is empty");
  const imagePath = v["image-path"] as string | undefined;
  const stdin = imagePath === undefined || imagePath === "-";
  const output = (v.output as string | undefined) ?? null;
  const records = stdin || output !== null;
  const recursive = v.recursive === true;
  const nullSeparated = v.null === true;
  if (recursive && stdin) throw new Error("--recursive needs --image-path DIR");
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
      "--output-dir is for the five score files of the folder mode; records go to stdout or " +
        "--output FILE",
    );
  }
  if (records && v["save-embeddings"] === true) {
    throw new Error("--save-embeddings is for the folder mode (--image-path DIR --output-dir)");
  }
  const resume = v.resume === true;
  if (resume && records && (output === null || output === "-")) {
    throw new Error("--resume in the record mode needs --output FILE (stdout cannot be resumed)");
  }
  const shard = v.shard === undefined ? null : parseShard(v.shard as string);
  return { imageExtensions, recursive, nullSeparated, format, output, resume, shard, records };
}

/**
 * Whether a parsed command line needs {@link runPipeline} (records, or the folder mode with
 * --resume) rather than the plain folder mode.
 */
export function usesPipeline(o: PipelineOptions): boolean {
  return o.records || o.resume;
}

/**
 * The images of a directory as the folder mode selects them, plus the pipeline options:
 * - default: the official `sorted(Path(DIR).glob("*.EXT"))`, case-sensitive
 *   ({@link listImages}); with several extensions, the union of each one's matches;
 * - `--recursive`: every folder below DIR too, extensions case-insensitive
 *   ({@link listImagesRecursive});
 * - `--shard K/N`: only the paths of shard K ({@link inShard}).
 *
 * When nothing matches, a warning naming DIR and the patterns goes to stderr.
 *
 * @returns path texts in Python's sorted order (by components, code points)
 * @throws Error naming DIR when it does not exist or cannot be listed, or a bad extension
 */
export async function selectImages(
  o: Pick<ScoreOptions, "imagePath" | "imageExtensions" | "recursive" | "shard">,
): Promise<string[]> {
  let paths: string[];
  if (o.recursive) paths = await listImagesRecursive(o.imagePath, o.imageExtensions);
  else if (o.imageExtensions.length === 1) {
    paths = await listImages(o.imagePath, o.imageExtensions[0]);
  } else {
    const all = new Set<string>();
    for (const ext of o.imageExtensions) {
      for (const p of await listImages(o.imagePath, ext)) all.add(p);
    }
    paths = [...all].sort(comparePathsPythonOrder);
  }
  if (paths.length === 0) {
    // The official tool writes five empty files here without a word; a mistyped extension
    // deserves one. The run itself goes on the same way (exit status 0, empty score files).
    const pattern = o.imageExtensions.map((e) => `*.${e}`).join(", ");
    console.error(
      `grafiqs: warning: no file in ${o.imagePath} matches ${pattern} ` +
        (o.recursive
          ? "(searched recursively, extensions case-insensitive)"
          : "(extensions are case-sensitive, as in the official tool; see --image-extension " +
            "and --recursive)"),
    );
  }
  return o.shard ? paths.filter((p) => inShard(p, o.shard)) : paths;
}

/** Install a SIGINT handler that requests a stop (a second SIGINT exits at once). */
function onInterrupt(stop: StopSignal, message: string): () => void {
  const handler = () => {
    if (stop.reason === "interrupt") Deno.exit(EXIT_INTERRUPTED);
    stop.request("interrupt");
    console.error(message);
  };
  try {
    Deno.addSignalListener("SIGINT", handler);
  } catch {
    return () => {};
  }
  return () => Deno.removeSignalListener("SIGINT", handler);
}

/**
 * Run the record mode or the folder mode with --resume (the main command dispatches here when
 * {@link usesPipeline} says so).
 *
 * Record mode: paths come from stdin (`--image-path -` or none; `-0` for NUL-separated) or
 * from DIR; one record per image goes to stdout or `--output FILE` after each batch, in input
 * order (TSV with a header, or JSONL). With `--resume` the records already in FILE are kept
 * (a torn last line is cut) and their paths skipped, then new records are appended and flushed
 * to disk after every batch.
 *
 * Folder mode with `--resume`: each batch's results are appended to OUT/.grafiqs_journal.tsv
 * (see {@link Journal}); images already in the journal are skipped; at the end the five score
 * files, the failure list and the embeddings are written atomically from the journal, exactly
 * as an uninterrupted run writes them, and the journal is deleted.
 *
 * @returns the exit status: {@link EXIT_OK}, {@link EXIT_SOME_FAILED} (some images failed),
 *   {@link EXIT_INTERRUPTED} (SIGINT; rerun with --resume to finish) or {@link EXIT_ERROR}.
 *   A reader of stdout that went away (EPIPE) ends the run early with the status of the images
 *   done so far (0 or 3).
 */
export async function runPipeline(opts: ScoreOptions): Promise<number> {
  const stop = new StopSignal();
  const removeHandler = onInterrupt(
    stop,
    "grafiqs: interrupted; finishing the batch in flight (Ctrl-C again to quit at once)",
  );
  try {
    return opts.records ? await runRecords(opts, stop) : await runFolderResume(opts, stop);
  } catch (e) {
    console.error(`grafiqs: ${(e as Error).message}`);
    return EXIT_ERROR;
  } finally {
    removeHandler();
  }
}

/**
 * Load and check the model for a run, before any image or output is touched, and choose the
 * channel order: `--bgr2rgb` means "feed RGB"; without it the model's own order applies (BGR
 * for the iResNets, exactly as the official tool; RGB for MobileFaceNet, as it was trained).
 *
 * @param fingerprint also fingerprint the weights file (for the resume journal)
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

async function runRecords(opts: ScoreOptions, stop: StopSignal): Promise<number> {
  const { model, channelOrder } = await setUp(opts);
  const fromStdin = opts.imagePath === "-";
  const listing = fromStdin ? undefined : await selectImages(opts);
  const gpu = await Gpu.create({ adapter: opts.adapter });
  const ex = await Executor.create(gpu, model.graph, model.weights);
  const groups = ex.groups;
  const toFile = opts.output !== null && opts.output !== "-";
  let done = new Map<string, number>();
  let failedBefore = 0;
  let file: Deno.FsFile | undefined;
  let header = recordHeader(opts.format, groups);
  if (toFile && opts.resume) {
    const rec = await recoverRecordFile(opts.output!, opts.format, groups);
    done = rec.done;
    failedBefore = rec.failed;
    if (!rec.needsHeader) header = "";
    console.error(
      `grafiqs: resuming ${opts.output}: ${rec.records} records kept (${rec.failed} failed)` +
        (rec.tornBytes ? `, a torn last line of ${rec.tornBytes} bytes cut` : ""),
    );
  }
  if (toFile) {
    try {
      file = await Deno.open(opts.output!, {
        write: true,
        create: true,
        append: opts.resume,
        truncate: !opts.resume,
      });
    } catch (e) {
      throw new Error(`cannot write ${opts.output}: ${(e as Error).message}`, { cause: e });
    }
  }
  const where = toFile ? opts.output : "stdout";
  if (fromStdin && Deno.stdin.isTerminal()) {
    console.error("grafiqs: reading image paths from the terminal, one per line; Ctrl-D ends");
  }
  console.error(
    `grafiqs: ${model.description}, ${channelOrder.toUpperCase()} input, ` +
      `${listing ? `${listing.length} images` : "paths from stdin"}, batch ${opts.batchSize}, ` +
      `adapter ${gpu.adapterName}; ${opts.format.toUpperCase()} records to ${where}`,
  );
  const encoder = new TextEncoder();
  const out = file ?? Deno.stdout;
  // No bar when the records themselves go to the terminal: the two would interleave.
  const progress = new Progress(listing?.length, !(out === Deno.stdout && out.isTerminal()));
  let written = 0;
  const emit = async (text: string) => {
    if (stop.stopped && stop.reason !== "interrupt") return;
    try {
      await writeAll(out, encoder.encode(text));
      if (file) await file.syncData();
    } catch (e) {
      if (e instanceof Deno.errors.BrokenPipe) {
        stop.request("epipe");
        return;
      }
      throw new Error(`cannot write ${where}: ${(e as Error).message}`, { cause: e });
    }
  };
  const reader = fromStdin
    ? new DelimitedPathReader(Deno.stdin.readable, opts.nullSeparated ? "\0" : "\n")
    : undefined;
  const pr = opts.pathReplace;
  const t0 = performance.now();
  let stats: StreamStats;
  try {
    if (header) await emit(header);
    stats = await scoreStream(
      ex,
      reader ?? arraySource(listing!),
      {
        batchSize: opts.batchSize,
        channelOrder,
        pathText: pr ? (p) => applyPathReplace(p, pr.a, pr.b) : undefined,
        accept: (listed, text) => {
          if (fromStdin && !inShard(listed, opts.shard)) return false;
          const n = done.get(text);
          if (n === undefined) return true;
          if (n <= 1) done.delete(text);
          else done.set(text, n - 1);
          return false;
        },
        stop,
      },
      async (records) => {
        let text = "";
        for (const r of records) text += formatRecord(opts.format, groups, r);
        await emit(text);
        written += records.length;
        progress.update(written);
      },
    );
  } finally {
    progress.stop();
    file?.close();
    ex.destroy();
    await reader?.cancel();
  }
  const secs = (performance.now() - t0) / 1000;
  console.error(
    `grafiqs: ${stats.scored} scored, ${stats.failed} failed` +
      (stats.skipped ? `, ${stats.skipped} skipped (shard or already done)` : "") +
      ` in ${secs.toFixed(1)} s (${((stats.scored + stats.failed) / secs).toFixed(2)} images/s)` +
      (stats.stopped === "epipe" ? "; stopped: the reader of stdout went away" : "") +
      (stats.stopped === "interrupt" ? "; interrupted" : ""),
  );
  if (stats.stopped === "interrupt") return EXIT_INTERRUPTED;
  // With --resume the file's earlier records count too: the status describes the whole output.
  return stats.failed + failedBefore ? EXIT_SOME_FAILED : EXIT_OK;
}

async function runFolderResume(opts: ScoreOptions, stop: StopSignal): Promise<number> {
  const { model, channelOrder } = await setUp(opts, true);
  const listing = await selectImages(opts);
  const outDir = opts.outputDir;
  await ensureDirectory(outDir);
  const gpu = await Gpu.create({ adapter: opts.adapter });
  const ex = await Executor.create(gpu, model.graph, model.weights);
  const { journal, done } = await Journal.open(outDir, {
    model: model.graph.name,
    weights: model.fingerprint!,
    groups: ex.groups,
    channelOrder,
    embeddings: opts.saveEmbeddings,
  });
  const todo = listing.filter((p) => !done.has(p));
  console.error(
    `grafiqs: ${model.description}, ${channelOrder.toUpperCase()} input, ${listing.length} ` +
      `images (${listing.length - todo.length} done in ${journal.path}), batch ` +
      `${opts.batchSize}, adapter ${gpu.adapterName}`,
  );
  const pr = opts.pathReplace;
  const pathText = (p: string) => (pr ? applyPathReplace(p, pr.a, pr.b) : p);
  const progress = new Progress(todo.length);
  const t0 = performance.now();
  let finished = 0;
  let stats: StreamStats;
  try {
    stats = await scoreStream(
      ex,
      arraySource(todo),
      {
        batchSize: opts.batchSize,
        channelOrder,
        pathText,
        pathProblem: scorePathProblem,
        keepEmbeddings: opts.saveEmbeddings,
        stop,
      },
      async (records) => {
        const rows = records.map((r) => ({ ...r, path: r.listed }));
        await journal.append(rows);
        for (const r of rows) {
          done.set(r.path, r);
          if (r.error !== null) progress.log(`grafiqs: skipped ${pathText(r.path)}: ${r.error}`);
        }
        finished += records.length;
        progress.update(finished);
      },
    );
  } finally {
    progress.stop();
    ex.destroy();
  }
  if (stats.stopped === "interrupt") {
    journal.close();
    console.error(
      `grafiqs: interrupted after ${finished} of ${todo.length} images; rerun with --resume ` +
        `to finish (${journal.path} keeps what is done)`,
    );
    return EXIT_INTERRUPTED;
  }
  // Every listed image is now in the journal: write the official files from it, in listing
  // order, exactly as an uninterrupted run writes them.
  const rows: ScoreRow[] = [];
  const failures: Failure[] = [];
  const scored: ScoredImage[] = [];
  for (const p of listing) {
    const r = done.get(p)!;
    const text = pathText(p);
    if (r.scores === null) failures.push({ path: text, reason: r.error ?? "" });
    else {
      rows.push({ path: text, scores: r.scores });
      if (opts.saveEmbeddings) {
        scored.push({ path: text, scores: Array.from(r.scores), embedding: r.embedding! });
      }
    }
  }
  await writeScoreFiles(outDir, ex.groups, rows);
  await writeFailedList(outDir, failures);
  if (opts.saveEmbeddings) await saveEmbeddings(outDir, scored);
  await journal.remove();
  const secs = (performance.now() - t0) / 1000;
  console.error(
    `grafiqs: scored ${stats.scored} images in ${secs.toFixed(1)} s ` +
      `(${(stats.scored / Math.max(secs, 1e-9)).toFixed(2)} images/s) and ${
        listing.length - todo.length
      } from the journal; ${failures.length} failed; wrote ${outDir}`,
  );
  return failures.length ? EXIT_SOME_FAILED : EXIT_OK;
}
