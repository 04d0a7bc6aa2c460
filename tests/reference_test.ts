/**
 * Tests of the float64 CPU reference (src/reference): hand-checked operator cases, the
 * adjoint identity of the convolution backward, finite differences of the GraFIQs loss
 * (testing-ladder steps 1 and 3 of docs/DESIGN.md), and a PyTorch autograd anchor.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "./assert.ts";
import {
  absSumPerImage,
  add,
  batchNorm1dEval,
  bnApply,
  bnEvalScaleShift,
  bnStats,
  bnStatsLoss,
  bnStatsLossGrad,
  conv2d,
  conv2dBackwardData,
  convOutSize,
  linear,
  prelu,
  preluBackward,
  randomArray,
  relu,
  relu6,
  relu6Backward,
  reluBackward,
  rng,
  type Tensor4,
  tensor4,
} from "../src/reference/cpu.ts";
import {
  type BnLayer,
  bnLayerCount,
  type ConvLayer,
  makeTinyNet,
  type TinyBlock,
  type TinyNet,
  tinyNetBackward,
  tinyNetForward,
  tinyNetLossFrom,
} from "../src/reference/network.ts";

const f64 = (v: number[]) => Float64Array.from(v);
const EPS = Number.EPSILON;

// ---------------------------------------------------------------- hand-checked operator cases

Deno.test("conv2d stride 1, no padding, 2x2 kernel: hand values", () => {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,2],[3,4]]:
  // (0,0) 1*1+2*2+4*3+5*4 = 37, (0,1) 2+6+15+24 = 47, (1,0) 4+10+21+32 = 67, (1,1) 5+12+24+36 = 77.
  const x = tensor4(1, 1, 3, 3, f64([1, 2, 3, 4, 5, 6, 7, 8, 9]));
  const y = conv2d(x, f64([1, 2, 3, 4]), 1, 2, 1, 0);
  assertEquals([y.n, y.c, y.h, y.w], [1, 1, 2, 2]);
  assertEquals([...y.data], [37, 47, 67, 77]);
});

Deno.test("conv2d stride 2, pad 1, 3x3 kernel with bias: hand values", () => {
  // x[i][j] = 4i + j on 4x4. Kernel: 3 at top-left, 1 at centre, 2 at bottom-right; output
  // (oy, ox) is centred on (2oy, 2ox): 3*x[2oy-1][2ox-1] + x[2oy][2ox] + 2*x[2oy+1][2ox+1].
  // (0,0): 0 + 0 + 2*5 = 10; (0,1): 0 + 2 + 2*7 = 16; (1,0): 0 + 8 + 2*13 = 34;
  // (1,1): 3*5 + 10 + 2*15 = 55; plus bias 0.5. Output size floor((4 + 2 - 3)/2) + 1 = 2.
  const x = tensor4(1, 1, 4, 4, f64(Array.from({ length: 16 }, (_, i) => i)));
  const w = f64([3, 0, 0, 0, 1, 0, 0, 0, 2]);
  const y = conv2d(x, w, 1, 3, 2, 1, 1, f64([0.5]));
  assertEquals([y.h, y.w], [2, 2]);
  assertEquals([...y.data], [10.5, 16.5, 34.5, 55.5]);
});

Deno.test("conv2d depthwise (groups = channels), pad 1: hand values, no channel mixing", () => {
  // Channel 0: x = 1, kernel all 1 -> count of in-bounds taps: corners 4, edges 6, centre 9.
  // Channel 1: x = 2, kernel all -1 -> -2 * count. Mixing channels would change both.
  const x = tensor4(1, 2, 3, 3, f64([...Array(9).fill(1), ...Array(9).fill(2)]));
  const w = f64([...Array(9).fill(1), ...Array(9).fill(-1)]);
  const y = conv2d(x, w, 2, 3, 1, 1, 2);
  const count = [4, 6, 4, 6, 9, 6, 4, 6, 4];
  assertEquals([...y.data], [...count, ...count.map((v) => -2 * v)]);
});

Deno.test("conv2d depthwise 7x7, no padding (MobileFaceNet gdconv): hand values", () => {
  // Channel 0: x[h][w] = 7h + w + 1 (1..49), kernel 1 -> 49*50/2 = 1225, bias +1 -> 1226.
  // Channel 1: x = 2, kernel[ky][kx] = 7ky + kx + 1 -> 2 * 1225 = 2450, bias -1 -> 2449.
  const ramp = Array.from({ length: 49 }, (_, i) => i + 1);
  const x = tensor4(1, 2, 7, 7, f64([...ramp, ...Array(49).fill(2)]));
  const w = f64([...Array(49).fill(1), ...ramp]);
  const y = conv2d(x, w, 2, 7, 1, 0, 2, f64([1, -1]));
  assertEquals([y.n, y.c, y.h, y.w], [1, 2, 1, 1]);
  assertEquals([...y.data], [1226, 2449]);
});

Deno.test("conv2d groups = 2 (grouped 1x1): hand values", () => {
  // Cin 4 (values 1, 2, 3, 4 on a 1x1 map), Cout 2, groups 2, weights [1, 10 | 100, 1000]:
  // y0 = 1*1 + 2*10 = 21 (channels 0, 1); y1 = 3*100 + 4*1000 = 4300 (channels 2, 3).
  const y = conv2d(tensor4(1, 4, 1, 1, f64([1, 2, 3, 4])), f64([1, 10, 100, 1000]), 2, 1, 1, 0, 2);
  assertEquals([...y.data], [21, 4300]);
});

Deno.test("conv2dBackwardData stride 2, 1x1 kernel: hand values (scatter to even positions)", () => {
  // Forward 3x3 -> 2x2 reads input (0,0), (0,2), (2,0), (2,2) times 2; the backward puts 2*gy
  // there and zero elsewhere.
  const gx = conv2dBackwardData(tensor4(1, 1, 2, 2, f64([1, 2, 3, 4])), f64([2]), 1, 3, 3, 1, 2, 0);
  assertEquals([...gx.data], [2, 0, 4, 0, 0, 0, 6, 0, 8]);
});

function dot(a: Float64Array, b: Float64Array): { v: number; abs: number } {
  let v = 0, abs = 0;
  for (let i = 0; i < a.length; i++) {
    v += a[i] * b[i];
    abs += Math.abs(a[i] * b[i]);
  }
  return { v, abs };
}

Deno.test("conv2dBackwardData is the adjoint of conv2d: <conv(x), y> == <x, convT(y)>", () => {
  const rand = rng(7);
  // [n, cin, h, w, cout, k, stride, pad, groups]: stride 1 and 2 (and 3), odd and even sizes,
  // sizes where the last row/column is never read (stride 2), depthwise, grouped, 7x7 no pad.
  const cases = [
    [2, 3, 7, 5, 5, 3, 1, 1, 1],
    [2, 3, 9, 7, 6, 3, 2, 1, 1],
    [1, 5, 8, 6, 7, 3, 2, 1, 1],
    [2, 5, 9, 8, 7, 1, 2, 0, 1],
    [1, 3, 6, 7, 2, 1, 2, 0, 1],
    [2, 6, 9, 9, 6, 3, 2, 1, 6],
    [1, 7, 7, 7, 7, 3, 1, 1, 7],
    [1, 6, 7, 7, 6, 7, 1, 0, 6],
    [1, 4, 7, 9, 6, 3, 1, 1, 2],
    [1, 3, 11, 10, 4, 5, 3, 2, 1],
    [1, 2, 7, 7, 3, 2, 2, 0, 1],
  ];
  for (const [n, cin, h, w, cout, k, s, p, g] of cases) {
    const x = tensor4(n, cin, h, w, randomArray(rand, n * cin * h * w, -1, 1));
    const wt = randomArray(rand, (cout * cin / g) * k * k, -1, 1);
    const yx = conv2d(x, wt, cout, k, s, p, g);
    const y = tensor4(n, cout, yx.h, yx.w, randomArray(rand, yx.data.length, -1, 1));
    const xty = conv2dBackwardData(y, wt, cin, h, w, k, s, p, g);
    const lhs = dot(yx.data, y.data), rhs = dot(x.data, xty.data);
    // Both sides are the same bilinear sum in different orders; each rounding error is below
    // (terms) * eps * sum|products| (< 2e4 terms here), so 1e-12 of the absolute sum (~4500 eps)
    // bounds the difference with margin while still catching any misplaced tap.
    const tol = 1e-12 * Math.max(lhs.abs, rhs.abs);
    assert(
      Math.abs(lhs.v - rhs.v) <= tol,
      `adjoint case ${[n, cin, h, w, cout, k, s, p, g]}: ${lhs.v} vs ${rhs.v}`,
    );
    assert(lhs.abs > 1, "non-trivial case");
  }
});

Deno.test("conv2d and conv2dBackwardData reject bad shapes with clear messages", () => {
  const x = tensor4(1, 3, 5, 5);
  assertThrows(() => conv2d(x, new Float64Array(10), 2, 3, 1, 1), /conv2d: weight/);
  assertThrows(() => conv2d(x, new Float64Array(54), 2, 3, 1, 1, 2), /groups 2 must divide/);
  assertThrows(() => conv2d(x, new Float64Array(6 * 49), 2, 7, 1, 0), /does not fit/);
  assertThrows(() => conv2d(x, new Float64Array(54), 2, 3, 1, 1, 1, f64([1])), /bias/);
  const gy = tensor4(1, 2, 3, 3);
  // 7x7 input with k3 s2 p1 gives 4x4, not 3x3.
  assertThrows(
    () => conv2dBackwardData(gy, new Float64Array(54), 3, 7, 7, 3, 2, 1),
    /gives output 4x4, but gy is 3x3/,
  );
  assertThrows(() => tensor4(1, 2, 3, 3, new Float64Array(5)), /tensor4: tensor.data/);
  assertEquals(convOutSize(112, 3, 2, 1), 56);
  assertEquals(convOutSize(7, 7, 1, 0), 1);
});

Deno.test("bnStats: hand values, biased variance, per image", () => {
  // Image 0: channel 0 = [1,2,3,4] -> mean 2.5, var (2.25+0.25+0.25+2.25)/4 = 1.25;
  //          channel 1 = 5 everywhere -> mean 5, var 0.
  // Image 1: channel 0 = [0,0,0,8] -> mean 2, var (4+4+4+36)/4 = 12;
  //          channel 1 = [-1,1,-1,1] -> mean 0, var 1.
  const x = tensor4(2, 2, 2, 2, f64([1, 2, 3, 4, 5, 5, 5, 5, 0, 0, 0, 8, -1, 1, -1, 1]));
  const s = bnStats(x);
  assertEquals([...s.mean], [2.5, 5, 2, 0]);
  assertEquals([...s.var], [1.25, 0, 12, 1]);
});

Deno.test("bnStatsLoss: hand values", () => {
  // Image 0 above with rm = [2, 5], rv = [1, 1]:
  // (1/2)(0.5^2 + 0^2) + (1/2)((1.25-1)^2 + (0-1)^2) = 0.125 + 0.53125 = 0.65625.
  // Image 1: (1/2)((2-2)^2 + (0-5)^2) + (1/2)((12-1)^2 + (1-1)^2) = 12.5 + 60.5 = 73.
  const x = tensor4(2, 2, 2, 2, f64([1, 2, 3, 4, 5, 5, 5, 5, 0, 0, 0, 8, -1, 1, -1, 1]));
  assertEquals([...bnStatsLoss(x, f64([2, 5]), f64([1, 1]))], [0.65625, 73]);
});

Deno.test("bnApply, bnEvalScaleShift, linear, batchNorm1dEval, add: hand values", () => {
  // gamma 2, beta 1, rm 3, rv 4, eps 0: scale 2/2 = 1, shift 1 - 3 = -2.
  const ss = bnEvalScaleShift(f64([2, 1]), f64([1, 0]), f64([3, 0]), f64([4, 0.25]), 0);
  assertEquals([...ss.scale], [1, 2]);
  assertEquals([...ss.shift], [-2, 0]);
  // Default eps 1e-5: rv 0.99999 + 1e-5 = 1 up to rounding -> scale 2 within a few ulp.
  const d = bnEvalScaleShift(f64([2]), f64([0]), f64([0]), f64([0.99999]));
  assertAllClose(d.scale, [2], 0, 4 * EPS, "scale with eps");
  const y = bnApply(tensor4(1, 2, 1, 2, f64([1, 2, 3, 4])), ss.scale, ss.shift);
  assertEquals([...y.data], [-1, 0, 6, 8]);
  // [[1,2,3],[4,5,6]] x [[1,0,-1],[0.5,0.5,0.5]]^T + [10, 0] = [[8, 3], [8, 7.5]].
  const l = linear(f64([1, 2, 3, 4, 5, 6]), 2, f64([1, 0, -1, 0.5, 0.5, 0.5]), f64([10, 0]), 2);
  assertEquals([...l], [8, 3, 8, 7.5]);
  assertEquals([...linear(f64([1, 2]), 1, f64([3, 4]), null, 1)], [11]);
  // (3 - 1)/sqrt(4) * 2 + 1 = 3 and (0 - 1)/sqrt(4) * 2 + 1 = 0, eps 0.
  const b1 = batchNorm1dEval(f64([3, 0]), 2, f64([2]), f64([1]), f64([1]), f64([4]), 0);
  assertEquals([...b1], [3, 0]);
  const s = add(tensor4(1, 1, 1, 2, f64([1, 2])), tensor4(1, 1, 1, 2, f64([10, 20])));
  assertEquals([...s.data], [11, 22]);
  assertThrows(() => add(tensor4(1, 1, 1, 2), tensor4(1, 2, 1, 1)), /add: a is 1x1x1x2/);
});

Deno.test("ReLU, ReLU6 and PReLU boundary conventions (MODEL.md, docs/ALGORITHM.md)", () => {
  const x = tensor4(1, 1, 1, 6, f64([-1, 0, 3, 6, 7, 1e-300]));
  const gy = tensor4(1, 1, 1, 6, f64([10, 20, 30, 40, 50, 60]));
  assertEquals([...relu(x).data], [0, 0, 3, 6, 7, 1e-300]);
  assertEquals([...reluBackward(x, gy).data], [0, 0, 30, 40, 50, 60]); // 0 at x == 0
  assertEquals([...relu6(x).data], [0, 0, 3, 6, 6, 1e-300]);
  assertEquals([...relu6Backward(x, gy).data], [0, 0, 30, 0, 0, 60]); // 0 at x == 0 and x == 6
  // PReLU per channel: channel 0 slope 0.25, channel 1 slope 0.5; x == 0 takes the slope.
  const px = tensor4(1, 2, 1, 2, f64([-4, 0, 2, -2]));
  const pw = f64([0.25, 0.5]);
  assertEquals([...prelu(px, pw).data], [-1, 0, 2, -1]);
  const pg = preluBackward(px, pw, tensor4(1, 2, 1, 2, f64([8, 8, 8, 8])));
  assertEquals([...pg.data], [2, 2, 8, 4]);
  // A single shared slope (PyTorch's PReLU() default) applies to every channel.
  assertEquals([...prelu(px, f64([0.5])).data], [-2, 0, 2, -1]);
});

Deno.test("absSumPerImage: hand values and compensated accuracy", () => {
  const x = tensor4(2, 1, 2, 2, f64([-1, 2, 3, -4, 0.5, -0.5, 0, 0]));
  assertEquals([...absSumPerImage(x)], [10, 1]);
  // 1 followed by 1e5 copies of 1e-16: a plain sum stays at 1; the exact sum is 1 + 1e-11.
  const big = new Float64Array(100001).fill(1e-16);
  big[0] = 1;
  const s = absSumPerImage(tensor4(1, 1, 1, big.length, big))[0];
  assertAllClose([s], [1 + 1e-11], 0, 2 * EPS, "compensated sum");
});

Deno.test("rng: deterministic, in [0, 1), roughly uniform", () => {
  const a = rng(42), b = rng(42), c = rng(43);
  const sa = Array.from({ length: 5 }, a), sb = Array.from({ length: 5 }, b);
  assertEquals(sa, sb);
  assert(Array.from({ length: 5 }, c).some((v, i) => v !== sa[i]), "seeds 42 and 43 differ");
  const r = rng(1);
  let sum = 0, min = 1, max = 0;
  const n = 100000;
  for (let i = 0; i < n; i++) {
    const v = r();
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert(min >= 0 && max < 1, `range [${min}, ${max}]`);
  // The mean of n uniforms has standard deviation sqrt(1/12/n) = 9.1e-4; 5e-3 is 5.5 sigma.
  assert(Math.abs(sum / n - 0.5) < 5e-3, `mean ${sum / n}`);
  const arr = randomArray(rng(3), 1000, -2, 5);
  assert(arr.every((v) => v >= -2 && v < 5), "randomArray range");
});

// ---------------------------------------------------------------- finite differences

/**
 * Central differences of the per-image function `f` at `t0`, one element at a time. Checks on
 * the way that perturbing image b leaves every other image's value bit-identical.
 */
