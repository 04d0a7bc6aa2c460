/**
 * Dense 2-D convolution kernels (forward and backward-data) and their weight layouts.
 *
 * @module
 */
import conv2dCode from "../../shaders/conv2d.wgsl" with { type: "text" };
import conv2dBwdCode from "../../shaders/conv2d_backward_data.wgsl" with { type: "text" };
import dilateCode from "../../shaders/dilate2d.wgsl" with { type: "text" };
import conv1x1Code from "../../shaders/conv1x1.wgsl" with { type: "text" };
import convS2Code from "../../shaders/conv_s2.wgsl" with { type: "text" };
import conv3x3s2BwdCode from "../../shaders/conv3x3s2_backward_data.wgsl" with { type: "text" };
import conv1x1s2BwdCode from "../../shaders/conv1x1s2_backward_data.wgsl" with { type: "text" };
import { foldWorkgroups, type Gpu, type KernelSource } from "../gpu/gpu.ts";
import type { Recorder } from "./recorder.ts";

const CONV2D_PARAMS = [
  ["n", "u32"], // images in the batch
  ["cin", "u32"], // input channels (summed over)
  ["hin", "u32"],
  ["win", "u32"],
  ["cout", "u32"], // output channels
  ["hout", "u32"],
  ["wout", "u32"],
  ["nseg", "u32"], // ceil(wout / pixels per invocation)
  ["co4", "u32"], // padded output channels / 4
  ["total", "u32"], // n * hout * nseg invocations
  ["fold", "u32"], // workgroups along x
  ["c0", "u32"], // generic variant: first input channel summed by this dispatch
  ["c1", "u32"], // generic variant: end of that channel range
] as const;

/**
 * Forward convolution shader (see shaders/conv2d.wgsl): the generic variant and the written-out
 * 3x3 stride-1 padding-1 variant, which also serves that shape's input gradient.
 */
export const CONV2D: KernelSource<typeof CONV2D_PARAMS> = {
  name: "conv2d",
  code: conv2dCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: CONV2D_PARAMS,
};

const CONV_S2_PARAMS = [
  ["n", "u32"], // images in the batch
  ["cin", "u32"], // input channels (summed over)
  ["hin", "u32"],
  ["win", "u32"],
  ["cout", "u32"], // output channels
  ["hout", "u32"],
  ["wout", "u32"],
  ["nseg", "u32"], // ceil(wout / pixels per invocation)
  ["co4", "u32"], // padded output channels / 4
  ["total", "u32"], // n * hout * nseg invocations
  ["fold", "u32"], // workgroups along x
] as const;

/**
 * Written-out stride-2 forward convolutions (see shaders/conv_s2.wgsl): 3x3 padding 1 (14 px
 * x 16 channels, or 7 px x 16 channels for rows of at most 7 outputs) and 1x1 without padding
 * (14 px x 16 channels), reading the input as vec4 and the weights from a texture
 * ({@link forwardWeightsFor}).
 */
export const CONV_S2: KernelSource<typeof CONV_S2_PARAMS> = {
  name: "conv_s2",
  code: convS2Code,
  bindings: ["uniform", "read", "texture", "read", "rw"],
  params: CONV_S2_PARAMS,
};

/** One body of shaders/conv_s2.wgsl: its VARIANT, output pixels and channels per invocation. */
interface Stride2Body {
  variant: 0 | 1 | 2;
  px: number;
  channels: number;
}

/** The bodies of shaders/conv_s2.wgsl by {@link ConvVariant} name. */
const STRIDE2_BODIES: Record<"3x3s2" | "3x3s2n" | "1x1s2", Stride2Body> = {
  "3x3s2": { variant: 0, px: 14, channels: 16 },
  "3x3s2n": { variant: 1, px: 7, channels: 16 },
  "1x1s2": { variant: 2, px: 14, channels: 16 },
};

/** Invocations per workgroup of the stride-2 kernels, both directions (one llvmpipe SIMD pass). */
export const WG_S2 = 8;

/**
 * The stride-2 body for a forward layer: forced by `v`, or, for "auto", 3x3 stride-2
 * padding-1 layers get "3x3s2" ("3x3s2n" when output rows are at most 7 wide, where 14-pixel
 * blocks would leave half their lanes idle) and 1x1 stride-2 unpadded layers "1x1s2" (a choice
 * made from the layer shape only). Undefined when no stride-2 body serves the layer.
 *
 * @throws {RangeError} when a stride-2 variant is forced on a shape it cannot serve
 */
