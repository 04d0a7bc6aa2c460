/**
 * Face alignment geometry: the ArcFace five-point template, the least-squares similarity fit
 * onto it (Umeyama's method, as scikit-image's `SimilarityTransform.estimate` computes it) and
 * an affine warp with bilinear sampling and a zero border that reproduces OpenCV's
 * `cv2.warpAffine(src, M, (112, 112))` (INTER_LINEAR, BORDER_CONSTANT 0) including its
 * fixed-point arithmetic.
 *
 * Checked against OpenCV 4.6 (python3-opencv) by tools/make_align_fixtures.py and
 * tests/align_test.ts.
 *
 * @module
 */

/** A 2-D point `[x, y]` in pixels (x to the right, y down, origin at the top-left pixel's centre). */
export type Point = [number, number];

/**
 * A 2 x 3 affine matrix `[a, b, c, d, e, f]` mapping a source point (x, y) to
 * (a x + b y + c, d x + e y + f), the layout of OpenCV's 2 x 3 matrices.
 */
export type Affine = [number, number, number, number, number, number];

/**
 * The standard ArcFace template for 112 x 112 crops (insightface's `arcface_dst`): left eye,
 * right eye, nose tip, left and right mouth corner, as seen in the image (the subject's right
 * eye is the image's left eye), in pixels.
 */
export const ARCFACE_TEMPLATE: readonly Point[] = Object.freeze([
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
] as Point[]);

/**
 * The least-squares similarity transform (rotation, uniform scale, translation; no reflection)
 * taking `src` onto `dst`: Umeyama's closed form (the mean-centred cross-covariance's 2 x 2
 * SVD), as scikit-image's `SimilarityTransform.estimate`. For 2-D points it reduces to
 * a = Σ(x'·u + y'·v) / Σ(x'² + y'²), b = Σ(x'·v − y'·u) / Σ(x'² + y'²) with centred
 * coordinates (x', y') of `src` and (u, v) of `dst`, which is what is computed here:
 * M = [a, −b, tx, b, a, ty].
 *
 * @param src at least 2 source points (e.g. detected landmarks, image pixels)
 * @param dst as many destination points (e.g. {@link ARCFACE_TEMPLATE})
 * @returns the 2 x 3 matrix mapping src to dst
 * @throws RangeError when the counts differ, fewer than 2 points are given, or all source
 *   points coincide (no scale can be fitted)
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  if (n !== dst.length) {
    throw new RangeError(`similarity fit: ${n} source points but ${dst.length} destination points`);
  }
  if (n < 2) throw new RangeError(`similarity fit needs at least 2 points, got ${n}`);
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i][0];
    sy += src[i][1];
    dx += dst[i][0];
    dy += dst[i][1];
  }
  sx /= n, sy /= n, dx /= n, dy /= n;
  let ss = 0, p = 0, q = 0;
  for (let i = 0; i < n; i++) {
    const x = src[i][0] - sx, y = src[i][1] - sy;
    const u = dst[i][0] - dx, v = dst[i][1] - dy;
    ss += x * x + y * y;
    p += x * u + y * v;
    q += x * v - y * u;
  }
  if (!(ss > 0)) throw new RangeError("similarity fit: the source points all coincide");
  const a = p / ss, b = q / ss;
  return [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)];
}

/** Apply a 2 x 3 matrix to a point. */
export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

/**
 * The inverse of a 2 x 3 affine matrix, computed as OpenCV's `invertAffineTransform` and
 * `warpAffine` do (a zero determinant gives the zero matrix).
 */
export function invertAffine(m: Affine): Affine {
  let d = m[0] * m[4] - m[1] * m[3];
  d = d !== 0 ? 1 / d : 0;
  const a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
  const b1 = -a11 * m[2] - a12 * m[5];
  const b2 = -a21 * m[2] - a22 * m[5];
  return [a11, a12, b1, a21, a22, b2];
}

