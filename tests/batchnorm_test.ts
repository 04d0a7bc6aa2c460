/**
 * BatchNorm kernels (src/kernels/batchnorm.ts: bn_stats, bn_apply, bn_backward) on the WebGPU
 * adapter against the float64 CPU reference (src/reference/cpu.ts), for every compile-time
 * variant: VEC4 (plane size a multiple of 4) on and off, each fused activation (none, PReLU,
 * ReLU, ReLU6), HAS_RES, HAS_G, LOSS and ACC.
 *
 * Test data. Inputs are float32 values, so the reference sees exactly what the kernel sees.
 * Every channel gets a "dyadic" affine map: scale in {3 * 2^k, 2^k}, shift = -a0 * scale for a
 * multiple a0 of 1/16; then a0 and a6 = 6 / scale + a0 are float32 values whose BN outputs
 * y = a * scale + shift are exactly 0 and exactly 6 in float32, with or without FMA
 * contraction, because every product and sum involved is representable. Each plane holds a few
 * of those (at different vec4 lanes) among random values, so the activation boundary
 * conventions (PyTorch's, MODEL.md "Backward conventions") are checked exactly: ReLU passes
 * the gradient only for y > 0, ReLU6 only for 0 < y < 6, PReLU uses its slope at y <= 0. The
 * random elements are checked to lie farther from a kink than the float32 error of y, so their
 * branch is the same in float32 and float64.
 *
 * Tolerances (u = 2^-24, gamma_k = k u / (1 - k u), Higham, Accuracy and Stability of Numerical
 * Algorithms, 2nd ed., section 3.1): an expression evaluated with at most k roundings along any
 * path errs by at most gamma_k times the sum of the magnitudes of its terms, computed per
 * element (bounds are per element, not a maximum over the tensor, so small elements are held to
 * their own small bound). A float32 sum of L terms in any order errs by at most
 * gamma_(L-1) * sum |terms| (eq. 4.4 ff.). The specific k of each check is derived where it is
 * used.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  assertWithin,
  dyadicValues,
  f32Values,
  gam,
  getGpu,
  gpuTestOptions,
  run,
  SENTINEL,
  sentinelBuffer,
  submit,
  upload,
} from "./gpu_util.ts";
import { Recorder } from "../src/kernels/recorder.ts";
import {
  type Activation,
  bnParams,
  type BnShape,
  recordBnApply,
  recordBnBackward,
  recordBnStats,
} from "../src/kernels/batchnorm.ts";
import {
  bnApply,
  bnBackward,
  bnEvalScaleShift,
  bnStats,
  bnStatsLossGrad,
  prelu,
  preluBackward,
  relu,
  relu6,
  relu6Backward,
  reluBackward,
  rng,
  type Tensor4,
  tensor4,
} from "../src/reference/cpu.ts";

const GPU = gpuTestOptions("batchnorm_test");

// 3x5x7x7: planes of 49 (VEC4 off, a vec4 slot spans two channels), 735 elements (not a
// multiple of 4), odd batch and channels. 2x6x6x6: VEC4 on, 6 channels. 2x7x1x1: every vec4
// slot spans four channels (and an image boundary), 14 elements.
const SHAPES: { name: string; s: BnShape }[] = [
  { name: "3x5x7x7", s: { n: 3, c: 5, h: 7, w: 7 } },
  { name: "2x6x6x6", s: { n: 2, c: 6, h: 6, w: 6 } },
  { name: "2x7x1x1", s: { n: 2, c: 7, h: 1, w: 1 } },
];
const ACTS: Activation[] = ["none", "prelu", "relu", "relu6"];
/** Scales of the form 2^k or 3 * 2^k, both signs, so 6 / scale is a short binary fraction. */
const SCALES = [0.75, -1.5, 3, 0.375, 1, -0.5, 2, 1.5];

interface Layer {
  s: BnShape;
  /** The BN input a, NCHW. */
  a: Float64Array;
  scale: Float64Array;
  shift: Float64Array;
  rm: Float64Array;
  rv: Float64Array;
  alpha: Float64Array;
  /** The kernel's parameter block: [scale; shift; running_mean; running_var; alpha]. */
  prm: Float32Array;
  /** y = a * scale + shift in float64 (exact for the planted elements). */
  y: Float64Array;
  /** Elements whose y is exactly 0 / exactly 6. */
  at0: number;
  at6: number;
}

