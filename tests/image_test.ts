/**
 * Tests of src/image (docs/ALGORITHM.md, "Input") against independent references: OpenCV 4.6's
 * `imread`/`imdecode`, PyTorch 1.13's float32 `interpolate(..., antialias=True)` and its float32
 * tensor ops, all computed by tools/make_image_fixtures.py into tests/fixtures/image/, plus
 * hand-derived values. The parts that read ../shared skip with a message when it is absent.
 */
import { unzlibSync } from "fflate";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import {
  applyExifOrientation,
  decodeImage,
  fmaF32,
  ImageDecodeError,
  imageToTensorInto,
  IRESNET_PREPROCESS,
  MOBILEFACENET_PREPROCESS,
  normalizationTable,
  prepareImage,
  prepareImageInto,
  resizeAntialiasBilinear,
  resizeAntialiasBilinearFloat,
  roundHalfEven,
} from "../src/image/mod.ts";

const FIX = new URL("./fixtures/image/", import.meta.url);
const SHARED_IMAGES = new URL("../../shared/reference/images/", import.meta.url);
const sharedExists = (() => {
  try {
    return Deno.statSync(SHARED_IMAGES).isDirectory;
  } catch {
    return false;
  }
})();
if (!sharedExists) {
  console.warn(
    `image_test: ${SHARED_IMAGES.pathname} not found; the tests on the shared reference ` +
      "images are skipped",
  );
}

// deno-lint-ignore no-explicit-any
const manifest: any = JSON.parse(Deno.readTextFileSync(new URL("manifest.json", FIX)));
const fixture = (path: string) => Deno.readFileSync(new URL(path, FIX));

async function sha256(data: Uint8Array | Float32Array): Promise<string> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", bytes.slice());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The fixture generator's LCG (tools/make_image_fixtures.py `lcg`). */
function lcg(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** The fixture generator's `pattern`: (7x + 3y + 50c + floor(x*y/4)) mod 256, H x W x 3. */
function pattern(w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        out[(y * w + x) * 3 + c] = (7 * x + 3 * y + 50 * c + Math.floor((x * y) / 4)) % 256;
      }
    }
  }
  return out;
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

/** Swap OpenCV's BGR bytes to RGB. */
function bgrToRgb(bgr: Uint8Array): Uint8Array {
  const out = new Uint8Array(bgr.length);
  for (let i = 0; i < bgr.length; i += 3) {
    out[i] = bgr[i + 2];
    out[i + 1] = bgr[i + 1];
    out[i + 2] = bgr[i];
  }
  return out;
}

/** Level differences between two 8-bit arrays, optionally only the first `limit` values. */
function levelDiff(a: Uint8Array, b: Uint8Array, limit = a.length) {
  assertEquals(a.length, b.length, "array lengths differ");
  let max = 0, sum = 0, count = 0;
  for (let i = 0; i < limit; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    if (d) count++;
    sum += d;
  }
  return { max, mean: limit ? sum / limit : 0, count };
}

// ------------------------------------------------------------------------------- resize

Deno.test("resize: bit-exact with PyTorch's float32 interpolate(antialias=True) + round", async () => {
  for (const c of manifest.resize) {
    const input = c.input === "noise" ? lcg(c.seed, c.w * c.h * 3) : pattern(c.w, c.h);
    assertEquals(await sha256(input), c.input_sha256, `${c.name}: generated input differs`);
    const fl = resizeAntialiasBilinearFloat(input, c.w, c.h, c.outW, c.outH);
    assertEquals(await sha256(fl), c.float32_sha256, `${c.name}: float32 output not bit-exact`);
    const expected = unzlibSync(fixture(`resize/${c.uint8_file}`));
    const got = resizeAntialiasBilinear(input, c.w, c.h, c.outW, c.outH);
    const d = levelDiff(got, expected);
    assertEquals(d.count, 0, `${c.name}: ${d.count} values differ (max ${d.max})`);
  }
});

