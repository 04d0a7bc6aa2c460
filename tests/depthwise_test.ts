/**
 * Depthwise convolution kernels (src/kernels/depthwise.ts) on the WebGPU adapter against the
 * float64 CPU reference (src/reference/cpu.ts conv2d / conv2dBackwardData with groups = C),
 * forward and input gradient, plus bit-exact batch invariance.
 *
 * Tolerance: inputs, weights and biases are float32 values, so the only error is float32
 * rounding in the kernel's sums. A float32 sum of L terms errs by at most
 * gamma_L * sum |terms| with gamma_L = L u / (1 - L u), u = 2^-24 (Higham, Accuracy and
 * Stability of Numerical Algorithms, 2nd ed., eq. 3.5). Here L = K * K products, plus the bias
 * (forward) or the value already held (accumulating input gradient). We use atol = that bound
 * with sum |terms| taken as its maximum over the tensor (the reference convolution of |x| with
 * |w|, plus |bias| or |held value|), and rtol = 0.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "./assert.ts";
import { f32Values, gammaBound, getGpu, gpuTestOptions, submit } from "./gpu_util.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import type { Recorder } from "../src/kernels/recorder.ts";
import {
  depthwiseBias,
  type DepthwiseGeometry,
  depthwiseOutSize,
  type DepthwiseVariant,
  depthwiseWeights,
  recordDepthwiseBackwardData,
  recordDepthwiseConv2d,
  recordDepthwiseTiled,
  recordDepthwiseTiledBackwardData,
} from "../src/kernels/depthwise.ts";
import { TILE_32, TILE_64 } from "../src/kernels/conv_tiled.ts";
import {
  conv2d as refConv2d,
  conv2dBackwardData as refConv2dBackwardData,
  rng,
  tensor4,
} from "../src/reference/cpu.ts";

const GPU = gpuTestOptions("depthwise_test");

/**
 * A register-family variant ({@link DepthwiseVariant}) or the tiled family's kernel with its
 * 16x16 (TILE_64, 256 invocations) or 8x8 (TILE_32, 64 invocations) output tile.
 */
type Variant = DepthwiseVariant | "tiled64" | "tiled32";

/** recordDepthwiseConv2d, or the tiled kernel for "tiled64" / "tiled32". */
function forward(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  x: GPUBuffer,
  w: GPUBuffer,
  b: GPUBuffer,
  y: GPUBuffer,
  v: Variant,
): void {
  if (v === "tiled64" || v === "tiled32") {
    recordDepthwiseTiled(rec, label, g, x, w, b, y, v === "tiled64" ? TILE_64 : TILE_32);
  } else recordDepthwiseConv2d(rec, label, g, x, w, b, y, v);
}

/** recordDepthwiseBackwardData, or the tiled kernel for "tiled64" / "tiled32". */
function backward(
  rec: Recorder,
  label: string,
  g: DepthwiseGeometry,
  gy: GPUBuffer,
  w: GPUBuffer,
  gx: GPUBuffer,
  acc: boolean,
  v: Variant,
): void {
  if (v === "tiled64" || v === "tiled32") {
    const tile = v === "tiled64" ? TILE_64 : TILE_32;
    recordDepthwiseTiledBackwardData(rec, label, g, gy, w, gx, acc, tile);
  } else recordDepthwiseBackwardData(rec, label, g, gy, w, gx, acc, v);
}

const buf = (gpu: Gpu, label: string, v: ArrayLike<number>) =>
  gpu.storageFrom(label, Float32Array.from(v));

function geo(
  n: number,
  c: number,
  hin: number,
  win: number,
  k: number,
  stride: number,
  pad: number,
): DepthwiseGeometry {
  return { n, c, hin, win, k, stride, pad };
}

