/**
 * The "tiled" convolution kernels, for hardware adapters: every dense convolution (any kernel
 * size, stride and padding: iResNet's and MobileFaceNet's 3x3 stride 1 and 2, 1x1 stride 1
 * and 2, the Cin = 3 stem), forward and input gradient, as an implicit matrix product with
 * workgroup tiles staged in workgroup memory (shaders/conv_tiled.wgsl). The tile shape is a
 * compile-time constant chosen from the adapter's limits ({@link tiledConfigFor}).
 *
 * Weights use the register family's dense layouts (forwardWeights for the forward,
 * backwardWeights for the input gradient), so both families share one upload format.
 *
 * @module
 */
import convTiledCode from "../../shaders/conv_tiled.wgsl" with { type: "text" };
import { foldWorkgroups, type Gpu, type KernelSource } from "../gpu/gpu.ts";
import { type ConvGeometry, convOutSize, padChannels, zeros } from "./conv2d.ts";
import type { Recorder } from "./recorder.ts";

const CONV_TILED_PARAMS = [
  ["csum", "u32"], // source channels summed over
  ["hs", "u32"], // source plane height
  ["ws", "u32"], // source plane width
  ["cout", "u32"], // channels produced
  ["wo", "u32"], // produced plane width
  ["plane", "u32"], // produced plane size
  ["m", "u32"], // n * plane: matrix rows
  ["ksum", "u32"], // csum * k * k: reduction length
  ["co4", "u32"], // weight row length in vec4
  ["fold", "u32"], // workgroups along x
  ["py", "u32"], // PHASE only: the output phase (gx pixels 2 yy + py, 2 xx + px)
  ["px", "u32"],
  ["ky0", "u32"], // PHASE only: first tap of the phase
  ["kx0", "u32"],
  ["tshift", "u32"], // PHASE only: log2 of the taps per channel
  ["xshift", "u32"], // PHASE only: log2 of the taps per row
  ["wfull", "u32"], // PHASE only: gx width
  ["pfull", "u32"], // PHASE only: gx plane size
] as const;

/** Tiled implicit-GEMM convolution, both directions (shaders/conv_tiled.wgsl). */
export const CONV_TILED: KernelSource<typeof CONV_TILED_PARAMS> = {
  name: "conv_tiled",
  code: convTiledCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: CONV_TILED_PARAMS,
};

/**
 * Compile-time tile shape of the tiled convolution: a workgroup of `wgx` x `wgy` invocations
 * computes 4 `wgy` output pixels x 4 `wgx` output channels, staging `tk` reduction steps at a
 * time (workgroup memory: 16 `tk` (`wgx` + `wgy`) bytes).
 */
export interface TiledConfig {
  /** Invocations along the output channels. */
  wgx: number;
  /** Invocations along the output pixels. */
  wgy: number;
  /** Reduction steps per staged tile. */
  tk: number;
}

/** 64 pixels x 64 channels per workgroup of 256 (8 KiB of workgroup memory). */
export const TILE_64: TiledConfig = { wgx: 16, wgy: 16, tk: 16 };
/** 32 pixels x 32 channels per workgroup of 64 (4 KiB), for adapters below WebGPU's defaults. */
export const TILE_32: TiledConfig = { wgx: 8, wgy: 8, tk: 16 };

/** Workgroup memory of a tile shape in bytes. */
export function tileBytes(c: TiledConfig): number {
  return 16 * c.tk * (c.wgx + c.wgy);
}

/**
 * The largest tile shape the limits allow: {@link TILE_64} when the adapter offers 256
 * invocations per workgroup (16 along x and y) and 8 KiB of workgroup memory (every WebGPU
 * adapter does by default), else {@link TILE_32}.
 *
 * @throws {RangeError} when the limits do not even allow {@link TILE_32}.
 */
export function tiledConfigFor(limits: {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupSizeX: number;
}): TiledConfig {
  for (const c of [TILE_64, TILE_32]) {
    const wg = c.wgx * c.wgy;
    if (
      wg <= limits.maxComputeInvocationsPerWorkgroup &&
      wg <= limits.maxComputeWorkgroupSizeX &&
      tileBytes(c) <= limits.maxComputeWorkgroupStorageSize
    ) {
      return c;
    }
  }
  throw new RangeError(
    `The adapter allows ${limits.maxComputeInvocationsPerWorkgroup} invocations and ` +
      `${limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory per workgroup; the ` +
      `tiled kernels need at least ${TILE_32.wgx * TILE_32.wgy} and ${tileBytes(TILE_32)}`,
  );
}

/** The tile shape for `gpu`'s device limits ({@link tiledConfigFor}). */
export function tiledConfig(gpu: Gpu): TiledConfig {
  return tiledConfigFor(gpu.device.limits);
}

/** Record one tiled product: `dst` (cout channels of an ho x wo plane) from `src`. */
/** One output phase of a stride-2 input gradient: its pixel offset and the taps that reach it. */
interface Phase {
  py: number;
  px: number;
  /** First tap and tap count along y and x (taps ky0, ky0 + 2, ...). */
  ky0: number;
  nky: number;
  kx0: number;
  nkx: number;
}