Deno.test("resize: the plain sequential float32 order differs by at most one level", () => {
  // Measurement, not the default: "sequential" rounds every product, which is what the C++
  // source says without FMA contraction. It is a different float32 rounding order, so outputs
  // can move across a .5 boundary by one ulp, i.e. one level after rounding, never more.
  const counts: string[] = [];
  let total = 0, values = 0;
  for (const c of manifest.resize) {
    const input = c.input === "noise" ? lcg(c.seed, c.w * c.h * 3) : pattern(c.w, c.h);
    const expected = unzlibSync(fixture(`resize/${c.uint8_file}`));
    const got = resizeAntialiasBilinear(input, c.w, c.h, c.outW, c.outH, "sequential");
    const d = levelDiff(got, expected);
    assert(d.max <= 1, `${c.name}: sequential order off by ${d.max} levels`);
    if (d.count) counts.push(`${c.name} ${d.count}/${expected.length}`);
    total += d.count;
    values += expected.length;
  }
  console.log(`  sequential order: ${total} of ${values} values off by one (${counts.join(", ")})`);
  // The order_* cases were chosen to hit such values; without them this test would be vacuous.
  assert(total > 0, "expected the sequential order to change some values");
});

Deno.test("resize: same size passes through untouched; bad arguments throw", () => {
  const img = lcg(11, 112 * 112 * 3);
  const out = resizeAntialiasBilinear(img, 112, 112, 112, 112);
  assert(out !== img, "must return a copy");
  assertEquals(out, img);
  assertThrows(() => resizeAntialiasBilinear(img, 112, 111, 112, 112), /bytes of pixels/);
  assertThrows(() => resizeAntialiasBilinear(img, 112, 112, 0, 112), /outW must be a positive/);
  assertThrows(() => resizeAntialiasBilinear(img, 112, 112, 112, 1.5), /outH must be a positive/);
});

Deno.test("fmaF32: single rounding where double rounding would tie the wrong way", () => {
  const f = Math.fround;
  const a = 1 + 2 ** -15, b = 1 - 2 ** -15; // float32 values; a * b = 1 - 2^-30 exactly
  // 2^24 + 2 + (1 - 2^-30) = 2^24 + 3 - 2^-30 lies just below the midpoint 2^24 + 3 of the
  // float32 neighbours 2^24 + 2 and 2^24 + 4, so the fused result is 2^24 + 2. The double sum
  // rounds to the midpoint itself and fround then ties to the even 2^24 + 4.
  assertEquals(f(a * b + (2 ** 24 + 2)), 2 ** 24 + 4);
  assertEquals(fmaF32(a, b, 2 ** 24 + 2), 2 ** 24 + 2);
  assertEquals(fmaF32(-a, b, -(2 ** 24 + 2)), -(2 ** 24 + 2));
  // 2^24 + 2 - (1 - 2^-30) = 2^24 + 1 + 2^-30, just above the midpoint 2^24 + 1: 2^24 + 2.
  assertEquals(f(-a * b + (2 ** 24 + 2)), 2 ** 24);
  assertEquals(fmaF32(-a, b, 2 ** 24 + 2), 2 ** 24 + 2);
  // Exact cases agree with plain arithmetic.
  assertEquals(fmaF32(3, 0.25, 1), 1.75);
  assertEquals(fmaF32(f(0.1), f(0.2), f(0.3)), f(f(0.1) * f(0.2) + f(0.3)));
});

Deno.test("roundHalfEven: ties go to the even neighbour (np.round, torch.round)", () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [253.5, 254],
    [254.5, 254],
    [254.49999, 254],
    [254.50001, 255],
    [-0.5, 0],
    [-1.5, -2],
    [7, 7],
  ];
  for (const [v, e] of cases) assertEquals(roundHalfEven(v) + 0, e, `round(${v})`);
});

// ------------------------------------------------------------------------------- decode

