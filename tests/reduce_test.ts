/**
 * Reduction kernels (src/kernels/reduce.ts: abs_sum for the GraFIQs scores, linear_bn1d for the
 * embedding head) on the WebGPU adapter against the float64 CPU reference
 * (src/reference/cpu.ts absSumPerImage, linear, batchNorm1dEval), plus bit-exact batch
 * invariance and no writes outside the outputs' own elements.
 *
 * Tolerances (u = 2^-24, gamma_k = k u / (1 - k u); Higham, Accuracy and Stability of Numerical
 * Algorithms, 2nd ed., eq. 3.5 and section 4.2): inputs are float32 values, so the only error
 * is float32 rounding inside the kernel. A float32 sum of L terms, in any order, errs by at most
 * gamma_(L-1) * sum |terms|; a dot product of length L by gamma_L * sum |x_i w_i| (with or
 * without FMA). These bounds are independent of the kernels' reduction order, so they hold for
 * any lane count; for the long reductions tested here they are loose (the logged worst errors
 * show how much), but they are what float32 guarantees.
 */
import { assertEquals, assertThrows } from "./assert.ts";
import {
  assertPadding,
  assertWithin,
  dyadicValues,
  f32Values,
  gam,
  getGpu,
  gpuTestOptions,
  run,
  SENTINEL,
  sentinelBuffer,
  upload,
} from "./gpu_util.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import { Recorder } from "../src/kernels/recorder.ts";
import {
  linearBn1dLayout,
  recordAbsSum,
  recordLinearBn1d,
  recordLinearBn1dTiled,
} from "../src/kernels/reduce.ts";
import { TILE_32, TILE_64 } from "../src/kernels/conv_tiled.ts";
import {
  absSumPerImage,
  batchNorm1dEval,
  linear,
  randomArray,
  rng,
  tensor4,
} from "../src/reference/cpu.ts";

const GPU = gpuTestOptions("reduce_test");

Deno.test(
  "abs_sum: per-image sums of |g| into one score slot, lengths not multiples of 256",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(61);
    // 1 and 3: fewer elements than lanes. 255, 257, 1000: around and off the lane count.
    // 25088 = 512x7x7 (the last iResNet stage), 200704 = 64x56x56 (the first), 25091 odd.
    // "exact" data: multiples of 2^-5 in [-1, 1); every partial sum (at most 200704 < 2^18) fits
    // float32's 24 bits, so the kernel must return the exact sum in any order (bound 0): a
    // dropped or repeated element shows at once. "random" float32 data: the sum rounds, bounded
    // by gamma_(len-1) * sum |g| (abs is exact, all terms are non-negative).
    const n = 3, stride = 3, slot = 2;
    const cases: [number, "exact" | "random"][] = [
      ...[1, 3, 255, 257, 1000, 25088, 25091, 200704].map((l) => [l, "exact"] as [number, "exact"]),
      [1000, "random"],
      [25091, "random"],
    ];
    for (const [len, kind] of cases) {
      const g = kind === "exact"
        ? dyadicValues(rand, n * len, -1, 1, 5)
        : f32Values(rand, n * len, -1, 1);
      const ref = absSumPerImage(tensor4(n, 1, 1, len, g));
      const bg = upload(gpu, "g", g);
      const bs = sentinelBuffer(gpu, "scores", n * stride);
      const out = await run(gpu, (r) => recordAbsSum(r, "abs", n, len, bg, bs, stride, slot), bs);
      const got = Array.from({ length: n }, (_, i) => out[i * stride + slot]);
      const bound = ref.map((v) => kind === "exact" ? 0 : gam(len - 1) * v);
      assertWithin(got, ref, bound, `abs_sum len ${len} ${kind}`);
      for (let i = 0; i < out.length; i++) {
        if (i % stride !== slot || i >= n * stride) {
          assertEquals(out[i], SENTINEL, `abs_sum len ${len}: score element ${i} overwritten`);
        }
      }
      bg.destroy();
      bs.destroy();
    }
  },
);

