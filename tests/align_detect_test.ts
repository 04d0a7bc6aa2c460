/**
 * `--align` on bad and odd input (issue 13): blank, noise and non-face images fail with "no
 * face found"; two faces follow the `--face` rule; a tiny face fails clearly; an EXIF-rotated
 * photo is aligned upright; and none of them aborts a run of the command (record mode, with
 * `--save-aligned`).
 *
 * Faces come from the real LFW images of ../shared/data/lfw (read, never copied); the tests
 * that need them are skipped with a message when ../shared is absent.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { Image } from "imagescript";
import { alignedName, Aligner } from "../src/align/align.ts";
import { MODEL_FILES, NoFaceError, useEmbeddedModels } from "../src/align/detect.ts";
import { loadTfjsGraphModel, TfjsModelError } from "../src/align/tfjs_model.ts";
import { type DecodedImage, decodeImage } from "../src/image/decode.ts";
import { resizeAntialiasBilinear } from "../src/image/resize.ts";
import { MOD, runProcess, runTool, TINY_FIX } from "./cli_util.ts";
import { FACE_COLUMNS, formatRecord, parseRecordLine, recordHeader } from "../src/io/records.ts";

const LFW = new URL("../../shared/data/lfw/images/", import.meta.url);
const FACE_A = new URL("Abdullah_Gul/Abdullah_Gul_0001.jpg", LFW);
const FACE_B = new URL("Adrien_Brody/Adrien_Brody_0002.jpg", LFW);
let haveLfw = true;
try {
  Deno.statSync(FACE_A);
  Deno.statSync(FACE_B);
} catch {
  haveLfw = false;
  console.log("align_detect_test: ../shared/data/lfw is absent; the tests with faces are skipped");
}

const aligner = await Aligner.create();

function assertMatch(text: string, re: RegExp): void {
  assert(re.test(text), `${JSON.stringify(text)} does not match ${re}`);
}

function image(width: number, height: number, rgb: Uint8Array): DecodedImage {
  return { width, height, rgb, format: "png", orientation: 1, warnings: [] };
}

async function lfw(u: URL): Promise<DecodedImage> {
  return await decodeImage(await Deno.readFile(u), u.pathname);
}

/** `src` pasted into `dst` (a w-wide canvas) with its top-left corner at (x0, y0). */
function paste(dst: Uint8Array, w: number, src: DecodedImage, x0: number, y0: number): void {
  for (let y = 0; y < src.height; y++) {
    dst.set(src.rgb.subarray(y * src.width * 3, (y + 1) * src.width * 3), ((y0 + y) * w + x0) * 3);
  }
}

function scaled(img: DecodedImage, size: number): DecodedImage {
  const rgb = resizeAntialiasBilinear(img.rgb, img.width, img.height, size, size);
  return image(size, size, rgb);
}

/** 32-bit LCG bytes (the project's test generator). */
function noise(n: number, seed: number): Uint8Array {
  let x = seed >>> 0;
  return new Uint8Array(n).map(() => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) >>> 24);
}

function noFace(img: DecodedImage): string {
  try {
    aligner.align(img);
  } catch (e) {
    if (e instanceof NoFaceError) return e.problem;
    throw e;
  }
  return "aligned";
}

Deno.test("blank, noise and non-face images: no face found", () => {
  const W = 250, H = 250;
  for (const v of [0, 128, 255]) {
    assertEquals(noFace(image(W, H, new Uint8Array(W * H * 3).fill(v))), "no face found");
  }
  assertEquals(noFace(image(W, H, noise(W * H * 3, 1))), "no face found");
  assertEquals(noFace(image(640, 480, noise(640 * 480 * 3, 2))), "no face found");
  // Non-face structure: a checkerboard, colour gradients, concentric rings.
  const chk = new Uint8Array(W * H * 3), grad = new Uint8Array(W * H * 3);
  const rings = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      chk.fill(((x >> 4) + (y >> 4)) & 1 ? 230 : 20, o, o + 3);
      grad.set([x, y, (x + y) >> 1], o);
      rings.fill(Math.hypot(x - 125, y - 125) % 40 < 20 ? 200 : 40, o, o + 3);
    }
  }
  for (const rgb of [chk, grad, rings]) assertEquals(noFace(image(W, H, rgb)), "no face found");
});

