/**
 * Float64 CPU reference operators (testing-ladder step 1 of docs/DESIGN.md).
 *
 * Plain nested loops, no tiling and no tricks, so that every WebGPU kernel can be compared
 * against an obviously-correct implementation. All activations are NCHW, row-major:
 * element (n, c, h, w) lives at `((n * C + c) * H + h) * W + w`. Convolution weights follow
 * PyTorch: `[Cout, Cin / groups, K, K]`, row-major. Everything is float64.
 *
 * The GraFIQs-specific pieces (the per-image BN-statistics loss and its gradient) follow
 * docs/ALGORITHM.md ("The loss", "The reverse pass"); activation boundary conventions (ReLU, ReLU6)
 * follow the "Backward conventions" of models/mobilefacenet/MODEL.md, which are PyTorch's.
 *
 * Every function validates its arguments and throws an `Error` whose message starts with
 * `reference/cpu.ts <function>:` and says what is wrong.
 *
 * @module
 */

/** A 4-D float64 activation tensor, NCHW, row-major: index `((n*c + ci)*h + y)*w + x`. */
export interface Tensor4 {
  /** Batch size (images), >= 1. */
  n: number;
  /** Channels, >= 1. */
  c: number;
  /** Height in elements, >= 1. */
  h: number;
  /** Width in elements, >= 1. */
  w: number;
  /** The `n*c*h*w` values, NCHW row-major. */
  data: Float64Array;
}

function fail(fn: string, msg: string): never {
  throw new Error(`reference/cpu.ts ${fn}: ${msg}`);
}

function checkDim(fn: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) fail(fn, `${name} must be a positive integer, got ${v}`);
}

function checkTensor(fn: string, name: string, t: Tensor4): void {
  checkDim(fn, `${name}.n`, t.n);
  checkDim(fn, `${name}.c`, t.c);
  checkDim(fn, `${name}.h`, t.h);
  checkDim(fn, `${name}.w`, t.w);
  const len = t.n * t.c * t.h * t.w;
  if (!(t.data instanceof Float64Array) || t.data.length !== len) {
    fail(
      fn,
      `${name}.data must be a Float64Array of n*c*h*w = ${len} values, got ` +
        `${t.data?.constructor?.name ?? typeof t.data} of length ${t.data?.length}`,
    );
  }
}

function checkSameShape(fn: string, a: Tensor4, an: string, b: Tensor4, bn: string): void {
  if (a.n !== b.n || a.c !== b.c || a.h !== b.h || a.w !== b.w) {
    fail(
      fn,
      `${an} is ${a.n}x${a.c}x${a.h}x${a.w} but ${bn} is ${b.n}x${b.c}x${b.h}x${b.w}; ` +
        `shapes must match`,
    );
  }
}

function checkVec(fn: string, name: string, v: Float64Array | undefined, len: number): void {
  if (!(v instanceof Float64Array) || v.length !== len) {
    fail(
      fn,
      `${name} must be a Float64Array of length ${len}, got ` +
        `${v?.constructor?.name ?? typeof v} of length ${v?.length}`,
    );
  }
}

/**
 * Make an NCHW tensor of shape n x c x h x w.
 *
 * @param data optional values, used as is (not copied); zeros when omitted.
 * @throws Error when a dimension is not a positive integer or `data` has the wrong length.
 */
export function tensor4(
  n: number,
  c: number,
  h: number,
  w: number,
  data?: Float64Array,
): Tensor4 {
  const t = { n, c, h, w, data: data ?? new Float64Array(Math.max(0, n * c * h * w)) };
  checkTensor("tensor4", "tensor", t);
  return t;
}

/**
 * Output size of a convolution along one axis: `floor((size + 2*pad - k) / stride) + 1`
 * (PyTorch's formula, dilation 1). May be < 1 for a kernel larger than the padded input.
 */
