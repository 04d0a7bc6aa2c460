/**
 * The streaming engine every mode runs on: image paths in (stdin, or a directory listing), one
 * result record per image out, as soon as each batch is scored, in input order.
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
 * Stopping: when the run's {@link StopSignal} is requested (the commands do so on SIGINT, or
 * when stdout's reader went away: EPIPE), the collector stops reading, the batch on the GPU
 * finishes and is written, and the queued batches are dropped.
 *
 * @module
 */
import type { Executor } from "../graph/executor.ts";
import type { PrepareOptions } from "../image/normalize.ts";
import type { ImageRecord } from "../io/records.ts";
import {
  type AlignStage,
  type ImageSourceOptions,
  type Item,
  prepareBatch,
  type Prepared,
} from "./batch.ts";
import { Channel } from "./channel.ts";
import { type PathSource, STALL } from "./source.ts";
import { StopSignal } from "./stop.ts";

/** A partial batch is scored when no new path arrived for this long (milliseconds). */
export const STALL_MS = 150;

/** A partial batch is scored at the latest when its first path has waited this long (ms). */
export const MAX_WAIT_MS = 1000;

/** One result of {@link scoreStream}. */
export interface StreamRecord extends ImageRecord {
  /** The path as listed (opened to read the image); `path` is its printed text. */
  listed: string;
  /**
   * The decoder's warnings on a scored image (a JPEG that ended early, decoded with
   * `allowTruncated`); absent when none. Not part of the TSV/JSONL record formats: the
   * command writes them on stderr.
   */
  warnings?: string[];
}

/**
 * Options of {@link scoreStream}. `reader` gets each listed image's bytes (files:
 * `fileImageReader`); the fields of `ImageInputOptions` (`maxPixels`, `maxFileBytes`,
 * `allowTruncated`) bound what is read and decoded; their defaults are the command's.
 */
export interface StreamOptions extends ImageSourceOptions {
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
  /**
   * `--align`: detect, align and score the 112 x 112 ArcFace crop of each image; records then
   * carry `face` (null for a failed image), and an image without a face fails with "no face
   * found". Absent: images are resized as they are.
   */
  align?: AlignStage;
  /**
   * Called once, for the first image (without `align`) that is not the network's size and so
   * is resized as it is: GraFIQs expects aligned faces (the commands print a warning
   * suggesting `--align`).
   */
  onUnaligned?: (path: string, width: number, height: number) => void;
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
 * `scores: null` and the reason, as `scorePaths` reports it; so does a `BadPath` from the
 * source (an over-long line on stdin), in its place in the input order.
 *
 * @example Score paths read from stdin, one JSONL record per image on stdout
 * ```ts
 * import {
 *   DelimitedPathReader,
 *   Executor,
 *   fileImageReader,
 *   formatRecord,
 *   Gpu,
 *   loadModel,
 *   scoreStream,
 * } from "@grafiqs/grafiqs-webgpu";
 *
 * const model = await loadModel("auto", "backbone.pth");
 * const ex = await Executor.create(await Gpu.create(), model.graph, model.weights);
 * const out = Deno.stdout.writable.getWriter();
 * const stats = await scoreStream(
 *   ex,
 *   new DelimitedPathReader(Deno.stdin.readable, "\n"),
 *   { batchSize: 8, channelOrder: model.graph.preprocess.channelOrder, reader: fileImageReader },
 *   async (records) => {
 *     const text = records.map((r) => formatRecord("jsonl", ex.groups, r)).join("");
 *     await out.write(new TextEncoder().encode(text));
 *   },
 * );
 * ex.destroy();
 * console.error(`${stats.scored} scored, ${stats.failed} failed`);
 * ```
 *
 * @param ex the executor
 * @param source the paths
 * @param opts see {@link StreamOptions}
 * @param sink receives each batch's records; may call `opts.stop.request` (e.g. on EPIPE)
 * @returns counts, and why the run stopped early (null when the input ran out)
 * @throws whatever the source, the decoder setup, the GPU or the sink throws (the other loops
 *   are stopped first)
 * @throws RangeError when `maxPixels` or `maxFileBytes` is given but not a positive integer
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
  for (const k of ["maxPixels", "maxFileBytes"] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new RangeError(`${k} must be a positive integer, got ${v}`);
    }
  }
  const limits: ImageSourceOptions = {
    reader: opts.reader,
    maxPixels: opts.maxPixels,
    maxFileBytes: opts.maxFileBytes,
    allowTruncated: opts.allowTruncated,
  };
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
        // A record that is not a usable path (an over-long line) keeps its place in the input
        // order and gets a failed record; the filters see its stand-in text.
        const listed = typeof p === "string" ? p : p.path;
        const text = opts.pathText ? opts.pathText(listed) : listed;
        if (opts.accept && !opts.accept(listed, text)) {
          stats.skipped++;
          continue;
        }
        if (batch.length === 0) first = performance.now();
        batch.push(typeof p === "string" ? { listed, text } : { listed, text, error: p.error });
        if (batch.length >= batchSize) {
          if (!(await batches.send(batch))) break;
          batch = [];
        }
      }
    } finally {
      batches.close();
    }
  };

  let warnedUnaligned = false;
  const decode = async () => {
    try {
      for (let b = await batches.recv(); b; b = await batches.recv()) {
        if (stop.stopped) continue; // drop queued work
        const p = await prepareBatch(b, per, prep, opts.pathProblem, limits, opts.align);
        if (p.resized && !warnedUnaligned) {
          warnedUnaligned = true;
          opts.onUnaligned?.(p.resized.path, p.resized.width, p.resized.height);
        }
        if (!(await prepared.send(p))) break;
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
          const failed: StreamRecord = { path: it.text, listed: it.listed, scores: null, error: s };
          if (opts.align) failed.face = null;
          return failed;
        }
        stats.scored++;
        const rec: StreamRecord = {
          path: it.text,
          listed: it.listed,
          scores: r!.scores.subarray(s * G, (s + 1) * G),
          error: null,
          embedding: opts.keepEmbeddings ? r!.embeddings.slice(s * E, (s + 1) * E) : null,
        };
        if (opts.align) rec.face = p.faces[i];
        if (p.warnings[i].length) rec.warnings = p.warnings[i];
        return rec;
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
