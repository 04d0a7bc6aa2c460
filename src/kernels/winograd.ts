/**
 * 3x3 stride-1 padding-1 convolutions by Winograd's minimal filtering, F(m x m, 3 x 3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016): on the
 * register family (software adapters) they compute the input gradients of every 3x3 stride-1
 * layer the texture kernels serve forward, and on the winograd family the forward pass too
 * (executor.ts; {@link winogradTileFor} says why the default forward pass stays direct). The
 * kernels compute either direction; the tests run both.
 *
 * Why (measured on Mesa's llvmpipe, tools/bench_kernels.ts, batch 8): the direct 3x3 kernels
 * (conv3x3_tex.ts) are bound by llvmpipe's loads, not by their multiply-adds. F(m x m, 3 x 3)
 * turns a layer into (m + 2)^2 independent matrix products over the input channels, of
 * (m + 2)^2 / m^2 instead of 9 multiply-adds per output (F(4x4): 2.25, F(2x2): 4), in a
 * block of 16 output channels x 16 tiles per invocation that reuses every vec4 it loads 16
 * times. A layer is four dispatches:
 *
 * 1. input transform: V[xi][c][t] = (B^T d B)[xi] for each (m+2)x(m+2) input patch d of tile t
 *    (tiles of m x m outputs; the plane is zero-padded, partial tiles at the right and bottom);
 * 2. product: M[xi][k][t] = Σ_c U[xi][c][k] V[xi][c][t], c in order;
 * 3. output transform: y = A^T M A + bias, with ACC (adds to y) for input gradients;
 * 4. (once, at upload) weight transform: U[xi][c][k] = (G g G^T)[xi].
 *
 * The input gradient is the same convolution of gy with every kernel rotated by 180 degrees
 * and the channel roles swapped; its U is built by the same weight kernel (`flip`).
 *
 * Numerics: exact arithmetic gives the convolution exactly; in float32 the transforms add
 * rounding. Measured on random layers (256 channels, 14 x 14, against float64): normwise
 * relative error 2.9e-7 for the direct sum, 5.0e-7 for F(2x2), 3.1e-6 for F(4x4). Every
 * output's arithmetic depends on the layer shape only, so results are bit-identical whatever
 * the batch size or the neighbours.
 *
 * Memory: U is (m+2)^2 / 9 times the weights per direction (F(4x4): 4x, F(2x2): 1.8x);
 * V and M, (m+2)^2 / m^2 times an activation, are scratch of the plan's pool.
 *
 * @module
 */
import gemmCode from "../../shaders/winograd_gemm.wgsl" with { type: "text" };
import f2InputCode from "../../shaders/winograd_f2_input.wgsl" with { type: "text" };
import f2OutputCode from "../../shaders/winograd_f2_output.wgsl" with { type: "text" };
import f2WeightsCode from "../../shaders/winograd_f2_weights.wgsl" with { type: "text" };
import f4InputCode from "../../shaders/winograd_f4_input.wgsl" with { type: "text" };
import f4OutputCode from "../../shaders/winograd_f4_output.wgsl" with { type: "text" };
import f4WeightsCode from "../../shaders/winograd_f4_weights.wgsl" with { type: "text" };
import { foldWorkgroups, type KernelSource } from "../gpu/gpu.ts";
import type { ConvGeometry } from "./conv2d.ts";
import type { Recorder } from "./recorder.ts";

/** Output channels per invocation of the product kernel (the padding of U's columns). */
export const WINOGRAD_GEMM_K = 16;
/** Tiles per invocation of the product kernel (the padding of the tile count). */
export const WINOGRAD_GEMM_T = 16;

/**
 * One F(m x m, 3 x 3) algorithm: B^T ((m+2) x (m+2)), G ((m+2) x 3) and A^T (m x (m+2)),
 * in Lavin & Gray's form (interpolation points 0, ±1 for m = 2; 0, ±1, ±2 for m = 4; and ∞).
 */
export interface WinogradTile {
  /** Output tile side. */
  readonly m: 2 | 4;
  /** Input transform B^T. */
  readonly BT: readonly (readonly number[])[];
  /** Weight transform G. */
  readonly G: readonly (readonly number[])[];
  /** Output transform A^T. */
  readonly AT: readonly (readonly number[])[];
}

