/**
 * Convolution kernels (src/kernels/conv2d.ts) on the WebGPU adapter against the float64 CPU
 * reference (src/reference/cpu.ts), for every kernel variant, plus batch invariance.
 *
 * Tolerance: inputs and weights are float32 values, so the only error is float32 rounding in
 * the kernel's sums. A sum of L products accumulated in float32 (FMA or not) errs by at most
 * gamma_L * sum |x_i w_i| with gamma_L = L u / (1 - L u), u = 2^-24 (Higham, Accuracy and
 * Stability of Numerical Algorithms, 2nd ed., eq. 3.5). L counts every term: Cin * K * K
 * products, plus the bias, plus the value already held when accumulating. We use atol = that
 * bound with sum |x_i w_i| taken as its maximum over the tensor (the reference convolution of
 * |x| with |w|), and rtol = 0.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "./assert.ts";
import { f32Values, gammaBound, getGpu, gpuTestOptions, run } from "./gpu_util.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import { Recorder } from "../src/kernels/recorder.ts";
import {
  recordConvTiled,
  recordConvTiledBackwardData,
  TILE_32,
  TILE_64,
} from "../src/kernels/conv_tiled.ts";
import {
  backwardWeights,
  backwardWeightsFor,
  type ConvGeometry,
  convOutSize,
  type ConvVariant,
  forwardWeights,
  forwardWeightsFor,
  paddedBias,
  recordConv2d,
  recordConv2dBackwardData,
} from "../src/kernels/conv2d.ts";
import {
  conv2d as refConv2d,
  conv2dBackwardData as refConv2dBackwardData,
  rng,
  tensor4,
} from "../src/reference/cpu.ts";

const GPU = gpuTestOptions("conv2d_test");

function abs(a: Float64Array): Float64Array {
  return a.map(Math.abs);
}

/**
 * A register-family variant ({@link ConvVariant}) or the tiled family's kernel with its 64x64
 * or 32x32 tile (kernels/conv_tiled.ts), forced the same way.
 */
type Variant = ConvVariant | "tiled64" | "tiled32";

interface Case {
  name: string;
  g: ConvGeometry;
  variants: Variant[];
}

/**
 * recordConv2d, or the tiled kernel for "tiled64" / "tiled32", with PyTorch's weights `w`
 * uploaded in the form the kernel reads (forwardWeightsFor; a buffer for the tiled kernel).
 */
function recordForward(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  x: GPUBuffer,
  w: Float32Array,
  b: GPUBuffer,
  y: GPUBuffer,
  v: Variant,
): void {
  if (v === "tiled64" || v === "tiled32") {
    const bw = rec.gpu.storageFrom("w", forwardWeights(w, g.cout, g.cin, g.k));
    recordConvTiled(rec, label, g, x, bw, b, y, v === "tiled64" ? TILE_64 : TILE_32);
  } else recordConv2d(rec, label, g, x, forwardWeightsFor(rec.gpu, "w", w, g, v), b, y, v);
}

/**
 * recordConv2dBackwardData, or the tiled kernel for "tiled64" / "tiled32", with PyTorch's
 * weights `w` uploaded in the form the kernel reads (backwardWeightsFor; a buffer for the tiled
 * kernel).
 */
function recordInputGradient(
  rec: Recorder,
  label: string,
  g: ConvGeometry,
  gy: GPUBuffer,
  w: Float32Array,
  gx: GPUBuffer,
  acc: boolean,
  v: Variant,
  scratch?: (bytes: number) => GPUBuffer,
): void {
  if (v === "tiled64" || v === "tiled32") {
    const tile = v === "tiled64" ? TILE_64 : TILE_32;
    const bw = rec.gpu.storageFrom("w", backwardWeights(w, g.cout, g.cin, g.k));
    recordConvTiledBackwardData(rec, label, g, gy, bw, gx, acc, tile);
  } else {
    const bw = backwardWeightsFor(rec.gpu, "w", w, g, v);
    recordConv2dBackwardData(rec, label, g, gy, bw, gx, acc, v, scratch);
  }
}