Deno.test("abs_sum: groups fill their own slots of one score buffer", GPU, async () => {
  const gpu = await getGpu();
  const rand = rng(62);
  const n = 2, stride = 3;
  const g0 = f32Values(rand, n * 300, -2, 2), g2 = f32Values(rand, n * 49, -2, 2);
  const b0 = upload(gpu, "g0", g0), b2 = upload(gpu, "g2", g2);
  const bs = sentinelBuffer(gpu, "scores", n * stride);
  const out = await run(gpu, (r) => {
    recordAbsSum(r, "abs0", n, 300, b0, bs, stride, 0);
    recordAbsSum(r, "abs2", n, 49, b2, bs, stride, 2);
  }, bs);
  const r0 = absSumPerImage(tensor4(n, 1, 1, 300, g0));
  const r2 = absSumPerImage(tensor4(n, 1, 1, 49, g2));
  assertWithin([out[0], out[3]], r0, r0.map((v) => gam(299) * v), "abs_sum slot 0");
  assertWithin([out[2], out[5]], r2, r2.map((v) => gam(48) * v), "abs_sum slot 2");
  assertEquals([out[1], out[4]], [SENTINEL, SENTINEL], "abs_sum slot 1 must stay untouched");
  assertPadding(out, n * stride, "abs_sum slots");
});

Deno.test(
  "abs_sum: an image's score is bit-identical alone and at position 2 of a batch of 3",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(63);
    for (const len of [1000, 25091]) {
      const g = Float32Array.from(f32Values(rand, 3 * len, -1, 1));
      const one = upload(gpu, "g1", g.subarray(2 * len)), three = upload(gpu, "g3", g);
      const s1 = upload(gpu, "s1", [SENTINEL]), s3 = upload(gpu, "s3", [0, 0, 0]);
      const a = await run(gpu, (r) => recordAbsSum(r, "abs1", 1, len, one, s1, 1, 0), s1);
      const b = await run(gpu, (r) => recordAbsSum(r, "abs3", 3, len, three, s3, 1, 0), s3);
      assertEquals(b[2], a[0], `abs_sum len ${len}: batch position 2 vs alone`);
      for (const buf of [one, three, s1, s3]) buf.destroy();
    }
  },
);

interface Head {
  n: number;
  inF: number;
  outF: number;
  x: Float64Array;
  w: Float64Array;
  b: Float64Array;
  gamma: Float64Array;
  beta: Float64Array;
  rm: Float64Array;
  rv: Float64Array;
}

/**
 * Random head parameters. `exact`: x integers in [-4, 4], weights multiples of 2^-6 in
 * [-1, 1), biases multiples of 2^-6: every product and partial sum (at most 25088 * 4 + 1 <
 * 2^17 in magnitude, on a 2^-6 grid) fits float32's 24 bits, so W x + b is exact in any order,
 * with or without FMA. Otherwise random float32 values, weights scaled by 1 / sqrt(inF).
 */
function makeHead(
  rand: () => number,
  n: number,
  inF: number,
  outF: number,
  exact = false,
): Head {
  const r = 1 / Math.sqrt(inF);
  return {
    n,
    inF,
    outF,
    x: exact ? randomArray(rand, n * inF, -4, 5).map(Math.floor) : f32Values(rand, n * inF, -2, 2),
    w: exact ? dyadicValues(rand, outF * inF, -1, 1, 6) : f32Values(rand, outF * inF, -r, r),
    b: exact ? dyadicValues(rand, outF, -0.5, 0.5, 6) : f32Values(rand, outF, -0.5, 0.5),
    gamma: f32Values(rand, outF, 0.5, 2),
    beta: f32Values(rand, outF, -1, 1),
    rm: f32Values(rand, outF, -1, 1),
    rv: f32Values(rand, outF, 0.05, 3),
  };
}

/**
 * The head kernels: the register family's, or the tiled family's with 256 invocations per
 * workgroup (TILE_64) or 64 (TILE_32).
 */
type HeadKernel = "register" | "tiled64" | "tiled32";
const HEAD_KERNELS: HeadKernel[] = ["register", "tiled64", "tiled32"];

