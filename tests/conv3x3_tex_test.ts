/**
 * The texture-fed 3x3 stride-1 kernels (src/kernels/conv3x3_tex.ts) on the WebGPU adapter:
 * every configuration, forward and input gradient (with and without ACC), against the float64
 * reference and, bit for bit, against the 3x3 variant of shaders/conv2d.wgsl, whose summation
 * order they keep; batch invariance; and the committed shaders against their generator.
 *
 * Tolerance for the reference comparison: as in conv2d_test.ts, Higham's gamma_L times the
 * largest sum of |terms| of an output (L = Cin * 9 products + bias + the held value with ACC),
 * rtol 0. The comparison with the storage-buffer 3x3 kernel is exact equality.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "./assert.ts";
import { f32Values, gammaBound, getGpu, gpuTestOptions, run } from "./gpu_util.ts";
import { Recorder } from "../src/kernels/recorder.ts";
import {
  backwardWeights,
  type ConvGeometry,
  forwardWeights,
  padChannels,
  paddedBias,
  recordConv2d,
  recordConv2dBackwardData,
} from "../src/kernels/conv2d.ts";
import {
  recordConv3x3Tex,
  recordConv3x3TexGradient,
  TEX3X3_CONFIGS,
  type Tex3x3Config,
  tex3x3ConfigFor,
  tex3x3Direct,
  tex3x3ShaderText,
  tex3x3Weights,
} from "../src/kernels/conv3x3_tex.ts";
import {
  conv2d as refConv2d,
  conv2dBackwardData as refConv2dBackwardData,
  rng,
  tensor4,
} from "../src/reference/cpu.ts";
import { generate } from "../tools/gen_conv3x3_tex.ts";

const GPU = gpuTestOptions("conv3x3_tex_test");

const abs = (a: Float64Array) => a.map(Math.abs);

function geo(n: number, cin: number, hin: number, win: number, cout: number): ConvGeometry {
  return { n, cin, hin, win, cout, k: 3, stride: 1, pad: 1 };
}

// Each configuration at channel counts that are not multiples of 8 (padded texture columns),
// an odd row count for the two-row kernel (its last group has one live row), even heights for
// the row-pair kernel (first and last input rows out of the image), segments of 28 (56 and 112
// wide), rows shorter than the plane is tall, and configurations forced on shapes "auto" gives
// to another one (w14 and v4 on even-height or 28-wide planes).
const CASES: { name: string; g: ConvGeometry; config: Tex3x3Config["name"]; auto: boolean }[] = [
  { name: "w7 5->12", g: geo(2, 5, 7, 7, 12), config: "w7", auto: true },
  { name: "w7 9 rows", g: geo(1, 4, 9, 7, 8), config: "w7", auto: true },
  { name: "w14 9->10 odd height", g: geo(2, 9, 13, 14, 10), config: "w14", auto: true },
  { name: "w14 forced 14x14", g: geo(1, 9, 14, 14, 10), config: "w14", auto: false },
  { name: "p14 9->10", g: geo(2, 9, 14, 14, 10), config: "p14", auto: true },
  { name: "p14 2 rows", g: geo(3, 5, 2, 14, 8), config: "p14", auto: true },
  { name: "v4 28", g: geo(1, 6, 28, 28, 8), config: "v4", auto: true },
  { name: "v4 56x5", g: geo(2, 3, 5, 56, 16), config: "v4", auto: true },
  { name: "v4 112x3", g: geo(1, 2, 3, 112, 9), config: "v4", auto: true },
];

/**
 * Reference re-tiling, written independently of the kernel module's one-pass builder: a
 * channels-last layout [rows][9][colsPad] (conv2d.ts's forward layout, rows = Cin, or its
 * backward-data layout, rows = Cout) to texels [rows][colsPad / 8][9][8].
 */
function tex3x3Texels(layout: Float32Array, rows: number, colsPad: number) {
  if (colsPad % 8 !== 0 || layout.length !== rows * 9 * colsPad) {
    throw new RangeError(
      `Weight layout of ${layout.length} values is not ${rows} x 9 x ${colsPad}`,
    );
  }
  const width = 18 * (colsPad / 8);
  const data = new Float32Array(width * rows * 4);
  for (let r = 0; r < rows; r++) {
    for (let cb = 0; cb < colsPad / 8; cb++) {
      for (let t = 0; t < 9; t++) {
        const src = (r * 9 + t) * colsPad + cb * 8;
        data.set(layout.subarray(src, src + 8), (r * width + cb * 18 + t * 2) * 4);
      }
    }
  }
  return { data, width, height: rows };
}

Deno.test("conv3x3_tex: the committed shaders are the generator's output", () => {
  for (const c of TEX3X3_CONFIGS) {
    assert(
      tex3x3ShaderText(c) === generate(c),
      `shaders/conv3x3_tex_${c.name}.wgsl differs from tools/gen_conv3x3_tex.ts (rerun it)`,
    );
  }
});

