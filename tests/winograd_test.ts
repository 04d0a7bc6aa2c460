/**
 * The Winograd 3x3 kernels (src/kernels/winograd.ts) on the WebGPU adapter: F(2x2) and F(4x4),
 * forward and input gradient (with and without ACC), against the float64 direct convolution of
 * src/reference/cpu.ts; batch invariance; and the committed shaders against their generator.
 *
 * Tolerance: a first-order componentwise bound for the transformed evaluation
 * y = A^T [Σ_c (G g G^T) ∘ (B^T d B)] A: gamma_K times the same expression evaluated on the
 * absolute values of every matrix and operand (float64), with K the longest chain of roundings
 * an output sees (input channels + 1 for the products, 2 x (terms + 1) per two-sided
 * transform, the rounded constants of G, the bias and the held value). The transforms amplify
 * rounding (F(4x4)'s A^T holds 8s), which this bound carries and the direct sum's bound
 * (gamma_{9 Cin + 1} of the direct |terms|) does not; the test logs how close it gets.
 */
import { assert, assertEquals } from "./assert.ts";
import { assertWithin, f32Values, gam, getGpu, gpuTestOptions, run } from "./gpu_util.ts";
import { type ConvGeometry, paddedBias, zeros } from "../src/kernels/conv2d.ts";
import {
  recordWinogradConv,
  recordWinogradWeights,
  WINOGRAD_TILES,
  winogradScratch,
  winogradShaderText,
  type WinogradTile,
  winogradTileFor,
} from "../src/kernels/winograd.ts";
import type { Gpu } from "../src/gpu/gpu.ts";
import {
  conv2d as refConv2d,
  conv2dBackwardData as refConv2dBackwardData,
  rng,
  tensor4,
} from "../src/reference/cpu.ts";
import { allShaders, generate } from "../tools/gen_winograd.ts";

const GPU = gpuTestOptions("winograd_test");

type Mat = readonly (readonly number[])[];
const absM = (m: Mat) => m.map((r) => r.map(Math.abs));
/** a (r x k) times b (k x c), float64. */
function mul(a: Mat, b: Mat): number[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
}
const tr = (a: Mat) => a[0].map((_, j) => a.map((r) => r[j]));

/**
 * |A^T| [Σ_c (|G| |g| |G|^T) ∘ (|B^T| |d| |B|)] |A| for every output of a convolution of
 * `rows` input channels (x: [n][rows][h][w], w: the direction's kernels g(k, c) as 3x3),
 * plus |bias| and |held| (the absolute sum the first-order bound scales).
 */
function winogradAbsBound(
  t: WinogradTile,
  n: number,
  rows: number,
  h: number,
  wd: number,
  k: number,
  x: ArrayLike<number>,
  g: (k: number, c: number) => number[][],
  bias: ArrayLike<number> | undefined,
  held: ArrayLike<number> | undefined,
): Float64Array {
  const m = t.m, a = m + 2;
  const BT = absM(t.BT), G = absM(t.G), AT = absM(t.AT);
  const U: number[][][][] = [];
  for (let ko = 0; ko < k; ko++) {
    U.push([]);
    for (let c = 0; c < rows; c++) U[ko].push(mul(mul(G, absM(g(ko, c))), tr(G)));
  }
  const out = new Float64Array(n * k * h * wd);
  for (let img = 0; img < n; img++) {
    for (let ty = 0; ty < Math.ceil(h / m); ty++) {
      for (let tx = 0; tx < Math.ceil(wd / m); tx++) {
        const V: number[][][] = [];
        for (let c = 0; c < rows; c++) {
          const d = Array.from({ length: a }, (_, i) =>
            Array.from({ length: a }, (_, j) => {
              const y = ty * m - 1 + i, xx = tx * m - 1 + j;
              if (y < 0 || y >= h || xx < 0 || xx >= wd) return 0;
              return Math.abs(x[((img * rows + c) * h + y) * wd + xx]);
            }));
          V.push(mul(mul(BT, d), tr(BT)));
        }
        for (let ko = 0; ko < k; ko++) {
          const M = Array.from({ length: a }, (_, i) =>
            Array.from({ length: a }, (_, j) => {
              let s = 0;
              for (let c = 0; c < rows; c++) s += U[ko][c][i][j] * V[c][i][j];
              return s;
            }));
          const Y = mul(mul(AT, M), tr(AT));
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < m; j++) {
              const y = ty * m + i, xx = tx * m + j;
              if (y >= h || xx >= wd) continue;
              const o = ((img * k + ko) * h + y) * wd + xx;
              out[o] = Y[i][j] + Math.abs(bias?.[ko] ?? 0) + Math.abs(held?.[o] ?? 0);
            }
          }
        }
      }
    }
  }
  return out;
}

/** K of the module doc: the longest chain of roundings an output sees. */
function roundings(t: WinogradTile, rows: number): number {
  const terms = (mat: Mat) => Math.max(...mat.map((r) => r.filter((v) => v !== 0).length));
  // Each two-sided transform: two passes of at most `terms` products and terms - 1 additions.
  const two = (mat: Mat) => 2 * (2 * terms(mat));
  // + 2 for G's rounded constants (1/6, 1/12, 1/24), + 2 for the bias and the held value.
  return rows + 1 + two(t.BT) + two(t.G) + two(t.AT) + 2 + 2;
}