// Shapes: widths that do not fill the pixel block (31, 60 against blocks of 14 and 28), Cin = 3
// (stem), channel counts that are not multiples of 4 or 8, stride 2, 1x1 stride 2, batch > 1.
const CASES: Case[] = withTiled([
  { name: "3x3 s1 Cin=3", g: geo(2, 3, 9, 31, 5, 3, 1, 1), variants: ["auto", "generic"] },
  { name: "3x3 s1 13->20", g: geo(1, 13, 12, 12, 20, 3, 1, 1), variants: ["3x3", "generic"] },
  { name: "3x3 s1 wide", g: geo(1, 4, 5, 60, 8, 3, 1, 1), variants: ["3x3", "generic"] },
  {
    name: "3x3 s2",
    g: geo(2, 6, 10, 58, 13, 3, 2, 1),
    variants: ["auto", "generic", "dilated", "3x3s2", "3x3s2n"],
  },
  // Odd sizes (the last gx row pair and pixel pair are cut), 13 gx channels (not a multiple of 8).
  { name: "3x3 s2 odd", g: geo(2, 13, 7, 15, 11, 3, 2, 1), variants: ["generic", "3x3s2"] },
  // Long reductions: more loop iterations than llvmpipe allows one invocation (about 65535)
  // unless the kernels split them over several dispatches (wrong results before the split).
  {
    name: "3x3 s2 Cout=256",
    g: geo(1, 8, 28, 28, 256, 3, 2, 1),
    variants: ["generic", "dilated", "3x3s2"],
  },
  { name: "3x3 s2 Cin=300", g: geo(1, 300, 8, 14, 8, 3, 2, 1), variants: ["generic", "3x3s2"] },
  // 1x1 stride 2: an odd width ("auto" falls back to the generic kernel), then a 6x7 gy plane
  // (not a multiple of 4), 7 gx channels.
  { name: "1x1 s2 odd width", g: geo(1, 7, 12, 13, 9, 1, 2, 0), variants: ["auto", "generic"] },
  { name: "1x1 s2", g: geo(1, 7, 12, 14, 9, 1, 2, 0), variants: ["auto", "generic", "1x1s2"] },
  // Odd height, aligned 4x4 gy plane, batch 3, 20 gx channels.
  { name: "1x1 s2 odd", g: geo(3, 20, 7, 8, 12, 1, 2, 0), variants: ["1x1s2"] },
  // 1x1 stride 1: a plane of 60 (a multiple of 4, not of the 16-pixel block), Cin 13, Cout 20.
  { name: "1x1 s1", g: geo(2, 13, 6, 10, 20, 1, 1, 0), variants: ["1x1", "generic"] },
  // 7x7 planes are not a multiple of 4: "auto" falls back to the generic kernel.
  { name: "1x1 s1 7x7", g: geo(1, 9, 7, 7, 12, 1, 1, 0), variants: ["auto"] },
  // iResNet's longest reduction (512 x 3 x 3 = 4608 terms, both directions) on its 7x7 plane:
  // the tiled kernel walks it in one dispatch, within llvmpipe's loop budget.
  { name: "3x3 s1 512@7", g: geo(1, 512, 7, 7, 512, 3, 1, 1), variants: [] },
], ["tiled64", "tiled32"]);

// Forward-only cases: odd input size with an output row of 8 (not a multiple of either pixel
// block), Cout = 20; the 1x1 stride-2 forward kernel on an odd width (its input gradient needs
// an even one) and on rows whose window starts at every vec4 offset, Cout = 21.
const FORWARD_CASES: Case[] = withTiled([
  { name: "3x3 s2 9x15", g: geo(2, 5, 9, 15, 20, 3, 2, 1), variants: ["3x3s2", "3x3s2n"] },
  { name: "1x1 s2 odd width fwd", g: geo(1, 7, 12, 13, 9, 1, 2, 0), variants: ["1x1s2"] },
  { name: "1x1 s2 11x30", g: geo(2, 3, 11, 30, 21, 1, 2, 0), variants: ["1x1s2"] },
], ["tiled64", "tiled32"]);

