/**
 * The main command's record mode and the folder mode's `--resume`, both on the streaming engine
 * (pipeline/score_stream.ts); stopping on SIGINT or when stdout's reader went away (EPIPE).
 *
 * @module
 */
import { fileImageReader } from "../image/read_file.ts";
import { ensureDirectory, removeEmptyDirectories, writeAll } from "../io/files.ts";
import { FACE_COLUMNS, formatRecord, recordHeader } from "../io/records.ts";
import { writeResultSet } from "../io/result_set.ts";
import { type Failure, scorePathProblem, type ScoreRow } from "../io/scores.ts";
import { applyPathReplace } from "../io/select.ts";
import { qualitiesOf } from "../io/calibration.ts";
import type { ScoredImage } from "../pipeline/score_paths.ts";
import {
  checkRecordSettings,
  Journal,
  lockRecordFile,
  type RecordSettings,
  recoverRecordFile,
} from "../pipeline/resume.ts";
import { scoreStream, type StreamStats } from "../pipeline/score_stream.ts";
import { selectImages } from "../pipeline/select_images.ts";
import { inShard } from "../pipeline/shard.ts";
import { arraySource, DelimitedPathReader } from "../pipeline/source.ts";
import { StopSignal } from "../pipeline/stop.ts";
import { EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED } from "./args.ts";
import { printablePath, Progress } from "./progress.ts";
import type { ScoreOptions } from "./score_args.ts";
import { imageInputOptions, loadRunCalibration, openExecutor, setUp, setUpAlign } from "./setup.ts";
import type { AlignStage } from "../pipeline/batch.ts";

/**
 * Install a SIGINT handler that requests a stop. A second SIGINT exits without writing the
 * batch in flight, but only once the event loop runs again: decoding and the GPU batch block
 * it, so the exit waits for the batch in flight to return.
 */
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
 * `usesPipeline` (score_args.ts) says so).
 *
 * Record mode: paths come from stdin (`--image-path -` or none; `-0` for NUL-separated) or
 * from DIR; one record per image goes to stdout or `--output FILE` after each batch, in input
 * order (TSV with a header, or JSONL). With `--resume` the records already in FILE are kept
 * (a torn last line is cut) and their paths skipped, then new records are appended and flushed
 * to disk after every batch. With `--output FILE` (a regular file) the run holds the lock
 * `FILE.lock` and writes its settings to `FILE.settings`; `--resume` refuses a file written with
 * other settings (`checkRecordSettings`, `lockRecordFile`).
 *
 * Folder mode with `--resume`: each batch's results are appended to OUT/.grafiqs_journal.tsv
 * (see {@link Journal}); images already in the journal are skipped; at the end the five score
 * files, the failure list and the embeddings are written from the journal as one set
 * (`writeResultSet`), exactly as an uninterrupted run writes them, and the journal is deleted.
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
    "grafiqs: interrupted; finishing the batch in flight (Ctrl-C again quits when the batch " +
      "in flight returns, without writing it)",
  );
  const created: string[] = [];
  try {
    return opts.records
      ? await runRecords(opts, stop, created)
      : await runFolderResume(opts, stop, created);
  } catch (e) {
    console.error(`grafiqs: ${(e as Error).message}`);
    await removeEmptyDirectories(created); // an output folder made for this run, still empty
    return EXIT_ERROR;
  } finally {
    removeHandler();
  }
}

async function runRecords(
  opts: ScoreOptions,
  stop: StopSignal,
  created: string[],
): Promise<number> {
  const toFile = opts.output !== null && opts.output !== "-";
  // A device or pipe as --output (/dev/null, a FIFO) gets neither lock nor settings file.
  const regular = toFile && await isRegularOrMissing(opts.output!);
  const { model, channelOrder } = await setUp(opts, regular || opts.calibration !== null, created);
  const calibration = await loadRunCalibration(opts, model, channelOrder);
  const align = await setUpAlign(opts, created);
  // One writer per record file: a second run on the same --output is refused.
  const unlock = regular ? await lockRecordFile(opts.output!) : undefined;
  try {
    return await writeRecords(opts, stop, model, channelOrder, toFile, regular, calibration, align);
  } finally {
    await unlock?.();
  }
}

