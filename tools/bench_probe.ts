/**
 * Timing probe, run as a child process by tools/profile.ts (start-up) and tools/bench.ts
 * (steady state): it runs the library pipeline of the main command in-process and prints one
 * JSON line with timestamps. Usable on its own:
 *
 * ```
 * deno run -A tools/bench_probe.ts --backbone iresnet50 [--weights FILE] [--batch 8]
 *     [--image-dir DIR] [--mode startup|steady|align] [--steady-images N]
 *     [--kernels auto|register|tiled|winograd]
 * ```
 *
 * Phases, each timed with `performance.now()` (milliseconds since this process's
 * `performance.timeOrigin`):
 * - `import`: `await import("../mod.ts")`, the module graph the main command loads (the probe
 *   itself imports nothing else statically, so this is the module load of `deno run mod.ts`);
 * - `weightsRead` (file -> StateDict, `readWeightsFile`) and `weightsExtract` (graph + float32
 *   tensors, `buildBackbone` + `extractWeights`), or `weightsRandom` without `--weights`;
 * - `gpu`: adapter and device (`Gpu.create`);
 * - `upload`: `Executor.create` plus one empty submit that flushes its queued writes.
 *
 * Mode `startup` then decodes the first batch (`decode`: file read + `prepareImage`, cycling
 * through `--image-dir`; random inputs without it), runs it (`firstRun`: planning, pipeline
 * compilation and the batch) and runs the same batch again (`steadyRun`). Mode `steady` runs
 * `scorePaths` (the main command's folder-mode scoring, decoding overlapped with GPU work) on
 * the images of `--image-dir` cycled to one first batch plus `--steady-images` more (default
 * max(24, 2 x batch), rounded up to whole batches), and records the time each batch finished;
 * `steadyImagesPerS` counts only the batches after the first one.
 *
 * Mode `align` (tools/bench.ts `--align`) times the `--align` stage alone, with no network and
 * no GPU: `import`, then `alignLoad` (`Aligner.create`: the detector's TFJS models and the WASM
 * backend), `decode` (file read + `decodeImage` of every image of `--image-dir`, once), then
 * `aligner.align` (detection, landmarks, similarity fit, warp; the face rule `center`, the
 * default) on each decoded image: `firstAlign` is the first one (backend warm-up), and
 * `alignImagesPerS` the rate over the images cycled to `--steady-images` more (default 24);
 * `alignFailed` counts images without a usable face (no face is an ordinary outcome, timed too).
 *
 * Like the main command, the probe first re-executes itself with transparent huge pages where
 * that helps (src/cli/huge_pages.ts; `GRAFIQS_HUGE_PAGES=0` turns it off), so "process launch"
 * includes that re-execution.
 *
 * `peakRssKiB` is this process's VmHWM (Linux /proc; null elsewhere). Exit status 1 with a
 * message on stderr on any error (missing folder, unreadable weights, WebGPU failure,
 * non-finite score).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { relaunchWithHugePages } from "../src/cli/huge_pages.ts";
import type { KernelChoice } from "../src/gpu/gpu.ts";

// As the main command does (mod.ts): re-execute in place with huge pages where that helps, so
// the probe measures what a user's run costs; the launch phase then includes the re-execution.
relaunchWithHugePages();
const tStart = performance.now();

/** What the probe prints (one JSON line on stdout). */
export interface ProbeReport {
  backbone: string;
  batch: number;
  mode: "startup" | "steady" | "align";
  adapter: string;
  /** Epoch milliseconds of this process's time origin (compare with the parent's spawn time). */
  timeOrigin: number;
  /** performance.now() at the probe's first statement (ms). */
  scriptStart: number;
  /** Phase durations in ms (see the module doc); absent phases are omitted. */
  phases: Record<string, number>;
  /** performance.now() when the first batch's scores were back (ms). */
  firstScoreAt: number;
  /** Mode steady: [images done, performance.now()] after each batch. */
  batches?: [number, number][];
  /** Mode steady: images / s over the batches after the first one. */
  steadyImagesPerS?: number;
  /** Mode align: detection + alignment images / s after the first image (CPU, TFJS WASM). */
  alignImagesPerS?: number;
  /** Mode align: images timed after the first one, and how many of them had no usable face. */
  alignImages?: number;
  alignFailed?: number;
  /** Peak resident memory of this process in KiB, or null where /proc is absent. */
  peakRssKiB: number | null;
}

/** VmHWM of this process in KiB, or null. */
export function peakRssKiB(pid: number | "self" = "self"): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Image files (png, jpg, jpeg; any case) of `dir`, sorted by name. */
export function listImageFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && /\.(png|jpe?g)$/i.test(e.name)) out.push(`${dir}/${e.name}`);
  }
  if (!out.length) throw new Error(`${dir}: no .png/.jpg images`);
  return out.sort();
}

