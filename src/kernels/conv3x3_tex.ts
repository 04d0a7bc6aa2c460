/**
 * 3x3 stride-1 padding-1 convolutions with texture-fed weights: the kernels that serve most of
 * an iResNet's arithmetic (every 3x3 stride-1 layer whose width is 7, 14 or a multiple of 28),
 * forward and input gradient.
 *
 * Why they exist (measured on Mesa's llvmpipe, the software adapter; tools/bench_kernels.ts):
 * every storage-buffer load is a per-lane loop with bounds checks, so a written-out kernel's
 * time goes to its loads, not its multiply-adds. Reading the weights from an rgba32float
 * texture (one texel = 4 output channels) instead of a storage buffer, reading each input row
 * as vec2 or vec4 loads, and sizing the pixel block to the row (no idle lanes on 7x7 planes)
 * made these layers 1.4-3.5 times faster than the 3x3 variant of shaders/conv2d.wgsl, with the
 * same summation order, so the results are bit-identical to it.
 *
 * Texture layout: texel (cb * 18 + tap * 2 + half, row) holds the weights of output channels
 * cb * 8 + half * 4 .. + 3 for kernel tap `tap` (ky * 3 + kx) and input channel `row`; the
 * output channels are zero-padded to a multiple of 8. For the input gradient the same layout
 * is built from the backward-data layout (roles swapped: rows are the forward output channels)
 * and the kernel reads the taps flipped.
 *
 * @module
 */
import w7Code from "../../shaders/conv3x3_tex_w7.wgsl" with { type: "text" };
import w14Code from "../../shaders/conv3x3_tex_w14.wgsl" with { type: "text" };
import p14Code from "../../shaders/conv3x3_tex_p14.wgsl" with { type: "text" };
import v4Code from "../../shaders/conv3x3_tex_v4.wgsl" with { type: "text" };
import { foldWorkgroups, type Gpu, type KernelSource } from "../gpu/gpu.ts";
import {
  CHANNEL_BLOCK,
  type ConvGeometry,
  gradientAsForward,
  padChannels,
  zeros,
} from "./conv2d.ts";
import type { Recorder } from "./recorder.ts";

/**
 * One written-out configuration: each invocation computes `R` output rows x `P` pixels x 8
 * output channels, reading input rows as vec`V` loads; `whole` when P is the row width, so
 * the row's neighbours are always the zero padding.
 */
export interface Tex3x3Config {
  /** Stem of the shader file shaders/conv3x3_tex_NAME.wgsl. */
  readonly name: "w7" | "w14" | "p14" | "v4";
  /** Output pixels of a row per invocation. */
  readonly P: number;
  /** Output rows per invocation. */
  readonly R: number;
  /** Output channels per invocation (8 or 16: one or two texture channel blocks). */
  readonly C: 8 | 16;
  /** Floats per input load (the row width must be a multiple of it). */
  readonly V: 1 | 2 | 4;
  /** Whether P equals the row width (no row segments). */
  readonly whole: boolean;
  /**
   * Rows of width 2 mod 4 in planes of a multiple of 4 floats, two output rows per
   * invocation: every input row is read as 4 aligned vec4 loads (V = 4, P = 14).
   */
  readonly pairs?: boolean;
}

/**
 * The configurations, chosen by the plane shape only: width 7 (w7: two rows of 7 per
 * invocation, so the weights serve 14 pixels), width 14 (p14: two rows of 14 read as aligned
 * vec4 loads when the height is even; w14: one row read as vec2 loads otherwise) and multiples
 * of 28 (v4: segments of 28, vec4 loads). Measured on llvmpipe, batch 8, GFLOP per CPU second
 * of this kernel vs the 3x3 variant of conv2d.wgsl (scratch benchmarks, 2026-12-05): 512@7
 * 21.2 vs 5.5, 256@14 22.4 (p14; w14 19.8) vs 12.3, 128@28 17.1 vs 10.6, 64@56 16.1 vs 11.2.
 * Measured and dropped: 16 output channels per invocation (p14: 12.6, the accumulators spill;
 * v4: 8-22 % more GFLOP per CPU second, but its body of 1454 lines instead of 833 made the main
 * command's first run on 8 images 28.7 s -> 60.2 s, the second 13.4 -> 27.1 s and a warm one
 * 9.6 -> 11.5 s), larger blocks (README "How far this adapter can go"), a whole-row variant for
 * width 28 (no faster than v4).
 */
