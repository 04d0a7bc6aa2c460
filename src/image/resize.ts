/**
 * Antialiased bilinear resize that reproduces, bit for bit, what the reference outputs used
 * (docs/ALGORITHM.md, "Input" item 3): PyTorch's
 * `torch.nn.functional.interpolate(x.float(), size=(outH, outW), mode="bilinear",
 * align_corners=False, antialias=True)` on 8-bit input, then one rounding half to even and a
 * clamp back to 8-bit.
 *
 * How PyTorch's CPU kernel computes it (float32 input, so the weights and every intermediate
 * are float32):
 * - The resize is separable. The width (the contiguous axis) is resampled first into a float32
 *   buffer of size H x outW, then the height is resampled from that buffer. An axis whose size
 *   does not change is skipped (resampling it would be the identity anyway: weights [1, 0]).
 * - Per axis, scale = float(in) / out (float32 division). For output index i the centre is
 *   scale * (i + 0.5), rounded to float32. The support is `scale` when downscaling
 *   (scale >= 1) and 1 when upscaling; the filter argument is multiplied by invscale = 1 / scale
 *   (float32) when downscaling, else by 1.
 * - The taps are the source indices xmin .. xmin + xsize - 1, with
 *   xmin = max(trunc((centre - support) + 0.5), 0) and
 *   xsize = min(trunc((centre + support) + 0.5), in) - xmin, where the inner difference or sum
 *   is a float32 operation and the `+ 0.5` happens in double.
 * - Tap j has the raw weight tri(((j + xmin) - centre + 0.5) * invscale) with the triangle
 *   filter tri(x) = max(0, 1 - |x|); the difference is float32, the `+ 0.5` and the product are
 *   in double and rounded once to float32. The raw weights are summed in float32, in order, and
 *   each is divided by that sum (float32).
 * - An output value is t0 * w0 + t1 * w1 + ..., accumulated left to right in float32. The
 *   source writes `out += t * w` in a loop; how the compiler turned that into instructions
 *   changes the last bit. Measured on the PyTorch build that produced the reference outputs
 *   (Debian's python3-torch 1.13.1, GCC 12, AVX2 kernels): after the first product, taps are
 *   taken in groups of four whose products are rounded separately and then added in order (a
 *   vectorised multiply), and the 0..3 taps left over are fused multiply-adds (one rounding).
 *   This is {@link Accumulation} `"pytorch-avx2"`, the default. It reproduces that build's
 *   float32 output bit for bit (the committed fixtures, 60 further random size pairs, and a
 *   real 250x250 face). That build is the one behind the reference: OpenCV's decode of
 *   ../shared/reference/images/raw, resized by it and run through an iResNet-50 in PyTorch,
 *   reproduces ../shared/reference/iresnet50/raw_bgr/embeddings.npy exactly, while the plain
 *   sequential order (`"sequential"`: round every product and every sum) changes 1-2 values
 *   by one level on 4 of those 8 images and then misses the embeddings.
 *   Other builds or CPUs (AVX-512 kernels, other compilers) may group the taps differently.
 *
 * Every step emulates one float32 operation with `Math.fround` on a double computation; for a
 * single +, -, *, / of float32 operands that is exactly the correctly rounded float32 result
 * (double has more than 2 * 24 + 2 bits, so the double rounding is innocuous). The fused
 * multiply-add is emulated exactly with an error-free sum (see {@link fmaF32}).
 *
 * @module
 */

const f = Math.fround;

/**
 * Order of the float32 accumulation of one output value (see the module comment):
 * - `"pytorch-avx2"`: first product rounded; then groups of 4 rounded products added in order;
 *   the remaining 0..3 taps as fused multiply-adds. Matches the PyTorch build behind the
 *   reference outputs.
 * - `"sequential"`: every product and every sum rounded to float32, left to right (what the C++
 *   source says without floating-point contraction).
 */
export type Accumulation = "pytorch-avx2" | "sequential";

/**
 * The taps and normalised weights of one resampled axis.
 * For output index i, the taps are input indices `xmin[i] .. xmin[i] + xsize[i] - 1` and their
 * weights are `weights[i * maxTaps + j]` (float32 values, summing to ~1).
 */
export interface AxisWeights {
  /** Input length along this axis. */
  inSize: number;
  /** Output length along this axis. */
  outSize: number;
  /** Row stride of `weights`: the largest number of taps any output may have. */
  maxTaps: number;
  /** First tap per output index, length outSize. */
  xmin: Int32Array;
  /** Number of taps per output index, length outSize, each in [1, maxTaps]. */
  xsize: Int32Array;
  /** Normalised float32 weights, outSize x maxTaps, row-major; unused slots are 0. */
  weights: Float32Array;
}

/** PyTorch's antialiasing triangle filter, evaluated on a float32 argument. */
function triangle(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? f(1 - a) : 0;
}

/**
 * Compute the taps and weights of one axis exactly as PyTorch's antialiased bilinear kernel
 * does for float32 input (see the module comment).
 *
 * @param inSize input length, >= 1
 * @param outSize output length, >= 1
 * @returns the axis weights
 * @throws RangeError when a size is not a positive integer
 */