// MobileFaceNet's shapes (3x3 stride 1 and 2 with padding 1, the 7x7 no-padding head at 512
// channels) and the edges: rows wider than one 28-pixel segment (stride 1 and 2, odd widths so
// the last segment is partial), channel counts that are not multiples of 4, batch > 1, a
// non-square input, and the largest kernel the module accepts at stride 2 and a 70-pixel row:
// the longest per-invocation loops any shape can have (7335 steps forward). Were a kernel
// over llvmpipe's ~65k loop budget, that case would come back as zeros and fail.
// Each 3x3 padding-1 case runs both the written-out variant and the generic one. Every case
// also runs the tiled family's kernel with both tiles (withTiled): 16x16 and 8x8 output tiles,
// partial at the right and bottom edges (31, 57x58, 9x7, 7x7, 12x9, 70 wide), stride 2 with
// halos, kernels 3, 5, 7 and 15 (the largest staged region, 45x45 at tile 16).
const BOTH: DepthwiseVariant[] = ["3x3", "generic"];
const CASES: {
  name: string;
  g: DepthwiseGeometry;
  bias: boolean;
  variants: Variant[];
}[] = withTiled([
  { name: "3x3 s1 p1 C=13 31 wide", g: geo(2, 13, 9, 31, 3, 1, 1), bias: false, variants: BOTH },
  { name: "3x3 s2 p1 C=7 57x58", g: geo(3, 7, 57, 58, 3, 2, 1), bias: true, variants: BOTH },
  { name: "3x3 s2 p1 C=5 odd 9x7", g: geo(2, 5, 9, 7, 3, 2, 1), bias: true, variants: BOTH },
  { name: "3x3 s2 p1 C=64 56x56", g: geo(1, 64, 56, 56, 3, 2, 1), bias: false, variants: BOTH },
  { name: "3x3 s1 p1 C=6 7x7", g: geo(2, 6, 7, 7, 3, 1, 1), bias: false, variants: BOTH },
  { name: "7x7 p0 head C=512", g: geo(2, 512, 7, 7, 7, 1, 0), bias: true, variants: ["auto"] },
  { name: "5x5 s2 p2 C=6 12x9", g: geo(2, 6, 12, 9, 5, 2, 2), bias: true, variants: ["auto"] },
  { name: "3x3 s1 p0 C=3 10x9", g: geo(1, 3, 10, 9, 3, 1, 0), bias: true, variants: ["auto"] },
  {
    name: "15x15 s2 p7 C=3 70 wide (longest loops)",
    g: geo(1, 3, 20, 70, 15, 2, 7),
    bias: true,
    variants: ["auto"],
  },
]);

function withTiled<T extends { variants: Variant[] }>(cases: T[]): T[] {
  return cases.map((c) => ({ ...c, variants: [...c.variants, "tiled64", "tiled32"] }));
}

Deno.test("depthwise forward matches the float64 reference (groups = C)", GPU, async () => {
  const gpu = await getGpu();
  const rand = rng(7);
  for (const { name: base, g, bias, variants } of CASES) {
    for (const variant of variants) {
      const name = `${base} ${variant}`;
      const { hout, wout } = depthwiseOutSize(g);
      const x = f32Values(rand, g.n * g.c * g.hin * g.win);
      const w = f32Values(rand, g.c * g.k * g.k);
      const b = bias ? f32Values(rand, g.c) : undefined;
      const xt = tensor4(g.n, g.c, g.hin, g.win, x);
      const ref = refConv2d(xt, w, g.c, g.k, g.stride, g.pad, g.c, b);
      const absRef = refConv2d(
        tensor4(g.n, g.c, g.hin, g.win, x.map(Math.abs)),
        w.map(Math.abs),
        g.c,
        g.k,
        g.stride,
        g.pad,
        g.c,
        b?.map(Math.abs),
      );
      const xb = buf(gpu, "x", x);
      const wb = buf(gpu, "w", depthwiseWeights(Float32Array.from(w), g.c, g.k));
      const bb = buf(gpu, "b", depthwiseBias(b ? Float32Array.from(b) : undefined, g.c));
      const out = g.n * g.c * hout * wout;
      const yb = gpu.storage("y", out * 4);
      await submit(gpu, (rec) => forward(rec, name, g, xb, wb, bb, yb, variant));
      const got = (await gpu.read(yb)).subarray(0, out);
      const atol = gammaBound(g.k * g.k + 1, absRef.data);
      const rep = assertAllClose(got, ref.data, atol, 0, `forward ${name}`);
      assert(rep.maxAbs <= atol, name);
      // A silent early exit of the loops would leave zeros; the reference is nonzero nearly
      // everywhere, so also require the output to carry signal.
      assert(got.some((v) => v !== 0), `${name}: all zeros`);
      [xb, wb, bb, yb].forEach((v) => v.destroy());
    }
  }
});

Deno.test(
  "depthwise input gradient matches the float64 reference, overwrite and accumulate",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(8);
    for (const { name: base, g, variants } of CASES) {
      for (
        const [variant, accumulate] of variants.flatMap((v) => [[v, false], [v, true]] as const)
      ) {
        const name = `${base} ${variant}`;
        const { hout, wout } = depthwiseOutSize(g);
        const gy = f32Values(rand, g.n * g.c * hout * wout);
        const w = f32Values(rand, g.c * g.k * g.k);
        const held = f32Values(rand, g.n * g.c * g.hin * g.win);
        const gyt = tensor4(g.n, g.c, hout, wout, gy);
        const ref = refConv2dBackwardData(gyt, w, g.c, g.hin, g.win, g.k, g.stride, g.pad, g.c);
        const absRef = refConv2dBackwardData(
          tensor4(g.n, g.c, hout, wout, gy.map(Math.abs)),
          w.map(Math.abs),
          g.c,
          g.hin,
          g.win,
          g.k,
          g.stride,
          g.pad,
          g.c,
        );
        const expected = accumulate ? ref.data.map((v, i) => v + held[i]) : ref.data;
        const absSum = accumulate ? absRef.data.map((v, i) => v + Math.abs(held[i])) : absRef.data;
        const gyb = buf(gpu, "gy", gy);
        const wb = buf(gpu, "w", depthwiseWeights(Float32Array.from(w), g.c, g.k));
        const gxb = buf(gpu, "gx", held);
        await submit(
          gpu,
          (rec) => backward(rec, name, g, gyb, wb, gxb, accumulate, variant),
        );
        const got = (await gpu.read(gxb)).subarray(0, expected.length);
        const atol = gammaBound(g.k * g.k + (accumulate ? 1 : 0), absSum);
        assertAllClose(got, expected, atol, 0, `backward ${name} acc=${accumulate}`);
        [gyb, wb, gxb].forEach((v) => v.destroy());
      }
    }
  },
);

