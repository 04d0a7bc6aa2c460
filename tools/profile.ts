/**
 * Where the time of one batch goes: every dispatch of the real network timed on its own,
 * summed per kernel kind and layer shape, next to the measured time of a normal whole-batch
 * run; and the start-up from launch to the first score, on a cold shader cache, the second run and a warm cache.
 *
 * ```
 * deno task profile [--backbone iresnet50|iresnet100|mobilefacenet|...] [--batch 8]
 *     [--weights FILE] [--random] [--reps auto|N] [--runs 2] [--no-startup] [--startup-only]
 *     [--kernels auto|register|tiled]
 * ```
 *
 * Weights: iresnet50 uses the reference checkpoint ../shared/reference/iresnet50/weights.pth
 * (the tool says so and stops when it is absent, unless `--random` or `--weights` is given);
 * other backbones get seeded random weights (tools/random_weights.ts; speed does not depend on
 * the values). Inputs: the 24 aligned reference faces ../shared/reference/images/aligned,
 * cycled to fill the batch (random values in [-1, 1] when absent).
 *
 * **Per-dispatch timing: the difference method.** A submit costs about 11 ms on llvmpipe
 * whatever it holds (the empty-submit time is printed), which is more than many kernels take.
 * So each dispatch of the plan (`Executor.plannedDispatches()`) is submitted once (time t1,
 * submit + `onSubmittedWorkDone`) and then r times in one compute pass (time tr); its time is
 * (tr - t1) / (r - 1), which cancels the submit and wait overhead. r is 2 for dispatches that
 * take 30 ms or more and grows (up to 16) for small ones so the extra repetitions add about
 * 30 ms; `--reps N` fixes it. The subtraction of the median empty-submit time from t1 is
 * printed as a cross-check. Repeating a dispatch only rewrites the plan's own buffers (and
 * makes accumulating kernels add more), never the values a later normal run reads first.
 * Upload (`writeBuffer` of the batch) and read-back (clearing the scores, the two copies to
 * the mapped buffer, mapping and copying out) are timed the same way. A dispatch timed alone
 * lacks the cache warmth it has inside the batch, so the sum of the rows is compared with a
 * normal whole-batch `Executor.run` (the minimum and mean of `--runs` runs after a warm-up).
 *
 * GFLOP/s counts 2 x multiply-adds of the layer as the network defines it (also for the
 * dilated input gradient of stride-2 layers, whose 3x3 pass does 4x that arithmetic; its
 * zero-insertion step is its own row). Chunked dispatches (the generic kernels split the
 * reduction channels into several dispatches, labels `name[c0:c1]`) are counted in their
 * layer's row. GB/s counts the bytes a kernel must read and write at least (activations and
 * gradients, not the small parameter vectors).
 *
 * **Start-up**, launch to first score, runs tools/bench_probe.ts three times as a child process
 * with MESA_SHADER_CACHE_DIR set to a new empty temporary folder: first cold (empty cache), then
 * a second run, which on Mesa 22.3's lavapipe still compiles part of its shaders (see
 * `startup` below), then warm (the same folder, filled by both). It splits the time into process launch
 * (the parent's spawn to the probe's first statement), module load (`import("../mod.ts")`),
 * weight read (file -> StateDict) and extraction, adapter/device, upload (`Executor.create`),
 * decoding the first batch, pipeline compilation + planning (first run minus a second run of
 * the same batch) and the first batch itself (the second run's time). Only the shader cache is
 * controlled: Deno's module cache and the OS file cache are whatever earlier runs left (warm
 * after any earlier run of the project).
 *
 * Output: the start-up table, then a table per kernel kind and one per kind, variant and
 * shape, in Markdown. Timings on a shared machine are noisy; run it on an idle one.
 *
 * @module
 */