function pickStride2(g: ConvGeometry, v: ConvVariant, what: string): Stride2Body | undefined {
  const { wout } = convOutSize(g);
  // Loop iterations per invocation: 3 kernel rows + 1 per input channel (3x3), plus the stores;
  // and the weight texture's cin K K rows within WebGPU's guaranteed 2-D texture size.
  const maxCin = Math.min((LOOP_BUDGET - 256) / 4, Math.floor(S2_TEXTURE_ROWS / (g.k * g.k)));
  const short = g.cin <= maxCin;
  const is3x3 = g.k === 3 && g.stride === 2 && g.pad === 1 && short;
  const is1x1 = g.k === 1 && g.stride === 2 && g.pad === 0 && short;
  if (v === "3x3s2" || v === "3x3s2n" || v === "1x1s2") {
    if (v === "1x1s2" ? !is1x1 : !is3x3) {
      const shape = v === "1x1s2" ? "1, stride 2, no padding" : "3, stride 2, padding 1";
      throw new RangeError(
        `${what}: the ${v} variant needs kernel ${shape} and at most ` +
          `${maxCin} input channels; got kernel ${g.k}, stride ${g.stride}, ` +
          `padding ${g.pad}, ${g.cin} input channels`,
      );
    }
    return STRIDE2_BODIES[v];
  }
  if (v !== "auto") return undefined;
  if (is3x3) return STRIDE2_BODIES[wout <= 7 ? "3x3s2n" : "3x3s2"];
  return is1x1 ? STRIDE2_BODIES["1x1s2"] : undefined;
}

/**
 * Rows of a stride-2 body's weight texture at most: WebGPU's guaranteed maxTextureDimension2D
 * (every adapter offers at least this), so the choice of kernel never depends on the adapter.
 */
const S2_TEXTURE_ROWS = 8192;

/**
 * A dense convolution's forward weights in the form its forward kernel reads (register family,
 * {@link recordConv2d}): for a layer a stride-2 body of shaders/conv_s2.wgsl serves (chosen by
 * `variant` and the layer shape only, as recordConv2d chooses), an rgba32float texture of
 * CoutPad / 4 texels by cin x K x K rows (the {@link forwardWeights} layout, one row per input
 * channel and tap); for every other layer a storage buffer of that layout.
 *
 * @param gpu the device
 * @param label the buffer's or texture's label
 * @param w PyTorch's [Cout][Cin][K][K] weights
 * @param g the layer (its batch size does not matter)
 * @param variant the variant recordConv2d will be given (default "auto")
 * @throws {RangeError} when `w` does not hold cout x cin x k x k values, or a forced stride-2
 *   variant cannot serve the layer
 * @example
 * ```ts ignore
 * const w = forwardWeightsFor(gpu, "layer2.0.conv2", weights, geometry);
 * recordConv2d(rec, "layer2.0.conv2", geometry, x, w, bias, y);
 * ```
 */
export function forwardWeightsFor(
  gpu: Gpu,
  label: string,
  w: Float32Array,
  g: ConvGeometry,
  variant: ConvVariant = "auto",
): GPUBuffer | GPUTexture {
  const texture = pickStride2(g, variant, `Convolution ${label}`) !== undefined;
  return uploadWeights(gpu, label, forwardWeights(w, g.cout, g.cin, g.k), texture, g.cout);
}

/**
 * A dense convolution's input-gradient weights in the form its input-gradient kernel reads
 * (register family, {@link recordConv2dBackwardData}): for a layer a written-out stride-2
 * input-gradient kernel serves (chosen by `variant` and the layer shape only, as
 * recordConv2dBackwardData chooses), an rgba32float texture of CinPad / 4 texels by
 * cout x K x K rows (the {@link backwardWeights} layout, one row per output channel and tap); for
 * every other layer a storage buffer of that layout.
 *
 * @param gpu the device
 * @param label the buffer's or texture's label
 * @param w PyTorch's [Cout][Cin][K][K] weights
 * @param g the layer (its batch size does not matter)
 * @param variant the variant recordConv2dBackwardData will be given (default "auto")
 * @throws {RangeError} when `w` does not hold cout x cin x k x k values, or a forced stride-2
 *   variant cannot serve the layer
 */
export function backwardWeightsFor(
  gpu: Gpu,
  label: string,
  w: Float32Array,
  g: ConvGeometry,
  variant: ConvVariant = "auto",
): GPUBuffer | GPUTexture {
  const texture = stride2Variant(g, variant, `Convolution input gradient ${label}`) !== undefined;
  return uploadWeights(gpu, label, backwardWeights(w, g.cout, g.cin, g.k), texture, g.cin);
}

/**
 * Weights in a channels-last layout (rows of `channels` values padded to the channel block) as
 * a texture of one row per layout row when `texture`, else as a storage buffer.
 */
function uploadWeights(
  gpu: Gpu,
  label: string,
  data: Float32Array,
  texture: boolean,
  channels: number,
): GPUBuffer | GPUTexture {
  if (!texture) return gpu.storageFrom(label, data);
  const width = padChannels(channels) / 4;
  return gpu.texture(label, data, width, data.length / (4 * width));
}

/**
 * Throw unless `weights` is in the form the chosen kernel reads: a texture when `texture`
 * (the stride-2 kernels), else a buffer; `maker` names the function that makes the right one.
 */
function checkWeightsForm(
  what: string,
  weights: GPUBuffer | GPUTexture,
  texture: boolean,
  maker: string,
): void {
  if (texture === weights instanceof GPUTexture) return;
  throw new RangeError(
    `${what}: its kernel reads the weights from a ${texture ? "texture" : "buffer"}; ` +
      `make them with ${maker} for the same layer and variant`,
  );
}