export const TEX3X3_CONFIGS: readonly Tex3x3Config[] = [
  { name: "w7", P: 7, R: 2, C: 8, V: 1, whole: true },
  { name: "w14", P: 14, R: 1, C: 8, V: 2, whole: true },
  { name: "p14", P: 14, R: 2, C: 8, V: 4, whole: true, pairs: true },
  { name: "v4", P: 28, R: 1, C: 8, V: 4, whole: false },
];

const TEX3X3_PARAMS = [
  ["n", "u32"], // images in the batch
  ["cin", "u32"], // input channels (summed over)
  ["hin", "u32"],
  ["win", "u32"],
  ["cout", "u32"], // output channels (produced)
  ["hout", "u32"],
  ["wout", "u32"],
  ["nseg", "u32"], // row segments per row
  ["nrow", "u32"], // groups of R output rows
  ["total", "u32"], // n * nrow * nseg invocations
  ["fold", "u32"], // workgroups along x
  ["flip", "u32"], // 1: taps read flipped (input gradient)
  ["acc", "u32"], // 1: add to what y holds
] as const;

/** A texture 3x3 kernel: weights as a texture at binding 2, the Params above. */
function texKernel(name: string, code: string): KernelSource<typeof TEX3X3_PARAMS> {
  return {
    name,
    code,
    bindings: ["uniform", "read", "texture", "read", "rw"],
    params: TEX3X3_PARAMS,
  };
}

/** Two output rows of 7 pixels per invocation (shaders/conv3x3_tex_w7.wgsl). */
export const CONV3X3_TEX_W7: KernelSource<typeof TEX3X3_PARAMS> = texKernel(
  "conv3x3_tex_w7",
  w7Code,
);

/** One output row of 14 pixels per invocation, vec2 loads (shaders/conv3x3_tex_w14.wgsl). */
export const CONV3X3_TEX_W14: KernelSource<typeof TEX3X3_PARAMS> = texKernel(
  "conv3x3_tex_w14",
  w14Code,
);

/** Two 14-pixel rows per invocation, aligned vec4 loads (shaders/conv3x3_tex_p14.wgsl). */
export const CONV3X3_TEX_P14: KernelSource<typeof TEX3X3_PARAMS> = texKernel(
  "conv3x3_tex_p14",
  p14Code,
);

/** Row segments of 28 pixels per invocation, vec4 loads (shaders/conv3x3_tex_v4.wgsl). */
export const CONV3X3_TEX_V4: KernelSource<typeof TEX3X3_PARAMS> = texKernel(
  "conv3x3_tex_v4",
  v4Code,
);

const SOURCES: Record<Tex3x3Config["name"], KernelSource<typeof TEX3X3_PARAMS>> = {
  w7: CONV3X3_TEX_W7,
  w14: CONV3X3_TEX_W14,
  p14: CONV3X3_TEX_P14,
  v4: CONV3X3_TEX_V4,
};

/** The committed WGSL text of a configuration (tools/gen_conv3x3_tex.ts writes it). */
export function tex3x3ShaderText(c: Tex3x3Config): string {
  return SOURCES[c.name].code;
}

/**
 * The configuration serving a layer, or undefined when none does: kernel 3, stride 1,
 * padding 1, and an input width of 7, 14 or a multiple of 28 (p14 for 14-wide planes of even
 * height, w14 for odd ones). Depends on the layer shape only,
 * never on the batch, so every image gets the same arithmetic whatever its batch.
 */