/** Run the head kernel on `h.x` (all n images); returns the whole output buffer. */
async function runHead(
  gpu: Gpu,
  h: Head,
  x: Float64Array,
  n: number,
  kernel: HeadKernel = "register",
): Promise<Float32Array> {
  const f = (v: Float64Array) => Float32Array.from(v);
  const { wt, prm } = linearBn1dLayout(
    f(h.w),
    f(h.b),
    f(h.gamma),
    f(h.beta),
    f(h.rm),
    f(h.rv),
    h.inF,
    h.outF,
    1e-5,
  );
  const bx = upload(gpu, "x", x), bw = upload(gpu, "wt", wt), bp = upload(gpu, "prm", prm);
  const be = sentinelBuffer(gpu, "e", n * h.outF);
  const out = await run(
    gpu,
    (r) =>
      kernel === "register"
        ? recordLinearBn1d(r, "head", n, h.inF, h.outF, bx, bw, bp, be)
        : recordLinearBn1dTiled(
          r,
          "head",
          n,
          h.inF,
          h.outF,
          bx,
          bw,
          bp,
          be,
          kernel === "tiled64" ? TILE_64 : TILE_32,
        ),
    be,
  );
  for (const b of [bx, bw, bp, be]) b.destroy();
  return out;
}

Deno.test("linear_bn1d matches linear + batchNorm1dEval in float64", GPU, async () => {
  const gpu = await getGpu();
  const rand = rng(71);
  // 25088 -> 512: the iResNet head (512 x 7 x 7 -> 512), at 1 image and at 3 (4 images per
  // workgroup, one slot idle) and 9 (8 per workgroup, two rows of workgroups, the second with
  // one image). 25088 -> 13: outputs not a multiple of 4 or 16, 39 outputs in all, so the
  // output buffer has padding. 512 -> 128: MobileFaceNet's embedding shape (its graph computes
  // it with conv3 + bn, not this kernel). 3001 -> 130: input length not a multiple of 4 (rows
  // not vec4 aligned). 5 -> 1: fewer input groups than lanes, a single output.
  // With "exact" data the linear part must be exact, so the bound is the BN1d's alone and
  // tight: a dropped, repeated or misplaced weight shows at once. "random" data exercises
  // rounding in the long sums under the (order-free, hence loose) dot-product bound.
  const cases: [number, number, number, boolean][] = [
    [1, 25088, 512, true],
    [3, 25088, 512, false],
    [9, 25088, 512, true],
    [3, 25088, 13, true],
    [3, 25088, 13, false],
    [2, 512, 128, true],
    [5, 512, 128, false],
    [2, 3001, 130, true],
    [2, 3001, 130, false],
    [1, 5, 1, false],
  ];
  for (const [n, inF, outF, exact] of cases) {
    const h = makeHead(rand, n, inF, outF, exact);
    const z = linear(h.x, n, h.w, h.b, outF);
    const expected = batchNorm1dEval(z, n, h.gamma, h.beta, h.rm, h.rv, 1e-5);
    const absZ = linear(h.x.map(Math.abs), n, h.w.map(Math.abs), h.b.map(Math.abs), outF);
    // z = W x + b: a dot product of inF terms plus the bias, gamma_(inF+1) (|W| |x| + |b|)
    // (0 for exact data), carried through the BN scale s. The BN1d: scale and shift are
    // float32 (scale 2.5u relative, shift 3.5u |rm s| + u |shift|), then a product and a sum
    // (2 roundings), so gamma_6 (|z s| + |rm s| + |beta|) covers it; the product by the
    // inexact scale adds the (1 + 3u) of the first term, absorbed by taking gamma_(inF+2).
    const bound = expected.map((_, i) => {
      const o = i % outF;
      const s = Math.abs(h.gamma[o] / Math.sqrt(h.rv[o] + 1e-5));
      return (exact ? 0 : gam(inF + 2) * s * absZ[i]) +
        gam(6) * (Math.abs(z[i]) * s + Math.abs(h.rm[o]) * s + Math.abs(h.beta[o]));
    });
    for (const kernel of HEAD_KERNELS) {
      const out = await runHead(gpu, h, h.x, n, kernel);
      const what = `linear_bn1d ${kernel} ${n}x${inF}->${outF} ${exact ? "exact" : "random"}`;
      assertWithin(out.subarray(0, n * outF), expected, bound, what);
      assertPadding(out, n * outF, what);
    }
  }
});