Deno.test(
  "depthwise kernels: an image's results do not change by a bit with batch size or position",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(9);
    for (const v of ["auto", "tiled64", "tiled32"] as const) {
      for (
        const g1 of [
          geo(1, 13, 30, 30, 3, 2, 1),
          geo(1, 5, 14, 14, 3, 1, 1),
          geo(1, 9, 7, 7, 7, 1, 0),
        ]
      ) {
        const n = 3;
        const g = { ...g1, n };
        const { hout, wout } = depthwiseOutSize(g);
        const inPer = g.c * g.hin * g.win, outPer = g.c * hout * wout;
        const x = f32Values(rand, n * inPer);
        const gy = f32Values(rand, n * outPer);
        const w = buf(gpu, "w", f32Values(rand, g.c * g.k * g.k));
        const b = buf(gpu, "b", f32Values(rand, g.c));
        // Whole batch.
        const xb = buf(gpu, "x", x), yb = gpu.storage("y", n * outPer * 4);
        const gyb = buf(gpu, "gy", gy), gxb = gpu.storage("gx", n * inPer * 4);
        await submit(gpu, (rec) => {
          forward(rec, "f", g, xb, w, b, yb, v);
          backward(rec, "b", g, gyb, w, gxb, false, v);
        });
        const y = await gpu.read(yb), gx = await gpu.read(gxb);
        // The last image alone.
        const x1 = buf(gpu, "x1", x.subarray(2 * inPer)), y1 = gpu.storage("y1", outPer * 4);
        const gy1 = buf(gpu, "gy1", gy.subarray(2 * outPer)), gx1 = gpu.storage("gx1", inPer * 4);
        await submit(gpu, (rec) => {
          forward(rec, "f1", g1, x1, w, b, y1, v);
          backward(rec, "b1", g1, gy1, w, gx1, false, v);
        });
        assertEquals(
          Array.from((await gpu.read(y1)).subarray(0, outPer)),
          Array.from(y.subarray(2 * outPer, 3 * outPer)),
          `${v} forward`,
        );
        assertEquals(
          Array.from((await gpu.read(gx1)).subarray(0, inPer)),
          Array.from(gx.subarray(2 * inPer, 3 * inPer)),
          `${v} input gradient`,
        );
        [w, b, xb, yb, gyb, gxb, x1, y1, gy1, gx1].forEach((v) => v.destroy());
      }
    }
  },
);

Deno.test("depthwise geometry and layout errors are clear", () => {
  assertThrows(() => depthwiseOutSize(geo(1, 4, 3, 3, 5, 1, 0)), /empty output/);
  assertThrows(() => depthwiseOutSize(geo(1, 4, 9, 9, 17, 1, 8)), /maximum 15/);
  assertThrows(() => depthwiseOutSize(geo(1, 4, 9, 9, 3, 3, 1)), /stride/);
  assertThrows(() => depthwiseOutSize(geo(1, 4, 9, 9, 3, 1, 3)), /padding/);
  assertThrows(() => depthwiseOutSize(geo(1, 0, 9, 9, 3, 1, 1)), /c must be/);
  assertThrows(() => depthwiseWeights(new Float32Array(10), 2, 3), /2x1x3x3/);
  assertThrows(() => depthwiseBias(new Float32Array(3), 2), /expected 2/);
  // The variant is checked before anything is recorded, so placeholders suffice here.
  const none = {} as GPUBuffer;
  assertThrows(
    () =>
      recordDepthwiseConv2d(
        {} as Recorder,
        "l",
        geo(1, 4, 9, 9, 5, 1, 2),
        none,
        none,
        none,
        none,
        "3x3",
      ),
    /Depthwise convolution l: the 3x3 variant needs kernel 3 and padding 1/,
  );
  assertEquals(Array.from(depthwiseBias(undefined, 3)), [0, 0, 0]);
});