/** Record the stride-2 body `b` of shaders/conv_s2.wgsl for the forward geometry `g`. */
function recordStride2(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  b: Stride2Body,
  x: GPUBuffer,
  weights: GPUTexture,
  bias: GPUBuffer,
  y: GPUBuffer,
): void {
  const { hout, wout } = convOutSize(g);
  const nseg = Math.ceil(wout / b.px);
  const total = g.n * hout * nseg;
  const { wg, fold } = grid(total, Math.ceil(padChannels(g.cout) / b.channels), WG_S2);
  const pipe = rec.gpu.pipeline(CONV_S2, { VARIANT: b.variant, WG: WG_S2 });
  rec.add(
    label,
    pipe,
    {
      n: g.n,
      cin: g.cin,
      hin: g.hin,
      win: g.win,
      cout: g.cout,
      hout,
      wout,
      nseg,
      co4: padChannels(g.cout) / 4,
      total,
      fold,
    },
    [x, weights, bias, y],
    wg,
  );
}

const CONV1X1_PARAMS = [
  ["n", "u32"],
  ["cin", "u32"], // channels summed over
  ["cout", "u32"], // channels produced
  ["plane", "u32"], // h * w, a multiple of 4
  ["nblk", "u32"], // ceil(plane / 16)
  ["co4", "u32"], // padded output channels / 4
  ["total", "u32"], // n * nblk invocations
  ["fold", "u32"], // workgroups along x
] as const;

/** 1x1 stride-1 convolution as a per-image matrix product (shaders/conv1x1.wgsl). */
export const CONV1X1: KernelSource<typeof CONV1X1_PARAMS> = {
  name: "conv1x1",
  code: conv1x1Code,
  bindings: ["uniform", "read", "read", "read", "rw"],
  params: CONV1X1_PARAMS,
};

/** Invocations per workgroup of the 1x1 kernel (one llvmpipe SIMD pass). */
export const WG_1X1 = 8;

/** Whether a layer can run on the 1x1 kernel: 1x1, stride 1, no padding, plane size % 4 == 0. */
function fits1x1(g: ConvGeometry): boolean {
  return g.k === 1 && g.stride === 1 && g.pad === 0 && (g.hin * g.win) % 4 === 0;
}

/**
 * Record y[n][cout][plane] = W x[n] (+ bias) with the 1x1 kernel for the forward geometry `g`
 * (1x1, stride 1, no padding); also serves the input gradient, given
 * {@link gradientAsForward}'s geometry (weights [cout][cinPad] are then the backward layout).
 */
function record1x1(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUBuffer,
  bias: GPUBuffer,
  y: GPUBuffer,
  accumulate: boolean,
): void {
  const plane = g.hin * g.win;
  const nblk = Math.ceil(plane / 16);
  const total = g.n * nblk;
  const { wg, fold } = grid(total, padChannels(g.cout) / CHANNEL_BLOCK, WG_1X1);
  const pipe = rec.gpu.pipeline(CONV1X1, { WG: WG_1X1 }, { ACC: accumulate });
  rec.add(
    label,
    pipe,
    {
      n: g.n,
      cin: g.cin,
      cout: g.cout,
      plane,
      nblk,
      co4: padChannels(g.cout) / 4,
      total,
      fold,
    },
    [x, weights, bias, y],
    wg,
  );
}

/**
 * Record the written-out 3x3 stride-1 padding-1 variant of the forward shader for geometry
 * `g`; also serves the input gradient, given {@link gradientAsForward}'s geometry and the
 * FLIP override.
 */
function record3x3(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUBuffer,
  bias: GPUBuffer,
  y: GPUBuffer,
  overrides: { FLIP?: boolean; ACC?: boolean } = {},
): void {
  const { hout, wout } = convOutSize(g);
  const nseg = Math.ceil(wout / PX_3X3);
  const total = g.n * hout * nseg;
  const { wg, fold } = grid(total, padChannels(g.cout) / CHANNEL_BLOCK, WG_3X3);
  const pipe = rec.gpu.pipeline(CONV2D, { VARIANT: 1, WG: WG_3X3 }, overrides);
  rec.add(
    label,
    pipe,
    {
      n: g.n,
      cin: g.cin,
      hin: g.hin,
      win: g.win,
      cout: g.cout,
      hout,
      wout,
      nseg,
      co4: padChannels(g.cout) / 4,
      total,
      fold,
      c0: 0,
      c1: g.cin,
    },
    [x, weights, bias, y],
    wg,
  );
}

/**
 * The input gradient of a stride-1 convolution whose padding keeps the plane size (3x3
 * padding 1, 1x1 no padding) is itself such a forward convolution, of gy, with the kernel
 * flipped (3x3) and the channel roles swapped. This returns the geometry of that forward
 * convolution: it sums over the channels of gy (the layer's output channels) and produces the
 * channels of gx (the layer's input channels), on a plane of the layer's output size.
 *
 * @throws {Error} for a layer whose stride is not 1 or whose output size differs from its input.
 */
export function gradientAsForward(g: ConvGeometry): ConvGeometry {
  const { hout, wout } = convOutSize(g);
  if (g.stride !== 1 || hout !== g.hin || wout !== g.win) {
    throw new Error(`gradientAsForward: ${g.hin}x${g.win} stride ${g.stride} changes size`);
  }
  return {
    n: g.n,
    cin: g.cout, // summed over: channels of gy
    hin: hout,
    win: wout,
    cout: g.cin, // produced: channels of gx
    k: g.k,
    stride: 1,
    pad: g.pad,
  };
}