Deno.test({
  name: "two faces: --face center takes the centred one, --face largest the larger",
  ignore: !haveLfw,
  fn: async () => {
    const W = 700, H = 400;
    const canvas = new Uint8Array(W * H * 3).fill(90);
    const small = scaled(await lfw(FACE_A), 150); // centred: box centre near (350, 200)
    const large = await lfw(FACE_B); // 250 px, on the right: centre near (565, 200)
    paste(canvas, W, small, 275, 125);
    paste(canvas, W, large, 440, 75);
    const img = image(W, H, canvas);
    const centre = (a: Aligner) => {
      const { face, detail } = a.align(img);
      // Abdullah_Gul_0001 has one face, Adrien_Brody_0002 two (a second person behind).
      assertEquals(detail.faces, 3);
      return face.box[0] + face.box[2] / 2;
    };
    const c = centre(aligner);
    assert(c > 275 && c < 425, `center rule chose the face at x ${c}`);
    const l = centre(await Aligner.create({ face: "largest" }));
    assert(l > 440 && l < 690, `largest rule chose the face at x ${l}`);
  },
});

Deno.test({
  name: "a tiny face: no face found, or 'face too small' under the minimum size",
  ignore: !haveLfw,
  fn: async () => {
    const W = 400;
    const canvas = new Uint8Array(W * W * 3).fill(90);
    paste(canvas, W, scaled(await lfw(FACE_A), 30), 185, 185); // a face about 11 px wide
    assertMatch(noFace(image(W, W, canvas)), /^(no face found|face too small)/);
    // The documented minimum (AlignOptions.minFacePx) turns a found face into a clear failure.
    const strict = await Aligner.create({ minFacePx: 400 });
    const face = await lfw(FACE_A);
    let problem = "";
    try {
      strict.align(face);
    } catch (e) {
      problem = (e as NoFaceError).problem;
    }
    assertMatch(problem, /^face too small \(\d+\.\d px wide, under 400\)/);
  },
});

/** `jpeg` with an EXIF APP1 segment holding only the orientation tag, right after SOI. */
function withOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  // TIFF little-endian header, one IFD entry: tag 0x0112 SHORT count 1 value, next IFD 0.
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0];
  tiff.push(orientation, 0, 0, 0, 0, 0, 0, 0);
  const body = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff]; // "Exif\0\0"
  const len = body.length + 2;
  const app1 = [0xff, 0xe1, len >> 8, len & 0xff, ...body];
  const out = new Uint8Array(jpeg.length + app1.length);
  out.set(jpeg.subarray(0, 2));
  out.set(app1, 2);
  out.set(jpeg.subarray(2), 2 + app1.length);
  return out;
}

Deno.test({
  name: "an EXIF-rotated photo (orientation 6) is aligned upright",
  ignore: !haveLfw,
  fn: async () => {
    const up = await lfw(FACE_A);
    // Store the pixels turned 90° counter-clockwise; orientation 6 says "rotate 90° clockwise
    // to display", which decodeImage applies.
    const n = up.width;
    const im = new Image(n, n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const o = (y * n + x) * 3; // upright (x, y) is stored at (y, n - 1 - x)
        im.setPixelAt(
          y + 1,
          n - x,
          Image.rgbaToColor(up.rgb[o], up.rgb[o + 1], up.rgb[o + 2], 255),
        );
      }
    }
    const jpeg = withOrientation(await im.encodeJPEG(95), 6);
    const turned = await decodeImage(jpeg, "rotated.jpg");
    assertEquals(turned.orientation, 6);
    const a = aligner.align(up), b = aligner.align(turned);
    // Same face, upright: eyes above the mouth, landmarks within 3 px (JPEG re-encoding).
    const lm = b.face.landmarks;
    assert(lm[0][1] < lm[3][1] && lm[1][1] < lm[4][1], `eyes not above the mouth: ${lm}`);
    for (let i = 0; i < 5; i++) {
      const d = Math.hypot(lm[i][0] - a.face.landmarks[i][0], lm[i][1] - a.face.landmarks[i][1]);
      assert(d < 3, `landmark ${i} moved ${d} px`);
    }
    let diff = 0;
    for (let i = 0; i < a.crop.rgb.length; i++) diff += Math.abs(a.crop.rgb[i] - b.crop.rgb[i]);
    assert(diff / a.crop.rgb.length < 8, `crops differ by ${diff / a.crop.rgb.length} levels`);
  },
});

Deno.test("alignedName keeps crops inside the --save-aligned folder", () => {
  assertEquals(alignedName("faces/a.jpg"), "faces/a.png");
  assertEquals(alignedName("/data/x/b.JPG"), "data/x/b.png");
  assertEquals(alignedName("../up/./c"), "__/up/_/c.png");
  assertEquals(alignedName("C:\\pics\\d.jpeg"), "pics/d.png");
});