// iResNet's stride-2 layers (first unit of each stage: 3x3 stride 2 with Cin = Cout, and the
// 1x1 stride-2 downsample), batch 1 and 2, on the variant "auto" picks; also MobileFaceNet's
// stem (3 -> 64, 3x3 stride 2). Forward only (S2_CASES below test the input gradients).
const STRIDE2_CASES: Case[] = withTiled([
  { name: "iResNet 3x3 s2 64@112", g: geo(1, 64, 112, 112, 64, 3, 2, 1), variants: ["3x3s2"] },
  { name: "iResNet 3x3 s2 128@56", g: geo(2, 128, 56, 56, 128, 3, 2, 1), variants: ["3x3s2"] },
  { name: "iResNet 3x3 s2 256@28", g: geo(1, 256, 28, 28, 256, 3, 2, 1), variants: ["auto"] },
  {
    name: "iResNet 3x3 s2 512@14",
    g: geo(2, 512, 14, 14, 512, 3, 2, 1),
    variants: ["3x3s2n", "3x3s2"],
  },
  { name: "iResNet 1x1 s2 64@112", g: geo(2, 64, 112, 112, 64, 1, 2, 0), variants: ["1x1s2"] },
  { name: "iResNet 1x1 s2 64@56", g: geo(1, 64, 56, 56, 128, 1, 2, 0), variants: ["1x1s2"] },
  { name: "iResNet 1x1 s2 128@28", g: geo(2, 128, 28, 28, 256, 1, 2, 0), variants: ["auto"] },
  { name: "iResNet 1x1 s2 256@14", g: geo(1, 256, 14, 14, 512, 1, 2, 0), variants: ["1x1s2"] },
  { name: "MobileFaceNet stem", g: geo(2, 3, 112, 112, 64, 3, 2, 1), variants: ["auto"] },
], ["tiled64"]);

/**
 * The tiled family's kernel (kernels/conv_tiled.ts) serves every shape in both directions: the
 * small cases run it with both tiles (64x64, the tile of every WebGPU adapter, and 32x32), the
 * iResNet-sized ones with the 64x64 tile. Shapes above cover its edges: tiles that do not fit
 * (pixels and channels not multiples of 64 or 32, channels not multiples of 4, 7x7 planes),
 * Cin = 3, stride 2, reductions that are not a multiple of the 16-step slice, batch > 1.
 */
function withTiled(cases: Case[], tiles: Variant[]): Case[] {
  return cases.map((c) => ({ ...c, variants: [...c.variants, ...tiles] }));
}

/** Variants of one direction only; the checks of the other direction skip them. */
const FORWARD_ONLY: Variant[] = ["3x3s2n"];
const BACKWARD_ONLY: Variant[] = ["dilated"];

function geo(
  n: number,
  cin: number,
  hin: number,
  win: number,
  cout: number,
  k: number,
  stride: number,
  pad: number,
): ConvGeometry {
  return { n, cin, hin, win, cout, k, stride, pad };
}