/** Whether `path` is a regular file (links followed) or does not exist yet. */
async function isRegularOrMissing(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

async function writeRecords(
  opts: ScoreOptions,
  stop: StopSignal,
  model: Awaited<ReturnType<typeof setUp>>["model"],
  channelOrder: "bgr" | "rgb",
  toFile: boolean,
  regular: boolean,
  calibration: Awaited<ReturnType<typeof loadRunCalibration>>,
  align: AlignStage | undefined,
): Promise<number> {
  const fromStdin = opts.imageList === null && opts.imagePath === "-";
  const listing = fromStdin ? undefined : await selectImages(opts);
  const { gpu, ex, batchSize } = await openExecutor(opts, model);
  const groups = ex.groups;
  let done = new Map<string, number>();
  let failedBefore = 0;
  let file: Deno.FsFile | undefined;
  const qualityColumns = calibration ? groups.map((g) => `quality_${g}`) : [];
  const withFace = align !== undefined;
  // Columns after `error`: the qualities, then the face fields (io/records.ts).
  const extra = [...qualityColumns, ...(withFace ? FACE_COLUMNS : [])];
  let header = recordHeader(opts.format, groups, extra);
  const recordSettings = (): RecordSettings => ({
    model: model.graph.name,
    weights: model.fingerprint!,
    groups,
    channelOrder,
    kernels: ex.kernels,
    format: opts.format,
    ...(calibration ? { calibration: calibration.fingerprint } : {}),
    ...(withFace ? { align: { face: opts.face } } : {}),
  });
  if (toFile && opts.resume) {
    const rec = await recoverRecordFile(opts.output!, opts.format, groups, extra);
    if (regular) {
      await checkRecordSettings(
        opts.output!,
        recordSettings(),
        true,
        !rec.needsHeader || rec.records > 0,
        (m) => console.error(`grafiqs: warning: ${m}`),
      );
    }
    done = rec.done;
    failedBefore = rec.failed;
    if (!rec.needsHeader) header = "";
    console.error(
      `grafiqs: resuming ${opts.output}: ${rec.records} records kept (${rec.failed} failed)` +
        (rec.tornBytes ? `, a torn last line of ${rec.tornBytes} bytes cut` : ""),
    );
  }
  if (regular && !opts.resume) {
    await checkRecordSettings(opts.output!, recordSettings(), false, false, () => {});
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
      `${listing ? `${listing.length} images` : "paths from stdin"}, batch ${batchSize}, ` +
      `adapter ${gpu.adapterName}, kernels ${ex.kernels}; ${opts.format.toUpperCase()} records ` +
      `to ${where}` + (align ? `; --align (face: ${opts.face})` : ""),
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
        batchSize,
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
        reader: fileImageReader,
        ...imageInputOptions(opts, align, (line) => progress.log(line)),
      },
      async (records) => {
        let text = "";
        for (const r of records) {
          const quality = calibration
            ? { quality: r.scores ? qualitiesOf(r.scores, calibration.quantiles) : null }
            : {};
          text += formatRecord(opts.format, groups, { ...r, ...quality }, false, withFace);
          for (const w of r.warnings ?? []) {
            progress.log(`grafiqs: warning: ${printablePath(r.path)}: ${w}`);
          }
        }
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

async function runFolderResume(
  opts: ScoreOptions,
  stop: StopSignal,
  created: string[],
): Promise<number> {
  const { model, channelOrder } = await setUp(opts, true, created);
  const calibration = await loadRunCalibration(opts, model, channelOrder);
  const align = await setUpAlign(opts, created);
  const listing = await selectImages(opts);
  const outDir = opts.outputDir;
  await ensureDirectory(outDir);
  const { gpu, ex, batchSize } = await openExecutor(opts, model);
  const { journal, done } = await Journal.open(outDir, {
    model: model.graph.name,
    weights: model.fingerprint!,
    groups: ex.groups,
    channelOrder,
    kernels: ex.kernels,
    embeddings: opts.saveEmbeddings,
    ...(align ? { align: { face: opts.face } } : {}),
  });
  const todo = listing.filter((p) => !done.has(p));
  console.error(
    `grafiqs: ${model.description}, ${channelOrder.toUpperCase()} input, ${listing.length} ` +
      `images (${listing.length - todo.length} done in ${printablePath(journal.path)}), batch ` +
      `${batchSize}, adapter ${gpu.adapterName}, kernels ${ex.kernels}`,
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
        batchSize,
        channelOrder,
        pathText,
        pathProblem: scorePathProblem,
        keepEmbeddings: opts.saveEmbeddings,
        stop,
        reader: fileImageReader,
        ...imageInputOptions(opts, align, (line) => progress.log(line)),
      },
      async (records) => {
        const rows = records.map((r) => ({ ...r, path: r.listed }));
        await journal.append(rows);
        for (const r of rows) {
          done.set(r.path, r);
          if (r.error !== null) {
            progress.log(`grafiqs: skipped ${printablePath(pathText(r.path))}: ${r.error}`);
          }
          for (const w of r.warnings ?? []) {
            progress.log(`grafiqs: warning: ${printablePath(pathText(r.path))}: ${w}`);
          }
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
        `to finish (${printablePath(journal.path)} keeps what is done)`,
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
  await writeResultSet(outDir, {
    groups: ex.groups,
    rows,
    failures,
    embeddings: opts.saveEmbeddings ? scored : null,
    quality: calibration?.quantiles ?? null,
  });
  await journal.remove();
  const secs = (performance.now() - t0) / 1000;
  console.error(
    `grafiqs: scored ${stats.scored} image${stats.scored === 1 ? "" : "s"} in ${
      secs.toFixed(1)
    } s ` +
      `(${(stats.scored / Math.max(secs, 1e-9)).toFixed(2)} images/s) and ${
        listing.length - todo.length
      } from the journal; ${failures.length} failed; wrote ${printablePath(outDir)}`,
  );
  return failures.length ? EXIT_SOME_FAILED : EXIT_OK;
}