export function tex3x3ConfigFor(
  g: Pick<ConvGeometry, "k" | "stride" | "pad" | "hin" | "win">,
): Tex3x3Config | undefined {
  if (g.k !== 3 || g.stride !== 1 || g.pad !== 1) return undefined;
  let name: Tex3x3Config["name"] | undefined;
  if (g.win === 7) name = "w7";
  else if (g.win === 14) name = g.hin % 2 === 0 ? "p14" : "w14";
  else if (g.win % 28 === 0) name = "v4";
  return TEX3X3_CONFIGS.find((c) => c.name === name);
}

/** Whether configuration `c` can serve layer `g` (kernel 3, stride 1, padding 1 assumed). */
function serves(c: Tex3x3Config, g: Pick<ConvGeometry, "hin" | "win">): boolean {
  if (c.pairs) return g.win === c.P && g.hin % 2 === 0;
  return c.whole ? g.win === c.P : g.win % c.P === 0;
}

/**
 * Upload the weights of a 3x3 layer (PyTorch [Cout][Cin][3][3]) as the texture of one
 * direction: "forward" for {@link recordConv3x3Tex}, "input-gradient" for
 * {@link recordConv3x3TexGradient}.
 *
 * @param scratch optional host memory for the texels (see {@link tex3x3Direct}): a network's
 *   upload passes one array to all its layers, which saves first-touching a new array per
 *   layer and direction (2 x 160 MB for an iresnet50; page faults are costly on the virtual
 *   machines software adapters often run on)
 * @throws {RangeError} when `w` does not hold cout x cin x 9 values.
 * @throws {GpuError} when the texture exceeds the device's 2-D texture limit.
 */
export function tex3x3Weights(
  gpu: Gpu,
  label: string,
  w: Float32Array,
  cout: number,
  cin: number,
  direction: "forward" | "input-gradient",
  scratch?: Float32Array,
): GPUTexture {
  const t = tex3x3Direct(w, cout, cin, direction, scratch);
  return gpu.texture(label, t.data, t.width, t.height);
}

/**
 * Size of the texture of {@link tex3x3Weights}: `width` texels (18 per block of 8 columns)
 * by `height` rows; `floats` = width x height x 4.
 */
export function tex3x3Size(
  cout: number,
  cin: number,
  direction: "forward" | "input-gradient",
): { width: number; height: number; floats: number } {
  const fwd = direction === "forward";
  const rows = fwd ? cin : cout, cols = fwd ? cout : cin;
  const width = 18 * (padChannels(cols) / CHANNEL_BLOCK);
  return { width, height: rows, floats: width * rows * 4 };
}

/**
 * The texels of {@link tex3x3Weights} built in one pass from PyTorch's [Cout][Cin][3][3]
 * (equal to re-tiling conv2d.ts's forward or backward-data layout; tested). One pass
 * instead of two matters at start-up: an iresnet50 uploads 2 x 40 M such values.
 *
 * @param out optional array to build them in (its first {@link tex3x3Size} `floats` values are
 *   overwritten, padding included; `data` is then a view of it); a new array when absent or
 *   too short
 * @throws {RangeError} when `w` does not hold cout x cin x 9 values.
 */
export function tex3x3Direct(
  w: Float32Array,
  cout: number,
  cin: number,
  direction: "forward" | "input-gradient",
  out?: Float32Array,
): { data: Float32Array; width: number; height: number } {
  if (w.length !== cout * cin * 9) {
    throw new RangeError(`Weight has ${w.length} values, expected ${cout}x${cin}x3x3`);
  }
  const fwd = direction === "forward";
  const { width, height: rows, floats } = tex3x3Size(cout, cin, direction);
  let data: Float32Array;
  if (out && out.length >= floats) {
    data = out.subarray(0, floats);
    data.fill(0); // the zero padding of the channel blocks
  } else data = new Float32Array(floats);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const [r, c] = fwd ? [ci, co] : [co, ci];
      const base = (r * width + (c >> 3) * 18) * 4 + (c & 7);
      const src = (co * cin + ci) * 9;
      for (let t = 0; t < 9; t++) data[base + t * 8] = w[src + t];
    }
  }
  return { data, width, height: rows };
}