/** F(2x2,3x3) and F(4x4,3x3). */
export const WINOGRAD_TILES: readonly WinogradTile[] = [
  {
    m: 2,
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    G: [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  {
    m: 4,
    BT: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    G: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
];

/** One generated shader: a stage of F(m x m) (m = 0 for the product, shared by both). */
export interface WinogradShader {
  readonly stage: "input" | "output" | "weights" | "gemm";
  readonly m: 0 | 2 | 4;
}

const INPUT_PARAMS = [
  ["c", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["th", "u32"],
  ["tw", "u32"],
  ["tiles", "u32"],
  ["img0", "u32"],
  ["tp", "u32"],
  ["fold", "u32"],
] as const;
const OUTPUT_PARAMS = [
  ["k", "u32"],
  ["kp", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["th", "u32"],
  ["tw", "u32"],
  ["tiles", "u32"],
  ["img0", "u32"],
  ["tp", "u32"],
  ["fold", "u32"],
  ["acc", "u32"],
] as const;
const WEIGHT_PARAMS = [
  ["kreal", "u32"],
  ["kp", "u32"],
  ["rows", "u32"],
  ["cin", "u32"],
  ["flip", "u32"],
  ["total", "u32"],
  ["fold", "u32"],
] as const;
const GEMM_PARAMS = [
  ["rows", "u32"],
  ["kp4", "u32"],
  ["t4", "u32"],
  ["ntb", "u32"],
  ["blocks", "u32"],
  ["fold", "u32"],
] as const;

/** The product kernel (shaders/winograd_gemm.wgsl), shared by F(2x2) and F(4x4). */
export const WINOGRAD_GEMM: KernelSource<typeof GEMM_PARAMS> = {
  name: "winograd_gemm",
  code: gemmCode,
  bindings: ["uniform", "read", "read", "rw"],
  params: GEMM_PARAMS,
};

/** The three transform kernels of one tile size. */
export interface WinogradStages {
  /** V = B^T d B (shaders/winograd_fM_input.wgsl). */
  readonly input: KernelSource<typeof INPUT_PARAMS>;
  /** y = A^T M A + bias (shaders/winograd_fM_output.wgsl). */
  readonly output: KernelSource<typeof OUTPUT_PARAMS>;
  /** U = G g G^T (shaders/winograd_fM_weights.wgsl). */
  readonly weights: KernelSource<typeof WEIGHT_PARAMS>;
}

const inputKernel = (m: 2 | 4, code: string): KernelSource<typeof INPUT_PARAMS> => ({
  name: `winograd_f${m}_input`,
  code,
  bindings: ["uniform", "read", "rw"],
  params: INPUT_PARAMS,
});
const outputKernel = (m: 2 | 4, code: string): KernelSource<typeof OUTPUT_PARAMS> => ({
  name: `winograd_f${m}_output`,
  code,
  bindings: ["uniform", "read", "read", "rw"],
  params: OUTPUT_PARAMS,
});
const weightKernel = (m: 2 | 4, code: string): KernelSource<typeof WEIGHT_PARAMS> => ({
  name: `winograd_f${m}_weights`,
  code,
  bindings: ["uniform", "read", "rw"],
  params: WEIGHT_PARAMS,
});

/** F(2x2) input transform (shaders/winograd_f2_input.wgsl). */
export const WINOGRAD_F2_INPUT: KernelSource<typeof INPUT_PARAMS> = inputKernel(2, f2InputCode);
/** F(2x2) output transform (shaders/winograd_f2_output.wgsl). */
export const WINOGRAD_F2_OUTPUT: KernelSource<typeof OUTPUT_PARAMS> = outputKernel(
  2,
  f2OutputCode,
);
/** F(2x2) weight transform (shaders/winograd_f2_weights.wgsl). */
export const WINOGRAD_F2_WEIGHTS: KernelSource<typeof WEIGHT_PARAMS> = weightKernel(
  2,
  f2WeightsCode,
);
/** F(4x4) input transform (shaders/winograd_f4_input.wgsl). */
export const WINOGRAD_F4_INPUT: KernelSource<typeof INPUT_PARAMS> = inputKernel(4, f4InputCode);
/** F(4x4) output transform (shaders/winograd_f4_output.wgsl). */
export const WINOGRAD_F4_OUTPUT: KernelSource<typeof OUTPUT_PARAMS> = outputKernel(
  4,
  f4OutputCode,
);
/** F(4x4) weight transform (shaders/winograd_f4_weights.wgsl). */
export const WINOGRAD_F4_WEIGHTS: KernelSource<typeof WEIGHT_PARAMS> = weightKernel(
  4,
  f4WeightsCode,
);

/** The transform kernels of each tile size. */
export const WINOGRAD_STAGES: Readonly<Record<2 | 4, WinogradStages>> = {
  2: { input: WINOGRAD_F2_INPUT, output: WINOGRAD_F2_OUTPUT, weights: WINOGRAD_F2_WEIGHTS },
  4: { input: WINOGRAD_F4_INPUT, output: WINOGRAD_F4_OUTPUT, weights: WINOGRAD_F4_WEIGHTS },
};

/** The committed WGSL text of one shader (tools/gen_winograd.ts writes it). */
export function winogradShaderText(s: WinogradShader): string {
  if (s.stage === "gemm") return WINOGRAD_GEMM.code;
  return WINOGRAD_STAGES[s.m as 2 | 4][s.stage].code;
}

/**
 * The tile size serving a layer's input gradient, or undefined when Winograd does not serve it:
 * a layer that is not a 3x3 stride-1 padding-1 convolution, or one with fewer input channels
 * (the gradient's outputs) than the product kernel's block of {@link WINOGRAD_GEMM_K}, which
 * would waste most of its work (the iResNet stem's 3: 86 ms against 35 ms on the texture
 * kernel, llvmpipe, batch 8). Otherwise F(4x4) (2.25 multiply-adds per output instead of 9; on
 * 7- and 14-wide planes its partial tiles make that 2.9). Depends on the layer shape only,
 * never on the batch.
 *
 * The register family uses it for the input gradient only, the winograd family (executor.ts)
 * for the forward pass too. Why the default keeps the forward pass direct (measured on the
 * reference iresnet50, all reference faces in both orders): the scores are sensitive to the
 * forward pass's rounding, and the official float32 scores are themselves up to 1.6e-4 from a
 * float64 evaluation of the same algorithm (tools/make_float64_fixture.py; the raw face
 * Charles_Kartman_0002, RGB). Direct float32 convolutions round much like the official ones: the
 * register family stays within 5.6e-5 of them (1.3e-4 from float64 at most). F(4x4) in the
 * forward pass rounds differently, no worse (1.1e-4 from float64 at most; 1.6e-5 on that face),
 * but up to 1.8e-4 from the official scores, outside the 1e-4 parity bound. With Winograd in the
 * input gradients only, every score stays within 5.6e-5 of the official ones.
 */
export function winogradTileFor(
  g: Pick<ConvGeometry, "k" | "stride" | "pad" | "hin" | "win" | "cin">,
): 2 | 4 | undefined {
  if (g.k !== 3 || g.stride !== 1 || g.pad !== 1) return undefined;
  if (g.cin < WINOGRAD_GEMM_K) return undefined;
  return 4;
}

/** Channels padded to the product kernel's block. */
export function winogradPad(c: number): number {
  return Math.ceil(c / WINOGRAD_GEMM_K) * WINOGRAD_GEMM_K;
}

/**
 * Transformed weights of one layer and direction: U as [(m+2)^2][rows][kp] float32 (rows =
 * the direction's input channels, kp = its output channels padded to 16, zeros there).
 */
export interface WinogradWeights {
  /** Tile size. */
  readonly m: 2 | 4;
  /** The buffer holding U. */
  readonly u: GPUBuffer;
  /** The direction's output channels (cout forward, cin for the input gradient). */
  readonly k: number;
  /** Its input channels (summed over). */
  readonly rows: number;
}

/**
 * Record the weight transform of a 3x3 layer for one direction: U = G g G^T into a new buffer
 * (the caller keeps `w`, a [cout][cin][3][3] float32 buffer, alive until the recorded
 * dispatch has run, and owns the returned buffer).
 *
 * @param direction "forward" (g = w[k][c]) or "input-gradient" (g = w[c][k] rotated by 180
 *   degrees: the transposed convolution as a convolution)
 * @throws {GpuError} when U exceeds the device's storage binding limit.
 */
export function recordWinogradWeights(
  rec: Recorder,
  label: string,
  m: 2 | 4,
  w: GPUBuffer,
  cout: number,
  cin: number,
  direction: "forward" | "input-gradient",
): WinogradWeights {
  const fwd = direction === "forward";
  const k = fwd ? cout : cin, rows = fwd ? cin : cout;
  const kp = winogradPad(k);
  const u = rec.gpu.storage(`${label}:winograd-f${m}`, (m + 2) ** 2 * rows * kp * 4);
  const total = kp * rows;
  const f = foldWorkgroups(Math.ceil(total / 8));
  rec.add(
    `${label}:winograd-weights`,
    rec.gpu.pipeline(WINOGRAD_STAGES[m].weights),
    { kreal: k, kp, rows, cin, flip: fwd ? 0 : 1, total, fold: f.fold },
    [w, u],
    [f.x, f.y, 1],
  );
  return { m, u, k, rows };
}

/** Tiles of a plane and the sizes of V and M for a batch (bytes). */
export function winogradScratch(
  m: 2 | 4,
  n: number,
  h: number,
  w: number,
  rows: number,
  k: number,
): { th: number; tw: number; tiles: number; tp: number; vBytes: number; mBytes: number } {
  const th = Math.ceil(h / m), tw = Math.ceil(w / m);
  const tiles = n * th * tw;
  const tp = Math.ceil(tiles / WINOGRAD_GEMM_T) * WINOGRAD_GEMM_T;
  const nx = (m + 2) ** 2;
  return { th, tw, tiles, tp, vBytes: nx * rows * tp * 4, mBytes: nx * winogradPad(k) * tp * 4 };
}

/**
 * Record y = conv3x3(x) (+ bias; with `accumulate`, added to what y holds) for a batch of n
 * planes of h x w, through U of {@link recordWinogradWeights}: x is [n][rows][h][w], y is
 * [n][k][h][w] (NCHW float32). `scratch` gives two buffers of at least the requested bytes
 * for V and M (both live during the three dispatches). When V or M of the whole batch would
 * exceed `maxScratchBytes` (default: the device's storage binding limit), the images go through
 * in chunks that fit, with the same results.
 *
 * @throws {RangeError} for an empty batch or plane.
 */
export function recordWinogradConv(
  rec: Recorder,
  label: string,
  n: number,
  h: number,
  w: number,
  x: GPUBuffer,
  weights: WinogradWeights,
  bias: GPUBuffer,
  y: GPUBuffer,
  accumulate: boolean,
  scratch: (bytes: number) => GPUBuffer,
  maxScratchBytes?: number,
): void {
  if (!(n >= 1 && h >= 1 && w >= 1)) {
    throw new RangeError(`Convolution ${label}: empty batch or plane (${n} x ${h} x ${w})`);
  }
  const { m, rows, k } = weights;
  // V and M of a whole batch can exceed one storage binding (llvmpipe allows 128 MiB): the
  // images are then taken in chunks, each through the three dispatches. Every tile's arithmetic
  // is the same either way, so the results do not depend on the chunking.
  const limit = maxScratchBytes ?? rec.gpu.maxBinding;
  const fits = (c: number) => {
    const z = winogradScratch(m, c, h, w, rows, k);
    return Math.max(z.vBytes, z.mBytes) <= limit;
  };
  let chunk = n;
  while (chunk > 1 && !fits(chunk)) chunk = Math.ceil(chunk / 2);
  const s = winogradScratch(m, chunk, h, w, rows, k);
  const kp = winogradPad(k);
  const v = scratch(s.vBytes), mm = scratch(s.mBytes);
  const st = WINOGRAD_STAGES[m];
  const nx = (m + 2) ** 2;
  for (let img0 = 0; img0 < n; img0 += chunk) {
    const c = Math.min(chunk, n - img0);
    const z = winogradScratch(m, c, h, w, rows, k);
    const tiles = z.tiles, tp = z.tp;
    // The transforms take 4 consecutive tiles per invocation (tools/gen_winograd.ts).
    const fIn = foldWorkgroups(Math.ceil(tp / 32));
    rec.add(
      `${label}:winograd-input`,
      rec.gpu.pipeline(st.input),
      { c: rows, h, w, th: s.th, tw: s.tw, tiles, img0, tp, fold: fIn.fold },
      [x, v],
      [fIn.x, fIn.y, rows],
    );
    const ntb = tp / WINOGRAD_GEMM_T;
    const blocks = ntb * (kp / WINOGRAD_GEMM_K);
    const fG = foldWorkgroups(Math.ceil(blocks / 8));
    rec.add(
      `${label}:winograd-gemm`,
      rec.gpu.pipeline(WINOGRAD_GEMM),
      { rows, kp4: kp / 4, t4: tp / 4, ntb, blocks, fold: fG.fold },
      [v, weights.u, mm],
      [fG.x, fG.y, nx],
    );
    const fOut = foldWorkgroups(Math.ceil(tiles / 32));
    rec.add(
      `${label}:winograd-output`,
      rec.gpu.pipeline(st.output),
      {
        k,
        kp,
        h,
        w,
        th: s.th,
        tw: s.tw,
        tiles,
        img0,
        tp,
        fold: fOut.fold,
        acc: accumulate ? 1 : 0,
      },
      [mm, bias, y],
      [fOut.x, fOut.y, k],
    );
  }
}
