/**
 * Benchmark of the convolution kernels (forward and input gradient) at iResNet layer shapes:
 * prints GFLOP/s per shape, batch size, direction and kernel variant.
 *
 * Usage: deno run -A tools/bench_kernels.ts [--batch 1,8,32] [--variants tex,wino4,3x3,generic]
 *   [--shapes 64x112,64x56,128x28,256x14,512x7,3x112,64x56s2,64:64x56s2,64:128x28d] [--reps 3]
 *   [--dirs fwd,bwd]
 *
 * A shape is CxH (C channels in and out, H x H input, 3x3 kernel, stride 1, padding 1), or
 * CxHs2 (3x3 stride 2: C/2 channels in at 2H x 2H, output H x H), or CxHd (1x1 stride 2
 * downsample, C/2 channels in at 2H x 2H). A prefix CIN: sets the input channels of an s2 or d
 * shape (iResNet's stride-2 3x3 convolutions are C:CxHs2, its downsamples C/2:CxHd, and
 * 64:64x56d for the first stage; e.g. --dirs bwd --variants 3x3s2,1x1s2,dilated,generic).
 * "3x" gives the stem (Cin = 3, 64 out). Variant "tex" is the texture-fed 3x3 kernel family
 * (src/kernels/conv3x3_tex.ts); "wino4" and "wino2" are Winograd F(4x4) and F(2x2)
 * (src/kernels/winograd.ts: its three dispatches per layer, the weight transform excluded; its
 * GFLOP/s count the direct convolution's multiply-adds, so they compare with the others);
 * "tiled" is the tiled family's implicit-GEMM kernel
 * (src/kernels/conv_tiled.ts) with the device's tile; the others are conv2d.ts's ConvVariant
 * names. Variants that
 * cannot serve a shape (or a direction) are skipped; "dilated" gets scratch memory. Each
 * timing submits `reps`-fold repeated dispatches once and waits; the best of three submits is reported, as wall-clock GFLOP/s
 * (2 x MACs / s) and as GFLOP per CPU second of this process (robust when other work shares
 * the cores). The first submit of a pipeline includes its compilation and is not counted.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "../src/cli/args.ts";
import { encodeDispatches, Gpu } from "../src/gpu/gpu.ts";
import { ensureRuntimeDir } from "../src/gpu/runtime_dir.ts";
import { Recorder } from "../src/kernels/recorder.ts";
import {
  backwardWeights,
  backwardWeightsFor,
  type ConvGeometry,
  convOutSize,
  type ConvVariant,
  forwardWeights,
  forwardWeightsFor,
  paddedBias,
  recordConv2d,
  recordConv2dBackwardData,
} from "../src/kernels/conv2d.ts";
import {
  recordConv3x3Tex,
  recordConv3x3TexGradient,
  tex3x3ConfigFor,
  tex3x3Weights,
} from "../src/kernels/conv3x3_tex.ts";
import { recordWinogradConv, recordWinogradWeights } from "../src/kernels/winograd.ts";
import {
  recordConvTiled,
  recordConvTiledBackwardData,
  tiledConfig,
} from "../src/kernels/conv_tiled.ts";

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "1,8" },
    variants: { type: "string", default: "tex,wino4,3x3,generic" },
    shapes: { type: "string", default: "64x112,64x56,128x28,256x14,512x7,3x112,128x28s2,128x28d" },
    reps: { type: "string", default: "3" },
    dirs: { type: "string", default: "fwd,bwd" },
  },
});

function parseShape(s: string): Omit<ConvGeometry, "n"> {
  const m = /^(?:(\d+):)?(\d+)x(\d+)(s2|d)?$/.exec(s);
  if (!m || (m[1] && !m[4])) {
    throw new Error(`bench_kernels: bad shape "${s}" (expected CxH, [CIN:]CxHs2 or [CIN:]CxHd)`);
  }
  const c = Number(m[2]), h = Number(m[3]);
  const cin = m[1] ? Number(m[1]) : c / 2;
  if (c === 3) return { cin: 3, hin: h, win: h, cout: 64, k: 3, stride: 1, pad: 1 };
  if (m[4] === "s2") return { cin, hin: 2 * h, win: 2 * h, cout: c, k: 3, stride: 2, pad: 1 };
  if (m[4] === "d") return { cin, hin: 2 * h, win: 2 * h, cout: c, k: 1, stride: 2, pad: 0 };
  return { cin: c, hin: h, win: h, cout: c, k: 3, stride: 1, pad: 1 };
}

ensureRuntimeDir();
const gpu = await Gpu.create();

type Wino = "wino4" | "wino2";
/**
 * The transformed weights of a 3x3 stride-1 layer for one direction, made by the weight
 * kernel in a submit of their own (not timed); undefined for other layers.
 */