const DILATE2D_PARAMS = [
  ["total", "u32"], // n * c * h * w of the output
  ["h", "u32"],
  ["w", "u32"],
  ["hs", "u32"], // input (gy) height
  ["ws", "u32"], // input (gy) width
  ["fold", "u32"], // workgroups along x
] as const;

/** Zero-insertion upsampling by 2 (shaders/dilate2d.wgsl). */
export const DILATE2D: KernelSource<typeof DILATE2D_PARAMS> = {
  name: "dilate2d",
  code: dilateCode,
  bindings: ["uniform", "read", "rw"],
  params: DILATE2D_PARAMS,
};

const CONV2D_BACKWARD_DATA_PARAMS = [
  ["n", "u32"],
  ["cin", "u32"], // channels of gx (forward input channels)
  ["hin", "u32"],
  ["win", "u32"],
  ["cout", "u32"], // channels of gy (forward output channels)
  ["hout", "u32"],
  ["wout", "u32"],
  ["nseg", "u32"], // ceil(win / PX)
  ["ci4", "u32"], // padded input channels / 4
  ["total", "u32"], // n * hin * nseg invocations
  ["fold", "u32"], // workgroups along x
  ["c0", "u32"], // first channel of gy summed by this dispatch
  ["c1", "u32"], // end of that channel range
] as const;

/** Backward-data convolution shader (see shaders/conv2d_backward_data.wgsl). */
export const CONV2D_BACKWARD_DATA: KernelSource<typeof CONV2D_BACKWARD_DATA_PARAMS> = {
  name: "conv2d_backward_data",
  code: conv2dBwdCode,
  bindings: ["uniform", "read", "read", "rw"],
  params: CONV2D_BACKWARD_DATA_PARAMS,
};

/** Output channels (forward) or input channels (backward) computed per invocation. */
export const CHANNEL_BLOCK = 8;
/** Most pixels of one row computed per invocation. */
export const MAX_PX = 28;
/** Invocations per workgroup for both convolution kernels. */
export const CONV_WG = 16;
/** Output pixels of one row per invocation in the 3x3 stride-1 variant (fixed in the shader). */
export const PX_3X3 = 14;
/**
 * Invocations per workgroup of the 3x3 variant: one 8-wide SIMD pass of llvmpipe, so a
 * partly filled workgroup (e.g. 7 rows of a 7x7 image) wastes at most 7 lanes, not 15.
 */
export const WG_3X3 = 8;

/**
 * Kernel choice for a convolution: "auto" picks "3x3" for 3x3 stride-1 padding-1 layers and
 * "generic" otherwise (a choice made from the layer shape only, so results never depend on the
 * batch size). Stride 2 has written-out kernels in both directions. Input gradients:
 * "3x3s2" (picked by "auto" for 3x3 stride-2 padding-1 layers) and "1x1s2" (picked for 1x1
 * stride-2 unpadded layers of even input width; others run on "generic")
 * (shaders/conv3x3s2_backward_data.wgsl, shaders/conv1x1s2_backward_data.wgsl);
 * "dilated" (never picked by "auto" any more, kept as an alternative) serves the 3x3 stride-2
 * padding-1 shape with even input size when the caller supplies scratch memory: gy is
 * upsampled by zero insertion and run through the 3x3 stride-1 kernel (4x the arithmetic).
 * "1x1" (picked by "auto" for 1x1 stride-1 unpadded layers
 * whose plane size is a multiple of 4) runs them as a matrix product, both directions.
 * Forward stride-2 layers get written-out kernels (shaders/conv_s2.wgsl): "3x3s2" (3x3
 * padding 1, 14 pixels x 16 channels per invocation), "3x3s2n" (the same for rows of at most 7
 * outputs, 7 pixels x 16 channels) and "1x1s2" (1x1 unpadded), picked by "auto" as described
 * at pickStride2 ("3x3s2n" serves the forward direction only).
 * Forcing a variant on a shape it cannot serve throws.
 * Tests force each variant.
 */
export type ConvVariant =
  | "auto"
  | "generic"
  | "3x3"
  | "dilated"
  | "1x1"
  | "3x3s2"
  | "3x3s2n"
  | "1x1s2";

/** Whether the 1x1 kernel serves this layer; throws when "1x1" is forced on another shape. */
function use1x1(g: ConvGeometry, v: ConvVariant, what: string): boolean {
  if (v === "1x1" && !fits1x1(g)) {
    throw new RangeError(
      `${what}: the 1x1 variant needs kernel 1, stride 1, no padding and h*w % 4 == 0`,
    );
  }
  return (v === "auto" || v === "1x1") && fits1x1(g);
}