Deno.test("conv3x3_tex: configurations are chosen by the plane shape only", () => {
  const pick = (win: number, k = 3, stride = 1, pad = 1, hin = 14) =>
    tex3x3ConfigFor({ k, stride, pad, hin, win })?.name;
  assertEquals([7, 14, 28, 56, 112].map((w) => pick(w)), ["w7", "p14", "v4", "v4", "v4"]);
  assertEquals(pick(14, 3, 1, 1, 13), "w14");
  assertEquals([5, 8, 15, 30, 60].map((w) => pick(w)), [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  assertEquals([pick(14, 1, 1, 0), pick(14, 3, 2, 1), pick(14, 3, 1, 0)], [
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("conv3x3_tex: texel layout puts 8 output channels of one tap in two texels", () => {
  // rows = 2 input channels, 9 taps, cols padded to 16: value = row * 1000 + tap * 100 + col.
  const layout = new Float32Array(2 * 9 * 16);
  for (let r = 0; r < 2; r++) {
    for (let t = 0; t < 9; t++) {
      for (let c = 0; c < 16; c++) layout[(r * 9 + t) * 16 + c] = r * 1000 + t * 100 + c;
    }
  }
  const { data, width, height } = tex3x3Texels(layout, 2, 16);
  assertEquals([width, height], [36, 2]);
  // Texel (cb * 18 + t * 2 + half, r) holds cols cb * 8 + half * 4 .. + 3.
  const texel = (x: number, y: number) =>
    Array.from(data.subarray((y * width + x) * 4, (y * width + x) * 4 + 4));
  assertEquals(texel(0, 0), [0, 1, 2, 3]);
  assertEquals(texel(1, 0), [4, 5, 6, 7]);
  assertEquals(texel(18 + 8 * 2 + 1, 1), [1812, 1813, 1814, 1815]);
  assertThrows(() => tex3x3Texels(layout, 2, 12), /not 2 x 9 x 12/);
});

Deno.test("conv3x3_tex: the one-pass texel builder equals texels of both weight layouts", () => {
  const rand = rng(514);
  for (const [cout, cin] of [[12, 5], [8, 16], [3, 9]]) {
    const w = Float32Array.from(f32Values(rand, cout * cin * 9));
    const fwd = tex3x3Texels(forwardWeights(w, cout, cin, 3), cin, padChannels(cout));
    const bwd = tex3x3Texels(backwardWeights(w, cout, cin, 3), cout, padChannels(cin));
    assertEquals(tex3x3Direct(w, cout, cin, "forward"), fwd, `forward ${cout}x${cin}`);
    assertEquals(tex3x3Direct(w, cout, cin, "input-gradient"), bwd, `backward ${cout}x${cin}`);
    // Built in a reused array (the upload's scratch), longer than needed and holding an earlier
    // layer's values: the same texels, padding zeroed, as a view of that array.
    for (const [dir, want] of [["forward", fwd], ["input-gradient", bwd]] as const) {
      const out = new Float32Array(want.data.length + 37).fill(Number.NaN);
      const got = tex3x3Direct(w, cout, cin, dir, out);
      assertEquals(Array.from(got.data), Array.from(want.data), `${dir} ${cout}x${cin} reused`);
      assertEquals([got.width, got.height], [want.width, want.height]);
      assertEquals(got.data.buffer, out.buffer);
    }
    // Too short: a new array.
    const short = new Float32Array(4);
    assert(tex3x3Direct(w, cout, cin, "forward", short).data.buffer !== short.buffer);
  }
  assertThrows(() => tex3x3Direct(new Float32Array(10), 2, 2, "forward"), /expected 2x2x3x3/);
});

Deno.test(
  "conv3x3_tex forward: float64 reference, and bit-identical to the 3x3 variant",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(511);
    for (const c of CASES) {
      const { g } = c;
      if (c.auto) assertEquals(tex3x3ConfigFor(g)?.name, c.config, c.name);
      const x = f32Values(rand, g.n * g.cin * g.hin * g.win);
      const w = f32Values(rand, g.cout * g.cin * 9);
      const b = f32Values(rand, g.cout);
      const ref = refConv2d(tensor4(g.n, g.cin, g.hin, g.win, x), w, g.cout, 3, 1, 1, 1, b);
      const absRef = refConv2d(
        tensor4(g.n, g.cin, g.hin, g.win, abs(x)),
        abs(w),
        g.cout,
        3,
        1,
        1,
        1,
        abs(b),
      );
      const w32 = Float32Array.from(w);
      const bx = gpu.storageFrom("x", Float32Array.from(x));
      const bb = gpu.storageFrom("b", paddedBias(Float32Array.from(b), g.cout));
      const tex = tex3x3Weights(gpu, "w", w32, g.cout, g.cin, "forward");
      const bw = gpu.storageFrom("w", forwardWeights(w32, g.cout, g.cin, 3));
      const floats = g.n * g.cout * g.hin * g.win;
      const by = gpu.storage("y", floats * 4), byRef = gpu.storage("y3x3", floats * 4);
      const y = await run(
        gpu,
        (r) => recordConv3x3Tex(r, "tex", g, bx, tex, bb, by, c.config),
        by,
        floats,
      );
      const y3 = await run(
        gpu,
        (r) => recordConv2d(r, "3x3", g, bx, bw, bb, byRef, "3x3"),
        byRef,
        floats,
      );
      const rep = assertAllClose(
        y,
        ref.data,
        gammaBound(g.cin * 9 + 1, absRef.data),
        0,
        `forward ${c.name}`,
      );
      assertEquals(Array.from(y), Array.from(y3), `forward ${c.name}: vs the 3x3 variant`);
      console.log(`forward ${c.name}: worst ${(rep.worstRatio * 100).toFixed(1)}% of the bound`);
      tex.destroy();
    }
  },
);

Deno.test(
  "conv3x3_tex input gradient: float64 reference and the 3x3 variant, with and without ACC",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(512);
    for (const c of CASES) {
      const { g } = c;
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
      const absRef = refConv2dBackwardData(
        tensor4(g.n, g.cout, g.hin, g.win, abs(gy)),
        abs(w),
        g.cin,
        g.hin,
        g.win,
        3,
        1,
        1,
      );
      const w32 = Float32Array.from(w);
      const bgy = gpu.storageFrom("gy", Float32Array.from(gy));
      const tex = tex3x3Weights(gpu, "wb", w32, g.cout, g.cin, "input-gradient");
      const bw = gpu.storageFrom("wb", backwardWeights(w32, g.cout, g.cin, 3));
      const floats = g.n * g.cin * g.hin * g.win;
      for (const acc of [false, true]) {
        const bgx = gpu.storageFrom("gx", Float32Array.from(held));
        const bgx3 = gpu.storageFrom("gx3", Float32Array.from(held));
        const gx = await run(
          gpu,
          (r) => recordConv3x3TexGradient(r, "tex", g, bgy, tex, bgx, acc, c.config),
          bgx,
          floats,
        );
        const gx3 = await run(
          gpu,
          (r) => recordConv2dBackwardData(r, "3x3", g, bgy, bw, bgx3, acc, "3x3"),
          bgx3,
          floats,
        );
        const expected = acc ? ref.data.map((e, i) => e + held[i]) : ref.data;
        const absSum = acc ? absRef.data.map((e, i) => e + Math.abs(held[i])) : absRef.data;
        const what = `input gradient ${c.name}${acc ? " ACC" : ""}`;
        assertAllClose(gx, expected, gammaBound(g.cout * 9 + 1, absSum), 0, what);
        assertEquals(Array.from(gx), Array.from(gx3), `${what}: vs the 3x3 variant`);
        bgx.destroy();
        bgx3.destroy();
      }
      tex.destroy();
    }
  },
);

Deno.test(
  "conv3x3_tex results are bit-identical alone and at position 2 of a batch of 3",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(513);
    for (const [hin, win] of [[7, 7], [7, 14], [14, 14], [5, 28], [7, 56]]) {
      const one = geo(1, 5, hin, win, 11), three = { ...one, n: 3 };
      const img = one.cin * one.hin * one.win, out = one.cout * one.hin * one.win;
      const xs = Float32Array.from(f32Values(rand, 3 * img));
      const w = Float32Array.from(f32Values(rand, one.cout * one.cin * 9));
      const tex = tex3x3Weights(gpu, "w", w, one.cout, one.cin, "forward");
      const bb = gpu.storageFrom("b", paddedBias(undefined, one.cout));
      const x1 = gpu.storageFrom("x1", xs.subarray(2 * img)), x3 = gpu.storageFrom("x3", xs);
      const y1 = gpu.storage("y1", out * 4), y3 = gpu.storage("y3", 3 * out * 4);
      const a = await run(gpu, (r) => recordConv3x3Tex(r, "c1", one, x1, tex, bb, y1), y1, out);
      const b = await run(
        gpu,
        (r) => recordConv3x3Tex(r, "c3", three, x3, tex, bb, y3),
        y3,
        3 * out,
      );
      assertEquals(Array.from(b.subarray(2 * out)), Array.from(a), `forward width ${win}`);
      tex.destroy();
    }
  },
);

Deno.test("conv3x3_tex rejects layers no configuration serves", GPU, async () => {
  const gpu = await getGpu();
  const rec = new Recorder(gpu);
  const b = gpu.storage("b", 64);
  const tex = gpu.texture("t", new Float32Array(18 * 4), 18, 1);
  assertThrows(
    () => recordConv3x3Tex(rec, "odd", geo(1, 1, 10, 10, 8), b, tex, b, b),
    /width of 7, 14 or a multiple of 28; got kernel 3, stride 1, padding 1, width 10/,
  );
  assertThrows(
    () => recordConv3x3Tex(rec, "s2", { ...geo(1, 1, 14, 14, 8), stride: 2 }, b, tex, b, b),
    /stride 2/,
  );
  assertThrows(
    () => recordConv3x3Tex(rec, "p14", geo(1, 1, 13, 14, 8), b, tex, b, b, "p14"),
    /configuration p14 cannot serve a 13x14 input/,
  );
  tex.destroy();
});
