/**
 * Depthwise 2-D convolution kernels (groups = channels): forward with optional bias, and the
 * input gradient. A depthwise layer of C channels has one K x K filter per channel, so it is
 * computed per (image, channel) plane, never as a dense convolution with zero weights.
 *
 * Used by MobileFaceNet (../shared/models/mobilefacenet/MODEL.md): 3x3 stride 1 and 2 with
 * padding 1, and the 7x7 no-padding global depthwise head (gdconv).
 *
 * @module
 */
import fwdCode from "../../shaders/depthwise_conv2d.wgsl" with { type: "text" };
import bwdCode from "../../shaders/depthwise_conv2d_backward_data.wgsl" with { type: "text" };
import tiledCode from "../../shaders/depthwise_tiled.wgsl" with { type: "text" };
import { foldWorkgroups, type KernelSource } from "../gpu/gpu.ts";
import type { Recorder } from "./recorder.ts";
import { rowSegment, zeros } from "./conv2d.ts";
import { type TiledConfig, tiledConfig } from "./conv_tiled.ts";

// Both depthwise kernels take their geometry as specialization constants; the uniforms only
// size the dispatch.
const DEPTHWISE_PARAMS = [
  ["total", "u32"], // invocations: n * C * rows * NSEG
  ["fold", "u32"], // workgroups along x
] as const;

/** Forward depthwise shader (see shaders/depthwise_conv2d.wgsl). */
export const DEPTHWISE_CONV2D: KernelSource<typeof DEPTHWISE_PARAMS> = {
  name: "depthwise_conv2d",
  code: fwdCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: DEPTHWISE_PARAMS,
};

/** Input-gradient depthwise shader (see shaders/depthwise_conv2d_backward_data.wgsl). */
export const DEPTHWISE_CONV2D_BACKWARD_DATA: KernelSource<typeof DEPTHWISE_PARAMS> = {
  name: "depthwise_conv2d_backward_data",
  code: bwdCode,
  bindings: ["uniform", "read", "read", "rw"],
  params: DEPTHWISE_PARAMS,
};

/** Most pixels of one row computed per invocation. */
export const DW_MAX_PX = 28;
/** Invocations per workgroup of both depthwise kernels. */
export const DW_WG = 64;
/**
 * Largest kernel side accepted. With K <= 15 and at most 28 pixels per invocation, one
 * invocation runs at most K * (WIN + K * PX) = 15 * (69 + 15 * 28) = 7335 loop steps (forward,
 * stride 2, the worst case; the input gradient needs fewer), far below the ~65k loop iterations
 * per invocation that llvmpipe executes correctly.
 */
export const DW_MAX_K = 15;
/** Largest stride accepted (the window of a segment grows with it). */
export const DW_MAX_STRIDE = 2;

/** Geometry of one depthwise convolution, shapes in elements. */
export interface DepthwiseGeometry {
  /** Images in the batch. */
  n: number;
  /** Channels (input = output = groups). */
  c: number;
  hin: number;
  win: number;
  /** Square kernel size. */
  k: number;
  stride: number;
  pad: number;
}

/**
 * Output size floor((in + 2 pad - k) / stride) + 1 of a depthwise convolution, after checking
 * the geometry.
 *
 * @throws {RangeError} for a non-positive or non-integer size, a kernel over {@link DW_MAX_K},
 *   a stride over {@link DW_MAX_STRIDE}, padding >= k, or an empty output.
 */