function centralDiff(f: (t: Tensor4) => Float64Array, t0: Tensor4, h: number): Float64Array {
  const base = f(t0);
  const per = t0.c * t0.h * t0.w;
  const g = new Float64Array(t0.data.length);
  for (let i = 0; i < g.length; i++) {
    const b = Math.floor(i / per);
    const tp = { ...t0, data: t0.data.slice() }, tm = { ...t0, data: t0.data.slice() };
    tp.data[i] += h;
    tm.data[i] -= h;
    const lp = f(tp), lm = f(tm);
    for (let o = 0; o < t0.n; o++) {
      if (o !== b && (lp[o] !== base[o] || lm[o] !== base[o])) {
        throw new Error(`perturbing element ${i} of image ${b} changed image ${o}'s loss`);
      }
    }
    g[i] = (lp[b] - lm[b]) / (2 * h);
  }
  return g;
}

// Finite-difference tolerance. The losses are polynomials (degree 4) in the activations along
// piecewise-linear paths, so the central-difference truncation error h^2/6 |f'''| is ~1e-12
// relative at h = 1e-6. What dominates is rounding: each loss evaluation is accurate to a few
// few ulps of |L| (about 2 ulps were observed), and dividing by 2h turns k ulps into an
// absolute error of k eps |L| / (2h) ~ 1.1e-10 k |L|. atol = 2e-9 max|L| allows k = 18 and
// rtol = 1e-6; the observed worst elements use under 20 % of that.
const H = 1e-6;
const RTOL = 1e-6;
const atolFor = (loss: Float64Array) => 2e-9 * Math.max(...loss.map(Math.abs));