export function convOutSize(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

function checkConvArgs(
  fn: string,
  cin: number,
  cout: number,
  k: number,
  stride: number,
  pad: number,
  groups: number,
  weight: Float64Array,
): void {
  checkDim(fn, "cin", cin);
  checkDim(fn, "cout", cout);
  checkDim(fn, "k", k);
  checkDim(fn, "stride", stride);
  checkDim(fn, "groups", groups);
  if (!Number.isInteger(pad) || pad < 0) fail(fn, `pad must be an integer >= 0, got ${pad}`);
  if (cin % groups !== 0 || cout % groups !== 0) {
    fail(fn, `groups ${groups} must divide both Cin ${cin} and Cout ${cout}`);
  }
  checkVec(
    fn,
    `weight [Cout=${cout}, Cin/groups=${cin / groups}, ${k}, ${k}]`,
    weight,
    cout * (cin / groups) * k * k,
  );
}

/**
 * 2-D cross-correlation (PyTorch `conv2d`, dilation 1) of an NCHW tensor.
 *
 * y[n, co, oy, ox] = bias[co] + Σ_{ci in group(co)} Σ_{ky,kx}
 *   x[n, ci, oy*stride - pad + ky, ox*stride - pad + kx] * weight[co, ci - g*Cin/groups, ky, kx],
 * with zero padding outside the input. `groups = Cin = Cout` is a depthwise convolution.
 *
 * @param x input, N x Cin x H x W.
 * @param weight `[Cout, Cin/groups, k, k]` row-major.
 * @param cout output channels.
 * @param k square kernel size.
 * @param stride stride (both axes), >= 1.
 * @param pad zero padding on every side, >= 0.
 * @param groups channel groups; must divide Cin and Cout.
 * @param bias optional per-output-channel bias, length Cout.
 * @returns N x Cout x Ho x Wo with Ho = {@link convOutSize}(H, k, stride, pad).
 * @throws Error on inconsistent shapes, a wrong weight/bias length or an empty output.
 */
export function conv2d(
  x: Tensor4,
  weight: Float64Array,
  cout: number,
  k: number,
  stride: number,
  pad: number,
  groups = 1,
  bias?: Float64Array,
): Tensor4 {
  const fn = "conv2d";
  checkTensor(fn, "x", x);
  const { n, c: cin, h, w } = x;
  checkConvArgs(fn, cin, cout, k, stride, pad, groups, weight);
  if (bias !== undefined) checkVec(fn, "bias", bias, cout);
  const ho = convOutSize(h, k, stride, pad), wo = convOutSize(w, k, stride, pad);
  if (ho < 1 || wo < 1) {
    fail(fn, `kernel ${k} with pad ${pad} does not fit the ${h}x${w} input (output ${ho}x${wo})`);
  }
  const cinG = cin / groups, coutG = cout / groups;
  const xd = x.data;
  const y = new Float64Array(n * cout * ho * wo);
  for (let b = 0; b < n; b++) {
    for (let co = 0; co < cout; co++) {
      const g = Math.floor(co / coutG);
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let s = bias ? bias[co] : 0;
          for (let cg = 0; cg < cinG; cg++) {
            const ci = g * cinG + cg;
            for (let ky = 0; ky < k; ky++) {
              const iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < k; kx++) {
                const ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= w) continue;
                s += xd[((b * cin + ci) * h + iy) * w + ix] *
                  weight[((co * cinG + cg) * k + ky) * k + kx];
              }
            }
          }
          y[((b * cout + co) * ho + oy) * wo + ox] = s;
        }
      }
    }
  }
  return { n, c: cout, h: ho, w: wo, data: y };
}