Deno.test(
  "linear_bn1d: an embedding is bit-identical alone and anywhere in batches of 2, 3 and 9",
  GPU,
  async () => {
    const gpu = await getGpu();
    // Batches of 1, 2, 3 and 9 run 1, 2, 4 and 8 images per workgroup; 9 also puts image 8
    // alone in a second row of workgroups. 4099 -> 10: rows not vec4 aligned; 25088 -> 512:
    // the iResNet head.
    // The tiled kernels' tree depends on the workgroup size, not on inF: the 64-invocation
    // one runs the short shape only (CI time).
    for (const kernel of HEAD_KERNELS) {
      for (const [inF, outF] of kernel === "tiled32" ? [[4099, 10]] : [[4099, 10], [25088, 512]]) {
        const h = makeHead(rng(72), 9, inF, outF);
        const alone = async (i: number) =>
          Array.from(
            (await runHead(gpu, h, h.x.subarray(i * inF, (i + 1) * inF), 1, kernel))
              .subarray(0, outF),
          );
        const embedding = (out: Float32Array, i: number) =>
          Array.from(out.subarray(i * outF, (i + 1) * outF));
        const b2 = await runHead(gpu, h, h.x.subarray(0, 2 * inF), 2, kernel);
        const b3 = await runHead(gpu, h, h.x.subarray(0, 3 * inF), 3, kernel);
        const b9 = await runHead(gpu, h, h.x, 9, kernel);
        for (const i of [0, 1, 2, 5, 8]) {
          const a = await alone(i);
          const what = `linear_bn1d ${kernel} ${inF}->${outF}: image ${i}`;
          if (i < 2) assertEquals(embedding(b2, i), a, `${what} in a batch of 2 vs alone`);
          if (i < 3) assertEquals(embedding(b3, i), a, `${what} in a batch of 3 vs alone`);
          assertEquals(embedding(b9, i), a, `${what} in a batch of 9 vs alone`);
        }
      }
    }
  },
);

Deno.test("linear_bn1d: an input too long for llvmpipe's loop budget is refused", GPU, async () => {
  const gpu = await getGpu();
  const b = gpu.storage("any", 16);
  // 8 lanes x 4 inputs x LOOP_BUDGET (16384) = 524288 inputs at most.
  recordLinearBn1d(new Recorder(gpu), "head", 1, 524288, 4, b, b, b, b);
  assertThrows(
    () => recordLinearBn1d(new Recorder(gpu), "head", 1, 524289, 4, b, b, b, b),
    /Dispatch head: 524289 input features need 16385 loop iterations per lane/,
  );
  // Tiled, 64 invocations: 16 inputs per step, so 16 x 16384 = 262144 inputs at most.
  recordLinearBn1dTiled(new Recorder(gpu), "head", 1, 262144, 4, b, b, b, b, TILE_32);
  assertThrows(
    () => recordLinearBn1dTiled(new Recorder(gpu), "head", 1, 262145, 4, b, b, b, b, TILE_32),
    /Dispatch head: 262145 input features need 16385 loop iterations per invocation/,
  );
  b.destroy();
});

Deno.test("linearBn1dLayout: blocks of 16 outputs, input by input, and the folded BN1d rows", () => {
  // 6 inputs (padded to 8), 21 outputs (padded to 32: two blocks of 16).
  const inF = 6, outF = 21;
  const w = Float32Array.from({ length: outF * inF }, (_, i) => i + 1);
  const one = new Float32Array(outF).fill(1), zero = new Float32Array(outF);
  const bias = Float32Array.from({ length: outF }, (_, o) => o + 1);
  // gamma 1, beta 0, rm 0, rv 1 - eps with eps 2^-3: scale exactly 1, shift exactly 0.
  const rv = new Float32Array(outF).fill(0.875);
  const { wt, prm } = linearBn1dLayout(w, bias, one, zero, zero, rv, inF, outF, 0.125);
  assertEquals(wt.length, 2 * 8 * 16);
  for (let q = 0; q < 2; q++) {
    for (let i = 0; i < 8; i++) {
      for (let k = 0; k < 16; k++) {
        const o = 16 * q + k;
        const want = o < outF && i < inF ? w[o * inF + i] : 0;
        assertEquals(wt[(q * 8 + i) * 16 + k], want, `wt[${q}][${i}][${k}]`);
      }
    }
  }
  const pad = (v: number[]) => [...v, ...Array(32 - outF).fill(0)];
  assertEquals(Array.from(prm), [
    ...pad(Array.from(bias)),
    ...pad(Array(outF).fill(1)),
    ...Array(32).fill(0),
  ]);
  assertThrows(
    () => linearBn1dLayout(w.subarray(1), bias, one, zero, zero, rv, inF, outF),
    /fc.weight has 125 values, expected 21x6/,
  );
});