/** C's lrint / OpenCV's cvRound: round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** OpenCV's saturate_cast<int>(double). */
function satInt(x: number): number {
  const r = rint(x);
  return r > 2147483647 ? 2147483647 : r < -2147483648 ? -2147483648 : r;
}

const INTER_BITS = 5;
const INTER_TAB_SIZE = 1 << INTER_BITS;
const AB_BITS = 10;
const AB_SCALE = 1 << AB_BITS;
const ROUND_DELTA = AB_SCALE / INTER_TAB_SIZE / 2;

/**
 * Warp an interleaved RGB image with the forward matrix `m` (source → destination) into a
 * `width` x `height` image, as `cv2.warpAffine(src, m, (width, height))` does with its
 * defaults (bilinear, constant zero border): each destination pixel's source position is
 * computed in OpenCV's fixed point (1/1024 px, rounded to 1/32 px), and the four neighbours
 * are weighted with 15-bit integer weights and rounded; neighbours outside the image count as
 * 0. Channels are independent, so the channel order does not matter.
 *
 * @param rgb width·height·3 bytes of the source, row-major
 * @param w source width in pixels
 * @param h source height in pixels
 * @param m forward 2 x 3 matrix (e.g. from {@link estimateSimilarity})
 * @param width destination width (112 for the ArcFace template)
 * @param height destination height
 * @returns width·height·3 bytes
 * @throws RangeError when `rgb` is shorter than w·h·3
 */
export function warpAffineBilinear(
  rgb: Uint8Array,
  w: number,
  h: number,
  m: Affine,
  width: number,
  height: number,
): Uint8Array {
  if (rgb.length < w * h * 3) {
    throw new RangeError(`warp: ${rgb.length} bytes cannot hold a ${w} x ${h} RGB image`);
  }
  const inv = invertAffine(m);
  const out = new Uint8Array(width * height * 3);
  const adelta = new Int32Array(width), bdelta = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    adelta[x] = satInt(inv[0] * x * AB_SCALE);
    bdelta[x] = satInt(inv[3] * x * AB_SCALE);
  }
  for (let y = 0; y < height; y++) {
    const x0 = satInt((inv[1] * y + inv[2]) * AB_SCALE) + ROUND_DELTA;
    const y0 = satInt((inv[4] * y + inv[5]) * AB_SCALE) + ROUND_DELTA;
    for (let x = 0; x < width; x++) {
      const X = (x0 + adelta[x]) >> (AB_BITS - INTER_BITS);
      const Y = (y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
      const xi = X >> INTER_BITS, yi = Y >> INTER_BITS;
      const fx = X & (INTER_TAB_SIZE - 1), fy = Y & (INTER_TAB_SIZE - 1);
      // OpenCV's table: float products of (1 - t, t) with t = k / 32, times 2^15: exact here.
      const w00 = (32 - fx) * (32 - fy) * 32, w01 = fx * (32 - fy) * 32;
      const w10 = (32 - fx) * fy * 32, w11 = fx * fy * 32;
      const o = (y * width + x) * 3;
      if (xi < -1 || yi < -1 || xi >= w || yi >= h) continue; // all four outside: border 0
      const in0 = yi >= 0 && yi < h, in1 = yi + 1 >= 0 && yi + 1 < h;
      const ix0 = xi >= 0 && xi < w, ix1 = xi + 1 >= 0 && xi + 1 < w;
      const p00 = (yi * w + xi) * 3, p10 = p00 + w * 3;
      for (let c = 0; c < 3; c++) {
        const v00 = in0 && ix0 ? rgb[p00 + c] : 0;
        const v01 = in0 && ix1 ? rgb[p00 + 3 + c] : 0;
        const v10 = in1 && ix0 ? rgb[p10 + c] : 0;
        const v11 = in1 && ix1 ? rgb[p10 + 3 + c] : 0;
        const s = v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11;
        out[o + c] = Math.min(255, (s + (1 << 14)) >> 15);
      }
    }
  }
  return out;
}