/**
 * Gradient of {@link conv2d} with respect to its input (the transposed convolution with the same
 * weights, docs/ALGORITHM.md "The reverse pass"), written as a gather over output positions:
 *
 * dx[n, ci, iy, ix] = Σ_{co in group(ci)} Σ_{ky,kx : (iy + pad - ky) = oy*stride,
 *   (ix + pad - kx) = ox*stride, 0 <= oy < Ho, 0 <= ox < Wo} gy[n, co, oy, ox] * weight[co, ci', ky, kx].
 *
 * With stride 2 several input sizes map to the same output size, so the input size is given.
 *
 * @param gy dL/dy, N x Cout x Ho x Wo.
 * @param weight `[Cout, Cin/groups, k, k]` row-major, the forward weights.
 * @param cin input channels of the forward convolution.
 * @param hin forward input height; must satisfy convOutSize(hin, k, stride, pad) === Ho.
 * @param win forward input width; same condition with Wo.
 * @returns dL/dx, N x Cin x hin x win.
 * @throws Error on inconsistent shapes or a wrong weight length.
 */
export function conv2dBackwardData(
  gy: Tensor4,
  weight: Float64Array,
  cin: number,
  hin: number,
  win: number,
  k: number,
  stride: number,
  pad: number,
  groups = 1,
): Tensor4 {
  const fn = "conv2dBackwardData";
  checkTensor(fn, "gy", gy);
  const { n, c: cout, h: ho, w: wo } = gy;
  checkDim(fn, "hin", hin);
  checkDim(fn, "win", win);
  checkConvArgs(fn, cin, cout, k, stride, pad, groups, weight);
  const eh = convOutSize(hin, k, stride, pad), ew = convOutSize(win, k, stride, pad);
  if (eh !== ho || ew !== wo) {
    fail(
      fn,
      `input ${hin}x${win} with k ${k}, stride ${stride}, pad ${pad} gives output ${eh}x${ew}, ` +
        `but gy is ${ho}x${wo}`,
    );
  }
  const cinG = cin / groups, coutG = cout / groups;
  const gd = gy.data;
  const dx = new Float64Array(n * cin * hin * win);
  for (let b = 0; b < n; b++) {
    for (let ci = 0; ci < cin; ci++) {
      const g = Math.floor(ci / cinG), cg = ci - g * cinG;
      for (let iy = 0; iy < hin; iy++) {
        for (let ix = 0; ix < win; ix++) {
          let s = 0;
          for (let co = g * coutG; co < (g + 1) * coutG; co++) {
            for (let ky = 0; ky < k; ky++) {
              const ty = iy + pad - ky;
              if (ty < 0 || ty % stride !== 0) continue;
              const oy = ty / stride;
              if (oy >= ho) continue;
              for (let kx = 0; kx < k; kx++) {
                const tx = ix + pad - kx;
                if (tx < 0 || tx % stride !== 0) continue;
                const ox = tx / stride;
                if (ox >= wo) continue;
                s += gd[((b * cout + co) * ho + oy) * wo + ox] *
                  weight[((co * cinG + cg) * k + ky) * k + kx];
              }
            }
          }
          dx[((b * cin + ci) * hin + iy) * win + ix] = s;
        }
      }
    }
  }
  return { n, c: cin, h: hin, w: win, data: dx };
}

/**
 * Per-image, per-channel BN statistics of a BN layer's input (docs/ALGORITHM.md, "The loss"): the
 * mean over (h, w) and the **biased** variance (divide by H*W), computed in two passes (mean first,
 * then the mean of squared deviations) for accuracy.
 *
 * @returns `mean` and `var`, each of length N*C, index `n*C + c`.
 * @throws Error on a malformed tensor.
 */
export function bnStats(x: Tensor4): { mean: Float64Array; var: Float64Array } {
  checkTensor("bnStats", "x", x);
  const { n, c, h, w, data } = x;
  const hw = h * w;
  const mean = new Float64Array(n * c), variance = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    const o = p * hw;
    let s = 0;
    for (let i = 0; i < hw; i++) s += data[o + i];
    const mu = s / hw;
    let q = 0;
    for (let i = 0; i < hw; i++) {
      const d = data[o + i] - mu;
      q += d * d;
    }
    mean[p] = mu;
    variance[p] = q / hw;
  }
  return { mean, var: variance };
}

/**
 * Per-channel affine map, the form an eval-mode BatchNorm2d takes: y = x * scale[c] + shift[c].
 *
 * @param scale length C. @param shift length C.
 * @throws Error on a malformed tensor or wrong vector lengths.
 */