Deno.test("decode: PNG, JPEG (every variant) and GIF bit-exact with OpenCV (GIF: PIL)", async () => {
  // The JPEG variants (tools/make_image_fixtures.py jpeg_variant_cases): 4:4:4, 4:2:2, 4:2:0,
  // 4:4:0, 4:1:1, luma 1 x 4, odd and tiny sizes, progressive, restart markers, optimised tables, quality
  // 30, grayscale, CMYK, YCCK, RGB colour space, EXIF-rotated odd sizes. libjpeg-turbo is the
  // decoder inside OpenCV, so every value must match: difference 0.
  const jpegs = manifest.decode.filter((c: { file: string }) => c.file.endsWith(".jpg"));
  assert(jpegs.length >= 34, `only ${jpegs.length} JPEG cases in the manifest`);
  for (const c of manifest.decode) {
    const d = await decodeImage(fixture(`synthetic/${c.file}`), c.file);
    assertEquals([d.width, d.height], [c.width, c.height], `${c.file}: size`);
    assertEquals(d.warnings, [], `${c.file}: warnings`);
    const diff = levelDiff(d.rgb, bgrToRgb(fixture(`expected/${c.expected}`)));
    assertEquals(diff.count, 0, `${c.file}: ${diff.count} values differ (max ${diff.max})`);
  }
});