export function antialiasAxisWeights(inSize: number, outSize: number): AxisWeights {
  if (!Number.isInteger(inSize) || inSize < 1 || !Number.isInteger(outSize) || outSize < 1) {
    throw new RangeError(
      `Resize axis sizes must be positive integers, got ${inSize} -> ${outSize}`,
    );
  }
  const scale = f(inSize / outSize);
  const down = scale >= 1;
  const support = down ? scale : 1; // (interp_size / 2) * scale with interp_size = 2
  const invscale = down ? f(1 / scale) : 1;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const xmin = new Int32Array(outSize);
  const xsize = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const center = f(scale * (i + 0.5));
    const lo = Math.max(Math.trunc(f(center - support) + 0.5), 0);
    let n = Math.min(Math.trunc(f(center + support) + 0.5), inSize) - lo;
    // Newer PyTorch clips here; it only matters in degenerate float cases.
    n = Math.min(Math.max(n, 0), maxTaps);
    xmin[i] = lo;
    xsize[i] = n;
    const row = i * maxTaps;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const w = triangle(f((f(j + lo - center) + 0.5) * invscale));
      weights[row + j] = w;
      total = f(total + w);
    }
    if (total !== 0) {
      for (let j = 0; j < n; j++) weights[row + j] = f(weights[row + j] / total);
    }
  }
  return { inSize, outSize, maxTaps, xmin, xsize, weights };
}

/**
 * Round half to even (NumPy `np.round`, `torch.round`).
 *
 * @param v a finite number
 * @returns the nearest integer; ties go to the even one
 */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties toward +infinity
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const bitsF32 = new Float32Array(1);
const bitsU32 = new Uint32Array(bitsF32.buffer);

/**
 * Fused multiply-add in float32: the exact a * b + c rounded once to float32 (round to
 * nearest, ties to even), as the FMA instruction computes it.
 *
 * a * b of two float32 values is exact in double (48 significant bits). The double sum s of
 * that product and c carries an error e, found exactly by Knuth's two-sum, so the exact result
 * is s + e. Rounding s to float32 is already right unless s lies exactly halfway between two
 * float32 values while e != 0; then the true value is on e's side of the halfway point.
 *
 * @param a float32 value
 * @param b float32 value
 * @param c float32 value
 * @returns fl32(a * b + c)
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bv = s - p;
  const e = (p - (s - bv)) + (c - bv);
  const r = f(s);
  if (e === 0 || r === s || r === 0 || !Number.isFinite(r)) return r;
  // The float32 neighbour of r on the side of s.
  bitsF32[0] = r;
  if ((s > r) === (r > 0)) bitsU32[0]++;
  else bitsU32[0]--;
  const other = bitsF32[0];
  if ((r + other) / 2 !== s) return r; // not a tie: r is correct
  return (e > 0) === (other > r) ? other : r;
}

/** Index of the first tap accumulated with FMA under "pytorch-avx2" (see the module comment). */
function firstFusedTap(n: number, acc: Accumulation): number {
  return acc === "sequential" ? n : 1 + ((n - 1) & ~3);
}

/**
 * Resample along the width: src is H x W x C (interleaved), dst is H x outW x C float32.
 */
function resampleWidth(
  src: Uint8Array | Float32Array,
  h: number,
  w: number,
  c: number,
  ax: AxisWeights,
  dst: Float32Array,
  mode: Accumulation,
): void {
  const outW = ax.outSize, taps = ax.maxTaps, wt = ax.weights;
  for (let y = 0; y < h; y++) {
    const srcRow = y * w * c, dstRow = y * outW * c;
    for (let x = 0; x < outW; x++) {
      const n = ax.xsize[x], base = srcRow + ax.xmin[x] * c, wrow = x * taps;
      const fused = firstFusedTap(n, mode);
      for (let ch = 0; ch < c; ch++) {
        let acc = f(src[base + ch] * wt[wrow]);
        let j = 1;
        for (; j < fused; j++) acc = f(acc + f(src[base + j * c + ch] * wt[wrow + j]));
        for (; j < n; j++) acc = fmaF32(src[base + j * c + ch], wt[wrow + j], acc);
        dst[dstRow + x * c + ch] = acc;
      }
    }
  }
}

/**
 * Resample along the height: src is H x W x C, dst is outH x W x C float32.
 */
