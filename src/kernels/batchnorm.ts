/**
 * Eval-mode BatchNorm kernels: statistics capture, affine apply with fused activation and
 * residual, and the reverse pass with the GraFIQs statistics-loss gradient.
 *
 * @module
 */
import statsCode from "../../shaders/bn_stats.wgsl" with { type: "text" };
import applyCode from "../../shaders/bn_apply.wgsl" with { type: "text" };
import backwardCode from "../../shaders/bn_backward.wgsl" with { type: "text" };
import { foldWorkgroups, type KernelFamily, type KernelSource } from "../gpu/gpu.ts";
import type { Recorder } from "./recorder.ts";

const BN_STATS_PARAMS = [
  ["plane", "u32"], // h * w
  ["planes", "u32"], // n * c
  ["fold", "u32"], // workgroups along x
] as const;

/** Per-(image, channel) mean and biased variance (shaders/bn_stats.wgsl). */
export const BN_STATS: KernelSource<typeof BN_STATS_PARAMS> = {
  name: "bn_stats",
  code: statsCode,
  bindings: ["uniform", "read", "rw"],
  params: BN_STATS_PARAMS,
};

const BN_APPLY_PARAMS = [
  ["total", "u32"], // n * c * h * w
  ["plane", "u32"], // h * w
  ["c", "u32"],
  ["fold", "u32"], // workgroups along x
] as const;

/** y = act(a * scale + shift) + r (shaders/bn_apply.wgsl). */
export const BN_APPLY: KernelSource<typeof BN_APPLY_PARAMS> = {
  name: "bn_apply",
  code: applyCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: BN_APPLY_PARAMS,
};

const BN_BACKWARD_PARAMS = [
  ["total", "u32"], // n * c * h * w
  ["plane", "u32"], // h * w
  ["c", "u32"],
  ["fold", "u32"], // workgroups along x
  ["coef", "f32"], // statistics-loss factor 2 / (K C H W)
] as const;

/** Reverse pass with the statistics-loss term (shaders/bn_backward.wgsl). */
export const BN_BACKWARD: KernelSource<typeof BN_BACKWARD_PARAMS> = {
  name: "bn_backward",
  code: backwardCode,
  bindings: ["uniform", "read", "read", "read", "read", "rw"],
  params: BN_BACKWARD_PARAMS,
};

/** Activation fused after a BatchNorm: codes shared with the WGSL `ACT` override. */
export type Activation = "none" | "prelu" | "relu" | "relu6";
const ACT_CODE: Record<Activation, number> = { none: 0, prelu: 1, relu: 2, relu6: 3 };

/** Shape of a BatchNorm input tensor, NCHW. */
export interface BnShape {
  n: number;
  c: number;
  h: number;
  w: number;
}

/**
 * Lanes per statistics workgroup: one llvmpipe SIMD pass (8 lanes), so the tree reduction's
 * barriers cost nothing there. With 64 lanes the 14x14 and 7x7 planes of iResNet left most
 * lanes idle and paid for barriers: 8 lanes measured 2-8x faster (scratch benchmark, batch 8:
 * 256@14 8.9 -> 1.5 CPU-ms per dispatch, 512@7 16.8 -> 2.2, 64@112 23.0 -> 12.0).
 */
const STATS_WG = 8;
/**
 * Lanes per statistics workgroup in the tiled family (hardware GPUs): 256, so a 112x112 plane
 * is read by 256 neighbouring lanes per step (coalesced) and a 7x7 plane still fills a warp.
 */
const TILED_STATS_WG = 256;
const EW_WG = 256;

/**
 * Eval BatchNorm folded into one multiply-add per channel, rounded as PyTorch's CPU eval
 * BatchNorm precomputes its alpha/beta in float32: invstd = fround(1 / sqrt(fround(rv + eps))),
 * scale = fround(gamma * invstd), shift = fround(beta - fround(rm * scale)). Shared by the
 * BatchNorm2d and BatchNorm1d (head) kernels so both round the same way.
 *
 * @returns [scale, shift] as float32 values (in JS numbers)
 */
export function foldBn(
  gamma: number,
  beta: number,
  runningMean: number,
  runningVar: number,
  eps: number,
): [number, number] {
  const invstd = Math.fround(1 / Math.sqrt(Math.fround(runningVar + eps)));
  const scale = Math.fround(gamma * invstd);
  return [scale, Math.fround(beta - Math.fround(runningMean * scale))];
}

/**
 * Host-side parameter block for one BatchNorm2d: five float32 rows of C values: scale,
 * shift ({@link foldBn}), running_mean, running_var and the PReLU slope (zeros without PReLU).
 */