Deno.test("bnStatsLossGrad matches central differences of bnStatsLoss", () => {
  const rand = rng(11);
  const [n, c, h, w] = [2, 5, 3, 4];
  const x = tensor4(n, c, h, w, randomArray(rand, n * c * h * w, -1.5, 1.5));
  const rm = randomArray(rand, c, -0.5, 0.5), rv = randomArray(rand, c, 0.2, 2);
  const weight = 0.37;
  const f = (t: Tensor4) => bnStatsLoss(t, rm, rv).map((v) => weight * v);
  const fd = centralDiff(f, x, H);
  const g = bnStatsLossGrad(x, rm, rv, weight);
  const r = assertAllClose(g.data, fd, atolFor(f(x)), RTOL, "dL/dx of one BN term");
  assert(r.maxAbs < 1e-8, `max abs ${r.maxAbs}`);
});

Deno.test("tiny network: analytic dL/dinput and dL/d(block outputs) match central differences", () => {
  const rand = rng(2024);
  // Cin = 3, widths 5 and 7 (not multiples of 4), odd 9x9 input, one stride-2 block with
  // downsample and one identity block, batch 2.
  const net = makeTinyNet(rand, {
    cin: 3,
    stemWidth: 5,
    blocks: [{ width: 7, stride: 2 }, { width: 7, stride: 1 }],
  });
  assertEquals(bnLayerCount(net), 9); // stem, 3 + downsample, 3, head
  const x = tensor4(2, 3, 9, 9, randomArray(rand, 2 * 3 * 81, -1, 1));
  const fwd = tinyNetForward(net, x);
  const bwd = tinyNetBackward(net, x);
  assertEquals([...bwd.loss], [...fwd.loss]);
  assertEquals([...tinyNetLossFrom(net, -1, x)], [...fwd.loss]);
  const atol = atolFor(fwd.loss);

  const fdIn = centralDiff((t) => tinyNetLossFrom(net, -1, t), x, H);
  assertAllClose(bwd.gInput.data, fdIn, atol, RTOL, "dL/dinput");
  for (let j = 0; j < net.blocks.length; j++) {
    const b = fwd.blockOutputs[j];
    assertEquals([b.c, b.h, b.w], [7, 5, 5]);
    const fdB = centralDiff((t) => tinyNetLossFrom(net, j, t), b, H);
    assertAllClose(bwd.gBlocks[j].data, fdB, atol, RTOL, `dL/d(block ${j} output)`);
  }
});

