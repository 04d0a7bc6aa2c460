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
): void {
  const plane = geo.ho * geo.wo;
  const m = geo.n * plane;
  const f = foldWorkgroups(Math.ceil(m / (4 * cfg.wgy)));
  const pipe = rec.gpu.pipeline(
    CONV_TILED,
    { WGX: cfg.wgx, WGY: cfg.wgy, TK: cfg.tk, K: geo.k, S: geo.stride, PAD: geo.pad },
    { BWD: bwd, ACC: acc },
  );
  rec.add(
    label,
    pipe,
    {
      csum: geo.csum,
      hs: geo.hs,
      ws: geo.ws,
      cout: geo.cout,
      wo: geo.wo,
      plane,
      m,
      ksum: geo.csum * geo.k * geo.k,
      co4: padChannels(geo.cout) / 4,
      fold: f.fold,
    },
    buffers,
    [f.x, f.y, Math.ceil(geo.cout / (4 * cfg.wgx))],
  );
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
 * any kernel size, stride and padding (stride 2 gathers only the gy pixels a gx pixel
 * touches, but its reduction still walks every tap). With `accumulate`, the result is added to
 * what gx holds.
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
  recordTiled(rec, label, cfg, true, accumulate, {
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
  }, [gy, weights, zeros(rec.gpu, padChannels(g.cin)), gx]);
}