/** Check the forward convolution of every case and variant against the float64 reference. */
async function checkForward(cases: Case[], seed: number): Promise<void> {
  const gpu = await getGpu();
  const rand = rng(seed);
  for (const c of cases) {
    const { g } = c;
    const { hout, wout } = convOutSize(g);
    const x = f32Values(rand, g.n * g.cin * g.hin * g.win);
    const w = f32Values(rand, g.cout * g.cin * g.k * g.k);
    const b = f32Values(rand, g.cout);
    const ref = refConv2d(
      tensor4(g.n, g.cin, g.hin, g.win, x),
      w,
      g.cout,
      g.k,
      g.stride,
      g.pad,
      1,
      b,
    );
    const absRef = refConv2d(
      tensor4(g.n, g.cin, g.hin, g.win, abs(x)),
      abs(w),
      g.cout,
      g.k,
      g.stride,
      g.pad,
      1,
      abs(b),
    );
    const atol = gammaBound(g.cin * g.k * g.k + 1, absRef.data);
    const bx = gpu.storageFrom("x", Float32Array.from(x));
    const w32 = Float32Array.from(w);
    const bb = gpu.storageFrom("b", paddedBias(Float32Array.from(b), g.cout));
    const floats = g.n * g.cout * hout * wout;
    for (const v of c.variants) {
      if (BACKWARD_ONLY.includes(v)) continue;
      const by = gpu.storage("y", floats * 4);
      const y = await run(
        gpu,
        (rec) => recordForward(rec, "conv", g, bx, w32, bb, by, v),
        by,
        floats,
      );
      const rep = assertAllClose(y, ref.data, atol, 0, `conv2d ${c.name} (${v})`);
      console.log(
        `forward ${c.name} [${v}]: worst |err| ${rep.maxAbs.toExponential(2)} ` +
          `(${(rep.worstRatio * 100).toFixed(1)}% of the bound ${atol.toExponential(2)})`,
      );
      by.destroy();
    }
  }
}

Deno.test("conv2d forward matches the float64 reference for every variant", GPU, async () => {
  await checkForward([...CASES, ...FORWARD_CASES], 101);
});

Deno.test(
  "conv2d stride-2 kernels match the float64 reference at iResNet shapes",
  GPU,
  async () => {
    await checkForward(STRIDE2_CASES, 505);
  },
);

/**
 * Check every variant of case `c` for the input gradient against the float64 reference, with
 * and without ACC (gx then holds random values to be added to).
 */
async function checkInputGradient(gpu: Gpu, rand: () => number, c: Case): Promise<void> {
  const { g } = c;
  const { hout, wout } = convOutSize(g);
  const gy = f32Values(rand, g.n * g.cout * hout * wout);
  const w = f32Values(rand, g.cout * g.cin * g.k * g.k);
  const held = f32Values(rand, g.n * g.cin * g.hin * g.win);
  const gyT = tensor4(g.n, g.cout, hout, wout, gy);
  const ref = refConv2dBackwardData(gyT, w, g.cin, g.hin, g.win, g.k, g.stride, g.pad);
  const absRef = refConv2dBackwardData(
    tensor4(g.n, g.cout, hout, wout, abs(gy)),
    abs(w),
    g.cin,
    g.hin,
    g.win,
    g.k,
    g.stride,
    g.pad,
  );
  const floats = g.n * g.cin * g.hin * g.win;
  const bgy = gpu.storageFrom("gy", Float32Array.from(gy));
  const w32 = Float32Array.from(w);
  const scratch: GPUBuffer[] = [];
  for (const v of c.variants) {
    if (FORWARD_ONLY.includes(v)) continue;
    for (const acc of [false, true]) {
      const bgx = gpu.storageFrom("gx", Float32Array.from(held));
      const gx = await run(
        gpu,
        (rec) =>
          recordInputGradient(rec, "dconv", g, bgy, w32, bgx, acc, v, (bytes) => {
            const sc = gpu.storage("scratch", bytes);
            scratch.push(sc);
            return sc;
          }),
        bgx,
        floats,
      );
      const expected = acc ? ref.data.map((e, i) => e + held[i]) : ref.data;
      const absSum = acc ? absRef.data.map((e, i) => e + Math.abs(held[i])) : absRef.data;
      const atol = gammaBound(g.cout * g.k * g.k + 1, absSum);
      const rep = assertAllClose(gx, expected, atol, 0, `input gradient ${c.name} (${v})`);
      console.log(
        `input gradient ${c.name} [${v}${acc ? ", ACC" : ""}]: worst |err| ` +
          `${rep.maxAbs.toExponential(2)} (${(rep.worstRatio * 100).toFixed(1)}% of the bound)`,
      );
      bgx.destroy();
    }
  }
  for (const b of [bgy, ...scratch]) b.destroy();
}