export function bnApply(x: Tensor4, scale: Float64Array, shift: Float64Array): Tensor4 {
  const fn = "bnApply";
  checkTensor(fn, "x", x);
  checkVec(fn, "scale", scale, x.c);
  checkVec(fn, "shift", shift, x.c);
  const { n, c, h, w, data } = x;
  const hw = h * w;
  const y = new Float64Array(data.length);
  for (let p = 0; p < n * c; p++) {
    const ch = p % c, s = scale[ch], t = shift[ch];
    for (let i = p * hw; i < (p + 1) * hw; i++) y[i] = data[i] * s + t;
  }
  return { n, c, h, w, data: y };
}

/**
 * Backward of an eval-mode BN (per-channel affine map) with respect to its input:
 * dL/dx = gy * scale[c] (docs/ALGORITHM.md "The reverse pass": g · γ_c / sqrt(rv_c + eps)).
 *
 * @throws Error on a malformed tensor or a wrong scale length.
 */
export function bnBackward(gy: Tensor4, scale: Float64Array): Tensor4 {
  return bnApply(gy, scale, new Float64Array(gy.c));
}

/**
 * Fold eval-mode BatchNorm parameters into a per-channel affine map:
 * scale = gamma / sqrt(runningVar + eps), shift = beta - runningMean * scale.
 *
 * @param eps PyTorch's default 1e-5 (docs/ALGORITHM.md, "The network").
 * @throws Error when the four vectors differ in length.
 */
export function bnEvalScaleShift(
  gamma: Float64Array,
  beta: Float64Array,
  runningMean: Float64Array,
  runningVar: Float64Array,
  eps = 1e-5,
): { scale: Float64Array; shift: Float64Array } {
  const fn = "bnEvalScaleShift";
  const c = gamma?.length;
  checkVec(fn, "gamma", gamma, c);
  checkVec(fn, "beta", beta, c);
  checkVec(fn, "runningMean", runningMean, c);
  checkVec(fn, "runningVar", runningVar, c);
  const scale = new Float64Array(c), shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = gamma[i] / Math.sqrt(runningVar[i] + eps);
    shift[i] = beta[i] - runningMean[i] * scale[i];
  }
  return { scale, shift };
}

function checkSlope(fn: string, w: Float64Array, c: number): void {
  if (!(w instanceof Float64Array) || (w.length !== c && w.length !== 1)) {
    fail(
      fn,
      `PReLU weight must be a Float64Array of length C = ${c} or 1, got length ${w?.length}`,
    );
  }
}

/**
 * PReLU: y = x > 0 ? x : w[c] * x. `w` has length C (one slope per channel, as the iResNet
 * uses) or 1 (one shared slope, PyTorch's default `PReLU()`).
 *
 * @throws Error on a malformed tensor or a wrong slope length.
 */
export function prelu(x: Tensor4, w: Float64Array): Tensor4 {
  checkTensor("prelu", "x", x);
  checkSlope("prelu", w, x.c);
  const { n, c, h, w: wd, data } = x;
  const hw = h * wd;
  const y = new Float64Array(data.length);
  for (let p = 0; p < n * c; p++) {
    const a = w.length === 1 ? w[0] : w[p % c];
    for (let i = p * hw; i < (p + 1) * hw; i++) y[i] = data[i] > 0 ? data[i] : a * data[i];
  }
  return { n, c, h, w: wd, data: y };
}

/**
 * PReLU backward with respect to its input (docs/ALGORITHM.md, "The reverse pass"):
 * gx = gy * (x > 0 ? 1 : w[c]). At x == 0 the slope w[c] is used, as PyTorch does.
 *
 * @param x the PReLU **input** of the forward pass. @param gy dL/dy, same shape as x.
 * @throws Error on malformed or mismatched tensors or a wrong slope length.
 */