function geo(n: number, cin: number, hin: number, win: number, cout: number): ConvGeometry {
  return { n, cin, hin, win, cout, k: 3, stride: 1, pad: 1 };
}

// Partial tiles (widths and heights not multiples of m), channel counts off the block of 16
// on both sides, more tiles than one block of 16, a 1x1 plane, and the shapes the tile choice
// gives each m in an iResNet.
const CASES: { name: string; g: ConvGeometry }[] = [
  { name: "5->12 7x7", g: geo(2, 5, 7, 7, 12) },
  { name: "9->17 13x14", g: geo(2, 9, 13, 14, 17) },
  { name: "3->8 1x1", g: geo(2, 3, 1, 1, 8) },
  { name: "16->16 28x28", g: geo(1, 16, 28, 28, 16) },
  { name: "6->5 9x30", g: geo(3, 6, 9, 30, 5) },
];

Deno.test("winograd: the committed shaders are the generator's output", () => {
  for (const s of allShaders()) {
    assert(
      winogradShaderText(s) === generate(s),
      `shaders of ${s.stage} F(${s.m}) differ from tools/gen_winograd.ts (rerun it)`,
    );
  }
});

Deno.test("winograd: F(4x4) serves 3x3 stride-1 padding-1 layers of 16 channels and more", () => {
  const pick = (hin: number, win: number, k = 3, stride = 1, pad = 1, cin = 64) =>
    winogradTileFor({ k, stride, pad, hin, win, cin });
  assertEquals([1, 7, 14, 27, 28, 56, 112].map((w) => pick(w, w)), [4, 4, 4, 4, 4, 4, 4]);
  assertEquals([pick(14, 28), pick(28, 14)], [4, 4]);
  assertEquals([pick(28, 28, 1, 1, 0), pick(28, 28, 3, 2, 1), pick(28, 28, 3, 1, 0)], [
    undefined,
    undefined,
    undefined,
  ]);
  // Fewer input channels (the gradient's outputs) than the product kernel's block: the stem.
  assertEquals([3, 15, 16, 17].map((cin) => pick(112, 112, 3, 1, 1, cin)), [
    undefined,
    undefined,
    4,
    4,
  ]);
});

Deno.test("winograd: the transforms compute a 3x3 convolution exactly in float64", () => {
  // Independent of the GPU: y = A^T [(G g G^T) ∘ (B^T d B)] A on one tile equals the direct
  // correlation of the (m+2)x(m+2) patch d with g, for integer-valued d and g.
  const rand = rng(77);
  for (const t of WINOGRAD_TILES) {
    const a = t.m + 2;
    const d = Array.from(
      { length: a },
      () => Array.from({ length: a }, () => Math.floor(rand() * 9) - 4),
    );
    const g = Array.from(
      { length: 3 },
      () => Array.from({ length: 3 }, () => Math.floor(rand() * 9) - 4),
    );
    const U = mul(mul(t.G, g), tr(t.G));
    const V = mul(mul(t.BT, d), tr(t.BT));
    const M = U.map((r, i) => r.map((u, j) => u * V[i][j]));
    const Y = mul(mul(t.AT, M), tr(t.AT));
    for (let i = 0; i < t.m; i++) {
      for (let j = 0; j < t.m; j++) {
        let s = 0;
        for (let ky = 0; ky < 3; ky++) {
          for (let kx = 0; kx < 3; kx++) s += d[i + ky][j + kx] * g[ky][kx];
        }
        assert(Math.abs(Y[i][j] - s) < 1e-9, `F(${t.m}) output (${i}, ${j}): ${Y[i][j]} vs ${s}`);
      }
    }
  }
});

/** Upload w, record U for one direction, run the convolution; returns y and frees U. */
async function runWinograd(
  gpu: Gpu,
  m: 2 | 4,
  g: ConvGeometry,
  direction: "forward" | "input-gradient",
  input: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: GPUBuffer,
  out: GPUBuffer,
  acc: boolean,
  maxScratchBytes?: number,
): Promise<Float32Array> {
  const bw = gpu.storageFrom("w", Float32Array.from(w));
  const bx = gpu.storageFrom("x", Float32Array.from(input));
  const scratch: GPUBuffer[] = [];
  const k = direction === "forward" ? g.cout : g.cin;
  let u: GPUBuffer | undefined;
  const y = await run(gpu, (r) => {
    const U = recordWinogradWeights(r, "w", m, bw, g.cout, g.cin, direction);
    u = U.u;
    recordWinogradConv(r, "c", g.n, g.hin, g.win, bx, U, bias, out, acc, (bytes) => {
      const b = gpu.storage("s", bytes);
      scratch.push(b);
      return b;
    }, maxScratchBytes);
  }, out);
  for (const b of [bw, bx, u!, ...scratch]) b.destroy();
  return y.subarray(0, g.n * k * g.hin * g.win);
}

