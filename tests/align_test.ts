/**
 * Alignment geometry (src/align/similarity.ts) against OpenCV 4.6 and a NumPy transcription of
 * scikit-image's Umeyama fit (tools/make_align_fixtures.py writes tests/fixtures/align/).
 */
import { assert, assertEquals } from "./assert.ts";
import {
  type Affine,
  ARCFACE_TEMPLATE,
  estimateSimilarity,
  type Point,
  warpAffineBilinear,
} from "../src/align/similarity.ts";
import { unzlibSync } from "fflate";

interface Fixture {
  template: Point[];
  fits: { src: Point[]; umeyama: number[]; opencv: number[] }[];
  image: { width: number; height: number };
  warps: { m: number[]; sha256: string; data: string }[];
}

const FIX: Fixture = JSON.parse(
  await Deno.readTextFile(new URL("./fixtures/align/align.json", import.meta.url)),
);

/** The fixture tool's `synthetic` image (same formula, float64 throughout). */
function synthetic(w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const chk = (((x >> 3) + (y >> 3)) & 1) * 60;
      for (let c = 0; c < 3; c++) {
        // numpy rounds half to even; no value here is an exact half (sin of a non-zero
        // rational is irrational), so Math.round agrees.
        const v = Math.round(100 + 80 * Math.sin(0.11 * x + 0.05 * (c + 1) * y + c)) + chk;
        out[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, v));
      }
    }
  }
  return out;
}

Deno.test("the template is insightface's arcface_dst", () => {
  assertEquals(ARCFACE_TEMPLATE.map((p) => [...p]), FIX.template);
});

Deno.test("similarity fit equals the SVD (Umeyama) fit and OpenCV's estimateAffinePartial2D", () => {
  for (const f of FIX.fits) {
    const m = estimateSimilarity(f.src, ARCFACE_TEMPLATE);
    for (let i = 0; i < 6; i++) {
      // Both are the exact least-squares solution in float64, computed differently (closed
      // form here, an SVD there): they agree to rounding, far inside 1e-9.
      assert(Math.abs(m[i] - f.umeyama[i]) < 1e-9, `umeyama[${i}]: ${m[i]} vs ${f.umeyama[i]}`);
      // OpenCV refines with Levenberg-Marquardt until its own tolerance: 1e-4 (the fixture
      // tool measured at most 7e-5 on these sets).
      assert(Math.abs(m[i] - f.opencv[i]) < 1e-4, `opencv[${i}]: ${m[i]} vs ${f.opencv[i]}`);
    }
  }
});

Deno.test("warp matches cv2.warpAffine (bilinear, zero border)", () => {
  const { width: W, height: H } = FIX.image;
  const img = synthetic(W, H);
  for (const c of FIX.warps) {
    const want = unzlibSync(Uint8Array.from(atob(c.data), (ch) => ch.charCodeAt(0)));
    const got = warpAffineBilinear(img, W, H, c.m as Affine, 112, 112);
    let maxDiff = 0, diffs = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (d) diffs++;
      maxDiff = Math.max(maxDiff, d);
    }
    // The fixed-point positions and 15-bit weights are OpenCV's, so the crop is bit-exact.
    assertEquals([maxDiff, diffs], [0, 0], `matrix ${c.m}`);
  }
});