export function preluBackward(x: Tensor4, w: Float64Array, gy: Tensor4): Tensor4 {
  const fn = "preluBackward";
  checkTensor(fn, "x", x);
  checkTensor(fn, "gy", gy);
  checkSameShape(fn, x, "x", gy, "gy");
  checkSlope(fn, w, x.c);
  const { n, c, h, w: wd, data } = x;
  const hw = h * wd;
  const g = new Float64Array(data.length);
  for (let p = 0; p < n * c; p++) {
    const a = w.length === 1 ? w[0] : w[p % c];
    for (let i = p * hw; i < (p + 1) * hw; i++) g[i] = data[i] > 0 ? gy.data[i] : a * gy.data[i];
  }
  return { n, c, h, w: wd, data: g };
}

function mapUnary(fn: string, x: Tensor4, f: (v: number) => number): Tensor4 {
  checkTensor(fn, "x", x);
  const y = new Float64Array(x.data.length);
  for (let i = 0; i < y.length; i++) y[i] = f(x.data[i]);
  return { n: x.n, c: x.c, h: x.h, w: x.w, data: y };
}

function maskBackward(
  fn: string,
  x: Tensor4,
  gy: Tensor4,
  pass: (v: number) => boolean,
): Tensor4 {
  checkTensor(fn, "x", x);
  checkTensor(fn, "gy", gy);
  checkSameShape(fn, x, "x", gy, "gy");
  const g = new Float64Array(x.data.length);
  for (let i = 0; i < g.length; i++) g[i] = pass(x.data[i]) ? gy.data[i] : 0;
  return { n: x.n, c: x.c, h: x.h, w: x.w, data: g };
}

/** ReLU: y = max(x, 0). @throws Error on a malformed tensor. */
export function relu(x: Tensor4): Tensor4 {
  return mapUnary("relu", x, (v) => (v > 0 ? v : 0));
}

/**
 * ReLU backward: gx = x > 0 ? gy : 0, so 0 at x == 0 (PyTorch, MODEL.md "Backward conventions").
 *
 * @param x the ReLU **input** of the forward pass. @param gy dL/dy, same shape.
 * @throws Error on malformed or mismatched tensors.
 */
export function reluBackward(x: Tensor4, gy: Tensor4): Tensor4 {
  return maskBackward("reluBackward", x, gy, (v) => v > 0);
}

/** ReLU6: y = min(max(x, 0), 6). @throws Error on a malformed tensor. */
export function relu6(x: Tensor4): Tensor4 {
  return mapUnary("relu6", x, (v) => (v > 0 ? (v < 6 ? v : 6) : 0));
}

/**
 * ReLU6 backward: gx = (0 < x < 6) ? gy : 0, so 0 at both boundaries x == 0 and x == 6
 * (PyTorch, MODEL.md "Backward conventions").
 *
 * @param x the ReLU6 **input** of the forward pass. @param gy dL/dy, same shape.
 * @throws Error on malformed or mismatched tensors.
 */
export function relu6Backward(x: Tensor4, gy: Tensor4): Tensor4 {
  return maskBackward("relu6Backward", x, gy, (v) => v > 0 && v < 6);
}

/** Elementwise sum a + b (residual connections). @throws Error when shapes differ. */
export function add(a: Tensor4, b: Tensor4): Tensor4 {
  checkTensor("add", "a", a);
  checkTensor("add", "b", b);
  checkSameShape("add", a, "a", b, "b");
  const y = new Float64Array(a.data.length);
  for (let i = 0; i < y.length; i++) y[i] = a.data[i] + b.data[i];
  return { n: a.n, c: a.c, h: a.h, w: a.w, data: y };
}

/**
 * One BN2d layer's GraFIQs term, per image (docs/ALGORITHM.md, "The loss"), for the layer input x:
 * L_n = (1/C) Σ_c (μ_{n,c} - rm_c)² + (1/C) Σ_c (σ²_{n,c} - rv_c)², with μ and the biased σ² over
 * (h, w) of image n only ({@link bnStats}).
 *
 * @param runningMean length C. @param runningVar length C.
 * @returns length N, one (unweighted) term per image.
 * @throws Error on a malformed tensor or wrong vector lengths.
 */