for (const t of WINOGRAD_TILES) {
  Deno.test(`winograd F(${t.m}x${t.m}) forward: float64 reference`, GPU, async () => {
    const gpu = await getGpu();
    const rand = rng(600 + t.m);
    for (const { name, g } of CASES) {
      const x = f32Values(rand, g.n * g.cin * g.hin * g.win);
      const w = f32Values(rand, g.cout * g.cin * 9);
      const b = f32Values(rand, g.cout);
      const ref = refConv2d(tensor4(g.n, g.cin, g.hin, g.win, x), w, g.cout, 3, 1, 1, 1, b);
      const floats = g.n * g.cout * g.hin * g.win;
      const by = gpu.storage("y", floats * 4 + 64);
      const bb = gpu.storageFrom("b", paddedBias(Float32Array.from(b), g.cout));
      const y = await runWinograd(gpu, t.m, g, "forward", x, w, bb, by, false);
      const kern = (ko: number, c: number) =>
        [0, 1, 2].map((i) => [0, 1, 2].map((j) => w[((ko * g.cin + c) * 3 + i) * 3 + j]));
      const abs = winogradAbsBound(t, g.n, g.cin, g.hin, g.win, g.cout, x, kern, b, undefined);
      const K = roundings(t, g.cin);
      assertWithin(y, ref.data, abs.map((v) => gam(K) * v), `F(${t.m}) forward ${name}`);
      by.destroy();
      bb.destroy();
    }
  });

  Deno.test(
    `winograd F(${t.m}x${t.m}) input gradient: float64 reference, with and without ACC`,
    GPU,
    async () => {
      const gpu = await getGpu();
      const rand = rng(700 + t.m);
      for (const { name, g } of CASES) {
        const gy = f32Values(rand, g.n * g.cout * g.hin * g.win);
        const w = f32Values(rand, g.cout * g.cin * 9);
        const held = f32Values(rand, g.n * g.cin * g.hin * g.win);
        const ref = refConv2dBackwardData(
          tensor4(g.n, g.cout, g.hin, g.win, gy),
          w,
          g.cin,
          g.hin,
          g.win,
          3,
          1,
          1,
        );
        // The gradient's kernel from its output channel k (= forward input channel) to its input
        // channel c (= forward output channel): w[c][k] rotated by 180 degrees.
        const kern = (k: number, c: number) =>
          [0, 1, 2].map((i) => [0, 1, 2].map((j) => w[((c * g.cin + k) * 3 + 2 - i) * 3 + 2 - j]));
        for (const acc of [false, true]) {
          const floats = g.n * g.cin * g.hin * g.win;
          const bgx = gpu.storageFrom("gx", Float32Array.from(held));
          const gx = await runWinograd(
            gpu,
            t.m,
            g,
            "input-gradient",
            gy,
            w,
            zeros(gpu, g.cin),
            bgx,
            acc,
          );
          const expected = acc ? ref.data.map((e, i) => e + held[i]) : ref.data;
          const abs = winogradAbsBound(
            t,
            g.n,
            g.cout,
            g.hin,
            g.win,
            g.cin,
            gy,
            kern,
            undefined,
            acc ? held : undefined,
          );
          const K = roundings(t, g.cout);
          assertWithin(
            gx,
            expected,
            abs.map((v) => gam(K) * v),
            `F(${t.m}) input gradient ${name}${acc ? " ACC" : ""}`,
          );
          assertEquals(gx.length, floats);
          bgx.destroy();
        }
      }
    },
  );

  Deno.test(
    `winograd F(${t.m}x${t.m}): an image's outputs do not depend on its batch or chunking`,
    GPU,
    async () => {
      const gpu = await getGpu();
      const rand = rng(800 + t.m);
      const g3 = geo(3, 7, 14, 14, 20);
      const x = f32Values(rand, 3 * 7 * 14 * 14);
      const w = f32Values(rand, 20 * 7 * 9);
      const plane = 7 * 14 * 14, outPlane = 20 * 14 * 14;
      const bb = gpu.storageFrom("b", paddedBias(undefined, 20));
      const by3 = gpu.storage("y3", 3 * outPlane * 4), by1 = gpu.storage("y1", outPlane * 4);
      const y3 = await runWinograd(gpu, t.m, g3, "forward", x, w, bb, by3, false);
      const y1 = await runWinograd(
        gpu,
        t.m,
        geo(1, 7, 14, 14, 20),
        "forward",
        x.subarray(plane, 2 * plane),
        w,
        bb,
        by1,
        false,
      );
      assertEquals(Array.from(y1), Array.from(y3.subarray(outPlane, 2 * outPlane)));
      // Scratch too small for the batch: the images go through one by one, same results.
      const one = winogradScratch(t.m, 1, 14, 14, 7, 20);
      const byc = gpu.storage("yc", 3 * outPlane * 4);
      const yc = await runWinograd(gpu, t.m, g3, "forward", x, w, bb, byc, false, one.vBytes);
      assertEquals(Array.from(yc), Array.from(y3));
      byc.destroy();
      for (const b of [bb, by3, by1]) b.destroy();
    },
  );
}