Deno.test(
  "conv2d input gradient matches the float64 reference, with and without ACC",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(202);
    for (const c of CASES) await checkInputGradient(gpu, rand, c);
  },
);

// iResNet's stride-2 layers (first unit of each stage, 112x112 input): the 3x3 stride-2
// convolution (C -> C) and the 1x1 stride-2 downsample (C/2 -> C; 64 -> 64 in stage 1), at
// batch 1 and 2. The longest reductions (512 gy channels) are here.
const S2_CASES: Case[] = [[64, 64, 112], [128, 128, 56], [256, 256, 28], [512, 512, 14]]
  .flatMap(([cin, cout, h]) =>
    [1, 2].map((n) => ({
      name: `3x3 s2 ${cin}@${h} n=${n}`,
      g: geo(n, cin, h, h, cout, 3, 2, 1),
      variants: ["3x3s2", "tiled64"] as Variant[],
    }))
  )
  .concat(
    [[64, 64, 112], [64, 128, 56], [128, 256, 28], [256, 512, 14]].flatMap(([cin, cout, h]) =>
      [1, 2].map((n) => ({
        name: `1x1 s2 ${cin}->${cout}@${h} n=${n}`,
        g: geo(n, cin, h, h, cout, 1, 2, 0),
        variants: ["1x1s2", "tiled64"] as Variant[],
      }))
    ),
  );

Deno.test(
  "conv2d stride-2 input-gradient kernels match the float64 reference at iResNet's shapes",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(505);
    for (const c of S2_CASES) await checkInputGradient(gpu, rand, c);
  },
);

Deno.test(
  "conv2d results are bit-identical alone and at position 2 of a batch of 3",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(303);
    for (const v of ["generic", "3x3", "tiled64", "tiled32"] as const) {
      const one = geo(1, 9, 7, 30, 11, 3, 1, 1), three = { ...one, n: 3 };
      const img = one.cin * one.hin * one.win, out = one.cout * one.hin * one.win;
      const xs = Float32Array.from(f32Values(rand, 3 * img));
      const w = Float32Array.from(f32Values(rand, one.cout * one.cin * 9));
      const bb = gpu.storageFrom("b", paddedBias(undefined, one.cout));
      const alone = gpu.storageFrom("x1", xs.subarray(2 * img));
      const batch = gpu.storageFrom("x3", xs);
      const y1 = gpu.storage("y1", out * 4), y3 = gpu.storage("y3", 3 * out * 4);
      const a = await run(gpu, (r) => recordForward(r, "c1", one, alone, w, bb, y1, v), y1, out);
      const b = await run(
        gpu,
        (r) => recordForward(r, "c3", three, batch, w, bb, y3, v),
        y3,
        3 * out,
      );
      assertEquals(Array.from(b.subarray(2 * out)), Array.from(a), `forward ${v}`);
      // Input gradient: gy has cout channels, gx cin channels.
      const gys = Float32Array.from(f32Values(rand, 3 * out));
      const g1 = gpu.storageFrom("gy1", gys.subarray(2 * out)), g3 = gpu.storageFrom("gy3", gys);
      const x1 = gpu.storage("gx1", img * 4), x3 = gpu.storage("gx3", 3 * img * 4);
      const c = await run(
        gpu,
        (r) => recordInputGradient(r, "d1", one, g1, w, x1, false, v),
        x1,
        img,
      );
      const d = await run(
        gpu,
        (r) => recordInputGradient(r, "d3", three, g3, w, x3, false, v),
        x3,
        3 * img,
      );
      assertEquals(Array.from(d.subarray(2 * img)), Array.from(c), `input gradient ${v}`);
    }
  },
);