function record(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUTexture,
  bias: GPUBuffer,
  y: GPUBuffer,
  flip: boolean,
  accumulate: boolean,
  force: Tex3x3Config["name"] | undefined,
): void {
  const forced = TEX3X3_CONFIGS.find((c) => c.name === force);
  if (forced && !(g.k === 3 && g.stride === 1 && g.pad === 1 && serves(forced, g))) {
    throw new RangeError(
      `Convolution ${label}: the texture 3x3 configuration ${force} cannot serve a ` +
        `${g.hin}x${g.win} input with kernel ${g.k}, stride ${g.stride}, padding ${g.pad}`,
    );
  }
  const c = forced ?? tex3x3ConfigFor(g);
  if (!c) {
    throw new RangeError(
      `Convolution ${label}: the texture 3x3 kernels need kernel 3, stride 1, padding 1 and ` +
        `a width of 7, 14 or a multiple of 28; got kernel ${g.k}, stride ${g.stride}, ` +
        `padding ${g.pad}, width ${g.win}`,
    );
  }
  const nseg = Math.ceil(g.win / c.P);
  const nrow = Math.ceil(g.hin / c.R);
  const total = g.n * nrow * nseg;
  const f = foldWorkgroups(Math.ceil(total / 8));
  const pipe = rec.gpu.pipeline(SOURCES[c.name]);
  rec.add(
    label,
    pipe,
    {
      n: g.n,
      cin: g.cin,
      hin: g.hin,
      win: g.win,
      cout: g.cout,
      hout: g.hin,
      wout: g.win,
      nseg,
      nrow,
      total,
      fold: f.fold,
      flip: flip ? 1 : 0,
      acc: accumulate ? 1 : 0,
    },
    [x, weights, bias, y],
    [f.x, f.y, Math.ceil(g.cout / c.C)],
  );
}

/**
 * Record y = conv3x3(x) + bias for a layer {@link tex3x3ConfigFor} serves (NCHW float32).
 *
 * @param g layer geometry (kernel 3, stride 1, padding 1)
 * @param weights texture from {@link tex3x3Weights} with direction "forward"
 * @param bias buffer from paddedBias (conv2d.ts)
 * @param config force a configuration (tests); default: {@link tex3x3ConfigFor}'s choice
 * @throws {RangeError} when no configuration serves the layer, or the forced one cannot
 */
export function recordConv3x3Tex(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUTexture,
  bias: GPUBuffer,
  y: GPUBuffer,
  config?: Tex3x3Config["name"],
): void {
  record(rec, label, g, x, weights, bias, y, false, false, config);
}

/**
 * Record the input gradient gx = conv_transpose(gy) of a layer {@link tex3x3ConfigFor}
 * serves: the same convolution of gy with the kernel flipped and the channel roles swapped.
 * With `accumulate`, the result is added to what gx holds.
 *
 * @param g geometry of the forward layer
 * @param weights texture from {@link tex3x3Weights} with direction "input-gradient"
 * @param config force a configuration (tests); default: {@link tex3x3ConfigFor}'s choice
 * @throws {RangeError} when no configuration serves the layer, or the forced one cannot
 */
export function recordConv3x3TexGradient(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  weights: GPUTexture,
  gx: GPUBuffer,
  accumulate: boolean,
  config?: Tex3x3Config["name"],
): void {
  const swapped = gradientAsForward(g);
  const zeroBias = zeros(rec.gpu, padChannels(g.cin));
  record(rec, label, swapped, gy, weights, zeroBias, gx, true, accumulate, config);
}