async function probe(args: string[]): Promise<ProbeReport> {
  const { values } = parseArgs({
    args,
    options: {
      backbone: { type: "string", default: "iresnet50" },
      weights: { type: "string" },
      batch: { type: "string", default: "8" },
      "image-dir": { type: "string" },
      mode: { type: "string", default: "startup" },
      "steady-images": { type: "string" },
      kernels: { type: "string", default: "auto" },
    },
  });
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch ${values.batch}: not >= 1`);
  const mode = values.mode;
  if (mode !== "startup" && mode !== "steady" && mode !== "align") {
    throw new Error(`--mode ${mode}: expected startup, steady or align`);
  }
  const phases: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    phases[name] = now - t;
    t = now;
  };

  const mod = await import("../mod.ts");
  lap("import");
  const kernels = values.kernels as KernelChoice;
  if (!mod.KERNEL_CHOICES.includes(kernels)) {
    throw new Error(`--kernels ${kernels}: expected one of ${mod.KERNEL_CHOICES.join(", ")}`);
  }
  if (mode === "align") return await alignProbe(mod, values, phases, lap);
  const { buildBackbone } = await import("../src/graph/model.ts");
  const { randomWeights } = await import("./random_weights.ts");
  const name = values.backbone!;
  let graph, weights;
  t = performance.now();
  if (values.weights) {
    const loaded = await mod.readWeightsFile(values.weights);
    lap("weightsRead");
    graph = buildBackbone(name, loaded.stateDict);
    weights = mod.extractWeights(graph, loaded.stateDict, values.weights);
    lap("weightsExtract");
  } else {
    graph = buildBackbone(name, new Map());
    weights = randomWeights(graph);
    lap("weightsRandom");
  }
  mod.ensureRuntimeDir();
  const gpu = await mod.Gpu.create();
  lap("gpu");
  const ex = await mod.Executor.create(gpu, graph, weights, { kernels });
  gpu.device.queue.submit([]);
  await gpu.device.queue.onSubmittedWorkDone();
  lap("upload");

  const images = values["image-dir"] ? listImageFiles(values["image-dir"]) : undefined;
  const report: ProbeReport = {
    backbone: name,
    batch,
    mode,
    adapter: gpu.adapterName,
    timeOrigin: performance.timeOrigin,
    scriptStart: tStart,
    phases,
    firstScoreAt: 0,
    peakRssKiB: null,
  };
  const checkFinite = (scores: Float32Array | number[], what: string) => {
    for (const v of scores) if (!Number.isFinite(v)) throw new Error(`${what}: non-finite score`);
  };
  if (mode === "startup") {
    const inT = graph.tensors[graph.input];
    const per = inT.c * inT.h * inT.w;
    const input = new Float32Array(batch * per);
    if (images) {
      for (let i = 0; i < batch; i++) {
        const p = images[i % images.length];
        input.set(await mod.prepareImage(await Deno.readFile(p), p, graph.preprocess), i * per);
      }
    } else {
      const next = (await import("../src/eval/edc.ts")).mulberry32(7);
      for (let i = 0; i < input.length; i++) input[i] = next() / 2 ** 31 - 1;
    }
    lap("decode");
    checkFinite((await ex.run(input, batch)).scores, "first run");
    lap("firstRun");
    report.firstScoreAt = t;
    checkFinite((await ex.run(input, batch)).scores, "second run");
    lap("steadyRun");
  } else {
    if (!images) throw new Error("--mode steady needs --image-dir");
    const extra = Number(values["steady-images"] ?? Math.max(24, 2 * batch));
    const count = batch + Math.ceil(extra / batch) * batch;
    const paths = Array.from({ length: count }, (_, i) => images[i % images.length]);
    const done: [number, number][] = [];
    const result = await mod.scorePaths(
      ex,
      paths,
      { batchSize: batch, channelOrder: graph.preprocess.channelOrder },
      (f) => {
        throw new Error(`${f.path}: ${f.reason}`);
      },
      (n) => done.push([n, performance.now()]),
    );
    for (const s of result.scored) checkFinite(s.scores, s.path);
    report.batches = done;
    report.firstScoreAt = done[0][1];
    phases.firstBatch = done[0][1] - t;
    const last = done[done.length - 1];
    if (done.length > 1) {
      report.steadyImagesPerS = (last[0] - done[0][0]) / ((last[1] - done[0][1]) / 1000);
    }
  }
  ex.destroy();
  report.peakRssKiB = peakRssKiB();
  return report;
}

/** Mode align (see the module doc): the `--align` stage alone, on the CPU. */
async function alignProbe(
  mod: typeof import("../mod.ts"),
  values: { "image-dir"?: string; "steady-images"?: string; batch?: string },
  phases: Record<string, number>,
  lap: (name: string) => void,
): Promise<ProbeReport> {
  if (!values["image-dir"]) throw new Error("--mode align needs --image-dir");
  const paths = listImageFiles(values["image-dir"]);
  const aligner = await mod.Aligner.create({ face: "center" });
  lap("alignLoad");
  const decoded: Awaited<ReturnType<typeof mod.decodeImage>>[] = [];
  for (const p of paths) decoded.push(await mod.decodeImage(await Deno.readFile(p), p));
  lap("decode");
  let failed = 0;
  const alignOne = (i: number) => {
    try {
      aligner.align(decoded[i % decoded.length]);
    } catch (e) {
      if (!(e instanceof mod.NoFaceError)) throw e;
      failed++;
    }
  };
  alignOne(0);
  lap("firstAlign");
  const firstAt = performance.now();
  const extra = Number(values["steady-images"] ?? 24);
  for (let i = 1; i <= extra; i++) alignOne(i);
  const secs = (performance.now() - firstAt) / 1000;
  return {
    backbone: "",
    batch: 1,
    mode: "align",
    adapter: "",
    timeOrigin: performance.timeOrigin,
    scriptStart: tStart,
    phases,
    firstScoreAt: firstAt,
    alignImagesPerS: extra / secs,
    alignImages: extra,
    alignFailed: failed,
    peakRssKiB: peakRssKiB(),
  };
}

if (import.meta.main) {
  try {
    console.log(JSON.stringify(await probe(Deno.args)));
  } catch (e) {
    console.error(`bench_probe: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