Deno.test(
  "conv2d stride-2 forward results are bit-identical alone and at position 2 of a batch of 3",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(606);
    for (
      const [v, one] of [
        ["3x3s2", geo(1, 9, 14, 30, 11, 3, 2, 1)],
        ["3x3s2n", geo(1, 9, 14, 14, 11, 3, 2, 1)],
        ["1x1s2", geo(1, 9, 14, 30, 11, 1, 2, 0)],
        ["tiled64", geo(1, 9, 14, 30, 11, 3, 2, 1)],
        ["tiled32", geo(1, 9, 14, 30, 11, 1, 2, 0)],
      ] as const
    ) {
      const three = { ...one, n: 3 };
      const { hout, wout } = convOutSize(one);
      const img = one.cin * one.hin * one.win, out = one.cout * hout * wout;
      const xs = Float32Array.from(f32Values(rand, 3 * img));
      const w = Float32Array.from(f32Values(rand, one.cout * one.cin * one.k * one.k));
      const bb = gpu.storageFrom("b", paddedBias(Float32Array.from(f32Values(rand, 11)), 11));
      const alone = gpu.storageFrom("x1", xs.subarray(2 * img));
      const batch = gpu.storageFrom("x3", xs);
      const y1 = gpu.storage("y1", out * 4), y3 = gpu.storage("y3", 3 * out * 4);
      const a = await run(gpu, (r) => recordForward(r, "c1", one, alone, w, bb, y1, v), y1, out);
      const b = await run(
        gpu,
        (r) => recordForward(r, "c3", three, batch, w, bb, y3, v),
        y3,
        3 * out,
      );
      assertEquals(Array.from(b.subarray(2 * out)), Array.from(a), `forward ${v}`);
    }
  },
);

Deno.test(
  "conv2d stride-2 input gradients are bit-identical alone and at position 2 of a batch of 3",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(606);
    const shapes = [
      ["3x3s2", geo(1, 10, 13, 30, 12, 3, 2, 1)],
      ["1x1s2", geo(1, 10, 14, 14, 12, 1, 2, 0)],
      ["tiled64", geo(1, 10, 13, 30, 12, 3, 2, 1)],
      ["tiled32", geo(1, 10, 14, 14, 12, 1, 2, 0)],
    ] as const;
    for (const [v, one] of shapes) {
      const three = { ...one, n: 3 };
      const { hout, wout } = convOutSize(one);
      const img = one.cin * one.hin * one.win, out = one.cout * hout * wout;
      const w = Float32Array.from(f32Values(rand, one.cout * one.cin * one.k * one.k));
      const gys = Float32Array.from(f32Values(rand, 3 * out));
      const g1 = gpu.storageFrom("gy1", gys.subarray(2 * out)), g3 = gpu.storageFrom("gy3", gys);
      const x1 = gpu.storage("gx1", img * 4), x3 = gpu.storage("gx3", 3 * img * 4);
      const c = await run(
        gpu,
        (r) => recordInputGradient(r, "d1", one, g1, w, x1, false, v),
        x1,
        img,
      );
      const d = await run(
        gpu,
        (r) => recordInputGradient(r, "d3", three, g3, w, x3, false, v),
        x3,
        3 * img,
      );
      assertEquals(Array.from(d.subarray(2 * img)), Array.from(c), `input gradient ${v}`);
      for (const b of [g1, g3, x1, x3]) b.destroy();
    }
  },
);