export function depthwiseOutSize(g: DepthwiseGeometry): { hout: number; wout: number } {
  for (const [name, v] of Object.entries({ n: g.n, c: g.c, hin: g.hin, win: g.win, k: g.k })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Depthwise convolution: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (g.k > DW_MAX_K) {
    throw new RangeError(`Depthwise convolution: kernel ${g.k} is over the maximum ${DW_MAX_K}`);
  }
  if (!Number.isInteger(g.stride) || g.stride < 1 || g.stride > DW_MAX_STRIDE) {
    throw new RangeError(
      `Depthwise convolution: stride must be 1..${DW_MAX_STRIDE}, got ${g.stride}`,
    );
  }
  if (!Number.isInteger(g.pad) || g.pad < 0 || g.pad >= g.k) {
    throw new RangeError(`Depthwise convolution: padding must be 0..${g.k - 1}, got ${g.pad}`);
  }
  const hout = Math.floor((g.hin + 2 * g.pad - g.k) / g.stride) + 1;
  const wout = Math.floor((g.win + 2 * g.pad - g.k) / g.stride) + 1;
  if (hout < 1 || wout < 1) {
    throw new RangeError(
      `Depthwise convolution of ${g.hin}x${g.win} with kernel ${g.k}, stride ${g.stride}, ` +
        `pad ${g.pad} has an empty output`,
    );
  }
  return { hout, wout };
}

/**
 * Weight layout of both kernels: PyTorch's [C][1][K][K] is already [C][K][K] row-major, so this
 * only checks the length and copies.
 *
 * @throws {RangeError} when `w` does not hold c * k * k values.
 */
export function depthwiseWeights(w: Float32Array, c: number, k: number): Float32Array {
  if (w.length !== c * k * k) {
    throw new RangeError(`Depthwise weight has ${w.length} values, expected ${c}x1x${k}x${k}`);
  }
  return Float32Array.from(w);
}

/** Per-channel bias (zeros when the layer has none), length c. */
export function depthwiseBias(bias: Float32Array | undefined, c: number): Float32Array {
  const out = new Float32Array(c);
  if (bias) {
    if (bias.length !== c) {
      throw new RangeError(`Depthwise bias has ${bias.length} values, expected ${c}`);
    }
    out.set(bias);
  }
  return out;
}

/**
 * Kernel choice: "auto" takes the written-out "3x3" variant for 3x3 kernels with padding 1
 * (stride 1 or 2), "generic" otherwise; a choice made from the layer shape only, so results
 * never depend on the batch. Forcing "3x3" on another shape throws. Tests force each variant.
 */
export type DepthwiseVariant = "auto" | "generic" | "3x3";

function pickVariant(g: DepthwiseGeometry, v: DepthwiseVariant, what: string): 0 | 1 {
  const fits = g.k === 3 && g.pad === 1;
  if (v === "3x3" && !fits) {
    throw new RangeError(
      `${what}: the 3x3 variant needs kernel 3 and padding 1; got kernel ${g.k}, padding ${g.pad}`,
    );
  }
  return v !== "generic" && fits ? 1 : 0;
}

/**
 * Record a forward depthwise convolution: y[n][c][hout][wout] = dwconv(x) + bias (NCHW).
 *
 * @param g layer geometry; x holds g.n * c * hin * win float32
 * @param weights buffer from {@link depthwiseWeights}, c * k * k float32
 * @param bias buffer from {@link depthwiseBias}, c float32
 * @param y output buffer of n * c * hout * wout float32
 * @param variant kernel choice (default "auto"; see {@link DepthwiseVariant})
 * @throws {RangeError} as {@link depthwiseOutSize}, or "3x3" forced on another shape
 */
export function recordDepthwiseConv2d(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  x: GPUBuffer,
  weights: GPUBuffer,
  bias: GPUBuffer,
  y: GPUBuffer,
  variant: DepthwiseVariant = "auto",
): void {
  const { hout, wout } = depthwiseOutSize(g);
  const v = pickVariant(g, variant, `Depthwise convolution ${label}`);
  const px = v === 1 ? 4 : rowSegment(wout, 1, DW_MAX_PX);
  const nseg = Math.ceil(wout / px);
  const total = g.n * g.c * hout * nseg;
  const f = foldWorkgroups(Math.ceil(total / DW_WG));
  const pipe = rec.gpu.pipeline(DEPTHWISE_CONV2D, {
    VARIANT: v,
    PX: px,
    K: g.k,
    S: g.stride,
    PAD: g.pad,
    WG: DW_WG,
    C: g.c,
    IN_H: g.hin,
    IN_W: g.win,
    OUT_H: hout,
    OUT_W: wout,
    NSEG: nseg,
  });
  rec.add(label, pipe, { total, fold: f.fold }, [x, weights, bias, y], [f.x, f.y, 1]);
}

/**
 * Record the input gradient of a depthwise convolution: gx = dwconv_transpose(gy). With
 * `accumulate`, the result is added to what gx holds.
 *
 * @param g geometry of the forward convolution
 * @param gy gradient at the convolution output, n * c * hout * wout
 * @param weights buffer from {@link depthwiseWeights}
 * @param gx gradient at the convolution input, n * c * hin * win
 * @param variant kernel choice (default "auto"; see {@link DepthwiseVariant})
 * @throws {RangeError} as {@link depthwiseOutSize}, or "3x3" forced on another shape
 */
export function recordDepthwiseBackwardData(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  gy: GPUBuffer,
  weights: GPUBuffer,
  gx: GPUBuffer,
  accumulate: boolean,
  variant: DepthwiseVariant = "auto",
): void {
  const { hout, wout } = depthwiseOutSize(g);
  const v = pickVariant(g, variant, `Depthwise input gradient ${label}`);
  const px = v === 1 ? 4 : rowSegment(g.win, g.stride, DW_MAX_PX);
  const nseg = Math.ceil(g.win / px);
  const qlo = g.stride * Math.floor((g.pad - g.k + 1) / g.stride);
  const gw = Math.floor((px - 1 + g.pad - qlo) / g.stride) + 1;
  const total = g.n * g.c * g.hin * nseg;
  const f = foldWorkgroups(Math.ceil(total / DW_WG));
  const pipe = rec.gpu.pipeline(
    DEPTHWISE_CONV2D_BACKWARD_DATA,
    {
      VARIANT: v,
      PX: px,
      K: g.k,
      S: g.stride,
      PAD: g.pad,
      WG: DW_WG,
      QLO: qlo,
      GW: gw,
      C: g.c,
      IN_H: g.hin,
      IN_W: g.win,
      OUT_H: hout,
      OUT_W: wout,
      NSEG: nseg,
    },
    { ACC: accumulate },
  );
  rec.add(label, pipe, { total, fold: f.fold }, [gy, weights, gx], [f.x, f.y, 1]);
}

const DEPTHWISE_TILED_PARAMS = [
  ["c", "u32"], // channels
  ["hs", "u32"], // source plane height
  ["ws", "u32"], // source plane width
  ["hd", "u32"], // produced plane height
  ["wd", "u32"], // produced plane width
  ["tiles_x", "u32"], // tiles along a produced row
  ["tiles", "u32"], // tiles per plane
  ["groups", "u32"], // workgroups in all
  ["fold", "u32"], // workgroups along x
] as const;

/** Tiled depthwise convolution, both directions (shaders/depthwise_tiled.wgsl). */
export const DEPTHWISE_TILED: KernelSource<typeof DEPTHWISE_TILED_PARAMS> = {
  name: "depthwise_tiled",
  code: tiledCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: DEPTHWISE_TILED_PARAMS,
};

/**
 * Side of the square output tile of one tiled depthwise workgroup for a tile shape of the
 * tiled family: 16 (256 invocations) for {@link TiledConfig}s of 256 invocations, 8 (64) for
 * those of 64. The workgroup memory it stages is at most (15 x 2 + 15)^2 floats = 8100 bytes
 * (kernel 15, stride 2, tile 16), within WebGPU's default 16 KiB.
 */
export function depthwiseTile(cfg: TiledConfig): number {
  return Math.round(Math.sqrt(cfg.wgx * cfg.wgy));
}

function recordDepthwiseTiledPass(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  bwd: boolean,
  acc: boolean,
  cfg: TiledConfig,
  buffers: [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer],
): void {
  const { hout, wout } = depthwiseOutSize(g);
  const t = depthwiseTile(cfg);
  const [hd, wd] = bwd ? [g.hin, g.win] : [hout, wout];
  const side = bwd ? Math.floor((t + g.k - 2) / g.stride) + 2 : (t - 1) * g.stride + g.k;
  const tilesX = Math.ceil(wd / t);
  const tiles = tilesX * Math.ceil(hd / t);
  const groups = g.n * g.c * tiles;
  const f = foldWorkgroups(groups);
  const pipe = rec.gpu.pipeline(
    DEPTHWISE_TILED,
    { T: t, K: g.k, S: g.stride, PAD: g.pad, NT: side * side },
    { BWD: bwd, ACC: acc },
  );
  rec.add(
    label,
    pipe,
    {
      c: g.c,
      hs: bwd ? hout : g.hin,
      ws: bwd ? wout : g.win,
      hd,
      wd,
      tiles_x: tilesX,
      tiles,
      groups,
      fold: f.fold,
    },
    buffers,
    [f.x, f.y, 1],
  );
}

/**
 * Record a forward depthwise convolution on the tiled family's kernel: y = dwconv(x) + bias,
 * the same contract as {@link recordDepthwiseConv2d}. A workgroup computes a square tile of one
 * (image, channel) plane ({@link depthwiseTile}) from its input region staged in workgroup
 * memory; each output sums its K x K taps in a fixed order (the layer shape's only), then adds
 * the bias.
 *
 * @param cfg tile shape (default: tiledConfig of the device, kernels/conv_tiled.ts)
 * @throws {RangeError} as {@link depthwiseOutSize}
 */
export function recordDepthwiseTiled(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  x: GPUBuffer,
  weights: GPUBuffer,
  bias: GPUBuffer,
  y: GPUBuffer,
  cfg: TiledConfig = tiledConfig(rec.gpu),
): void {
  recordDepthwiseTiledPass(rec, label, g, false, false, cfg, [x, weights, bias, y]);
}

/**
 * Record the input gradient of a depthwise convolution on the tiled family's kernel, the same
 * contract as {@link recordDepthwiseBackwardData}: a workgroup computes a square tile of gx
 * from the gy region it reads (halo included) staged in workgroup memory, each pixel summing
 * the taps that reach it in a fixed order. With `accumulate`, the result is added to what gx
 * holds.
 *
 * @param cfg tile shape (default: tiledConfig of the device, kernels/conv_tiled.ts)
 * @throws {RangeError} as {@link depthwiseOutSize}
 */
export function recordDepthwiseTiledBackwardData(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  gy: GPUBuffer,
  weights: GPUBuffer,
  gx: GPUBuffer,
  accumulate: boolean,
  cfg: TiledConfig = tiledConfig(rec.gpu),
): void {
  const buffers: [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer] = [
    gy,
    weights,
    zeros(rec.gpu, g.c),
    gx,
  ];
  recordDepthwiseTiledPass(rec, label, g, true, accumulate, cfg, buffers);
}