function resampleHeight(
  src: Uint8Array | Float32Array,
  w: number,
  c: number,
  ax: AxisWeights,
  dst: Float32Array,
  mode: Accumulation,
): void {
  const outH = ax.outSize, taps = ax.maxTaps, wt = ax.weights, rowLen = w * c;
  for (let y = 0; y < outH; y++) {
    const n = ax.xsize[y], base = ax.xmin[y] * rowLen, wrow = y * taps, dstRow = y * rowLen;
    const fused = firstFusedTap(n, mode);
    const w0 = wt[wrow];
    for (let k = 0; k < rowLen; k++) dst[dstRow + k] = f(src[base + k] * w0);
    for (let j = 1; j < n; j++) {
      const wj = wt[wrow + j], off = base + j * rowLen;
      if (j < fused) {
        for (let k = 0; k < rowLen; k++) {
          dst[dstRow + k] = f(dst[dstRow + k] + f(src[off + k] * wj));
        }
      } else {
        for (let k = 0; k < rowLen; k++) {
          dst[dstRow + k] = fmaF32(src[off + k], wj, dst[dstRow + k]);
        }
      }
    }
  }
}

/** Validate the arguments shared by the resize entry points. */
function checkSizes(rgb: Uint8Array, w: number, h: number, outW: number, outH: number): void {
  for (const [name, v] of [["w", w], ["h", h], ["outW", outW], ["outH", outH]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Resize: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (!(rgb instanceof Uint8Array) || rgb.length !== w * h * 3) {
    throw new RangeError(
      `Resize: expected ${h} x ${w} x 3 = ${w * h * 3} bytes of pixels, got ${rgb?.length}`,
    );
  }
}

/**
 * The float32 result of the antialiased bilinear resize before rounding: the values of
 * PyTorch's float32 `interpolate(..., mode="bilinear", align_corners=False, antialias=True)` on
 * this input (see the module comment for the operation order).
 *
 * @param rgb input pixels, h x w x 3, row-major, interleaved, values 0..255
 * @param w input width in pixels, >= 1
 * @param h input height in pixels, >= 1
 * @param outW output width in pixels, >= 1
 * @param outH output height in pixels, >= 1
 * @param mode accumulation order; default "pytorch-avx2" (the reference build)
 * @returns a new outH x outW x 3 Float32Array, interleaved like the input
 * @throws RangeError when a size is not a positive integer or `rgb.length !== h * w * 3`
 */
export function resizeAntialiasBilinearFloat(
  rgb: Uint8Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
  mode: Accumulation = "pytorch-avx2",
): Float32Array {
  checkSizes(rgb, w, h, outW, outH);
  const c = 3;
  let cur: Float32Array | Uint8Array = rgb;
  let curW = w;
  if (outW !== w) {
    const tmp = new Float32Array(h * outW * c);
    resampleWidth(cur, h, w, c, cachedAxisWeights(w, outW), tmp, mode);
    cur = tmp;
    curW = outW;
  }
  if (outH !== h) {
    const tmp = new Float32Array(outH * curW * c);
    resampleHeight(cur, curW, c, cachedAxisWeights(h, outH), tmp, mode);
    cur = tmp;
  }
  return cur instanceof Float32Array ? cur : Float32Array.from(cur);
}

// Axis weights by (input, output) length: a folder of same-size images (LFW: 250 -> 112 on both
// axes) computes them once, not per image and axis. Bounded, as a mixed folder has many sizes.
const axisWeightsCache = new Map<string, AxisWeights>();
const AXIS_WEIGHTS_CACHE_MAX = 64;
function cachedAxisWeights(inSize: number, outSize: number): AxisWeights {
  const key = `${inSize}>${outSize}`;
  let wts = axisWeightsCache.get(key);
  if (!wts) {
    if (axisWeightsCache.size >= AXIS_WEIGHTS_CACHE_MAX) axisWeightsCache.clear();
    axisWeightsCache.set(key, wts = antialiasAxisWeights(inSize, outSize));
  }
  return wts;
}

/**
 * Antialiased bilinear resize of an 8-bit 3-channel image: PyTorch's float32
 * `interpolate(..., mode="bilinear", align_corners=False, antialias=True)` followed by one
 * rounding half to even and a clamp to [0, 255] (docs/ALGORITHM.md, "Input" item 3), bit-exact
 * with the PyTorch build behind the reference outputs. The channel order is kept as given;
 * channels never mix. The official code passes a 112x112 input through untouched; so does this
 * (as a copy).
 *
 * @param rgb input pixels, h x w x 3, row-major, interleaved, values 0..255
 * @param w input width in pixels, >= 1
 * @param h input height in pixels, >= 1
 * @param outW output width in pixels, >= 1
 * @param outH output height in pixels, >= 1
 * @param mode accumulation order; default "pytorch-avx2" (the reference build)
 * @returns a new outH x outW x 3 Uint8Array; when the size is unchanged, an untouched copy
 * @throws RangeError when a size is not a positive integer or `rgb.length !== h * w * 3`
 */
export function resizeAntialiasBilinear(
  rgb: Uint8Array,
  w: number,
  h: number,
  outW: number,
  outH: number,
  mode: Accumulation = "pytorch-avx2",
): Uint8Array {
  checkSizes(rgb, w, h, outW, outH);
  if (w === outW && h === outH) return rgb.slice();
  const v = resizeAntialiasBilinearFloat(rgb, w, h, outW, outH, mode);
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const r = roundHalfEven(v[i]);
    out[i] = r < 0 ? 0 : r > 255 ? 255 : r;
  }
  return out;
}