/** Random BN input with planted exact activation boundaries (see the module comment). */
function makeLayer(rand: () => number, s: BnShape): Layer {
  const { n, c, h, w } = s;
  const hw = h * w;
  const scale = new Float64Array(c), shift = new Float64Array(c);
  const a0 = new Float64Array(c), a6 = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    scale[ch] = SCALES[ch % SCALES.length];
    a0[ch] = Math.round((rand() * 4 - 2) * 16) / 16;
    shift[ch] = -a0[ch] * scale[ch];
    a6[ch] = 6 / scale[ch] + a0[ch];
    for (const v of [shift[ch], a6[ch]]) assert(Math.fround(v) === v, "planted value not f32");
  }
  const rm = f32Values(rand, c, -0.5, 0.5);
  const rv = f32Values(rand, c, 0.2, 2);
  const alpha = f32Values(rand, c, -0.25, 0.5);
  const a = f32Values(rand, n * c * hw, -4, 4);
  for (let p = 0; p < n * c; p++) {
    const ch = p % c;
    // Up to 4 planted elements per plane, at consecutive positions (so every vec4 lane gets
    // some across planes), alternating y = 0 and y = 6.
    for (let j = 0; j < Math.min(4, hw); j++) {
      a[p * hw + ((p * 3 + j) % hw)] = (p + j) % 2 === 0 ? a0[ch] : a6[ch];
    }
  }
  const y = bnApply(tensor4(n, c, h, w, a), scale, shift).data;
  let at0 = 0, at6 = 0;
  for (let i = 0; i < y.length; i++) {
    const ch = Math.floor(i / hw) % c;
    if (y[i] === 0) at0++;
    else if (y[i] === 6) at6++;
    else {
      // A random element: y's float32 error is at most gamma_2 (|a scale| + |shift|); it
      // must not straddle a kink, or float32 and float64 could take different branches.
      const err = gam(2) * (Math.abs(a[i] * scale[ch]) + Math.abs(shift[ch]));
      assert(
        Math.abs(y[i]) > err && Math.abs(y[i] - 6) > err,
        `test data: y[${i}] = ${y[i]} is within rounding of a kink; change the seed`,
      );
    }
  }
  assert(at0 > 0 && (hw === 1 || at6 > 0), "planted boundaries missing");
  const prm = new Float32Array(5 * c);
  prm.set(scale, 0);
  prm.set(shift, c);
  prm.set(rm, 2 * c);
  prm.set(rv, 3 * c);
  prm.set(alpha, 4 * c);
  return { s, a, scale, shift, rm, rv, alpha, prm, y, at0, at6 };
}

function t4(s: BnShape, data: Float64Array): Tensor4 {
  return tensor4(s.n, s.c, s.h, s.w, data);
}

/** Reference activation of y (float64). */
function activate(act: Activation, L: Layer): Float64Array {
  const yt = t4(L.s, L.y);
  switch (act) {
    case "none":
      return L.y;
    case "prelu":
      return prelu(yt, L.alpha).data;
    case "relu":
      return relu(yt).data;
    case "relu6":
      return relu6(yt).data;
  }
}

/** Reference act'(y) * gy (float64); the derivative conventions are the reference's. */
function activateBackward(act: Activation, L: Layer, gy: Float64Array): Float64Array {
  const yt = t4(L.s, L.y), gt = t4(L.s, gy);
  switch (act) {
    case "none":
      return gy;
    case "prelu":
      return preluBackward(yt, L.alpha, gt).data;
    case "relu":
      return reluBackward(yt, gt).data;
    case "relu6":
      return relu6Backward(yt, gt).data;
  }
}