function pickVariant(g: ConvGeometry, v: ConvVariant, what: string): "generic" | "3x3" {
  if (v === "dilated") throw new RangeError(`${what}: "${v}" serves input gradients only`);
  if (v === "1x1") throw new RangeError(`${what}: the 1x1 variant needs kernel 1, stride 1`);
  // The stride-2 variants were handled before (pickStride2, stride2Variant) where they apply.
  if (v === "3x3s2" || v === "3x3s2n" || v === "1x1s2") {
    throw new RangeError(`${what}: the ${v} variant does not serve this direction`);
  }
  const fits = g.k === 3 && g.stride === 1 && g.pad === 1;
  if (v === "3x3" && !fits) {
    throw new RangeError(
      `${what}: the 3x3 variant needs kernel 3, stride 1, padding 1; got kernel ${g.k}, ` +
        `stride ${g.stride}, padding ${g.pad}`,
    );
  }
  if (v === "generic") return "generic";
  return fits ? "3x3" : "generic";
}

/** Workgroup grid [x, y, channel blocks] for `total` invocations, folded under 65535. */
function grid(
  total: number,
  blocks: number,
  size: number,
): { wg: [number, number, number]; fold: number } {
  const f = foldWorkgroups(Math.ceil(total / size));
  return { wg: [f.x, f.y, blocks], fold: f.fold };
}

// A zero bias per device, for input gradients run through the forward shader. Grown on demand;
// buffers already bound by recorded dispatches are kept alive by their bind groups.
const zeroBias = new WeakMap<Gpu, GPUBuffer>();
/**
 * A zero buffer of at least `floats` float32 values, one per device (grown on demand): the
 * bias of input gradients run through a forward kernel.
 */
export function zeros(gpu: Gpu, floats: number): GPUBuffer {
  const have = zeroBias.get(gpu);
  if (have && have.size >= floats * 4) return have;
  const buf = gpu.storage("conv2d:zero-bias", Math.max(floats, 2048) * 4);
  zeroBias.set(gpu, buf);
  return buf;
}

/** Geometry of one convolution (groups = 1), shapes in elements. */
export interface ConvGeometry {
  /** Images in the batch. */
  n: number;
  cin: number;
  hin: number;
  win: number;
  cout: number;
  /** Square kernel size. */
  k: number;
  stride: number;
  pad: number;
}

/** Output height and width of a convolution: floor((in + 2 pad - k) / stride) + 1. */
export function convOutSize(g: ConvGeometry): { hout: number; wout: number } {
  const hout = Math.floor((g.hin + 2 * g.pad - g.k) / g.stride) + 1;
  const wout = Math.floor((g.win + 2 * g.pad - g.k) / g.stride) + 1;
  if (hout < 1 || wout < 1) {
    throw new RangeError(
      `Convolution of ${g.hin}x${g.win} with kernel ${g.k}, stride ${g.stride}, pad ${g.pad} ` +
        "has an empty output",
    );
  }
  return { hout, wout };
}

/** Round `c` up to a multiple of the channel block. */
export function padChannels(c: number): number {
  return Math.ceil(c / CHANNEL_BLOCK) * CHANNEL_BLOCK;
}

/**
 * Forward weight layout: PyTorch [Cout][Cin][K][K] to [Cin][K][K][CoutPad], zero-padded so
 * each invocation reads its 8 output channels as two vec4.
 *
 * @throws {RangeError} when `w` does not hold cout x cin x k x k values.
 */
export function forwardWeights(
  w: Float32Array,
  cout: number,
  cin: number,
  k: number,
): Float32Array {
  return channelsLast(w, cout, cin, k, true);
}

/**
 * Backward-data weight layout: PyTorch [Cout][Cin][K][K] to [Cout][K][K][CinPad].
 *
 * @throws {RangeError} when `w` does not hold cout x cin x k x k values.
 */
export function backwardWeights(
  w: Float32Array,
  cout: number,
  cin: number,
  k: number,
): Float32Array {
  return channelsLast(w, cout, cin, k, false);
}

/**
 * [Cout][Cin][K][K] to [outer][K][K][innerPad] where the inner (vectorised, zero-padded)
 * channel axis is Cout when `outputInner`, else Cin.
 */
function channelsLast(
  w: Float32Array,
  cout: number,
  cin: number,
  k: number,
  outputInner: boolean,
): Float32Array {
  if (w.length !== cout * cin * k * k) {
    throw new RangeError(`Weight has ${w.length} values, expected ${cout}x${cin}x${k}x${k}`);
  }
  const kk = k * k;
  const cp = padChannels(outputInner ? cout : cin);
  const out = new Float32Array((outputInner ? cin : cout) * kk * cp);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const [outer, inner] = outputInner ? [ci, co] : [co, ci];
      for (let t = 0; t < kk; t++) out[(outer * kk + t) * cp + inner] = w[(co * cin + ci) * kk + t];
    }
  }
  return out;
}

/** Bias vector zero-padded to the channel block (zeros when the layer has no bias). */
export function paddedBias(bias: Float32Array | undefined, cout: number): Float32Array {
  const out = new Float32Array(padChannels(cout));
  if (bias) out.set(bias.subarray(0, cout));
  return out;
}

/**
 * Pixels of a row that one invocation computes: the whole row when it is at most `maxPx` wide,
 * else the largest multiple of `stride` up to `maxPx` (the backward kernels start segments at
 * multiples of the stride). Shared by the dense and depthwise kernels.
 */