Deno.test({
  name: "command: --align records with faces and failures, --save-aligned, no abort",
  ignore: !haveLfw,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_align_" });
    try {
      const blank = new Image(120, 90).fill(Image.rgbaToColor(200, 200, 200, 255));
      await Deno.writeFile(`${dir}/blank.png`, await blank.encode());
      await Deno.writeFile(`${dir}/notes.png`, new TextEncoder().encode("not an image"));
      await Deno.copyFile(FACE_A, `${dir}/face.jpg`);
      const r = await runProcess(
        Deno.execPath(),
        [
          "run",
          "-A",
          MOD,
          "--weights",
          `${TINY_FIX}model.pth`,
          "--align",
          "--save-aligned",
          "crops",
          "--format",
          "jsonl",
        ],
        dir,
        { input: "blank.png\nface.jpg\nnotes.png\n", limitMs: 120_000 },
      );
      assertEquals(r.code, 3, r.stderr);
      const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(recs.map((x) => [x.path, x.status, x.error]), [
        ["blank.png", "failed", "no face found"],
        ["face.jpg", "ok", null],
        ["notes.png", "failed", recs[2].error],
      ]);
      assertEquals(recs[0].face, null);
      const f = recs[1].face;
      assertEquals([f.box.length, f.landmarks.length], [4, 5]);
      assert(f.confidence > 0.5 && f.confidence <= 1, `confidence ${f.confidence}`);
      const crop = await decodeImage(await Deno.readFile(`${dir}/crops/face.png`), "face.png");
      assertEquals([crop.width, crop.height], [112, 112]);
      await assertRejects(() => Deno.stat(`${dir}/crops/blank.png`), /No such file/);
      // Without --align: the one warning that suggests it (blank.png is 120x90).
      const plain = await runProcess(
        Deno.execPath(),
        ["run", "-A", MOD, "--weights", `${TINY_FIX}model.pth`],
        dir,
        { input: "blank.png\nface.jpg\n", limitMs: 120_000 },
      );
      assertEquals(plain.code, 0, plain.stderr);
      const warnings = plain.stderr.split("\n").filter((l) => l.includes("--align"));
      assertEquals(warnings.length, 1, plain.stderr);
      assertMatch(warnings[0], /blank\.png is 120x90, not 112x112/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "merge of --align shards equals the folder-mode --align run; mixed with others refused",
  ignore: !haveLfw,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_align_merge_" });
    try {
      await Deno.mkdir(`${dir}/images`);
      const blank = new Image(120, 90).fill(Image.rgbaToColor(200, 200, 200, 255));
      await Deno.writeFile(`${dir}/images/blank.png`, await blank.encode());
      await Deno.copyFile(FACE_A, `${dir}/images/a.jpg`);
      await Deno.copyFile(FACE_B, `${dir}/images/b.jpg`);
      await Deno.copyFile(`${TINY_FIX}model.pth`, `${dir}/model.pth`);
      const listing = [
        "--image-path",
        "images",
        "--image-extension",
        "jpg",
        "--image-extension",
        "png",
      ];
      const base = [...listing, "--weights", "model.pth", "--align"];
      const full = await runTool([...base, "--output-dir", "full"], dir);
      assertEquals(full.code, 3, full.stderr); // blank.png: no face found
      const parts = ["p0.tsv", "p1.jsonl"];
      for (const [k, part] of parts.entries()) {
        const r = await runTool([...base, "--shard", `${k}/2`, "--output", part], dir);
        assert(r.code === 0 || r.code === 3, r.stderr);
      }
      // The shards' records carry the face fields; the merge reads past them.
      const tsv = await Deno.readTextFile(`${dir}/p0.tsv`);
      assertEquals(
        tsv.split("\n")[0].endsWith("\terror\tface_box\tlandmarks\tface_confidence"),
        true,
      );
      const m = await runTool(["merge", "--output-dir", "merged", ...listing, ...parts], dir);
      assertEquals(m.code, 3, m.stderr);
      const names = [...Deno.readDirSync(`${dir}/full`)].map((e) => e.name).sort();
      assertEquals([...Deno.readDirSync(`${dir}/merged`)].map((e) => e.name).sort(), names);
      for (const n of names) {
        assertEquals(
          await Deno.readFile(`${dir}/merged/${n}`),
          await Deno.readFile(`${dir}/full/${n}`),
          n,
        );
      }
      // A shard made without --align (or with another --face) is another run: refused, named.
      const plain = await runTool(
        [
          "--image-path",
          "images",
          "--weights",
          "model.pth",
          "--shard",
          "1/2",
          "--output",
          "q1.tsv",
        ],
        dir,
      );
      assert(plain.code === 0 || plain.code === 3, plain.stderr);
      const mixed = await runTool(["merge", "--output-dir", "mixed", "p0.tsv", "q1.tsv"], dir);
      assertEquals(mixed.code, 1, mixed.stderr);
      assertMatch(mixed.stderr, /different settings/);
      assertMatch(mixed.stderr, /p0\.tsv: \{[^\n]*"align":\{"face":"center"\}\}/);
      assertMatch(mixed.stderr, /q1\.tsv: \{[^\n]*"calibration":null\}\n/);
      // An output folder does not record --align: not merged with --align record files.
      const withFolder = await runTool(["merge", "--output-dir", "mixed", "p0.tsv", "full"], dir);
      assertEquals(withFolder.code, 1, withFolder.stderr);
      assertMatch(withFolder.stderr, /p0\.tsv was made with --align, but the output folder full/);
      await assertRejects(() => Deno.stat(`${dir}/mixed`), /No such file/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("TFJS model files are data: shard names, sizes and the format are checked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_tfjs_" });
  try {
    const url = new URL(`file://${dir}/`);
    const write = (manifest: unknown, format = "graph-model") =>
      Deno.writeTextFile(
        `${dir}/m.json`,
        JSON.stringify({ format, modelTopology: { node: [] }, weightsManifest: manifest }),
      );
    const w = [{ name: "w", shape: [2, 3], dtype: "float32" }];
    await Deno.writeFile(`${dir}/m.bin`, new Uint8Array(24));
    const fails = async (re: RegExp) => {
      let err: unknown;
      try {
        await loadTfjsGraphModel(url, "m");
      } catch (e) {
        err = e;
      }
      assert(err instanceof TfjsModelError, `expected TfjsModelError, got ${err}`);
      assert(re.test((err as Error).message), (err as Error).message);
      assert((err as Error).message.startsWith(`${dir}/m.json: `), (err as Error).message);
    };
    await write([{ paths: ["../m.bin"], weights: w }]);
    await fails(/weight shard "\.\.\/m\.bin" is not a plain file name/);
    await write([{ paths: ["m.bin"], weights: [{ ...w[0], shape: [2, 4] }] }]);
    await fails(/the weight shards hold 24 bytes, the manifest's tensors need 32/);
    // float16 quantisation halves the bytes: 12 needed, 24 present
    await write([{ paths: ["m.bin"], weights: [{ ...w[0], quantization: { dtype: "float16" } }] }]);
    await fails(/hold 24 bytes, the manifest's tensors need 12/);
    await write([{ paths: ["m.bin"], weights: w }], "layers-model");
    await fails(/not a TensorFlow.js graph model \(format layers-model\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TFJS model files in memory (one-file builds): the same checks, named embedded:FILE", async () => {
  const json = (paths: string[], shape: number[]) =>
    new TextEncoder().encode(JSON.stringify({
      format: "graph-model",
      modelTopology: { node: [] },
      weightsManifest: [{ paths, weights: [{ name: "w", shape, dtype: "float32" }] }],
    }));
  await assertRejects(() => loadTfjsGraphModel(new Map(), "m"), / embedded:m\.json: not among/);
  const files = new Map([["m.json", json(["m.bin"], [2, 4])], ["m.bin", new Uint8Array(24)]]);
  await assertRejects(
    () => loadTfjsGraphModel(files, "m"),
    / embedded:m\.json: the weight shards hold 24 bytes, the manifest's tensors need 32$/,
  );
  files.set("m.json", json(["n.bin"], [2, 3]));
  await assertRejects(() => loadTfjsGraphModel(files, "m"), / embedded:n\.bin: not among/);
  // A build that embeds only some of the four files is refused at registration.
  const some = new Map(MODEL_FILES.slice(0, 3).map((f) => [f, new Uint8Array(1)]));
  assertEquals(MODEL_FILES.length, 4);
  await assertRejects(
    () => Promise.resolve().then(() => useEmbeddedModels(some)),
    /embedded face models: facemesh\.bin is missing/,
  );
});

Deno.test("command: --face and --save-aligned need --align; --face takes center or largest", async () => {
  const run = (args: string[]) =>
    runProcess(Deno.execPath(), ["run", "-A", MOD, "--weights", "w.pth", ...args], ".", {
      limitMs: 60_000,
    });
  for (
    const [args, re] of [
      [["--face", "largest"], /--face needs --align/],
      [["--save-aligned", "d"], /--save-aligned needs --align/],
      [["--align", "--face", "left"], /--face must be center or largest, got "left"/],
    ] as const
  ) {
    const r = await run([...args]);
    assertEquals(r.code, 2, r.stderr);
    assertMatch(r.stderr, re);
  }
});

Deno.test("records with --align: face columns (TSV) and the face key (JSONL), read back", () => {
  const face = {
    box: [10.004, 20.5, 100.126, 99] as [number, number, number, number],
    landmarks: [[1.234, 2.345], [3, 4], [5, 6], [7, 8], [9.999, 10.001]] as [number, number][],
    confidence: 0.912345,
  };
  const ok = { path: "a\tb.jpg", scores: [1.5, 2.25], error: null, face };
  const bad = { path: "c.jpg", scores: null, error: "no face found", face: null };
  const g = ["image", "block1"];
  assertEquals(
    recordHeader("tsv", g, [...FACE_COLUMNS]),
    "path\timage\tblock1\tstatus\terror\tface_box\tlandmarks\tface_confidence\n",
  );
  const tsv = formatRecord("tsv", g, ok, false, true);
  assertEquals(
    tsv,
    "a\\tb.jpg\t1.5\t2.25\tok\t\t10,20.5,100.13,99\t1.23,2.35,3,4,5,6,7,8,10,10\t0.9123\n",
  );
  assertEquals(
    formatRecord("tsv", g, bad, false, true),
    "c.jpg\t\t\tfailed\tno face found\t\t\t\n",
  );
  assertEquals(
    formatRecord("jsonl", g, ok, false, true),
    '{"path":"a\\tb.jpg","image":1.5,"block1":2.25,"status":"ok","error":null,"face":' +
      '{"box":[10,20.5,100.13,99],"landmarks":[[1.23,2.35],[3,4],[5,6],[7,8],[10,10]],' +
      '"confidence":0.9123}}\n',
  );
  assertEquals(formatRecord("jsonl", g, bad, false, true).includes('"face":null'), true);
  // Without --align nothing changes.
  assertEquals(formatRecord("tsv", g, ok), "a\\tb.jpg\t1.5\t2.25\tok\t\n");
  const back = parseRecordLine("tsv", g, tsv.slice(0, -1), "x:2", false, FACE_COLUMNS.length);
  assertEquals([back.path, back.scores, back.error], ["a\tb.jpg", [1.5, 2.25], null]);
  // With --calibration too: `error`, the quality_<group> columns, then the face fields (TSV
  // and JSONL); resume reads past both (five columns after `error`).
  const cols = ["quality_image", "quality_block1", ...FACE_COLUMNS];
  assertEquals(
    recordHeader("tsv", g, cols),
    "path\timage\tblock1\tstatus\terror\tquality_image\tquality_block1\tface_box\tlandmarks\t" +
      "face_confidence\n",
  );
  const both = formatRecord("tsv", g, { ...ok, quality: [62.5, 10] }, false, true);
  assertEquals(
    both,
    "a\\tb.jpg\t1.5\t2.25\tok\t\t62.50\t10.00\t10,20.5,100.13,99\t" +
      "1.23,2.35,3,4,5,6,7,8,10,10\t0.9123\n",
  );
  assertEquals(
    formatRecord("tsv", g, { ...bad, quality: null }, false, true),
    "c.jpg\t\t\tfailed\tno face found\t\t\t\t\t\n",
  );
  assertEquals(
    formatRecord("jsonl", g, { ...ok, quality: [62.5, 10] }, false, true),
    '{"path":"a\\tb.jpg","image":1.5,"block1":2.25,"status":"ok","error":null,' +
      '"quality_image":62.5,"quality_block1":10,"face":{"box":[10,20.5,100.13,99],' +
      '"landmarks":[[1.23,2.35],[3,4],[5,6],[7,8],[10,10]],"confidence":0.9123}}\n',
  );
  const back2 = parseRecordLine("tsv", g, both.slice(0, -1), "x:2", false, cols.length);
  assertEquals([back2.path, back2.scores, back2.error], ["a\tb.jpg", [1.5, 2.25], null]);
});