function winograd(v: Wino, g: ConvGeometry, dir: "fwd" | "bwd", wf: Float32Array) {
  if (g.k !== 3 || g.stride !== 1 || g.pad !== 1) return undefined;
  const raw = gpu.storageFrom("w raw", wf);
  const rec = new Recorder(gpu);
  const direction = dir === "fwd" ? "forward" : "input-gradient";
  const u = recordWinogradWeights(
    rec,
    "bench",
    v === "wino4" ? 4 : 2,
    raw,
    g.cout,
    g.cin,
    direction,
  );
  const enc = gpu.device.createCommandEncoder();
  encodeDispatches(enc, rec.finish());
  gpu.device.queue.submit([enc.finish()]);
  raw.destroy();
  rec.uniforms.destroy();
  return { u };
}
const scratchBuffers: GPUBuffer[] = [];
/** Scratch memory for the "dilated" input gradient (one buffer per request). */
function scratch(bytes: number): GPUBuffer {
  const b = gpu.storage("scratch", bytes);
  scratchBuffers.push(b);
  return b;
}
const reps = Number(values.reps);
const tile = tiledConfig(gpu);
console.log(
  `adapter: ${gpu.adapterName}${gpu.software ? " (software)" : ""}; tiled tile ` +
    `${4 * tile.wgy}x${4 * tile.wgx}x${tile.tk}; best of 3 submits of ${reps} dispatches`,
);
console.log("shape        batch dir  variant   GFLOP/s  GFLOP/CPU-s");
for (const shape of values.shapes!.split(",")) {
  for (const n of values.batch!.split(",").map(Number)) {
    const g: ConvGeometry = { n, ...parseShape(shape) };
    const { hout, wout } = convOutSize(g);
    const flops = 2 * n * g.cout * g.cin * g.k * g.k * hout * wout;
    const inBytes = n * g.cin * g.hin * g.win * 4, outBytes = n * g.cout * hout * wout * 4;
    if (Math.max(inBytes, outBytes) > gpu.maxBinding) {
      console.log(`${shape.padEnd(12)} ${String(n).padStart(5)} skipped (over the binding limit)`);
      continue;
    }
    const x = gpu.storage("x", inBytes), y = gpu.storage("y", outBytes);
    const wf = new Float32Array(g.cout * g.cin * g.k * g.k).map((_, i) => ((i * 7919) % 17) / 17);
    const bw = gpu.storageFrom("w", forwardWeights(wf, g.cout, g.cin, g.k));
    const bwb = gpu.storageFrom("wb", backwardWeights(wf, g.cout, g.cin, g.k));
    const bb = gpu.storageFrom("b", paddedBias(undefined, g.cout));
    const tex = tex3x3ConfigFor(g)
      ? {
        fwd: tex3x3Weights(gpu, "wt", wf, g.cout, g.cin, "forward"),
        bwd: tex3x3Weights(gpu, "wtb", wf, g.cout, g.cin, "input-gradient"),
      }
      : undefined;
    for (const dir of values.dirs!.split(",") as ("fwd" | "bwd")[]) {
      for (
        const v of values.variants!.split(",") as (ConvVariant | "tex" | "tiled" | Wino)[]
      ) {
        if (v === "tex" && !tex) continue;
        const wino = v === "wino4" || v === "wino2" ? winograd(v, g, dir, wf) : undefined;
        if ((v === "wino4" || v === "wino2") && !wino) continue;
        const rec = new Recorder(gpu);
        // conv2d.ts's variants: the weights in the form the variant's kernel reads, once.
        let cw: GPUBuffer | GPUTexture | undefined;
        try {
          if (!wino && v !== "tiled" && v !== "tex") {
            const cv = v as ConvVariant;
            cw = dir === "fwd"
              ? forwardWeightsFor(gpu, "w", wf, g, cv)
              : backwardWeightsFor(gpu, "wb", wf, g, cv);
          }
          for (let r = 0; r < reps; r++) {
            if (wino) {
              const [src, dst] = dir === "fwd" ? [x, y] : [y, x];
              recordWinogradConv(
                rec,
                "bench",
                n,
                g.hin,
                g.win,
                src,
                wino.u,
                bb,
                dst,
                false,
                scratch,
              );
            } else if (v === "tiled") {
              if (dir === "fwd") recordConvTiled(rec, "bench", g, x, bw, bb, y, tile);
              else recordConvTiledBackwardData(rec, "bench", g, y, bwb, x, false, tile);
            } else if (v === "tex") {
              if (dir === "fwd") recordConv3x3Tex(rec, "bench", g, x, tex!.fwd, bb, y);
              else recordConv3x3TexGradient(rec, "bench", g, y, tex!.bwd, x, false);
            } else if (dir === "fwd") {
              recordConv2d(rec, "bench", g, x, cw!, bb, y, v as ConvVariant);
            } else {
              recordConv2dBackwardData(
                rec,
                "bench",
                g,
                y,
                cw!,
                x,
                false,
                v as ConvVariant,
                scratch,
              );
            }
          }
        } catch (e) {
          cw?.destroy();
          if (e instanceof RangeError) continue; // the variant cannot serve this shape
          throw e;
        }
        const d = rec.finish();
        let bestWall = 0, bestCpu = 0;
        for (let i = 0; i < 4; i++) {
          const t0 = performance.now(), c0 = process.cpuUsage();
          const enc = gpu.device.createCommandEncoder();
          encodeDispatches(enc, d);
          gpu.device.queue.submit([enc.finish()]);
          await gpu.device.queue.onSubmittedWorkDone();
          const wall = (performance.now() - t0) / 1000, cu = process.cpuUsage(c0);
          if (i === 0) continue; // includes pipeline compilation
          bestWall = Math.max(bestWall, (reps * flops) / wall / 1e9);
          bestCpu = Math.max(bestCpu, (reps * flops) / ((cu.user + cu.system) / 1e6) / 1e9);
        }
        gpu.checkHealthy();
        console.log(
          `${shape.padEnd(12)} ${String(n).padStart(5)} ${dir}  ${v.padEnd(8)} ` +
            `${bestWall.toFixed(2).padStart(8)} ${bestCpu.toFixed(2).padStart(12)}`,
        );
        rec.uniforms.destroy();
        wino?.u.u.destroy();
        cw?.destroy();
      }
    }
    for (const b of [x, y, bw, bwb, bb, ...scratchBuffers.splice(0)]) b.destroy();
    tex?.fwd.destroy();
    tex?.bwd.destroy();
  }
}