Deno.test("tiny network: each image's gradient equals its batch-of-one gradient exactly", () => {
  const rand = rng(5);
  const net = makeTinyNet(rand, { cin: 3, stemWidth: 6, blocks: [{ width: 5, stride: 2 }] });
  const x = tensor4(3, 3, 7, 8, randomArray(rand, 3 * 3 * 56, -1, 1));
  const all = tinyNetBackward(net, x);
  const per = 3 * 56;
  for (let b = 0; b < 3; b++) {
    const one = tinyNetBackward(net, tensor4(1, 3, 7, 8, x.data.slice(b * per, (b + 1) * per)));
    assertEquals(one.loss[0], all.loss[b]);
    assertEquals([...one.gInput.data], [...all.gInput.data.slice(b * per, (b + 1) * per)]);
    const bs = all.gBlocks[0].c * all.gBlocks[0].h * all.gBlocks[0].w;
    assertEquals([...one.gBlocks[0].data], [...all.gBlocks[0].data.slice(b * bs, (b + 1) * bs)]);
  }
});

// ---------------------------------------------------------------- PyTorch autograd anchor

/** lo + (hi - lo)(0.5 + 0.5 sin(1.7 i + phase)): deterministic data Python can reproduce. */
function wave(n: number, phase: number, lo: number, hi: number): Float64Array {
  return Float64Array.from(
    { length: n },
    (_, i) => lo + (hi - lo) * (0.5 + 0.5 * Math.sin(1.7 * i + phase)),
  );
}