import { parseToolArgs } from "./tool_args.ts";
import { buildBackbone } from "../src/graph/model.ts";
import { type Dispatch, encodeDispatches, Gpu, type KernelChoice } from "../src/gpu/gpu.ts";
import { ensureRuntimeDir } from "../src/gpu/runtime_dir.ts";
import { Executor } from "../src/graph/executor.ts";
import type { Graph, Node } from "../src/graph/ir.ts";
import { extractWeights, type GraphWeights } from "../src/graph/weights.ts";
import { prepareImage } from "../src/image/normalize.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";
import { listImageFiles, type ProbeReport } from "./bench_probe.ts";
import { randomWeights } from "./random_weights.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
const SHARED = decodeURIComponent(new URL("../../shared/reference/", import.meta.url).pathname);
const REFERENCE_WEIGHTS = `${SHARED}iresnet50/weights.pth`;
const ALIGNED = `${SHARED}images/aligned`;

/** One row of the per-shape table. */
interface Row {
  kind: string;
  variant: string;
  shape: string;
  count: number;
  /** Milliseconds by the difference method. */
  ms: number;
  /** Milliseconds by subtracting the empty-submit time. */
  msBase: number;
  flops: number;
  bytes: number;
}

/** What a dispatch is, from its label, its pipeline's cache key and the graph. */
interface Classified {
  kind: string;
  variant: string;
  shape: string;
  flops: number;
  bytes: number;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Classify one dispatch of a plan for batch `n` of `graph`.
 *
 * @throws {Error} for a label that names no node or group of the graph (a new kernel label
 *   scheme this tool does not know yet).
 */
export function classify(graph: Graph, n: number, d: Dispatch): Classified {
  const key = d.pipeline.label;
  const [pipe, , overrides = ""] = key.split("|");
  const flag = (name: string) => new RegExp(`(^|,)${name}=1(,|$)`).test(overrides);
  const T = graph.tensors;
  let base = d.label.replace(/\[\d+:\d+\]$/, "");
  const chunk = base !== d.label;
  // A Winograd layer's three dispatches (kernels/winograd.ts): transforms and product.
  const wino = /:winograd-(input|gemm|output)$/.exec(base)?.[1];
  if (wino) base = base.slice(0, -`:winograd-${wino}`.length);
  let suffix = "";
  for (const s of [":bwd:dilate", ":bwd", ":stats", ":score"]) {
    if (base.endsWith(s)) {
      suffix = s;
      base = base.slice(0, -s.length);
      break;
    }
  }
  const vol = (id: number) => n * T[id].c * T[id].h * T[id].w;
  if (suffix === ":score") {
    const group = graph.groups.find((g) => g.name === base);
    if (!group) throw new Error(`profile: dispatch ${d.label} names no group of ${graph.name}`);
    const t = T[group.tensor];
    return {
      kind: "abs-sum",
      variant: "",
      shape: `${base} ${t.c}x${t.h}x${t.w}`,
      flops: 0,
      bytes: vol(group.tensor) * 4,
    };
  }
  const node: Node | undefined = graph.nodes.find((x) =>
    x.kind === "linear_bn1d" ? x.fcName === base : x.name === base
  );
  if (!node) throw new Error(`profile: dispatch ${d.label} names no node of ${graph.name}`);
  const inT = T[node.input], outT = T[node.output];
  if (node.kind === "linear_bn1d") {
    const inF = inT.c * inT.h * inT.w;
    return {
      kind: "head",
      variant: "linear+BN1d",
      shape: `${inF}->${outT.c}`,
      flops: 2 * n * inF * outT.c,
      bytes: vol(node.input) * 4,
    };
  }
  if (node.kind === "bn") {
    const shape = `${inT.c} @${inT.h}`;
    const x = vol(node.input) * 4;
    if (suffix === ":stats") return { kind: "BN stats", variant: "", shape, flops: 0, bytes: x };
    if (suffix === ":bwd") {
      const parts = [node.act, flag("LOSS") ? "loss" : "", flag("HAS_G") ? "grad" : ""];
      const bytes = x * (2 + (flag("HAS_G") ? 1 : 0) + (flag("ACC") ? 1 : 0));
      return {
        kind: "BN reverse",
        variant: parts.filter((p) => p).join("+"),
        shape,
        flops: 0,
        bytes,
      };
    }
    const res = node.residual !== undefined;
    return {
      kind: "BN apply",
      variant: node.act + (res ? "+res" : ""),
      shape,
      flops: 0,
      bytes: x * (res ? 3 : 2),
    };
  }
  // Convolution.
  const bwd = suffix === ":bwd" || suffix === ":bwd:dilate";
  const dw = node.groups > 1;
  const shape = dw
    ? `dw ${node.k}x${node.k}s${node.stride} ${inT.c} @${inT.h}`
    : `${node.k}x${node.k}s${node.stride} ${inT.c}->${outT.c} @${inT.h}`;
  const macs = n * outT.c * outT.h * outT.w * (inT.c / node.groups) * node.k * node.k;
  const kind = bwd ? "conv bwd" : "conv fwd";
  if (suffix === ":bwd:dilate") {
    return {
      kind,
      variant: "dilate:insert",
      shape,
      flops: 0,
      bytes: (vol(node.output) + n * outT.c * inT.h * inT.w) * 4,
    };
  }
  if (wino) {
    // The transforms read (input) or write (output) one plane per tile and write or read
    // (m+2)^2 values per m x m tile (m from the transform's pipeline name).
    const m = Number(/^winograd_f(\d)_/.exec(pipe)?.[1] ?? 0);
    const plane = (wino === "input") === bwd ? node.output : node.input;
    return {
      kind,
      variant: `winograd ${wino}`,
      shape,
      // Counted on the product, as the direct convolution's multiply-adds (comparable GFLOP/s).
      flops: wino === "gemm" ? 2 * macs : 0,
      bytes: m ? vol(plane) * 4 * (1 + (m + 2) ** 2 / m ** 2) : 0,
    };
  }
  let variant: string;
  const consts = key.split("|")[1] ?? "";
  if (pipe.startsWith("depthwise")) variant = "depthwise";
  else if (pipe === "conv1x1") variant = "1x1";
  else if (pipe.startsWith("conv3x3_tex_")) variant = `tex ${pipe.slice("conv3x3_tex_".length)}`;
  else if (pipe === "conv_s2") {
    variant = ["3x3s2", "3x3s2n", "1x1s2"][Number(/VARIANT=(\d)/.exec(consts)?.[1] ?? 0)];
  } else if (pipe === "conv3x3s2_backward_data") variant = "3x3s2";
  else if (pipe === "conv1x1s2_backward_data") variant = "1x1s2";
  else if (pipe === "conv2d" && /(^|,)VARIANT=1(,|$)/.test(consts)) {
    variant = bwd && node.stride === 2 ? "dilate:3x3" : "3x3";
  } else variant = "generic";
  return {
    kind,
    variant,
    shape,
    // A chunked layer's multiply-adds are counted once, on its first dispatch.
    flops: chunk ? 0 : 2 * macs,
    bytes: (vol(node.input) + vol(node.output)) * 4,
  };
}

/** Milliseconds of one submit of `ds` in one compute pass, including the wait for it. */
async function timeSubmit(gpu: Gpu, ds: readonly Dispatch[]): Promise<number> {
  const dev = gpu.device;
  const enc = dev.createCommandEncoder();
  encodeDispatches(enc, ds as Dispatch[]);
  const cb = enc.finish();
  const t0 = performance.now();
  dev.queue.submit([cb]);
  await dev.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Repetitions for a dispatch whose single submit took t1 ms over a baseline of base ms. */
function pickReps(t1: number, base: number, fixed: number | undefined): number {
  if (fixed !== undefined) return fixed;
  const est = Math.max(t1 - base, 0.05);
  return Math.min(16, Math.max(2, 1 + Math.ceil(30 / est)));
}

/** Load the network: checkpoint (file -> StateDict -> graph weights) or random weights. */
async function loadNetwork(
  backbone: string,
  weightsPath: string | undefined,
): Promise<{ graph: Graph; weights: GraphWeights }> {
  if (weightsPath) {
    const loaded = await readWeightsFile(weightsPath);
    const graph = buildBackbone(backbone, loaded.stateDict);
    return { graph, weights: extractWeights(graph, loaded.stateDict, weightsPath) };
  }
  const graph = buildBackbone(backbone, new Map());
  return { graph, weights: randomWeights(graph) };
}

/** Run the probe as a child in mode startup; returns its report and the parent's spawn time. */
async function startupRun(
  args: string[],
  cacheDir: string,
): Promise<{ report: ProbeReport; spawn: number; wall: number }> {
  const spawn = performance.timeOrigin + performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}tools/bench_probe.ts`, ...args, "--mode", "startup"],
    cwd: ROOT,
    env: { MESA_SHADER_CACHE_DIR: cacheDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = performance.timeOrigin + performance.now() - spawn;
  if (!out.success) {
    throw new Error(
      `profile: the start-up probe failed:\n${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return { report: JSON.parse(lines[lines.length - 1]), spawn, wall };
}

function countFiles(dir: string): number {
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    n += e.isDirectory ? countFiles(`${dir}/${e.name}`) : 1;
  }
  return n;
}

/**
 * Print the start-up table: three runs on one new shader cache. The second run is not yet
 * warm: on Mesa 22.3's lavapipe it still compiles part of its shaders (measured on iresnet50:
 * about 5 s more than a warm run, and the cache folder grows by about a tenth); from the third
 * run on everything comes from the cache.
 */
async function startup(probeArgs: string[]): Promise<void> {
  const cache = await Deno.makeTempDir({ prefix: "grafiqs_shader_cache_" });
  try {
    console.error("profile: start-up, cold shader cache ...");
    const cold = await startupRun(probeArgs, cache);
    const cached = countFiles(cache);
    console.error("profile: start-up, second run ...");
    const second = await startupRun(probeArgs, cache);
    console.error("profile: start-up, warm shader cache ...");
    const warm = await startupRun(probeArgs, cache);
    const runs = [cold, second, warm];
    const rows: [string, (r: Awaited<ReturnType<typeof startupRun>>) => number | undefined][] = [
      [
        "process launch (spawn -> first statement)",
        (r) => r.report.timeOrigin + r.report.scriptStart - r.spawn,
      ],
      ["module load (import mod.ts)", (r) => r.report.phases.import],
      ["weight read (file -> StateDict)", (r) => r.report.phases.weightsRead],
      ["weight extraction (graph, float32 tensors)", (r) => r.report.phases.weightsExtract],
      ["random weights (no file)", (r) => r.report.phases.weightsRandom],
      ["adapter + device (Gpu.create)", (r) => r.report.phases.gpu],
      ["upload (Executor.create)", (r) => r.report.phases.upload],
      ["decode first batch", (r) => r.report.phases.decode],
      [
        "pipeline compilation + planning (1st - 2nd run)",
        (r) => r.report.phases.firstRun - r.report.phases.steadyRun,
      ],
      ["first batch (2nd run of the same batch)", (r) => r.report.phases.steadyRun],
    ];
    console.log(
      `\n### Start-up: launch to first score (${cold.report.backbone}, batch ` +
        `${cold.report.batch}, ${cold.report.adapter})\n`,
    );
    console.log("| phase | cold shader cache, ms | second run, ms | warm shader cache, ms |");
    console.log("|---|---:|---:|---:|");
    const cells = (f: (r: typeof cold) => number) => runs.map((r) => f(r).toFixed(0)).join(" | ");
    const sums = runs.map(() => 0);
    for (const [name, f] of rows) {
      const v = runs.map(f);
      if (v.some((x) => x === undefined || Number.isNaN(x))) continue;
      v.forEach((x, i) => sums[i] += x!);
      console.log(`| ${name} | ${v.map((x) => x!.toFixed(0)).join(" | ")} |`);
    }
    console.log(`| **sum of the phases** | ${sums.map((x) => x.toFixed(0)).join(" | ")} |`);
    console.log(
      `| **measured: launch to first score** | ` +
        `${cells((r) => r.report.timeOrigin + r.report.firstScoreAt - r.spawn)} |`,
    );
    console.log(
      `| process wall time (incl. the 2nd run and exit) | ${cells((r) => r.wall)} |`,
    );
    console.log(`| peak RSS, MiB | ${cells((r) => (r.report.peakRssKiB ?? NaN) / 1024)} |`);
    console.log(
      `\nMESA_SHADER_CACHE_DIR held ${cached} file(s) after the cold run` +
        (cached ? "." : " (this adapter does not use Mesa's disk cache: cold = warm)."),
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** Time every dispatch, upload and read-back; print the tables. */
async function dispatchProfile(
  backbone: string,
  batch: number,
  weightsPath: string | undefined,
  images: string[] | undefined,
  fixedReps: number | undefined,
  runs: number,
  kernels: KernelChoice = "auto",
): Promise<void> {
  const { graph, weights } = await loadNetwork(backbone, weightsPath);
  ensureRuntimeDir();
  const gpu = await Gpu.create();
  const ex = await Executor.create(gpu, graph, weights, { kernels });
  console.log(`profile: adapter ${gpu.adapterName}, kernels ${ex.kernels}`);
  const inT = graph.tensors[graph.input];
  const per = inT.c * inT.h * inT.w;
  const input = new Float32Array(batch * per);
  if (images) {
    for (let i = 0; i < batch; i++) {
      const p = images[i % images.length];
      input.set(await prepareImage(await Deno.readFile(p), p, graph.preprocess), i * per);
    }
  } else for (let i = 0; i < input.length; i++) input[i] = Math.random() * 2 - 1;

  console.error(`profile: warm-up run (planning, pipeline compilation) ...`);
  await ex.run(input, batch);
  const runMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    console.error(`profile: normal run ${i + 1}/${runs} ...`);
    const t0 = performance.now();
    const r = await ex.run(input, batch);
    runMs.push(performance.now() - t0);
    if (!r.scores.every(Number.isFinite)) throw new Error("profile: non-finite scores");
  }

  const empty: number[] = [];
  for (let i = 0; i < 7; i++) empty.push(await timeSubmit(gpu, []));
  const base = median(empty);

  const rows = new Map<string, Row>();
  const add = (c: Classified, ms: number, msBase: number) => {
    const k = `${c.kind}|${c.variant}|${c.shape}`;
    const row = rows.get(k) ??
      { ...c, count: 0, ms: 0, msBase: 0, flops: 0, bytes: 0 };
    row.count++;
    row.ms += ms;
    row.msBase += msBase;
    row.flops += c.flops;
    row.bytes += c.bytes;
    rows.set(k, row);
  };
  const ds = ex.plannedDispatches();
  let done = 0;
  for (const d of ds) {
    const c = classify(graph, batch, d);
    const t1 = await timeSubmit(gpu, [d]);
    const r = pickReps(t1, base, fixedReps);
    const tr = await timeSubmit(gpu, Array(r).fill(d));
    add(c, Math.max(0, (tr - t1) / (r - 1)), Math.max(0, t1 - base));
    if (++done % 50 === 0) console.error(`profile: ${done}/${ds.length} dispatches timed`);
  }

  // Upload: writeBuffer of the batch, r times before one empty submit vs once.
  const dev = gpu.device;
  const upBuf = gpu.storage("profile:input", input.byteLength);
  const timeUpload = async (k: number) => {
    const t0 = performance.now();
    for (let i = 0; i < k; i++) dev.queue.writeBuffer(upBuf, 0, input as Float32Array<ArrayBuffer>);
    dev.queue.submit([]);
    await dev.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  const u1 = Math.min(await timeUpload(1), await timeUpload(1));
  const u8 = Math.min(await timeUpload(8), await timeUpload(8));
  add(
    {
      kind: "upload",
      variant: "writeBuffer",
      shape: `${batch}x${per}`,
      flops: 0,
      bytes: input.byteLength,
    },
    Math.max(0, (u8 - u1) / 7),
    Math.max(0, u1 - base),
  );
  upBuf.destroy();

  // Read-back: as run() does it, with buffers of the same sizes.
  const G = ex.groups.length, E = graph.tensors[graph.embedding].c;
  const sBuf = gpu.storage("profile:scores", batch * G * 4);
  const eBuf = gpu.storage("profile:embedding", batch * E * 4);
  const rb = dev.createBuffer({
    size: Math.ceil((batch * (G + E) * 4) / 16) * 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const timeRead = async (k: number) => {
    const enc = dev.createCommandEncoder();
    for (let i = 0; i < k; i++) {
      enc.clearBuffer(sBuf);
      enc.copyBufferToBuffer(sBuf, 0, rb, 0, batch * G * 4);
      enc.copyBufferToBuffer(eBuf, 0, rb, batch * G * 4, batch * E * 4);
    }
    const cb = enc.finish();
    const t0 = performance.now();
    dev.queue.submit([cb]);
    await rb.mapAsync(GPUMapMode.READ);
    new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    return performance.now() - t0;
  };
  const r1 = Math.min(await timeRead(1), await timeRead(1));
  const r8 = Math.min(await timeRead(8), await timeRead(8));
  // Mapping and the host copy happen once per batch whatever k: add the host copy itself.
  await rb.mapAsync(GPUMapMode.READ);
  const h0 = performance.now();
  new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  const host = performance.now() - h0;
  add(
    {
      kind: "read-back",
      variant: "copy+map",
      shape: `${batch}x(${G}+${E})`,
      flops: 0,
      bytes: batch * (G + E) * 4,
    },
    Math.max(0, (r8 - r1) / 7) + host,
    Math.max(0, r1 - base),
  );
  for (const b of [sBuf, eBuf, rb]) b.destroy();
  ex.destroy();

  const all = [...rows.values()];
  const total = all.reduce((a, r) => a + r.ms, 0);
  const totalBase = all.reduce((a, r) => a + r.msBase, 0);
  const batchMs = Math.min(...runMs);
  const meanMs = runMs.reduce((a, b) => a + b, 0) / runMs.length;
  // Shares of the sum of the rows (timed alone, the rows add up to a little more than a batch).
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(1)} %`;

  console.log(
    `\n### Per kernel kind (${graph.name}, batch ${batch}, ${gpu.adapterName}, ` +
      `${ds.length} dispatches)\n`,
  );
  console.log("| kind | dispatches | ms | GFLOP/s | share of the rows |");
  console.log("|---|---:|---:|---:|---:|");
  const kinds = new Map<string, { count: number; ms: number; flops: number }>();
  for (const r of all) {
    const k = kinds.get(r.kind) ?? { count: 0, ms: 0, flops: 0 };
    k.count += r.count;
    k.ms += r.ms;
    k.flops += r.flops;
    kinds.set(r.kind, k);
  }
  for (const [k, v] of [...kinds].sort((a, b) => b[1].ms - a[1].ms)) {
    const gf = v.flops && v.ms > 0 ? (v.flops / (v.ms / 1000) / 1e9).toFixed(2) : "-";
    console.log(`| ${k} | ${v.count} | ${v.ms.toFixed(1)} | ${gf} | ${pct(v.ms)} |`);
  }

  console.log(`\n### Per kind, variant and layer shape (input side after @)\n`);
  console.log("| kind | variant | shape | count | ms | GFLOP/s | GB/s | share |");
  console.log("|---|---|---|---:|---:|---:|---:|---:|");
  for (const r of all.sort((a, b) => b.ms - a.ms)) {
    const sec = r.ms / 1000;
    const gf = r.flops && sec > 0 ? (r.flops / sec / 1e9).toFixed(2) : "-";
    const gb = !r.flops && r.bytes && sec > 0 ? (r.bytes / sec / 1e9).toFixed(2) : "-";
    console.log(
      `| ${pad(r.kind, 10)} | ${pad(r.variant, 12)} | ${pad(r.shape, 22)} | ${r.count} | ` +
        `${r.ms.toFixed(1)} | ${gf} | ${gb} | ${pct(r.ms)} |`,
    );
  }
  console.log(
    `\n- sum of the rows (difference method): **${total.toFixed(0)} ms**` +
      `\n- sum of the rows (single submit minus the empty-submit time): ${
        totalBase.toFixed(0)
      } ms` +
      `\n- measured whole batch (Executor.run, ${runs} run(s) after a warm-up): ` +
      `**${batchMs.toFixed(0)} ms** min, ${meanMs.toFixed(0)} ms mean ` +
      `(${(batch / (batchMs / 1000)).toFixed(3)} images/s)` +
      `\n- rows / measured: ${(total / batchMs).toFixed(2)}` +
      `\n- empty submit + wait: ${base.toFixed(1)} ms (median of 7; ${ds.length} dispatches ` +
      `would cost ${((ds.length * base) / 1000).toFixed(1)} s submitted one by one)`,
  );
}

/** Help text of `deno task profile`. */
export const PROFILE_USAGE =
  `profile: where the time of one batch goes (every dispatch timed on its own, summed per
kernel kind and layer shape) and the start-up from launch to first score

usage: deno task profile [--backbone iresnet50|iresnet100|mobilefacenet|...] [--batch 8]
                         [--weights FILE] [--random] [--reps auto|N] [--runs 2]
                         [--no-startup] [--startup-only] [--kernels auto|register|tiled]

  --backbone NAME   network (default iresnet50: the reference checkpoint; others: seeded
                    random weights)
  --batch N         images per batch (default 8)
  --weights FILE    these weights; --random: seeded random weights for iresnet50 too
  --reps auto|N     repetitions per dispatch of the difference method (default auto)
  --runs N          whole-batch runs to compare with the sum of the rows (default 2)
  --no-startup, --startup-only   only the per-dispatch part, or only the start-up
  --kernels F       kernel family (default auto: register on a software adapter, else tiled)

Running time on a 2-core machine with Mesa's CPU adapter: 3-5 min for iresnet50 at
batch 8 (about 3x the batch time for the dispatch part, plus three start-ups: cold, second, warm).`;

if (import.meta.main) {
  const values = parseToolArgs("profile", PROFILE_USAGE, Deno.args, {
    backbone: { type: "string", default: "iresnet50" },
    batch: { type: "string", default: "8" },
    weights: { type: "string" },
    random: { type: "boolean", default: false },
    reps: { type: "string", default: "auto" },
    runs: { type: "string", default: "2" },
    "no-startup": { type: "boolean", default: false },
    "startup-only": { type: "boolean", default: false },
    kernels: { type: "string", default: "auto" },
  });
  const backbone = values.backbone!;
  const batch = Number(values.batch);
  const runs = Number(values.runs);
  const fixedReps = values.reps === "auto" ? undefined : Number(values.reps);
  if (!Number.isInteger(batch) || batch < 1) {
    console.error(`profile: --batch ${values.batch}: expected an integer >= 1`);
    Deno.exit(2);
  }
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`profile: --runs ${values.runs}: expected an integer >= 1`);
    Deno.exit(2);
  }
  if (fixedReps !== undefined && !(Number.isInteger(fixedReps) && fixedReps >= 2)) {
    console.error(`profile: --reps ${values.reps}: expected auto or an integer >= 2`);
    Deno.exit(2);
  }
  let weightsPath = values.weights;
  if (!weightsPath && !values.random && backbone === "iresnet50") {
    if (!exists(REFERENCE_WEIGHTS)) {
      console.error(
        `profile: skipped: ${REFERENCE_WEIGHTS} is absent (../shared is not there). Pass ` +
          "--random for random weights or --weights FILE.",
      );
      Deno.exit(0);
    }
    weightsPath = REFERENCE_WEIGHTS;
  }
  const images = exists(ALIGNED) ? listImageFiles(ALIGNED) : undefined;
  console.log(
    `profile: ${backbone}, batch ${batch}, weights ${weightsPath ?? "random (seeded)"}, ` +
      `inputs ${images ? `${ALIGNED} (${images.length} images, cycled)` : "random"}; ` +
      `${navigator.hardwareConcurrency} CPU threads`,
  );
  try {
    if (!values["no-startup"]) {
      const probeArgs = ["--backbone", backbone, "--batch", String(batch)];
      if (weightsPath) probeArgs.push("--weights", weightsPath);
      if (images) probeArgs.push("--image-dir", ALIGNED);
      await startup(probeArgs);
    }
    if (!values["startup-only"]) {
      await dispatchProfile(
        backbone,
        batch,
        weightsPath,
        images,
        fixedReps,
        runs,
        values.kernels as KernelChoice,
      );
    }
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