export function bnStatsLoss(
  x: Tensor4,
  runningMean: Float64Array,
  runningVar: Float64Array,
): Float64Array {
  const fn = "bnStatsLoss";
  checkTensor(fn, "x", x);
  checkVec(fn, "runningMean", runningMean, x.c);
  checkVec(fn, "runningVar", runningVar, x.c);
  const { mean, var: v } = bnStats(x);
  const { n, c } = x;
  const out = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    let sm = 0, sv = 0;
    for (let ch = 0; ch < c; ch++) {
      const dm = mean[b * c + ch] - runningMean[ch];
      const dv = v[b * c + ch] - runningVar[ch];
      sm += dm * dm;
      sv += dv * dv;
    }
    out[b] = sm / c + sv / c;
  }
  return out;
}

/**
 * Gradient of `weight * L_n` ({@link bnStatsLoss}) with respect to the layer input x, per image
 * (docs/ALGORITHM.md, "The loss"), N = H*W:
 * dx[n,c,h,w] = weight * (2/C) [ (μ_c - rm_c)/N + (σ²_c - rv_c) · 2 (x[n,c,h,w] - μ_c)/N ].
 *
 * @param weight the factor 1/K (K = number of BN2d layers) in the full loss.
 * @returns same shape as x.
 * @throws Error on a malformed tensor or wrong vector lengths.
 */
export function bnStatsLossGrad(
  x: Tensor4,
  runningMean: Float64Array,
  runningVar: Float64Array,
  weight: number,
): Tensor4 {
  const fn = "bnStatsLossGrad";
  checkTensor(fn, "x", x);
  checkVec(fn, "runningMean", runningMean, x.c);
  checkVec(fn, "runningVar", runningVar, x.c);
  if (!Number.isFinite(weight)) fail(fn, `weight must be a finite number, got ${weight}`);
  const { mean, var: v } = bnStats(x);
  const { n, c, h, w, data } = x;
  const hw = h * w;
  const coef = (weight * 2) / c;
  const g = new Float64Array(data.length);
  for (let p = 0; p < n * c; p++) {
    const ch = p % c, mu = mean[p];
    const a = (coef * (mu - runningMean[ch])) / hw;
    const b = (coef * 2 * (v[p] - runningVar[ch])) / hw;
    for (let i = p * hw; i < (p + 1) * hw; i++) g[i] = a + b * (data[i] - mu);
  }
  return { n, c, h, w, data: g };
}

/**
 * GraFIQs score of a gradient tensor: Σ |x| over all C*H*W elements of each image
 * (docs/ALGORITHM.md, "Groups and scores"), accumulated with Neumaier's compensated summation so
 * the float64 result is accurate to about one ulp regardless of size.
 *
 * @returns length N.
 * @throws Error on a malformed tensor.
 */
export function absSumPerImage(x: Tensor4): Float64Array {
  checkTensor("absSumPerImage", "x", x);
  const per = x.c * x.h * x.w;
  const out = new Float64Array(x.n);
  for (let b = 0; b < x.n; b++) {
    let s = 0, comp = 0;
    for (let i = b * per; i < (b + 1) * per; i++) {
      const v = Math.abs(x.data[i]);
      const t = s + v;
      comp += Math.abs(s) >= v ? (s - t) + v : (v - t) + s;
      s = t;
    }
    out[b] = s + comp;
  }
  return out;
}

/**
 * Fully connected layer (PyTorch `Linear`): y[n, o] = bias[o] + Σ_i x[n, i] * weight[o, i].
 *
 * @param x `[N, In]` row-major. @param n batch size.
 * @param weight `[Out, In]` row-major. @param bias length Out, or null/undefined for none.
 * @param out output features.
 * @returns `[N, Out]` row-major.
 * @throws Error on inconsistent lengths.
 */