export function rowSegment(width: number, stride: number, maxPx: number): number {
  return width <= maxPx ? width : maxPx - (maxPx % stride);
}

/**
 * Record a forward convolution: y[n][cout][hout][wout] = conv(x) + bias (groups = 1, NCHW).
 *
 * @param g layer geometry; x holds g.n * cin * hin * win float32
 * @param weights from {@link forwardWeightsFor} with the same `variant`: a texture for a layer a
 *   stride-2 body serves, else a buffer in the {@link forwardWeights} layout
 * @param bias buffer from {@link paddedBias}
 * @param y output buffer of n * cout * hout * wout float32
 * @param variant kernel choice (default "auto"; see {@link ConvVariant})
 * @throws {RangeError} for an empty output, a variant forced on a shape it cannot serve, or
 *   weights in the other form than the chosen kernel reads
 */
export function recordConv2d(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUBuffer | GPUTexture,
  bias: GPUBuffer,
  y: GPUBuffer,
  variant: ConvVariant = "auto",
): void {
  const { hout, wout } = convOutSize(g);
  const s2 = pickStride2(g, variant, `Convolution ${label}`);
  checkWeightsForm(`Convolution ${label}`, weights, s2 !== undefined, "forwardWeightsFor");
  if (s2) {
    recordStride2(rec, label, g, s2, x, weights as GPUTexture, bias, y);
    return;
  }
  weights = weights as GPUBuffer;
  if (use1x1(g, variant, `Convolution ${label}`)) {
    record1x1(rec, label, g, x, weights, bias, y, false);
    return;
  }
  if (pickVariant(g, variant, `Convolution ${label}`) === "3x3") {
    record3x3(rec, label, g, x, weights, bias, y);
    return;
  }
  const px = rowSegment(wout, 1, MAX_PX);
  const nseg = Math.ceil(wout / px);
  const total = g.n * hout * nseg;
  const { wg, fold } = grid(total, padChannels(g.cout) / CHANNEL_BLOCK, CONV_WG);
  const geometry = { n: g.n, cin: g.cin, hin: g.hin, win: g.win, cout: g.cout, hout, wout };
  const consts = { VARIANT: 0, PX: px, K: g.k, S: g.stride, PAD: g.pad, WG: CONV_WG };
  const win = (px - 1) * g.stride + g.k;
  const step = channelChunk(loopsPerChannel(g.k, win, px));
  for (let c0 = 0; c0 < g.cin; c0 += step) {
    const pipe = rec.gpu.pipeline(CONV2D, consts, { ACC: c0 > 0 });
    const c1 = Math.min(g.cin, c0 + step);
    rec.add(
      c0 ? `${label}[${c0}:${c1}]` : label,
      pipe,
      {
        ...geometry,
        nseg,
        co4: padChannels(g.cout) / 4,
        total,
        fold,
        c0,
        c1,
      },
      [x, weights, bias, y],
      wg,
    );
  }
}

/**
 * Mesa's llvmpipe leaves every loop of an invocation after about 65535 loop iterations in
 * total, silently (measured: a 300 x 300 nested loop counts 65101). Generic kernels therefore
 * sum at most this many loop iterations per dispatch.
 */
export const LOOP_BUDGET = 16384;

/** Loop iterations one reduction channel costs a generic-kernel invocation (upper bound). */
function loopsPerChannel(k: number, window: number, px: number): number {
  return 1 + k * (3 + window + k * (px + 2));
}

/** Reduction channels per dispatch so an invocation stays within {@link LOOP_BUDGET}. */
function channelChunk(perChannel: number): number {
  return Math.max(1, Math.floor(LOOP_BUDGET / perChannel));
}

/**
 * Record the input gradient of a convolution: gx = conv_transpose(gy) (activation gradient
 * only). With `accumulate`, the result is added to what gx holds.
 *
 * @param g geometry of the forward convolution
 * @param gy gradient at the convolution output, n * cout * hout * wout
 * @param weights from {@link backwardWeightsFor} with the same `variant`: a texture for a layer
 *   a written-out stride-2 kernel serves, else a buffer in the {@link backwardWeights} layout
 * @param gx gradient at the convolution input, n * cin * hin * win
 * @param variant kernel choice (default "auto"; see {@link ConvVariant})
 * @param scratch gives a buffer of at least the requested bytes that may be overwritten by
 *   this dispatch sequence (the executor hands out pool memory); needed by "dilated" only
 * @throws {RangeError} for an empty output, a variant forced on a shape it cannot serve, or
 *   weights in the other form than the chosen kernel reads
 */