Deno.test("bnParams folds BN parameters like bnEvalScaleShift, rounded once", () => {
  const rand = rng(11);
  const c = 37;
  const g = f32Values(rand, c, -2, 2), b = f32Values(rand, c, -1, 1);
  const rm = f32Values(rand, c, -1, 1), rv = f32Values(rand, c, 1e-4, 3);
  const al = f32Values(rand, c, 0, 0.3);
  const f = (v: Float64Array) => Float32Array.from(v);
  const p = bnParams(f(g), f(b), f(rm), f(rv), 1e-5, f(al));
  const ref = bnEvalScaleShift(g, b, rm, rv, 1e-5);
  // scale: rounding rv + eps to float32 (u, halved by the square root), 1/sqrt (u), the
  // product (u): 2.5 u relative, so gamma_3 |scale|. shift = beta - rm * scale: the product
  // carries scale's 2.5u plus its own rounding, then the difference rounds: gamma_4 (|rm *
  // scale| + |shift|) covers it.
  const bScale = ref.scale.map((v) => gam(3) * Math.abs(v));
  const bShift = ref.shift.map((v, i) => gam(4) * (Math.abs(rm[i] * ref.scale[i]) + Math.abs(v)));
  const expected = [...ref.scale, ...ref.shift, ...rm, ...rv, ...al];
  const bound = [...bScale, ...bShift, ...new Array(3 * c).fill(0)];
  assertWithin(p, expected, bound, "bnParams rows scale, shift, rm, rv, alpha");
  assertEquals(Array.from(bnParams(f(g), f(b), f(rm), f(rv)).subarray(4 * c)), Array(c).fill(0));
  assertThrows(() => bnParams(f(g), f(b).subarray(1), f(rm), f(rv)), /beta has 36 values/);
  assertThrows(() => bnParams(f(g), f(b), f(rm), f(rv), 1e-5, f(al).subarray(2)), /PReLU/);
});

/**
 * Error bounds of one bn_stats plane. The mean is a sum of L = h*w terms and a division. The
 * sum errs by at most `sumErr` (0 when exact, else gamma_(L-1) sum |x|, any order); WGSL's f32
 * division is accurate to 2.5 ulp <= 5u relative (WGSL spec, "Floating Point Accuracy"), not
 * correctly rounded, so |mean - mu| <= sumErr / L + gamma_5 (|mu| + sumErr / L).
 * The variance, given the kernel's own float32 mean m = mu + delta: the exact sum of squared
 * deviations from m is L (var + delta^2) (the cross term vanishes); each term takes a
 * subtraction and a square, the sum L - 1 additions, the division 5u:
 * |v - var| <= delta^2 + gamma_(L+6) (var + delta^2), with delta measured from the output.
 */
function statsBounds(L: number, mu: number, v: number, sumErr: number, delta: number) {
  const e = sumErr / L;
  return {
    mean: e + gam(5) * (Math.abs(mu) + e),
    var: delta * delta + gam(L + 6) * (v + delta * delta),
  };
}

