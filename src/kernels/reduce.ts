/**
 * Reductions that produce GraFIQs scores and the embedding head.
 *
 * @module
 */
import absSumCode from "../../shaders/abs_sum.wgsl" with { type: "text" };
import linearCode from "../../shaders/linear_bn1d.wgsl" with { type: "text" };
import type { KernelSource } from "../gpu/gpu.ts";
import type { Recorder } from "./recorder.ts";
import { foldBn } from "./batchnorm.ts";

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
  ["out4", "u32"], // padded output features / 4
] as const;

/** Linear + BatchNorm1d head (shaders/linear_bn1d.wgsl). */
export const LINEAR_BN1D: KernelSource<typeof LINEAR_BN1D_PARAMS> = {
  name: "linear_bn1d",
  code: linearCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: LINEAR_BN1D_PARAMS,
};

const ABS_WG = 256;
const LIN_WG = 64;

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
 * Host-side layouts for the head: weights [Out][In] to transposed [In][Out4*4] (zero padded),
 * and the parameter block [bias; scale; shift] each padded to Out4*4, where BatchNorm1d is
 * scale = gamma / sqrt(rv + eps), shift = beta - rm * scale.
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
  const op = Math.ceil(outF / 4) * 4;
  const wt = new Float32Array(inF * op);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) wt[i * op + o] = weight[o * inF + i];
  }
  const prm = new Float32Array(3 * op);
  for (let o = 0; o < outF; o++) {
    prm[o] = bias[o];
    [prm[op + o], prm[2 * op + o]] = foldBn(gamma[o], beta[o], runningMean[o], runningVar[o], eps);
  }
  return { wt, prm };
}

/** Record e[n][outF] = BatchNorm1d(W x[n] + b) for n images. */
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
  const out4 = Math.ceil(outF / 4);
  rec.add(
    label,
    rec.gpu.pipeline(LINEAR_BN1D, { WG: LIN_WG }),
    { inF, outF, out4 },
    [x, wt, prm, e],
    [out4, n, 1],
  );
}
