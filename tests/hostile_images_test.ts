/**
 * Hostile and damaged image files (issue 11): decompression bombs, FIFOs and devices named like
 * images, endless files and truncated JPEGs. Every file is generated here, in a temporary
 * folder: a GIF87a declaring a 65535 x 65535 screen around 16 x 16 pixels of real LZW data
 * (written byte by byte), a valid 50 KB PNG of 20000 x 20000 pixels (1-bit rows of zeros,
 * deflated with fflate), a FIFO (`mkfifo`), a symbolic link to /dev/zero, and a JPEG fixture
 * cut inside its scan data.
 *
 * The decoder and reader are checked directly (no GPU), then the command runs as a user runs
 * it, on the tiny iResNet of tests/cli_util.ts, once per hostile file in a folder with one good
 * image, under a time limit and (on Linux) a resident-memory limit: the run must end, exit with
 * status 3, list the bad file with its reason and score the good one.
 */
import { zlibSync } from "fflate";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { type GuardedResult, runGuarded, TINY_FIX } from "./cli_util.ts";
import { declaredSizes, decodeImage, ImageDecodeError } from "../src/image/mod.ts";
import { ImageReadError, readImageFile } from "../src/image/read_file.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { readFailedList } from "../src/io/score_files.ts";
import { parseScoreArgs } from "../src/cli/score_args.ts";
import { UsageError } from "../src/cli/args.ts";

/** The CLI tests score images: they need a WebGPU adapter (see tests/gpu_util.ts). */
const GPU = gpuTestOptions("hostile_images_test");
const isLinux = Deno.build.os === "linux";
const JPEG_FIXTURE = new URL("./fixtures/image/synthetic/baseline420.jpg", import.meta.url);
const GOOD_PNG = `${TINY_FIX}/images/smooth_a.png`;

// ---------------------------------------------------------------------------------------------
// Generated hostile files

/**
 * GIF LZW data (minimum code size 2, so 3-bit codes, clear 4, end 5) for palette indices 0/1,
 * without compression: a clear code before every pair of pixels keeps the code size at 3 bits.
 */
function lzwLiteral(pixels: Uint8Array): Uint8Array {
  const codes: number[] = [];
  for (let i = 0; i < pixels.length; i += 2) {
    codes.push(4, pixels[i]);
    if (i + 1 < pixels.length) codes.push(pixels[i + 1]);
  }
  codes.push(5);
  const bytes: number[] = [];
  let acc = 0, bits = 0;
  for (const c of codes) {
    acc |= c << bits;
    bits += 3;
    for (; bits >= 8; bits -= 8, acc >>= 8) bytes.push(acc & 0xff);
  }
  if (bits) bytes.push(acc & 0xff);
  return new Uint8Array(bytes);
}

/**
 * A GIF87a with a `sw` x `sh` logical screen, a black-and-white global palette and one frame
 * whose descriptor says `fw` x `fh` at (0, 0), holding `dw` x `dh` pixels of LZW data
 * (vertical stripes 8 pixels wide).
 */
function gif(sw: number, sh: number, fw: number, fh: number, dw = fw, dh = fh): Uint8Array {
  const le = (v: number) => [v & 0xff, v >> 8];
  const out = [...new TextEncoder().encode("GIF87a"), ...le(sw), ...le(sh), 0x80, 0, 0];
  out.push(0, 0, 0, 255, 255, 255); // palette: black, white
  out.push(0x2c, ...le(0), ...le(0), ...le(fw), ...le(fh), 0, 2);
  const px = new Uint8Array(dw * dh).map((_, i) => ((i % dw) >> 3) & 1);
  const data = lzwLiteral(px);
  for (let i = 0; i < data.length; i += 255) {
    const block = data.subarray(i, i + 255);
    out.push(block.length, ...block);
  }
  out.push(0, 0x3b);
  return new Uint8Array(out);
}

