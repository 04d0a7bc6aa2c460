/**
 * Reductions that produce GraFIQs scores and the embedding head.
 *
 * @module
 */
import absSumCode from "../../shaders/abs_sum.wgsl" with { type: "text" };
import linearCode from "../../shaders/linear_bn1d.wgsl" with { type: "text" };
import linearTiledCode from "../../shaders/linear_bn1d_tiled.wgsl" with { type: "text" };
import type { KernelSource } from "../gpu/gpu.ts";
import type { Recorder } from "./recorder.ts";
import { foldBn } from "./batchnorm.ts";
import { LOOP_BUDGET } from "./conv2d.ts";
import { type TiledConfig, tiledConfig } from "./conv_tiled.ts";

const ABS_SUM_PARAMS = [
  ["len", "u32"], // elements per image (c * h * w)
  ["stride", "u32"], // score slots per image in the output
  ["slot", "u32"], // this group's slot
] as const;

/** Per-image sum of |g| (shaders/abs_sum.wgsl). */
export const ABS_SUM: KernelSource<typeof ABS_SUM_PARAMS> = {
  name: "abs_sum",
  code: absSumCode,
  bindings: ["uniform", "read", "rw"],
  params: ABS_SUM_PARAMS,
};

const LINEAR_BN1D_PARAMS = [
  ["inF", "u32"], // input features
  ["outF", "u32"], // output features
  ["n", "u32"], // images
  ["g4", "u32"], // input groups of 4 per image: ceil(inF / 4)
  ["op4", "u32"], // padded outputs / 4 (a multiple of 4)
] as const;

/** Linear + BatchNorm1d head (shaders/linear_bn1d.wgsl). */
export const LINEAR_BN1D: KernelSource<typeof LINEAR_BN1D_PARAMS> = {
  name: "linear_bn1d",
  code: linearCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: LINEAR_BN1D_PARAMS,
};

const LINEAR_BN1D_TILED_PARAMS = [
  ["inF", "u32"], // input features
  ["outF", "u32"], // output features
  ["n", "u32"], // images
  ["i4", "u32"], // padded inputs: 4 ceil(inF / 4)
  ["op4", "u32"], // padded outputs / 4 (a multiple of 4)
] as const;

/** Linear + BatchNorm1d head of the tiled family (shaders/linear_bn1d_tiled.wgsl). */
export const LINEAR_BN1D_TILED: KernelSource<typeof LINEAR_BN1D_TILED_PARAMS> = {
  name: "linear_bn1d_tiled",
  code: linearTiledCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: LINEAR_BN1D_TILED_PARAMS,
};

const ABS_WG = 256;
/** Outputs per workgroup of the head kernel (4 vec4 columns). */
const LIN_OUT = 16;
/** Lanes (partial sums per output) of a head workgroup; fixed in shaders/linear_bn1d.wgsl. */
const LIN_LANES = 8;

/**
 * Record scores[n * stride + slot] = sum |g[n, :]| for each of `n` images of `len` elements.
 */
export function recordAbsSum(
  rec: Recorder,
  label: string,
  n: number,
  len: number,
  g: GPUBuffer,
  scores: GPUBuffer,
  stride: number,
  slot: number,
): void {
  rec.add(
    label,
    rec.gpu.pipeline(ABS_SUM, { WG: ABS_WG }),
    { len, stride, slot },
    [g, scores],
    [n, 1, 1],
  );
}

/**
 * Host-side layouts for the head (shaders/linear_bn1d.wgsl). With inputs padded with zeros to
 * I4 = 4 ceil(inF / 4) and outputs to Op = 16 ceil(outF / 16):
 * - `wt` [Op / 16][I4][16]: for each block of 16 outputs, input by input, the block's weights
 *   (zero for padded inputs or outputs), i.e. wt[(q * I4 + i) * 16 + k] = W[16 q + k, i];
 * - `prm` [3][Op]: bias, scale and shift, zero padded, where BatchNorm1d is
 *   scale = gamma / sqrt(rv + eps) and shift = beta - rm * scale.
 *
 * @param weight fc.weight, [outF][inF] row-major (PyTorch's Linear layout)
 * @throws {RangeError} when `weight` does not hold outF x inF values.
 */