export function bnParams(
  gamma: Float32Array,
  beta: Float32Array,
  runningMean: Float32Array,
  runningVar: Float32Array,
  eps = 1e-5,
  alpha?: Float32Array,
): Float32Array {
  const c = gamma.length;
  for (
    const [name, v] of [["beta", beta], ["running_mean", runningMean], [
      "running_var",
      runningVar,
    ]] as const
  ) {
    if (v.length !== c) {
      throw new RangeError(`BatchNorm ${name} has ${v.length} values, expected ${c}`);
    }
  }
  if (alpha && alpha.length !== c) {
    throw new RangeError(`PReLU weight has ${alpha.length} values, expected ${c}`);
  }
  const out = new Float32Array(5 * c);
  for (let i = 0; i < c; i++) {
    [out[i], out[c + i]] = foldBn(gamma[i], beta[i], runningMean[i], runningVar[i], eps);
    out[2 * c + i] = runningMean[i];
    out[3 * c + i] = runningVar[i];
    out[4 * c + i] = alpha ? alpha[i] : 0;
  }
  return out;
}

/**
 * Record statistics capture: stats[n][c] = (mean, biased variance) of a over (h, w). The
 * `family` sets the lanes per plane (8 for "register", 256 for "tiled"), hence the fixed
 * summation order of each family.
 */
export function recordBnStats(
  rec: Recorder,
  label: string,
  s: BnShape,
  a: GPUBuffer,
  stats: GPUBuffer,
  family: KernelFamily = "register",
) {
  const planes = s.n * s.c;
  const f = foldWorkgroups(planes);
  const wg = family === "tiled" ? TILED_STATS_WG : STATS_WG;
  const pipe = rec.gpu.pipeline(BN_STATS, { WG: wg }, { VEC4: (s.h * s.w) % 4 === 0 });
  rec.add(label, pipe, { plane: s.h * s.w, planes, fold: f.fold }, [a, stats], [f.x, f.y, 1]);
}

/**
 * Record y = act(a * scale + shift) (+ residual). `params` is a {@link bnParams} buffer;
 * pass `residual` undefined for no add (a placeholder buffer is bound then).
 */
export function recordBnApply(
  rec: Recorder,
  label: string,
  s: BnShape,
  act: Activation,
  a: GPUBuffer,
  params: GPUBuffer,
  residual: GPUBuffer | undefined,
  y: GPUBuffer,
): void {
  const total = s.n * s.c * s.h * s.w;
  const f = foldWorkgroups(Math.ceil(total / (EW_WG * 4)));
  const pipe = rec.gpu.pipeline(BN_APPLY, { WG: EW_WG }, {
    VEC4: (s.h * s.w) % 4 === 0,
    ACT: ACT_CODE[act],
    HAS_RES: residual !== undefined,
  });
  rec.add(
    label,
    pipe,
    { total, plane: s.h * s.w, c: s.c, fold: f.fold },
    [a, params, residual ?? a, y],
    [f.x, f.y, 1],
  );
}

/** Options of {@link recordBnBackward}. */
export interface BnBackwardOptions {
  /** Activation fused in the forward (its derivative is applied to gy). */
  act: Activation;
  /** Gradient at the activation output, or undefined when none reaches this layer. */
  gy: GPUBuffer | undefined;
  /** Per-image statistics from {@link recordBnStats}, or undefined when not in the loss. */
  stats: GPUBuffer | undefined;
  /**
   * 1 / K for K BN2d layers in the loss (`LossTerm.layerWeight` of src/graph/grafiqs.ts); the
   * kernel uses 2 / (K C H W) (docs/ALGORITHM.md, "The loss").
   */
  invLayers: number;
  /** Add to the gradient already in `ga`. */
  accumulate: boolean;
}

/** Record the BN (+ activation) reverse pass with the statistics-loss gradient. */
export function recordBnBackward(
  rec: Recorder,
  label: string,
  s: BnShape,
  a: GPUBuffer,
  params: GPUBuffer,
  ga: GPUBuffer,
  o: BnBackwardOptions,
): void {
  if (!o.gy && !o.stats) throw new RangeError(`${label}: backward with neither gradient nor loss`);
  const total = s.n * s.c * s.h * s.w;
  const f = foldWorkgroups(Math.ceil(total / (EW_WG * 4)));
  const pipe = rec.gpu.pipeline(BN_BACKWARD, { WG: EW_WG }, {
    VEC4: (s.h * s.w) % 4 === 0,
    ACT: ACT_CODE[o.act],
    HAS_G: o.gy !== undefined,
    LOSS: o.stats !== undefined,
    ACC: o.accumulate,
  });
  const coef = (2 * o.invLayers) / (s.c * s.h * s.w);
  rec.add(
    label,
    pipe,
    { total, plane: s.h * s.w, c: s.c, fold: f.fold, coef },
    [a, params, o.stats ?? params, o.gy ?? a, ga],
    [f.x, f.y, 1],
  );
}
