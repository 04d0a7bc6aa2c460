/**
 * Dense 2-D convolution kernels (forward and backward-data) and their weight layouts.
 *
 * @module
 */
import conv2dCode from "../../shaders/conv2d.wgsl" with { type: "text" };
import conv2dBwdCode from "../../shaders/conv2d_backward_data.wgsl" with { type: "text" };
import type { KernelSource } from "../gpu/gpu.ts";
import type { Recorder } from "./recorder.ts";

/** Forward convolution shader (see shaders/conv2d.wgsl). */
export const CONV2D: KernelSource = {
  name: "conv2d",
  code: conv2dCode,
  bindings: ["uniform", "read", "read", "read", "rw"],
};

/** Backward-data convolution shader (see shaders/conv2d_backward_data.wgsl). */
export const CONV2D_BACKWARD_DATA: KernelSource = {
  name: "conv2d_backward_data",
  code: conv2dBwdCode,
  bindings: ["uniform", "read", "read", "rw"],
};

/** Output channels (forward) or input channels (backward) computed per invocation. */
export const CHANNEL_BLOCK = 8;
/** Most pixels of one row computed per invocation. */
export const MAX_PX = 28;
/** Invocations per workgroup for both convolution kernels. */
export const CONV_WG = 16;

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
 */
export function forwardWeights(
  w: Float32Array,
  cout: number,
  cin: number,
  k: number,
): Float32Array {
  if (w.length !== cout * cin * k * k) {
    throw new RangeError(`Weight has ${w.length} values, expected ${cout}x${cin}x${k}x${k}`);
  }
  const cp = padChannels(cout);
  const out = new Float32Array(cin * k * k * cp);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let t = 0; t < k * k; t++) {
        out[(ci * k * k + t) * cp + co] = w[(co * cin + ci) * k * k + t];
      }
    }
  }
  return out;
}

/**
 * Backward-data weight layout: PyTorch [Cout][Cin][K][K] to [Cout][K][K][CinPad].
 */
export function backwardWeights(
  w: Float32Array,
  cout: number,
  cin: number,
  k: number,
): Float32Array {
  if (w.length !== cout * cin * k * k) {
    throw new RangeError(`Weight has ${w.length} values, expected ${cout}x${cin}x${k}x${k}`);
  }
  const cp = padChannels(cin);
  const out = new Float32Array(cout * k * k * cp);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let t = 0; t < k * k; t++) {
        out[(co * k * k + t) * cp + ci] = w[(co * cin + ci) * k * k + t];
      }
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

function pixelsPerInvocation(width: number, stride: number): number {
  if (width <= MAX_PX) return width;
  // Segments must start at multiples of the stride (backward kernel); MAX_PX is even.
  return stride === 1 || MAX_PX % stride === 0 ? MAX_PX : MAX_PX - (MAX_PX % stride);
}

/**
 * Record a forward convolution: y[n][cout][hout][wout] = conv(x) + bias.
 *
 * @param weights buffer in the {@link forwardWeights} layout
 * @param bias buffer from {@link paddedBias}
 * @param y output buffer of n * cout * hout * wout float32
 */
export function recordConv2d(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  weights: GPUBuffer,
  bias: GPUBuffer,
  y: GPUBuffer,
): void {
  const { hout, wout } = convOutSize(g);
  const px = pixelsPerInvocation(wout, 1);
  const nseg = Math.ceil(wout / px);
  const total = g.n * hout * nseg;
  const pipe = rec.gpu.pipeline(CONV2D, { PX: px, K: g.k, S: g.stride, PAD: g.pad, WG: CONV_WG });
  rec.add(
    label,
    pipe,
    [g.n, g.cin, g.hin, g.win, g.cout, hout, wout, nseg, padChannels(g.cout) / 4, total],
    [x, weights, bias, y],
    [Math.ceil(total / CONV_WG), padChannels(g.cout) / CHANNEL_BLOCK, 1],
  );
}

/**
 * Record the input gradient of a convolution: gx = conv_transpose(gy) (activation gradient
 * only). With `accumulate`, the result is added to what gx holds.
 *
 * @param gy gradient at the convolution output, n * cout * hout * wout
 * @param weights buffer in the {@link backwardWeights} layout
 * @param gx gradient at the convolution input, n * cin * hin * win
 */
export function recordConv2dBackwardData(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  weights: GPUBuffer,
  gx: GPUBuffer,
  accumulate: boolean,
): void {
  const { hout, wout } = convOutSize(g);
  const px = pixelsPerInvocation(g.win, g.stride);
  const nseg = Math.ceil(g.win / px);
  const qlo = g.stride * Math.floor((g.pad - g.k + 1) / g.stride);
  const gw = Math.floor((px - 1 + g.pad - qlo) / g.stride) + 1;
  const total = g.n * g.hin * nseg;
  const pipe = rec.gpu.pipeline(
    CONV2D_BACKWARD_DATA,
    { PX: px, K: g.k, S: g.stride, PAD: g.pad, WG: CONV_WG, QLO: qlo, GW: gw },
    { ACC: accumulate },
  );
  rec.add(
    label,
    pipe,
    [g.n, g.cin, g.hin, g.win, g.cout, hout, wout, nseg, padChannels(g.cin) / 4, total],
    [gy, weights, gx],
    [Math.ceil(total / CONV_WG), padChannels(g.cin) / CHANNEL_BLOCK, 1],
  );
}