Deno.test("decode: corrupt JPEG data that libjpeg decodes anyway is returned, as OpenCV does, warned", async () => {
  assert(manifest.corrupt_jpeg.length >= 3, "manifest lacks the corrupt JPEGs");
  for (const c of manifest.corrupt_jpeg) {
    const d = await decodeImage(fixture(`synthetic/${c.file}`), c.file);
    assertEquals([d.width, d.height], [c.width, c.height], `${c.file}: size`);
    const diff = levelDiff(d.rgb, bgrToRgb(fixture(`expected/${c.expected}`)));
    assertEquals(diff.count, 0, `${c.file}: ${diff.count} values differ (max ${diff.max})`);
    assertEquals(d.warnings.length, 1, `${c.file}: one warning expected`);
    assert(
      /^corrupt JPEG data; decoded anyway, as OpenCV does \(libjpeg: "Corrupt JPEG data: /
        .test(d.warnings[0]),
      d.warnings[0],
    );
  }
});

Deno.test("decode: gray is replicated, alpha dropped uncomposited, 16-bit keeps the high byte", async () => {
  for (const name of ["gray8.png", "gray1.png", "gray.jpg"]) {
    const gray = await decodeImage(fixture(`synthetic/${name}`), name);
    for (let i = 0; i < gray.rgb.length; i += 3) {
      assert(gray.rgb[i] === gray.rgb[i + 1] && gray.rgb[i] === gray.rgb[i + 2], name);
    }
  }
  // Row 0 of rgba8.png has alpha 0: its colour is what OpenCV returns, not black (compositing)
  // and not zeroed (premultiplication).
  const rgba = await decodeImage(fixture("synthetic/rgba8.png"), "rgba8.png");
  const expected = bgrToRgb(fixture("expected/rgba8.png.bgr"));
  const row0 = rgba.rgb.subarray(0, rgba.width * 3);
  assertEquals(row0, expected.subarray(0, rgba.width * 3));
  assert(row0.some((v) => v !== 0), "transparent row must keep its colour");
  // gray16.png starts with 0x00FF, 0x01FF, 0x7FFF, 0xFFFF: v >> 8 = 0, 1, 127, 255
  // (rounding v / 257 would give 1, 2, 128, 255).
  const g16 = await decodeImage(fixture("synthetic/gray16.png"), "gray16.png");
  assertEquals(Array.from(g16.rgb.subarray(0, 12)), [
    0,
    0,
    0,
    1,
    1,
    1,
    127,
    127,
    127,
    255,
    255,
    255,
  ]);
});

Deno.test("decode: EXIF orientation 1..8 applied as OpenCV does (PNG eXIf and JPEG APP1)", async () => {
  for (const ext of ["png", "jpg"]) {
    for (let o = 1; o <= 8; o++) {
      const name = `exif_o${o}.${ext}`;
      const d = await decodeImage(fixture(`synthetic/${name}`), name);
      assertEquals(d.orientation, o, `${name}: orientation`);
      const c = manifest.decode.find((e: { file: string }) => e.file === name);
      assertEquals([d.width, d.height], [c.width, c.height], `${name}: size`);
      assertEquals(levelDiff(d.rgb, bgrToRgb(fixture(`expected/${name}.bgr`))).count, 0, name);
    }
  }
  // Odd-sized 4:2:0 JPEGs (partial MCUs before the rotation).
  for (const o of [2, 5, 6, 8]) {
    const name = `exif_odd_o${o}.jpg`;
    const d = await decodeImage(fixture(`synthetic/${name}`), name);
    assertEquals([d.orientation, d.width, d.height], [o, o >= 5 ? 7 : 13, o >= 5 ? 13 : 7]);
    assertEquals(levelDiff(d.rgb, bgrToRgb(fixture(`expected/${name}.bgr`))).count, 0, name);
  }
});

Deno.test("applyExifOrientation: the eight EXIF orientations on a 3 x 2 image", () => {
  // in = [[1, 2, 3], [4, 5, 6]] (2 rows, 3 columns), one channel. Expected by the EXIF
  // definitions: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
  // 7 transverse, 8 rotate 90 counter-clockwise.
  const px = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const expected: [number, number[]][] = [
    [1, [1, 2, 3, 4, 5, 6]],
    [2, [3, 2, 1, 6, 5, 4]],
    [3, [6, 5, 4, 3, 2, 1]],
    [4, [4, 5, 6, 1, 2, 3]],
    [5, [1, 4, 2, 5, 3, 6]],
    [6, [4, 1, 5, 2, 6, 3]],
    [7, [6, 3, 5, 2, 4, 1]],
    [8, [3, 6, 2, 5, 1, 4]],
  ];
  for (const [o, e] of expected) {
    const r = applyExifOrientation(px, 3, 2, 1, o);
    assertEquals(Array.from(r.px), e, `orientation ${o}`);
    assertEquals([r.width, r.height], o >= 5 ? [2, 3] : [3, 2], `orientation ${o} size`);
  }
  assertThrows(() => applyExifOrientation(px, 3, 2, 1, 9), /1\.\.8/);
});

Deno.test("decode: JPEGs that end early decode with a warning, as libjpeg does", async () => {
  for (const c of manifest.damaged_jpeg) {
    // Refused by default (a padded image would be scored as if it were whole) ...
    await assertRejects(
      () => decodeImage(fixture(`synthetic/${c.file}`), c.file),
      new RegExp(`Error: ${c.file.replace(".", "\\.")}: truncated JPEG: `),
    );
    // ... and decoded as libjpeg does on request: OpenCV's image, padding included (for
    // no_eoi.jpg libjpeg even garbles the last MCU row, though all the data is there).
    const d = await decodeImage(fixture(`synthetic/${c.file}`), c.file, { allowTruncated: true });
    assertEquals([d.width, d.height], [c.width, c.height], `${c.file}: size`);
    assertEquals(d.warnings.length, 1, `${c.file}: one warning expected`);
    assert(/ends early.*libjpeg: "Premature end of JPEG file"/.test(d.warnings[0]), d.warnings[0]);
    const diff = levelDiff(d.rgb, bgrToRgb(fixture(`expected/${c.expected}`)));
    assertEquals(diff.count, 0, `${c.file}: ${diff.count} values differ (max ${diff.max})`);
  }
});

Deno.test("decode: clear errors naming the file and the problem", async () => {
  const patterns: Record<string, RegExp> = {
    truncated: /truncated/,
    "not-image": /not an image: unrecognised file signature/,
    empty: /empty file/,
    unsupported: /unsupported image format (WebP|TIFF|BMP)/,
  };
  for (const c of manifest.errors) {
    const bytes = fixture(`synthetic/${c.file}`);
    const err = await rejection(() => decodeImage(bytes, `dir/${c.file}`));
    assert(err instanceof ImageDecodeError, `${c.file}: ${err}`);
    assert(err.message.startsWith(`dir/${c.file}: `), err.message);
    assert(patterns[c.kind].test(err.message), `${c.file}: ${err.message}`);
    assertEquals(err.fileName, `dir/${c.file}`);
  }
});

// ------------------------------------------------------------------------------- normalise

Deno.test("normalization: float32 tables equal PyTorch's tensor ops on all 256 values", () => {
  const off = manifest.normalization.iresnet_official.values;
  assertEquals(Array.from(normalizationTable(0.5, 0.5)), off);
  const m = manifest.normalization.mobilefacenet;
  for (let c = 0; c < 3; c++) {
    assertEquals(Array.from(normalizationTable(m.mean[c], m.std[c])), m.values[c], `channel ${c}`);
  }
  // Hand check: 0 -> -1, 255 -> 1, 128 -> fl(fl(128/255) - 0.5) / 0.5.
  assertEquals(off[0], -1);
  assertEquals(off[255], 1);
});

Deno.test("imageToTensorInto: CHW layout, channel order, values; writes only its slot", () => {
  // A 23 x 23 crop of OpenCV's decode of rgb8.png (square, so no resize happens).
  const bgr = fixture("expected/rgb8.png.bgr"), w = 37, n = 23;
  const rgb = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) {
    rgb.set(bgrToRgb(bgr).subarray(y * w * 3, y * w * 3 + n * 3), y * n * 3);
  }
  const img = { width: n, height: n, rgb, format: "png" as const, orientation: 1, warnings: [] };
  const table = manifest.normalization.iresnet_official.values as number[];
  const plane = n * n, offset = 5;
  for (const order of ["bgr", "rgb"] as const) {
    const out = new Float32Array(offset + 3 * plane + 7).fill(NaN);
    imageToTensorInto(img, { ...IRESNET_PREPROCESS, channelOrder: order, size: n }, out, offset);
    for (let i = 0; i < offset; i++) assert(Number.isNaN(out[i]), "before the slot untouched");
    for (let i = offset + 3 * plane; i < out.length; i++) {
      assert(Number.isNaN(out[i]), "after the slot untouched");
    }
    for (let c = 0; c < 3; c++) {
      const src = order === "rgb" ? c : 2 - c; // channel 0 is B for "bgr"
      for (let i = 0; i < plane; i++) {
        assertEquals(out[offset + c * plane + i], table[rgb[3 * i + src]], `${order} c${c} i${i}`);
      }
    }
  }
  assertThrows(
    () => imageToTensorInto(img, IRESNET_PREPROCESS, new Float32Array(3 * 112 * 112), 1),
    /cannot hold/,
  );
});