function recordTiled(
  rec: Recorder,
  label: string,
  cfg: TiledConfig,
  bwd: boolean,
  acc: boolean,
  geo: {
    n: number;
    csum: number;
    hs: number;
    ws: number;
    cout: number;
    ho: number;
    wo: number;
    k: number;
    stride: number;
    pad: number;
  },
  buffers: [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer],
  phase?: Phase,
): void {
  // With a phase, the rows are that phase's gx pixels and the reduction its taps only.
  const ho = phase ? Math.ceil((geo.ho - phase.py) / 2) : geo.ho;
  const wo = phase ? Math.ceil((geo.wo - phase.px) / 2) : geo.wo;
  const plane = ho * wo;
  const m = geo.n * plane;
  const taps = phase ? phase.nky * phase.nkx : geo.k * geo.k;
  const f = foldWorkgroups(Math.ceil(m / (4 * cfg.wgy)));
  const pipe = rec.gpu.pipeline(
    CONV_TILED,
    { WGX: cfg.wgx, WGY: cfg.wgy, TK: cfg.tk, K: geo.k, S: geo.stride, PAD: geo.pad },
    phase ? { BWD: bwd, ACC: acc, PHASE: true } : { BWD: bwd, ACC: acc },
  );
  rec.add(
    label,
    pipe,
    {
      csum: geo.csum,
      hs: geo.hs,
      ws: geo.ws,
      cout: geo.cout,
      wo,
      plane,
      m,
      ksum: geo.csum * taps,
      co4: padChannels(geo.cout) / 4,
      fold: f.fold,
      py: phase?.py ?? 0,
      px: phase?.px ?? 0,
      ky0: phase?.ky0 ?? 0,
      kx0: phase?.kx0 ?? 0,
      tshift: phase ? Math.log2(Math.max(1, taps)) : 0,
      xshift: phase ? Math.log2(Math.max(1, phase.nkx)) : 0,
      wfull: phase ? geo.wo : 0,
      pfull: phase ? geo.ho * geo.wo : 0,
    },
    buffers,
    [f.x, f.y, Math.ceil(geo.cout / (4 * cfg.wgx))],
  );
}

/**
 * The output phases of a stride-2 input gradient with kernel 1 or 3 (every tap count a power
 * of two), or undefined for other layers (their gradient walks every tap). A gx pixel
 * (2 yy + py, 2 xx + px) is reached by the taps ky = py + pad (mod 2) and kx = px + pad
 * (mod 2) only; a phase with no gx pixel is left out, one with no tap still runs (it writes
 * the zero gradient, or leaves an accumulated one as it is).
 */
export function stride2Phases(g: ConvGeometry): Phase[] | undefined {
  if (g.stride !== 2 || (g.k !== 1 && g.k !== 3)) return undefined;
  const taps = (q: number) => {
    const t = [...Array(g.k).keys()].filter((k) => k % 2 === q);
    return { first: t[0] ?? 0, count: t.length };
  };
  const out: Phase[] = [];
  for (const py of [0, 1]) {
    for (const px of [0, 1]) {
      if (py >= g.hin || px >= g.win) continue;
      const y = taps((py + g.pad) % 2), x = taps((px + g.pad) % 2);
      out.push({ py, px, ky0: y.first, nky: y.count, kx0: x.first, nkx: x.count });
    }
  }
  return out;
}

/**
 * Record a forward convolution on the tiled kernel: y[n][cout][hout][wout] = conv(x) + bias
 * (groups = 1, NCHW), any kernel size, stride and padding. Each output sums its cin x k x k
 * products in a fixed order (the layer shape's only), then adds the bias.
 *
 * @param g layer geometry; x holds g.n * cin * hin * win float32
 * @param weights buffer in the forwardWeights layout
 * @param bias buffer from paddedBias (kernels/conv2d.ts)
 * @param y output buffer of n * cout * hout * wout float32
 * @param cfg tile shape (default: {@link tiledConfig} of the device)
 * @throws {RangeError} for an empty output
 */
export function recordConvTiled(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUBuffer,
  bias: GPUBuffer,
  y: GPUBuffer,
  cfg: TiledConfig = tiledConfig(rec.gpu),
): void {
  const { hout, wout } = convOutSize(g);
  recordTiled(rec, label, cfg, false, false, {
    n: g.n,
    csum: g.cin,
    hs: g.hin,
    ws: g.win,
    cout: g.cout,
    ho: hout,
    wo: wout,
    k: g.k,
    stride: g.stride,
    pad: g.pad,
  }, [x, weights, bias, y]);
}

/**
 * Record the input gradient of a convolution on the tiled kernel: gx = conv_transpose(gy),
 * any kernel size, stride and padding. Stride-2 layers with kernel 1 or 3 run as four
 * dispatches, one per output phase ({@link stride2Phases}), each walking only the taps that
 * reach its pixels (a quarter to a half of the work of walking them all, same sums bit for
 * bit). With `accumulate`, the result is added to what gx holds.
 *
 * @param g geometry of the forward convolution
 * @param gy gradient at the convolution output, n * cout * hout * wout
 * @param weights buffer in the backwardWeights layout
 * @param gx gradient at the convolution input, n * cin * hin * win
 * @param cfg tile shape (default: {@link tiledConfig} of the device)
 * @throws {RangeError} for an empty output
 */
export function recordConvTiledBackwardData(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  weights: GPUBuffer,
  gx: GPUBuffer,
  accumulate: boolean,
  cfg: TiledConfig = tiledConfig(rec.gpu),
): void {
  const { hout, wout } = convOutSize(g);
  const geo = {
    n: g.n,
    csum: g.cout,
    hs: hout,
    ws: wout,
    cout: g.cin,
    ho: g.hin,
    wo: g.win,
    k: g.k,
    stride: g.stride,
    pad: g.pad,
  };
  const buffers: [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer] = [
    gy,
    weights,
    zeros(rec.gpu, padChannels(g.cin)),
    gx,
  ];
  const phases = stride2Phases(g);
  if (!phases) {
    recordTiled(rec, label, cfg, true, accumulate, geo, buffers);
    return;
  }
  for (const ph of phases) {
    recordTiled(rec, `${label}:phase${ph.py}${ph.px}`, cfg, true, accumulate, geo, buffers, ph);
  }
}