export function recordConv2dBackwardData(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  weights: GPUBuffer | GPUTexture,
  gx: GPUBuffer,
  accumulate: boolean,
  variant: ConvVariant = "auto",
  scratch?: (bytes: number) => GPUBuffer,
): void {
  const { hout, wout } = convOutSize(g);
  const cip = padChannels(g.cin);
  const s2 = stride2Variant(g, variant, `Convolution input gradient ${label}`);
  checkWeightsForm(
    `Convolution input gradient ${label}`,
    weights,
    s2 !== undefined,
    "backwardWeightsFor",
  );
  if (s2 === "3x3s2") {
    record3x3s2(rec, label, g, gy, weights as GPUTexture, gx, accumulate);
    return;
  }
  if (s2 === "1x1s2") {
    record1x1s2(rec, label, g, gy, weights as GPUTexture, gx, accumulate);
    return;
  }
  weights = weights as GPUBuffer;
  const dilatable = g.k === 3 && g.stride === 2 && g.pad === 1 && g.hin === 2 * hout &&
    g.win === 2 * wout;
  if (variant === "dilated" && !(dilatable && scratch)) {
    throw new RangeError(
      `Convolution input gradient ${label}: "dilated" needs a 3x3 stride-2 padding-1 layer ` +
        "with even input size, and scratch memory",
    );
  }
  if (variant === "dilated" && scratch) {
    // d = gy with zeros inserted (cout x hin x win); gx = 3x3 stride-1 input gradient of d.
    const d = scratch(g.n * g.cout * g.hin * g.win * 4);
    const total = g.n * g.cout * g.hin * g.win;
    const f = foldWorkgroups(Math.ceil(total / 256));
    rec.add(
      `${label}:dilate`,
      rec.gpu.pipeline(DILATE2D, { WG: 256 }),
      { total, h: g.hin, w: g.win, hs: hout, ws: wout, fold: f.fold },
      [gy, d],
      [f.x, f.y, 1],
    );
    const g1 = { ...g, stride: 1 };
    recordConv2dBackwardData(rec, label, g1, d, weights, gx, accumulate, "3x3");
    return;
  }
  if (use1x1(g, variant, `Convolution input gradient ${label}`)) {
    // gx = W^T gy: the 1x1 kernel on the role-swapped geometry (it sums over the channels of
    // gy and produces those of gx); backwardWeights is [cout][cinPad], its forward layout.
    const swapped = gradientAsForward(g);
    record1x1(rec, label, swapped, gy, weights, zeros(rec.gpu, cip), gx, accumulate);
    return;
  }
  if (pickVariant(g, variant, `Convolution input gradient ${label}`) === "3x3") {
    // The input gradient of a 3x3 stride-1 padding-1 convolution is the same convolution of gy
    // with the kernel flipped and the channel roles swapped (gradientAsForward); backwardWeights
    // is already [cout][3][3][cinPad], the forward layout of that swapped convolution.
    const swapped = gradientAsForward(g);
    record3x3(rec, label, swapped, gy, weights, zeros(rec.gpu, cip), gx, {
      FLIP: true,
      ACC: accumulate,
    });
    return;
  }
  const px = rowSegment(g.win, g.stride, MAX_PX);
  const nseg = Math.ceil(g.win / px);
  const qlo = g.stride * Math.floor((g.pad - g.k + 1) / g.stride);
  const gw = Math.floor((px - 1 + g.pad - qlo) / g.stride) + 1;
  const total = g.n * g.hin * nseg;
  const { wg, fold } = grid(total, cip / CHANNEL_BLOCK, CONV_WG);
  const consts = { PX: px, K: g.k, S: g.stride, PAD: g.pad, WG: CONV_WG, QLO: qlo, GW: gw };
  const step = channelChunk(loopsPerChannel(g.k, gw, px));
  for (let c0 = 0; c0 < g.cout; c0 += step) {
    const pipe = rec.gpu.pipeline(CONV2D_BACKWARD_DATA, consts, { ACC: accumulate || c0 > 0 });
    const c1 = Math.min(g.cout, c0 + step);
    rec.add(
      c0 ? `${label}[${c0}:${c1}]` : label,
      pipe,
      {
        n: g.n,
        cin: g.cin,
        hin: g.hin,
        win: g.win,
        cout: g.cout,
        hout,
        wout,
        nseg,
        ci4: cip / 4,
        total,
        fold,
        c0,
        c1,
      },
      [gy, weights, gx],
      wg,
    );
  }
}

const CONV3X3S2_BACKWARD_DATA_PARAMS = [
  ["n", "u32"],
  ["cin", "u32"], // channels of gx (forward input channels)
  ["hin", "u32"],
  ["win", "u32"],
  ["cout", "u32"], // channels of gy (forward output channels, summed over)
  ["hout", "u32"],
  ["wout", "u32"],
  ["nseg", "u32"], // ceil(win / PX_3X3S2)
  ["nband", "u32"], // ceil(hin / ROWS_3X3S2)
  ["ci4", "u32"], // padded input channels / 4
  ["total", "u32"], // n * nband * nseg invocations
  ["fold", "u32"], // workgroups along x
] as const;

/**
 * Input gradient of a 3x3 stride-2 padding-1 convolution without zero insertion
 * (shaders/conv3x3s2_backward_data.wgsl).
 */
export const CONV3X3S2_BACKWARD_DATA: KernelSource<typeof CONV3X3S2_BACKWARD_DATA_PARAMS> = {
  name: "conv3x3s2_backward_data",
  code: conv3x3s2BwdCode,
  bindings: ["uniform", "read", "texture", "rw"],
  params: CONV3X3S2_BACKWARD_DATA_PARAMS,
};

/** gx pixels of a row per invocation of the 3x3 stride-2 input gradient (fixed in the shader). */
export const PX_3X3S2 = 14;
/** gx rows per invocation of the 3x3 stride-2 input gradient (fixed in the shader). */
export const ROWS_3X3S2 = 4;