export function linearBn1dLayout(
  weight: Float32Array,
  bias: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  inF: number,
  outF: number,
  eps = 1e-5,
): { wt: Float32Array; prm: Float32Array } {
  if (weight.length !== inF * outF) {
    throw new RangeError(`fc.weight has ${weight.length} values, expected ${outF}x${inF}`);
  }
  const op = Math.ceil(outF / LIN_OUT) * LIN_OUT;
  const i4 = Math.ceil(inF / 4) * 4;
  const wt = new Float32Array(i4 * op);
  for (let o = 0; o < outF; o++) {
    const base = Math.floor(o / LIN_OUT) * i4 * LIN_OUT + (o % LIN_OUT);
    for (let i = 0; i < inF; i++) wt[base + i * LIN_OUT] = weight[o * inF + i];
  }
  const prm = new Float32Array(3 * op);
  for (let o = 0; o < outF; o++) {
    prm[o] = bias[o];
    [prm[op + o], prm[2 * op + o]] = foldBn(gamma[o], beta[o], runningMean[o], runningVar[o], eps);
  }
  return { wt, prm };
}

/**
 * Refuse a head dispatch whose reduction over `inF` input features would loop more than
 * llvmpipe's LOOP_BUDGET times in one `unit` (a lane of the register kernel, an invocation of
 * the tiled one).
 *
 * @throws {RangeError} naming the dispatch, the feature count and the loop count
 */
function checkHeadLoops(label: string, inF: number, loops: number, unit: string): void {
  if (loops > LOOP_BUDGET) {
    throw new RangeError(
      `Dispatch ${label}: ${inF} input features need ${loops} loop iterations per ${unit}, ` +
        `over llvmpipe's budget of ${LOOP_BUDGET}`,
    );
  }
}

/**
 * Record e[n][outF] = BatchNorm1d(W x[n] + b) for n images, x [n][inF] and the weights laid
 * out by {@link linearBn1dLayout}. Each image's sums run in an order fixed by inF alone, so an
 * embedding is bit-identical whatever the batch size and the image's place in it. Up to 8
 * images share each weight load (1, 2, 4 or 8 per workgroup, by batch size).
 *
 * @throws {RangeError} when a lane would loop more than LOOP_BUDGET times (inF over about
 *   half a million), or the dispatch is too large.
 */
export function recordLinearBn1d(
  rec: Recorder,
  label: string,
  n: number,
  inF: number,
  outF: number,
  x: GPUBuffer,
  wt: GPUBuffer,
  prm: GPUBuffer,
  e: GPUBuffer,
): void {
  const g4 = Math.ceil(inF / 4);
  const loops = Math.ceil(g4 / LIN_LANES);
  checkHeadLoops(label, inF, loops, "lane");
  const blocks = Math.ceil(outF / LIN_OUT);
  const imgs = n >= 8 ? 8 : n > 2 ? 4 : n;
  rec.add(
    label,
    rec.gpu.pipeline(LINEAR_BN1D, { B: imgs, ALIGNED: inF % 4 === 0 ? 1 : 0 }),
    { inF, outF, n, g4, op4: blocks * 4 },
    [x, wt, prm, e],
    [blocks, Math.ceil(n / imgs), 1],
  );
}

/**
 * Record the head on the tiled family's kernel: e[n][outF] = BatchNorm1d(W x[n] + b), the same
 * contract and weight layout as {@link recordLinearBn1d}. A workgroup of `cfg.wgx * cfg.wgy`
 * invocations (256, or 64 on small adapters) computes 16 outputs for up to 8 images sharing
 * each weight load; neighbouring invocations read neighbouring weight vec4, and each image's
 * partial sums meet in a fixed tree in workgroup memory. The summation order depends on inF
 * and the workgroup size only, so an embedding is bit-identical whatever the batch size and
 * the image's place in it.
 *
 * @param cfg tile shape (default: tiledConfig of the device, kernels/conv_tiled.ts)
 * @throws {RangeError} when an invocation would loop more than LOOP_BUDGET times (inF over
 *   about a million at 256 invocations).
 */
export function recordLinearBn1dTiled(
  rec: Recorder,
  label: string,
  n: number,
  inF: number,
  outF: number,
  x: GPUBuffer,
  wt: GPUBuffer,
  prm: GPUBuffer,
  e: GPUBuffer,
  cfg: TiledConfig = tiledConfig(rec.gpu),
): void {
  const wg = cfg.wgx * cfg.wgy;
  const loops = Math.ceil(inF / (wg / 4));
  checkHeadLoops(label, inF, loops, "invocation");
  const blocks = Math.ceil(outF / LIN_OUT);
  const imgs = n >= 8 ? 8 : n > 2 ? 4 : n;
  rec.add(
    label,
    rec.gpu.pipeline(LINEAR_BN1D_TILED, { WG: wg, B: imgs }),
    { inF, outF, n, i4: 4 * Math.ceil(inF / 4), op4: blocks * 4 },
    [x, wt, prm, e],
    [blocks, Math.ceil(n / imgs), 1],
  );
}