/** The decompression bomb of the issue: a 65535 x 65535 GIF screen around 16 x 16 pixels. */
const gifBomb = () => gif(65535, 65535, 16, 16);

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = CRC_TABLE[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A valid 1-bit grayscale PNG of `w` x `h` black pixels (the rows deflate to almost nothing). */
function blackPng(w: number, h: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr[8] = 1; // bit depth; colour type 0 (gray), deflate, filter 0, no interlace
  const raw = new Uint8Array(h * (1 + Math.ceil(w / 8))); // filter byte 0 + zero bits per row
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlibSync(raw, { level: 9 })),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

let bigPngBytes: Uint8Array | undefined;
/** The valid 20000 x 20000 PNG of the issue (about 50 KB; made once). */
const bigPng = () => (bigPngBytes ??= blackPng(20000, 20000));

/** The JPEG fixture cut after 10 % of its scan data (no end-of-image marker). */
function truncatedJpeg(): Uint8Array {
  const b = Deno.readFileSync(JPEG_FIXTURE);
  let sos = -1;
  for (let i = 2; i + 1 < b.length && sos < 0; i++) if (b[i] === 0xff && b[i + 1] === 0xda) sos = i;
  assert(sos > 0, "the fixture has a scan");
  return b.slice(0, sos + Math.floor((b.length - sos) * 0.1));
}

/** Make a FIFO with the system's `mkfifo` (Deno has none); false where it is unavailable. */
async function mkfifo(path: string): Promise<boolean> {
  try {
    return (await new Deno.Command("mkfifo", { args: [path] }).output()).success;
  } catch {
    return false;
  }
}

/** Await `p`, failing the test if it takes longer than `ms` (a hang). */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejection(p: () => Promise<unknown>): Promise<Error> {
  try {
    await p();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

// ---------------------------------------------------------------------------------------------
// The decoder and the reader (no GPU)

Deno.test("decode: a GIF declaring a 65535 x 65535 screen is refused before decoding", async () => {
  const bomb = gifBomb();
  assert(bomb.length < 1024, `${bomb.length} bytes`);
  const t0 = performance.now();
  const err = await within(5000, "GIF bomb", rejection(() => decodeImage(bomb, "d/bomb.gif")));
  assert(err instanceof ImageDecodeError, String(err));
  assertEquals(err.problem, "image too large (65535 x 65535, over --max-pixels 50000000)");
  assertEquals(err.message, `d/bomb.gif: ${err.problem}`);
  assert(performance.now() - t0 < 1000, "refused from the header");
});

Deno.test("decode: a valid 20000 x 20000 PNG of 50 KB is refused from its IHDR", async () => {
  const png = bigPng();
  assert(png.length < 100_000, `${png.length} bytes`);
  assertEquals(declaredSizes(png, "png"), [{ what: "image", width: 20000, height: 20000 }]);
  const t0 = performance.now();
  await assertRejects(
    () => decodeImage(png, "big.png"),
    /: big\.png: image too large \(20000 x 20000, over --max-pixels 50000000\)$/,
  );
  assert(performance.now() - t0 < 1000, "refused from the header");
  // A small PNG made the same way decodes.
  const small = await decodeImage(blackPng(40, 30), "small.png");
  assertEquals([small.width, small.height, small.rgb.every((v) => v === 0)], [40, 30, true]);
});

Deno.test("decode: --max-pixels is exact and applies to every decoded format", async () => {
  const g = gif(16, 16, 16, 16);
  assertEquals((await decodeImage(g, "g.gif", { maxPixels: 256 })).width, 16);
  await assertRejects(
    () => decodeImage(g, "g.gif", { maxPixels: 255 }),
    /image too large \(16 x 16, over --max-pixels 255\)/,
  );
  const jpeg = Deno.readFileSync(JPEG_FIXTURE);
  assertEquals(declaredSizes(jpeg, "jpeg"), [{ what: "image", width: 48, height: 40 }]);
  assertEquals((await decodeImage(jpeg, "j.jpg", { maxPixels: 48 * 40 })).height, 40);
  await assertRejects(
    () => decodeImage(jpeg, "j.jpg", { maxPixels: 48 * 40 - 1 }),
    /image too large \(48 x 40, over --max-pixels 1919\)/,
  );
  // A JPEG whose frame header declares 65535 x 65535 (the data is the 48 x 40 image's).
  const huge = jpeg.slice();
  const sof = huge.findIndex((v, i) => v === 0xff && huge[i + 1] === 0xc0);
  huge.set([0xff, 0xff, 0xff, 0xff], sof + 5);
  await assertRejects(
    () => decodeImage(huge, "huge.jpg"),
    /huge\.jpg: image too large \(65535 x 65535, over --max-pixels 50000000\)/,
  );
  const png = blackPng(40, 30);
  await assertRejects(() => decodeImage(png, "p.png", { maxPixels: 1199 }), /40 x 30/);
  await assertRejects(() => decodeImage(png, "p.png", { maxPixels: 0 }), /positive integer/);
});

Deno.test("decode: GIF frames larger than the screen are bounded and cut to the screen", async () => {
  // A frame descriptor of 65535 x 65535 on a 16 x 16 screen: refused from the descriptor.
  await assertRejects(
    () => decodeImage(gif(16, 16, 65535, 65535, 16, 16), "f.gif"),
    /image too large \(65535 x 65535, over --max-pixels 50000000\)/,
  );
  // A 32 x 16 frame on a 16 x 16 screen: the screen's 16 x 16 pixels, no wrapped columns.
  const d = await decodeImage(gif(16, 16, 32, 16), "wide.gif");
  assertEquals([d.width, d.height], [16, 16]);
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      assertEquals(d.rgb[3 * (16 * y + x)], ((x >> 3) & 1) * 255, `pixel ${x},${y}`);
    }
  }
});

Deno.test("decode: a truncated JPEG fails unless allowTruncated, then warns", async () => {
  const cut = truncatedJpeg();
  const err = await rejection(() => decodeImage(cut, "d/cut.jpg"));
  assert(err instanceof ImageDecodeError, String(err));
  assert(/^truncated JPEG: /.test(err.problem), err.problem);
  assert(err.problem.includes("--allow-truncated"), err.problem);
  const d = await decodeImage(cut, "d/cut.jpg", { allowTruncated: true });
  assertEquals([d.width, d.height], [48, 40]);
  assertEquals(d.warnings.length, 1);
  assert(/ends early/.test(d.warnings[0]), d.warnings[0]);
  // The intact file decodes without a warning either way.
  const whole = await decodeImage(Deno.readFileSync(JPEG_FIXTURE), "j.jpg");
  assertEquals(whole.warnings, []);
});

Deno.test({
  name: "readImageFile: FIFOs and devices are refused without being read; sizes are capped",
  ignore: !isLinux,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_hostile_" });
    try {
      if (await mkfifo(`${dir}/x.jpg`)) {
        // Reading it would block until a writer comes: this would time out.
        const e = await within(5000, "FIFO", rejection(() => readImageFile(`${dir}/x.jpg`)));
        assert(e instanceof ImageReadError, String(e));
        assertEquals(e.problem, "not a regular file (fifo)");
      } else console.warn("  mkfifo unavailable: the FIFO case is skipped");
      await Deno.symlink("/dev/zero", `${dir}/z.jpg`);
      const z = await within(5000, "/dev/zero", rejection(() => readImageFile(`${dir}/z.jpg`)));
      assert(z instanceof ImageReadError, String(z));
      assertEquals(z.problem, "not a regular file (character device)");
      assertEquals(z.message, `${dir}/z.jpg: not a regular file (character device)`);
      const e = await rejection(() => readImageFile(dir));
      assertEquals((e as ImageReadError).problem, "is a directory");
      // The cap, exactly.
      await Deno.writeFile(`${dir}/a.png`, new Uint8Array(100).fill(7));
      assertEquals((await readImageFile(`${dir}/a.png`, 100)).length, 100);
      assertEquals(Array.from(await readImageFile(`${dir}/a.png`)), Array(100).fill(7));
      await assertRejects(
        () => readImageFile(`${dir}/a.png`, 99),
        /a\.png: file too large \(100 bytes, over --max-file-bytes 99\)$/,
      );
      await Deno.writeFile(`${dir}/empty.png`, new Uint8Array(0));
      assertEquals((await readImageFile(`${dir}/empty.png`)).length, 0);
      await assertRejects(() => readImageFile(`${dir}/missing.png`), /No such file/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("CLI options: --max-pixels, --max-file-bytes, --allow-truncated", () => {
  const base = ["--weights", "m.pth", "--image-path", "d"];
  const o = parseScoreArgs(base);
  assert(o !== "help");
  assertEquals([o.maxPixels, o.maxFileBytes, o.allowTruncated], [50_000_000, 268435456, false]);
  const p = parseScoreArgs([
    ...base,
    "--max-pixels",
    "1000",
    "--max-file-bytes",
    "2000",
    "--allow-truncated",
  ]);
  assert(p !== "help");
  assertEquals([p.maxPixels, p.maxFileBytes, p.allowTruncated], [1000, 2000, true]);
  for (const bad of ["0", "-1", "1.5", "1e6", "", "x"]) {
    for (const opt of ["--max-pixels", "--max-file-bytes"]) {
      let err: unknown;
      try {
        parseScoreArgs([...base, `${opt}=${bad}`]);
      } catch (e) {
        err = e;
      }
      assert(err instanceof UsageError, `${opt} ${bad}`);
      assert((err as Error).message.includes(`${opt} must be a positive integer`));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The command, one hostile file next to one good image

/** Per run: a hang or a runaway allocation fails the test instead of the machine. */
const RUN_LIMIT_MS = 60_000;
/** Resident-memory limit of one run (the tiny model needs a few hundred MiB). */
const RSS_LIMIT_MIB = 2048;

/** Run the tool in `cwd` under {@link RUN_LIMIT_MS} and {@link RSS_LIMIT_MIB}. */
function guardedRun(args: string[], cwd: string, input?: string): Promise<GuardedResult> {
  return runGuarded(args, cwd, { input, limitMs: RUN_LIMIT_MS, rssLimitMiB: RSS_LIMIT_MIB });
}

/** A work dir with model.pth and d/good.png; `bad` adds the hostile file(s) to d/. */
async function workDir(bad: (d: string) => Promise<void>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_hostile_" });
  await Deno.mkdir(`${dir}/d`);
  await Deno.copyFile(`${TINY_FIX}/model.pth`, `${dir}/model.pth`);
  await Deno.copyFile(GOOD_PNG, `${dir}/d/good.png`);
  await bad(`${dir}/d`);
  return dir;
}

const FOLDER_ARGS = [
  "--image-path",
  "d",
  "--image-extension",
  "png,jpg,gif",
  "--weights",
  "model.pth",
  "--output-dir",
  "out",
];

/**
 * Run the folder mode on `dir` and check the outcome: the run ended by itself, exit status 3,
 * `badPath` listed with a reason matching `reason` (and named on stderr), d/good.png scored.
 */
async function expectOneBad(
  dir: string,
  badPath: string,
  reason: RegExp,
  extra: string[] = [],
): Promise<GuardedResult> {
  const r = await guardedRun([...FOLDER_ARGS, ...extra], dir);
  const what = `${badPath}: ${r.killed || `exit ${r.code}`}\n${r.stderr.slice(-2000)}`;
  assertEquals(r.killed, "", what);
  assertEquals(r.code, 3, what);
  const failed = readFailedList(`${dir}/out/GraFIQs_failed.txt`);
  assertEquals(failed.map((f) => f.path), [badPath], what);
  assert(reason.test(failed[0].reason), `reason: ${failed[0].reason}`);
  assert(r.stderr.includes(`skipped ${badPath}: ${failed[0].reason}`), r.stderr);
  const scores = parseScoreFile(
    await Deno.readTextFile(`${dir}/out/GraFIQs_image.txt`),
    "GraFIQs_image.txt",
  );
  assertEquals(scores.map((s) => s.path), ["d/good.png"]);
  assert(Number.isFinite(scores[0].score) && scores[0].score > 0, String(scores[0].score));
  console.log(`  ${badPath}: ${r.ms.toFixed(0)} ms, peak RSS ${r.peakMiB.toFixed(0)} MiB`);
  return r;
}

Deno.test("CLI: the GIF bomb fails as too large; the good image is scored", GPU, async () => {
  const dir = await workDir((d) => Deno.writeFile(`${d}/bomb.gif`, gifBomb()));
  await expectOneBad(
    dir,
    "d/bomb.gif",
    /^image too large \(65535 x 65535, over --max-pixels 50000000\)$/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test(
  "CLI: a 20000 x 20000 PNG fails as too large; the good image is scored",
  GPU,
  async () => {
    const dir = await workDir((d) => Deno.writeFile(`${d}/big.png`, bigPng()));
    await expectOneBad(
      dir,
      "d/big.png",
      /^image too large \(20000 x 20000, over --max-pixels 50000000\)$/,
    );
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test({
  name: "CLI: a FIFO named x.jpg fails in folder and stream modes without blocking",
  ignore: GPU.ignore || !isLinux,
  fn: async () => {
    let made = true;
    const dir = await workDir(async (d) => {
      made = await mkfifo(`${d}/x.jpg`);
    });
    if (!made) {
      console.warn("  mkfifo unavailable: skipped");
      return;
    }
    await expectOneBad(dir, "d/x.jpg", /^not a regular file \(fifo\)$/);
    // Stream mode: paths on stdin, one JSONL record each, in input order.
    const r = await guardedRun(
      ["--weights", "model.pth", "--format", "jsonl"],
      dir,
      "d/x.jpg\nd/good.png\n",
    );
    assertEquals(r.killed, "", r.stderr);
    assertEquals(r.code, 3, r.stderr);
    const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(recs.map((o) => [o.path, o.status]), [["d/x.jpg", "failed"], [
      "d/good.png",
      "ok",
    ]]);
    assertEquals(recs[0].error, "not a regular file (fifo)");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "CLI: a link to /dev/zero fails as a character device, in bounded memory",
  ignore: GPU.ignore || !isLinux,
  fn: async () => {
    const dir = await workDir((d) => Deno.symlink("/dev/zero", `${d}/z.jpg`));
    await expectOneBad(dir, "d/z.jpg", /^not a regular file \(character device\)$/);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test(
  "CLI: a truncated JPEG fails by default; --allow-truncated scores it, warning",
  GPU,
  async () => {
    const dir = await workDir((d) => Deno.writeFile(`${d}/cut.jpg`, truncatedJpeg()));
    await expectOneBad(dir, "d/cut.jpg", /^truncated JPEG: /);
    const r = await guardedRun([...FOLDER_ARGS, "--allow-truncated"], dir);
    assertEquals([r.killed, r.code], ["", 0], r.stderr);
    assert(/warning: d\/cut\.jpg: JPEG data ends early/.test(r.stderr), r.stderr);
    const scores = parseScoreFile(
      await Deno.readTextFile(`${dir}/out/GraFIQs_image.txt`),
      "GraFIQs_image.txt",
    );
    assertEquals(scores.map((s) => s.path), ["d/cut.jpg", "d/good.png"]);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test({
  name: "CLI stream: every hostile file at once, --max-file-bytes; one record each, in order",
  ignore: GPU.ignore || !isLinux,
  fn: async () => {
    const dir = await workDir(async (d) => {
      await Deno.writeFile(`${d}/bomb.gif`, gifBomb());
      await Deno.writeFile(`${d}/big.png`, bigPng()); // ~50 KB
      await Deno.symlink("/dev/zero", `${d}/z.jpg`);
      await Deno.writeFile(`${d}/cut.jpg`, truncatedJpeg());
    });
    const paths = ["d/bomb.gif", "d/big.png", "d/z.jpg", "d/cut.jpg", "d/good.png"];
    const r = await guardedRun(
      ["--weights", "model.pth", "--max-file-bytes", "30000"], // good.png: 24622 bytes
      dir,
      paths.join("\n") + "\n",
    );
    assertEquals(r.killed, "", r.stderr);
    assertEquals(r.code, 3, r.stderr);
    const lines = r.stdout.trim().split("\n").slice(1).map((l) => l.split("\t"));
    assertEquals(lines.map((f) => f[0]), paths);
    assertEquals(lines.map((f) => f[6]), ["failed", "failed", "failed", "failed", "ok"]);
    assertEquals(lines[0][7], "image too large (65535 x 65535, over --max-pixels 50000000)");
    assert(
      /^file too large \(\d+ bytes, over --max-file-bytes 30000\)$/.test(lines[1][7]),
      lines[1][7],
    );
    assertEquals(lines[2][7], "not a regular file (character device)");
    assert(lines[3][7].startsWith("truncated JPEG: "), lines[3][7]);
    await Deno.remove(dir, { recursive: true });
  },
});

// ---------------------------------------------------------------------------------------------
// The whole corpus at once: one folder and one stream

Deno.test({
  name: "CLI corpus: every hostile image in one folder and one stream, the good image as if alone",
  ignore: GPU.ignore || !isLinux,
  fn: async () => {
    // A clean run of the good image alone: what its scores and record must be, byte for byte.
    const clean = await workDir(() => Promise.resolve());
    const c = await guardedRun(FOLDER_ARGS, clean);
    assertEquals([c.killed, c.code], ["", 0], c.stderr);
    const cs = await guardedRun(["--weights", "model.pth"], clean, "d/good.png\n");
    assertEquals([cs.killed, cs.code], ["", 0], cs.stderr);
    const goodRecord = cs.stdout.trim().split("\n")[1];

    const bad: Record<string, RegExp> = {
      "d/bomb.gif": /^image too large \(65535 x 65535/,
      "d/big.png": /^image too large \(20000 x 20000/,
      "d/cut.jpg": /^truncated JPEG: /,
      "d/dir.jpg": /directory/,
      "d/text.png": /^not an image: /,
      "d/z.jpg": /^not a regular file \(character device\)$/,
    };
    const dir = await workDir(async (d) => {
      await Deno.writeFile(`${d}/bomb.gif`, gifBomb());
      await Deno.writeFile(`${d}/big.png`, bigPng());
      await Deno.writeFile(`${d}/cut.jpg`, truncatedJpeg());
      await Deno.mkdir(`${d}/dir.jpg`);
      await Deno.writeTextFile(`${d}/text.png`, "hello\n");
      await Deno.symlink("/dev/zero", `${d}/z.jpg`);
      if (await mkfifo(`${d}/fifo.jpg`)) bad["d/fifo.jpg"] = /^not a regular file \(fifo\)$/;
    });
    const badPaths = Object.keys(bad).sort();

    // One folder: ends by itself under the time and memory limits, status 3, every bad file
    // listed with its reason, and the five score files byte-identical to the clean run's.
    const r = await guardedRun(FOLDER_ARGS, dir);
    assertEquals([r.killed, r.code], ["", 3], r.stderr.slice(-2000));
    const failed = readFailedList(`${dir}/out/GraFIQs_failed.txt`);
    assertEquals(failed.map((f) => f.path).sort(), badPaths);
    for (const f of failed) assert(bad[f.path].test(f.reason), `${f.path}: ${f.reason}`);
    for (const g of ["image", "block1", "block2", "block3", "block4"]) {
      const name = `out/GraFIQs_${g}.txt`;
      assertEquals(
        await Deno.readTextFile(`${dir}/${name}`),
        await Deno.readTextFile(`${clean}/${name}`),
        name,
      );
    }

    // One stream: a record per path in input order, the good one byte-identical to the clean run.
    const paths = [...badPaths, "d/good.png"];
    const s = await guardedRun(["--weights", "model.pth"], dir, paths.join("\n") + "\n");
    assertEquals([s.killed, s.code], ["", 3], s.stderr.slice(-2000));
    const lines = s.stdout.trim().split("\n").slice(1);
    assertEquals(lines.map((l) => l.split("\t")[0]), paths);
    for (const [i, p] of badPaths.entries()) {
      const f = lines[i].split("\t");
      assertEquals(f[6], "failed", lines[i]);
      assert(bad[p].test(f[7]), `${p}: ${f[7]}`);
    }
    assertEquals(lines[paths.length - 1], goodRecord);
    console.log(
      `  corpus of ${badPaths.length} + 1: folder ${r.ms.toFixed(0)} ms, peak ${
        r.peakMiB.toFixed(0)
      } MiB; stream ${s.ms.toFixed(0)} ms, peak ${s.peakMiB.toFixed(0)} MiB`,
    );
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(clean, { recursive: true });
  },
});