const CONV1X1S2_BACKWARD_DATA_PARAMS = [
  ["n", "u32"],
  ["cin", "u32"], // channels of gx (forward input channels)
  ["hin", "u32"],
  ["win", "u32"],
  ["cout", "u32"], // channels of gy (forward output channels, summed over)
  ["hout", "u32"],
  ["wout", "u32"],
  ["plane", "u32"], // hout * wout
  ["nblk", "u32"], // ceil(plane / 16)
  ["ci4", "u32"], // padded input channels / 4
  ["total", "u32"], // n * nblk invocations
  ["fold", "u32"], // workgroups along x
] as const;

/**
 * Input gradient of a 1x1 stride-2 unpadded convolution (iResNet's downsample), written out
 * (shaders/conv1x1s2_backward_data.wgsl).
 */
export const CONV1X1S2_BACKWARD_DATA: KernelSource<typeof CONV1X1S2_BACKWARD_DATA_PARAMS> = {
  name: "conv1x1s2_backward_data",
  code: conv1x1s2BwdCode,
  bindings: ["uniform", "read", "texture", "rw"],
  params: CONV1X1S2_BACKWARD_DATA_PARAMS,
};

/**
 * The written-out stride-2 input-gradient kernel serving this layer ("auto" picks by shape
 * only), or undefined.
 *
 * @throws {RangeError} when "3x3s2" or "1x1s2" is forced on another shape.
 */
function stride2Variant(
  g: ConvGeometry,
  v: ConvVariant,
  what: string,
): "3x3s2" | "1x1s2" | undefined {
  // The weight texture has cout x K x K rows, within WebGPU's guaranteed 2-D texture size.
  const rows = g.cout * g.k * g.k <= S2_TEXTURE_ROWS;
  const fits3 = g.k === 3 && g.stride === 2 && g.pad === 1 && rows;
  const fits1 = g.k === 1 && g.stride === 2 && g.pad === 0 && g.win % 2 === 0 && rows;
  if (v === "3x3s2" && !fits3) {
    throw new RangeError(
      `${what}: the 3x3s2 variant needs kernel 3, stride 2, padding 1 and at most ` +
        `${S2_TEXTURE_ROWS / 9} output channels; got kernel ${g.k}, stride ${g.stride}, ` +
        `padding ${g.pad}, ${g.cout} output channels`,
    );
  }
  if (v === "1x1s2" && !fits1) {
    throw new RangeError(
      `${what}: the 1x1s2 variant needs kernel 1, stride 2, no padding, an even input width ` +
        `and at most ${S2_TEXTURE_ROWS} output channels; got kernel ${g.k}, stride ${g.stride}, ` +
        `padding ${g.pad}, width ${g.win}, ${g.cout} output channels`,
    );
  }
  if (v === "3x3s2" || (v === "auto" && fits3)) return "3x3s2";
  if (v === "1x1s2" || (v === "auto" && fits1)) return "1x1s2";
  return undefined;
}

/** Record the 3x3 stride-2 padding-1 input gradient (any input size; see the shader). */
function record3x3s2(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  weights: GPUTexture,
  gx: GPUBuffer,
  accumulate: boolean,
): void {
  const { hout, wout } = convOutSize(g);
  const nseg = Math.ceil(g.win / PX_3X3S2);
  const nband = Math.ceil(g.hin / ROWS_3X3S2);
  const total = g.n * nband * nseg;
  const cip = padChannels(g.cin);
  const { wg, fold } = grid(total, cip / CHANNEL_BLOCK, WG_S2);
  rec.add(
    label,
    rec.gpu.pipeline(CONV3X3S2_BACKWARD_DATA, { WG: WG_S2 }, { ACC: accumulate }),
    {
      n: g.n,
      cin: g.cin,
      hin: g.hin,
      win: g.win,
      cout: g.cout,
      hout,
      wout,
      nseg,
      nband,
      ci4: cip / 4,
      total,
      fold,
    },
    [gy, weights, gx],
    wg,
  );
}

/** Record the 1x1 stride-2 unpadded input gradient (even input width; see the shader). */
function record1x1s2(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  weights: GPUTexture,
  gx: GPUBuffer,
  accumulate: boolean,
): void {
  const { hout, wout } = convOutSize(g);
  const plane = hout * wout;
  const nblk = Math.ceil(plane / 16);
  const total = g.n * nblk;
  const cip = padChannels(g.cin);
  const { wg, fold } = grid(total, cip / CHANNEL_BLOCK, WG_S2);
  const pipe = rec.gpu.pipeline(
    CONV1X1S2_BACKWARD_DATA,
    { WG: WG_S2, SHIFT: plane % 4 === 0 ? 0 : 1 },
    { ACC: accumulate },
  );
  rec.add(
    label,
    pipe,
    {
      n: g.n,
      cin: g.cin,
      hin: g.hin,
      win: g.win,
      cout: g.cout,
      hout,
      wout,
      plane,
      nblk,
      ci4: cip / 4,
      total,
      fold,
    },
    [gy, weights, gx],
    wg,
  );
}