Deno.test(
  "bn_stats: per-image mean and biased two-pass variance, VEC4 on and off, both families",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(21);
    // "exact": multiples of 2^-8 in [-1.5, 2.5): every partial sum of a plane (at most 12544 * 2.5
    // < 2^15) fits float32's 24 bits, so the kernel's sum is exact in any order and the mean
    // carries only the division's error: a dropped or repeated element shows at once.
    // "at 1000": 1000 + U(-1, 1) in float32, large mean, small spread; sums round here, and
    // E[x^2] - E[x]^2 in float32 would cancel catastrophically. Expected precision at 7x7:
    // |delta| <= gamma_48 * 1000 + 5u * 1000 ~ 3e-3 (worst case; ~1e-4 seen), so the variance
    // (~1/3) is good to ~1e-5 absolute, while even a correctly rounded one-pass formula loses
    // up to ulp(1e6) / 2 = 0.03 (the test asserts its bound would catch that).
    // 112x112 planes: 12544 elements each, the largest BN2d input of an iResNet.
    const cases: { name: string; s: BnShape; kind: "exact" | "at 1000" }[] = [
      ...SHAPES.map((c) => ({ ...c, kind: "exact" as const })),
      { name: "2x3x112x112", s: { n: 2, c: 3, h: 112, w: 112 }, kind: "exact" },
      { name: "3x5x7x7", s: SHAPES[0].s, kind: "at 1000" },
      { name: "2x6x6x6", s: SHAPES[1].s, kind: "at 1000" },
      { name: "1x2x112x112", s: { n: 1, c: 2, h: 112, w: 112 }, kind: "at 1000" },
    ];
    for (const { name, s, kind } of cases) {
      const hw = s.h * s.w, planes = s.n * s.c;
      const x = kind === "exact"
        ? dyadicValues(rand, planes * hw, -1.5, 2.5, 8)
        : f32Values(rand, planes * hw, 999, 1001);
      const ref = bnStats(t4(s, x));
      const bx = upload(gpu, "x", x);
      for (const family of ["register", "tiled"] as const) {
        const bs = sentinelBuffer(gpu, "stats", 2 * planes);
        const out = await run(gpu, (r) => recordBnStats(r, "stats", s, bx, bs, family), bs);
        const means = new Float64Array(planes), vars = new Float64Array(planes);
        const meanBound = new Float64Array(planes), varBound = new Float64Array(planes);
        let onePassCaught = false;
        for (let p = 0; p < planes; p++) {
          let absSum = 0, sq = 0;
          for (let i = p * hw; i < (p + 1) * hw; i++) {
            absSum += Math.abs(x[i]);
            sq += (x[i] * x[i]) / hw;
          }
          const mu = ref.mean[p], v = ref.var[p];
          means[p] = out[2 * p];
          vars[p] = out[2 * p + 1];
          const b = statsBounds(
            hw,
            mu,
            v,
            kind === "exact" ? 0 : gam(hw - 1) * absSum,
            means[p] - mu,
          );
          meanBound[p] = b.mean;
          varBound[p] = b.var;
          // The best a float32 one-pass formula could do: correctly rounded E[x^2] and mu^2.
          const onePass = Math.fround(Math.fround(sq) - Math.fround(mu * mu));
          if (Math.abs(onePass - v) > varBound[p]) onePassCaught = true;
        }
        const what = `bn_stats ${name} ${kind} (${family})`;
        assertWithin(Float32Array.from(means), ref.mean, meanBound, `${what}: mean`);
        assertWithin(Float32Array.from(vars), ref.var, varBound, `${what}: variance`);
        for (let i = 2 * planes; i < out.length; i++) {
          assertEquals(out[i], SENTINEL, "stats padding");
        }
        if (kind === "at 1000") assert(onePassCaught, `${what}: bound would not catch one-pass`);
        bs.destroy();
      }
      bx.destroy();
    }
  },
);

Deno.test("bn_stats folds more than 65535 planes over two dispatch dimensions", GPU, async () => {
  const gpu = await getGpu();
  // Batch 140 x 512 channels of 2x2 planes: 71680 workgroups (a real batch of 140 at the
  // 512-channel layers exceeds 65535 planes). Exact sums as in the test above.
  const s = { n: 140, c: 512, h: 2, w: 2 };
  const planes = s.n * s.c;
  const x = dyadicValues(rng(22), planes * 4, -1, 1, 8);
  const ref = bnStats(t4(s, x));
  const bx = upload(gpu, "x", x);
  const bs = sentinelBuffer(gpu, "stats", 2 * planes);
  const out = await run(gpu, (r) => recordBnStats(r, "stats", s, bx, bs), bs);
  const expected: number[] = [], bound: number[] = [];
  for (let p = 0; p < planes; p++) {
    const b = statsBounds(4, ref.mean[p], ref.var[p], 0, out[2 * p] - ref.mean[p]);
    expected.push(ref.mean[p], ref.var[p]);
    bound.push(b.mean, b.var);
  }
  assertWithin(out, expected, bound, "bn_stats 140x512x2x2 (folded)");
});