/** The formula-defined tiny net of the PyTorch anchor test (same construction order). */
function waveNet(): TinyNet {
  let phase = 0;
  const next = (n: number, lo: number, hi: number) => wave(n, ++phase * 0.61, lo, hi);
  const bn = (c: number): BnLayer => ({
    gamma: next(c, 0.5, 1.5),
    beta: next(c, -0.3, 0.3),
    runningMean: next(c, -0.5, 0.5),
    runningVar: next(c, 0.3, 2),
    eps: 1e-5,
  });
  const conv = (cin: number, cout: number, k: number, stride: number): ConvLayer => {
    const a = Math.sqrt(3 / (cin * k * k));
    return { weight: next(cout * cin * k * k, -a, a), cin, cout, k, stride, pad: (k - 1) >> 1 };
  };
  const stemConv = conv(3, 5, 3, 1), stemBn = bn(5), stemPrelu = next(5, 0.1, 0.4);
  const blocks: TinyBlock[] = [];
  let c = 5;
  for (const [width, stride] of [[7, 2], [7, 1]]) {
    const b: TinyBlock = {
      bn1: bn(c),
      conv1: conv(c, width, 3, 1),
      bn2: bn(width),
      prelu: next(width, 0.1, 0.4),
      conv2: conv(width, width, 3, stride),
      bn3: bn(width),
    };
    if (stride !== 1 || c !== width) {
      b.downsample = { conv: conv(c, width, 1, stride), bn: bn(width) };
    }
    blocks.push(b);
    c = width;
  }
  return { stemConv, stemBn, stemPrelu, blocks, headBn: bn(c) };
}