export function linear(
  x: Float64Array,
  n: number,
  weight: Float64Array,
  bias: Float64Array | null | undefined,
  out: number,
): Float64Array {
  const fn = "linear";
  checkDim(fn, "n", n);
  checkDim(fn, "out", out);
  if (!(x instanceof Float64Array) || x.length % n !== 0 || x.length === 0) {
    fail(fn, `x must be a non-empty Float64Array [N=${n}, In], got length ${x?.length}`);
  }
  const inF = x.length / n;
  checkVec(fn, `weight [Out=${out}, In=${inF}]`, weight, out * inF);
  if (bias !== null && bias !== undefined) checkVec(fn, "bias", bias, out);
  const y = new Float64Array(n * out);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < out; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) s += x[b * inF + i] * weight[o * inF + i];
      y[b * out + o] = s;
    }
  }
  return y;
}

/**
 * Eval-mode BatchNorm1d on `[N, F]` features (the iResNet `features` layer, docs/ALGORITHM.md "The
 * network"): y = (x - rm[f]) / sqrt(rv[f] + eps) * gamma[f] + beta[f].
 *
 * @param x `[N, F]` row-major. @param n batch size. Vectors have length F.
 * @returns `[N, F]` row-major.
 * @throws Error on inconsistent lengths.
 */
export function batchNorm1dEval(
  x: Float64Array,
  n: number,
  gamma: Float64Array,
  beta: Float64Array,
  rm: Float64Array,
  rv: Float64Array,
  eps = 1e-5,
): Float64Array {
  const fn = "batchNorm1dEval";
  checkDim(fn, "n", n);
  if (!(x instanceof Float64Array) || x.length % n !== 0 || x.length === 0) {
    fail(fn, `x must be a non-empty Float64Array [N=${n}, F], got length ${x?.length}`);
  }
  const f = x.length / n;
  checkVec(fn, "gamma", gamma, f);
  checkVec(fn, "beta", beta, f);
  checkVec(fn, "rm", rm, f);
  checkVec(fn, "rv", rv, f);
  const y = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < f; i++) {
      y[b * f + i] = ((x[b * f + i] - rm[i]) / Math.sqrt(rv[i] + eps)) * gamma[i] + beta[i];
    }
  }
  return y;
}

/**
 * Seeded uniform random numbers in [0, 1) for reproducible test data.
 *
 * Algorithm: Marsaglia's xorshift128 (J. Statistical Software 8(14), 2003; shift triple
 * 11, 8, 19) on four 32-bit state words. The words are filled from the seed with the
 * Numerical Recipes 32-bit LCG (x = 1664525 x + 1013904223 mod 2^32, starting from
 * `seed >>> 0`), and the first 8 outputs are discarded to mix the state. Each call draws two
 * 32-bit outputs a, b and returns ((a >>> 5) * 2^26 + (b >>> 6)) / 2^53, so every result is a
 * multiple of 2^-53 in [0, 1). The sequence depends only on `seed` (taken modulo 2^32).
 * Not cryptographic.
 */
export function rng(seed: number): () => number {
  let lcg = seed >>> 0;
  const next32 = () => {
    lcg = (Math.imul(lcg, 1664525) + 1013904223) >>> 0;
    return lcg;
  };
  let x = next32(), y = next32(), z = next32(), w = next32();
  if ((x | y | z | w) === 0) w = 1; // the all-zero state is a fixed point
  const step = () => {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w;
  };
  for (let i = 0; i < 8; i++) step();
  return () => {
    const a = step() >>> 5, b = step() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  };
}

/**
 * `n` independent uniform values in [lo, hi) drawn from `rand` (e.g. {@link rng}).
 *
 * @throws Error when n is not a non-negative integer or lo/hi are not finite with lo <= hi.
 */
export function randomArray(
  rand: () => number,
  n: number,
  lo: number,
  hi: number,
): Float64Array {
  if (!Number.isInteger(n) || n < 0) fail("randomArray", `n must be an integer >= 0, got ${n}`);
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
    fail("randomArray", `need finite lo <= hi, got lo ${lo}, hi ${hi}`);
  }
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}