Deno.test(
  "bn_apply: every activation, with and without residual, VEC4 on and off",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(31);
    for (const { name, s } of SHAPES) {
      const L = makeLayer(rand, s);
      const total = L.a.length;
      const r = f32Values(rand, total, -2, 2);
      const ba = upload(gpu, "a", L.a), bp = upload(gpu, "prm", L.prm), br = upload(gpu, "r", r);
      console.log(`${name}: ${L.at0} elements at y == 0, ${L.at6} at y == 6`);
      for (const act of ACTS) {
        const z = activate(act, L);
        for (const res of [false, true]) {
          const expected = res ? z.map((v, i) => v + r[i]) : z;
          // y = a * scale + shift: 2 roundings (gamma_2 (|a scale| + |shift|)); PReLU's product
          // with alpha one more, scaling that by |alpha| at most max(1, |alpha|); the residual
          // add one more: gamma_4 (max(1, |alpha|) (|a scale| + |shift|) + |r|). ReLU and ReLU6
          // clamp exactly.
          const bound = expected.map((_, i) => {
            const ch = Math.floor(i / (s.h * s.w)) % s.c;
            const m = act === "prelu" ? Math.max(1, Math.abs(L.alpha[ch])) : 1;
            const ab = Math.abs(L.a[i] * L.scale[ch]) + Math.abs(L.shift[ch]);
            return gam(4) * (m * ab + (res ? Math.abs(r[i]) : 0));
          });
          const by = sentinelBuffer(gpu, "y", total);
          const out = await run(
            gpu,
            (rec) => recordBnApply(rec, "bn", s, act, ba, bp, res ? br : undefined, by),
            by,
          );
          assertWithin(out, expected, bound, `bn_apply ${name} ${act}${res ? " +res" : ""}`);
          by.destroy();
        }
      }
      for (const b of [ba, bp, br]) b.destroy();
    }
  },
);

Deno.test(
  "bn_backward: activation gradient, statistics-loss gradient and ACC, every variant",
  GPU,
  async () => {
    const gpu = await getGpu();
    const rand = rng(41);
    const invLayers = 1 / 3; // not a power of two: coef is rounded to float32 in the uniform
    for (const { name, s } of SHAPES) {
      const L = makeLayer(rand, s);
      const total = L.a.length, hw = s.h * s.w;
      const gy = f32Values(rand, total, -1, 1);
      const old = f32Values(rand, total, -1, 1);
      const st = bnStats(t4(s, L.a));
      // The statistics as the forward pass hands them over: float32 (mean, var) pairs.
      const stats = new Float32Array(2 * s.n * s.c);
      for (let p = 0; p < s.n * s.c; p++) {
        stats[2 * p] = st.mean[p];
        stats[2 * p + 1] = st.var[p];
      }
      const lossRef = bnStatsLossGrad(t4(s, L.a), L.rm, L.rv, invLayers).data;
      // Magnitude of the loss term's parts, per element: coef [ (mu - rm) + (var - rv) 2 (a - mu) ]
      // with coef = 2 invLayers / (C H W); float32 mu and var each carry a rounding, as does coef.
      const coef = (2 * invLayers) / (s.c * hw);
      const lossMag = L.a.map((v, i) => {
        const p = Math.floor(i / hw), ch = p % s.c;
        const mu = Math.abs(st.mean[p]), va = Math.abs(st.var[p]);
        return coef *
          (mu + Math.abs(L.rm[ch]) + 2 * (va + Math.abs(L.rv[ch])) * (Math.abs(v) + mu));
      });
      const ba = upload(gpu, "a", L.a), bp = upload(gpu, "prm", L.prm);
      const bs = upload(gpu, "stats", stats), bg = upload(gpu, "gy", gy);
      for (const act of ACTS) {
        const gAct = bnBackward(t4(s, activateBackward(act, L, gy)), L.scale).data;
        // With HAS_G off the activation is dead code; two ACT values suffice to show it is.
        const combos = act === "none" || act === "relu6"
          ? [[true, false], [false, true], [true, true]]
          : [[true, false], [true, true]];
        const runs = combos.flatMap(([hasG, loss]) =>
          [false, true].map((acc) => ({
            hasG,
            loss,
            acc,
            ga: acc ? upload(gpu, "ga", old) : sentinelBuffer(gpu, "ga", total),
          }))
        );
        // One recording and one submit for all variants of this activation, each writing its
        // own buffer.
        await submit(gpu, (rec) => {
          for (const r of runs) {
            recordBnBackward(rec, "bnb", s, ba, bp, r.ga, {
              act,
              gy: r.hasG ? bg : undefined,
              stats: r.loss ? bs : undefined,
              invLayers,
              accumulate: r.acc,
            });
          }
        });
        const outs = await Promise.all(runs.map((r) => gpu.read(r.ga)));
        runs.forEach(({ hasG, loss, acc, ga }, k) => {
          const expected = gAct.map((g, i) =>
            (hasG ? g : 0) + (loss ? lossRef[i] : 0) + (acc ? old[i] : 0)
          );
          // act'(y) gy scale: at most 2 roundings (alpha, scale). The loss term: rounded
          // mu / var / coef inputs, a subtraction, a product, a sum and the product with coef
          // (at most 6). Then adding the two terms and the held value: 2 more. So
          // gamma_8 (|activation term| + loss magnitude + |held|) per element.
          const bound = expected.map((_, i) =>
            gam(8) * ((hasG ? Math.abs(gAct[i]) : 0) + (loss ? lossMag[i] : 0) +
              (acc ? Math.abs(old[i]) : 0))
          );
          const tag = [hasG && `${act}'`, loss && "loss", acc && "ACC"].filter(Boolean).join("+");
          assertWithin(outs[k], expected, bound, `bn_backward ${name} ${tag}`);
          ga.destroy();
        });
      }
      for (const b of [ba, bp, bs, bg]) b.destroy();
    }
  },
);