Deno.test("prepareImage / prepareImageInto: decode, resize, normalise", async () => {
  // rgb8.png is 37 x 23, so it is resized (to 16 x 16 here) before the MobileFaceNet
  // normalisation. Expected: PyTorch's tables applied to the resize of OpenCV's decode (the
  // resize itself is checked bit-exact against PyTorch above).
  const bytes = fixture("synthetic/rgb8.png");
  const opts = { ...MOBILEFACENET_PREPROCESS, size: 16 };
  const direct = await prepareImage(bytes, "rgb8.png", opts);
  assertEquals(direct.length, 3 * 16 * 16);
  const resized = resizeAntialiasBilinear(
    bgrToRgb(fixture("expected/rgb8.png.bgr")),
    37,
    23,
    16,
    16,
  );
  const m = manifest.normalization.mobilefacenet;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 256; i++) {
      assertEquals(direct[c * 256 + i], m.values[c][resized[3 * i + c]], `c${c} i${i}`);
    }
  }
  const big = new Float32Array(2 * 3 * 16 * 16).fill(NaN);
  const info = await prepareImageInto(bytes, "rgb8.png", opts, big, 3 * 16 * 16);
  assertEquals([info.width, info.height], [37, 23]);
  assertEquals(big.subarray(3 * 16 * 16), direct);
  assert(big.subarray(0, 3 * 16 * 16).every(Number.isNaN), "first slot untouched");
  assert(
    await rejection(() =>
      prepareImageInto(bytes, "rgb8.png", opts, new Float32Array(10), 0)
    ) instanceof
      RangeError,
  );
  await assertRejects(
    () => prepareImage(bytes, "rgb8.png", { ...opts, std: [1, 0, 1] }),
    /std must not contain 0/,
  );
  assert(
    await rejection(() => prepareImage(new Uint8Array(0), "x.jpg", opts)) instanceof
      ImageDecodeError,
  );
});