Deno.test("conv2d folds dispatches over 65535 workgroups", GPU, async () => {
  const gpu = await getGpu();
  // A 1-pixel-wide, 1.1-million-row image: one invocation per row gives ~69000 workgroups.
  const g = geo(1, 1, 1_100_000, 1, 1, 3, 1, 1);
  const rand = rng(404);
  const x = f32Values(rand, g.hin);
  const w = f32Values(rand, 9);
  const ref = refConv2d(tensor4(1, 1, g.hin, 1, x), w, 1, 3, 1, 1);
  const absRef = refConv2d(tensor4(1, 1, g.hin, 1, abs(x)), abs(w), 1, 3, 1, 1);
  const bx = gpu.storageFrom("x", Float32Array.from(x));
  const bw = gpu.storageFrom("w", forwardWeights(Float32Array.from(w), 1, 1, 3));
  const bb = gpu.storageFrom("b", paddedBias(undefined, 1));
  const by = gpu.storage("y", g.hin * 4);
  const y = await run(gpu, (r) => recordConv2d(r, "tall", g, bx, bw, bb, by), by, g.hin);
  assertAllClose(y, ref.data, gammaBound(10, absRef.data), 0, "tall conv2d");
  const bgx = gpu.storage("gx", g.hin * 4);
  const bwb = gpu.storageFrom("wb", backwardWeights(Float32Array.from(w), 1, 1, 3));
  const gx = await run(
    gpu,
    (r) => recordConv2dBackwardData(r, "tall", g, bx, bwb, bgx, false, "generic"),
    bgx,
    g.hin,
  );
  const refB = refConv2dBackwardData(tensor4(1, 1, g.hin, 1, x), w, 1, g.hin, 1, 3, 1, 1);
  assertAllClose(gx, refB.data, gammaBound(10, absRef.data), 0, "tall input gradient");
});

Deno.test("conv2d rejects the 3x3 and stride-2 variants on other shapes", GPU, async () => {
  const gpu = await getGpu();
  const rec = new Recorder(gpu);
  const b = gpu.storage("b", 64);
  const g = geo(1, 4, 8, 8, 4, 3, 2, 1);
  assertThrows(() => recordConv2d(rec, "s2", g, b, b, b, b, "3x3"), /3x3 variant needs/);
  assertThrows(
    () => recordConv2dBackwardData(rec, "s2", g, b, b, b, false, "3x3"),
    /3x3 variant needs/,
  );
  const s1 = geo(1, 4, 8, 8, 4, 3, 1, 1), d1 = geo(1, 4, 8, 8, 4, 1, 1, 0);
  for (const v of ["3x3s2", "1x1s2"] as const) {
    assertThrows(
      () => recordConv2dBackwardData(rec, "s1", s1, b, b, b, false, v),
      new RegExp(`${v} variant needs`),
    );
  }
  assertThrows(() => recordConv2d(rec, "s1", s1, b, b, b, b, "3x3s2"), /3x3s2 variant needs/);
  assertThrows(() => recordConv2d(rec, "s2", g, b, b, b, b, "1x1s2"), /1x1s2 variant needs/);
  // The stride-2 bodies read their weights from a texture, every other kernel from a buffer.
  assertThrows(() => recordConv2d(rec, "s2", g, b, b, b, b), /reads the weights from a texture/);
  const tex = forwardWeightsFor(gpu, "w", new Float32Array(4 * 4 * 9), g);
  assert(tex instanceof GPUTexture, "a stride-2 layer's weights are a texture");
  assertThrows(
    () => recordConv2d(rec, "s2", g, b, tex, b, b, "generic"),
    /reads the weights from a buffer/,
  );
  assert(forwardWeightsFor(gpu, "w", new Float32Array(4 * 4 * 9), s1) instanceof GPUBuffer);
  assertThrows(
    () => recordConv2dBackwardData(rec, "s2", g, b, b, b, false, "3x3s2n"),
    /3x3s2n variant does not serve this direction/,
  );
  assertThrows(
    () => recordConv2dBackwardData(rec, "d1", d1, b, b, b, false, "1x1s2"),
    /1x1s2 variant needs kernel 1, stride 2/,
  );
  assertThrows(
    () => recordConv2dBackwardData(rec, "s2", g, b, b, b, false, "1x1s2"),
    /1x1s2 variant needs/,
  );
  assertThrows(
    () =>
      recordConv2dBackwardData(rec, "odd", geo(1, 4, 8, 9, 4, 1, 2, 0), b, b, b, false, "1x1s2"),
    /1x1s2 variant needs .*even input width/,
  );
  assert(true);
});