Deno.test(
  "bn_backward takes its statistics straight from bn_stats (one recording)",
  GPU,
  async () => {
    const gpu = await getGpu();
    const s = SHAPES[0].s, hw = s.h * s.w;
    const rand = rng(51);
    const L = makeLayer(rand, s);
    const gy = f32Values(rand, L.a.length, -1, 1);
    const invLayers = 1 / 7;
    const st = bnStats(t4(s, L.a));
    const lossRef = bnStatsLossGrad(t4(s, L.a), L.rm, L.rv, invLayers).data;
    const expected = bnBackward(t4(s, activateBackward("relu6", L, gy)), L.scale).data
      .map((g, i) => g + lossRef[i]);
    // As in the variant test, plus the error of the kernel's statistics ({@link statsBounds},
    // with the worst-case mean error standing in for the measured one), entering
    // the loss term through its derivatives coef (1 + 2 |var - rv|) and 2 coef |a - mu|.
    const coef = (2 * invLayers) / (s.c * hw);
    const bound = expected.map((_, i) => {
      const p = Math.floor(i / hw), ch = p % s.c;
      let absSum = 0;
      for (let k = p * hw; k < (p + 1) * hw; k++) absSum += Math.abs(L.a[k]);
      const mu = st.mean[p], va = st.var[p];
      const dMu = statsBounds(hw, mu, va, gam(hw - 1) * absSum, 0).mean;
      const dVar = statsBounds(hw, mu, va, 0, dMu).var;
      const mag = Math.abs(gy[i] * L.scale[ch]) +
        coef * (Math.abs(mu) + Math.abs(L.rm[ch]) +
            2 * (va + Math.abs(L.rv[ch])) * (Math.abs(L.a[i]) + Math.abs(mu)));
      const statErr = coef *
        (dMu * (1 + 2 * Math.abs(va - L.rv[ch])) + 2 * dVar * (Math.abs(L.a[i] - mu) + dMu));
      return gam(8) * mag + statErr;
    });
    const ba = upload(gpu, "a", L.a), bp = upload(gpu, "prm", L.prm), bg = upload(gpu, "gy", gy);
    const bs = gpu.storage("stats", 2 * s.n * s.c * 4);
    const bga = sentinelBuffer(gpu, "ga", L.a.length);
    const out = await run(gpu, (rec) => {
      recordBnStats(rec, "stats", s, ba, bs);
      recordBnBackward(rec, "bnb", s, ba, bp, bga, {
        act: "relu6",
        gy: bg,
        stats: bs,
        invLayers,
        accumulate: false,
      });
    }, bga);
    assertWithin(out, expected, bound, "bn_stats -> bn_backward 3x5x7x7 relu6'+loss");
  },
);

Deno.test("recordBnBackward rejects a pass with neither gradient nor loss", GPU, async () => {
  const gpu = await getGpu();
  const b = gpu.storage("b", 64);
  const rec = new Recorder(gpu);
  assertThrows(
    () =>
      recordBnBackward(rec, "bnb", { n: 1, c: 1, h: 2, w: 2 }, b, b, b, {
        act: "relu",
        gy: undefined,
        stats: undefined,
        invLayers: 1,
        accumulate: false,
      }),
    /neither gradient nor loss/,
  );
  b.destroy();
});