// ------------------------------------------------------------------------------- ../shared

const readShared = (path: string) => Deno.readFileSync(new URL(path, SHARED_IMAGES));

Deno.test({
  name: "shared aligned PNGs: decode and prepared inputs bit-exact with OpenCV + PyTorch",
  ignore: !sharedExists,
  async fn() {
    assert(manifest.shared.aligned.length > 0, "manifest lacks the aligned PNGs");
    for (const e of manifest.shared.aligned) {
      const bytes = readShared(`aligned/${e.file}`);
      const d = await decodeImage(bytes, e.file);
      assertEquals([d.width, d.height], [e.width, e.height]);
      assertEquals(await sha256(bgrToRgb(d.rgb)), e.bgr_sha256, `${e.file}: decode`);
      const bgrIn = await prepareImage(bytes, e.file, IRESNET_PREPROCESS);
      assertEquals(await sha256(bgrIn), e.iresnet_bgr_input_sha256, `${e.file}: BGR input`);
      const rgbIn = await prepareImage(bytes, e.file, {
        ...IRESNET_PREPROCESS,
        channelOrder: "rgb",
      });
      assertEquals(await sha256(rgbIn), e.iresnet_rgb_input_sha256, `${e.file}: RGB input`);
      const mfn = await prepareImage(bytes, e.file, MOBILEFACENET_PREPROCESS);
      assertEquals(await sha256(mfn), e.mobilefacenet_input_sha256, `${e.file}: MobileFaceNet`);
    }
  },
});

Deno.test({
  name: "shared JPEGs: decode bit-exact with OpenCV (all raw and magface images)",
  ignore: !sharedExists,
  async fn() {
    assert(manifest.shared.jpeg.length >= 18, "manifest lacks the shared JPEGs");
    for (const e of manifest.shared.jpeg) {
      const d = await decodeImage(readShared(`${e.set}/${e.file}`), e.file);
      assertEquals([d.width, d.height], [e.width, e.height], `${e.file}: size`);
      assertEquals(d.warnings, [], `${e.file}: warnings`);
      assertEquals(await sha256(bgrToRgb(d.rgb)), e.bgr_sha256, `${e.set}/${e.file}: decode`);
    }
    // Images whose whole OpenCV decode is committed: the resize on real content, OpenCV's
    // decode resized here vs PyTorch.
    for (const e of manifest.shared.jpeg.filter((e: { full_png: string | null }) => e.full_png)) {
      const cv = await decodeImage(fixture(`shared_jpeg/${e.full_png}`), e.full_png);
      assertEquals(await sha256(bgrToRgb(cv.rgb)), e.bgr_sha256, `${e.full_png}: fixture`);
      if (e.resize112_bgr_sha256) {
        const r = resizeAntialiasBilinear(cv.rgb, cv.width, cv.height, 112, 112);
        assertEquals(await sha256(bgrToRgb(r)), e.resize112_bgr_sha256, `${e.file}: resize`);
      }
    }
  },
});

Deno.test({
  name: "shared raw JPEGs: decode + resize time per 250x250 image",
  ignore: !sharedExists,
  async fn() {
    const files = manifest.shared.jpeg.filter((e: { set: string }) => e.set === "raw");
    const bytes = files.map((e: { file: string }) => readShared(`raw/${e.file}`));
    for (const b of bytes) await decodeImage(b, "warm-up"); // compile the WASM once
    const reps = 3;
    let decodeMs = 0, resizeMs = 0;
    for (let r = 0; r < reps; r++) {
      for (const b of bytes) {
        const t0 = performance.now();
        const d = await decodeImage(b, "timing");
        const t1 = performance.now();
        resizeAntialiasBilinear(d.rgb, d.width, d.height, 112, 112);
        const t2 = performance.now();
        decodeMs += t1 - t0;
        resizeMs += t2 - t1;
      }
    }
    const n = reps * bytes.length;
    console.log(
      `  per 250x250 JPEG: decode ${(decodeMs / n).toFixed(2)} ms, resize ` +
        `${(resizeMs / n).toFixed(2)} ms (${n} runs)`,
    );
  },
});