Deno.test("tiny network matches PyTorch float64 autograd (formula-defined weights)", () => {
  // Expected values: PyTorch 1.13 float64 on the same formula-defined net, with
  // F.conv2d / F.batch_norm(training=False, eps=1e-5) / F.prelu, the loss written out as
  // L = mean over the 9 BN2d inputs of mean_c (mu - rm)^2 + mean_c (var_biased - rv)^2,
  // loss.sum().backward(), and retain_grad() on the two block outputs.
  const net = waveNet();
  const x = tensor4(2, 3, 9, 9, wave(2 * 3 * 81, 0.123, -1, 1));
  const r = tinyNetBackward(net, x);
  // Both sides sum the same float64 terms in different orders: agreement to ~1e-15 was
  // observed; 1e-13 relative leaves room for libm differences in Math.sin (1 ulp of the data).
  const rt = 1e-13;
  assertAllClose(r.loss, [1.674945188557726, 1.695349185321649], 0, rt, "L");
  assertAllClose(absSumPerImage(r.gInput), [5.416972068535816, 4.813769982615389], 0, rt, "image");
  assertAllClose(
    absSumPerImage(r.gBlocks[0]),
    [1.6125417527759933, 1.3064247643152966],
    0,
    rt,
    "b0",
  );
  assertAllClose(
    absSumPerImage(r.gBlocks[1]),
    [0.28748636376231473, 0.2842242623101433],
    0,
    rt,
    "b1",
  );
  assertAllClose(
    [r.gInput.data[0], r.gInput.data[485], r.gBlocks[0].data[17]],
    [0.004206399539167462, -0.013432135217063622, 0.005618736602804424],
    0,
    1e-12,
    "single elements",
  );
});
