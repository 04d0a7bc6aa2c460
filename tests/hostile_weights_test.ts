/**
 * Hostile `--weights` files (issue 11): every case must end quickly, in bounded memory, with exit
 * status 1 and a message naming the file and what is wrong; never scores from broken weights.
 *
 * - a FIFO and a symbolic link to /dev/zero (used to hang, or to read without end);
 * - a zip checkpoint whose storage entry is a deflate bomb (about 1 MB inflating to 1 GiB),
 *   with an honest zip header (declares 1 GiB) and with a lying one (declares the real size);
 * - tiny checkpoints with a NaN weight, an infinite or negative BN running variance (used to
 *   give `nan` for every score with exit status 0);
 * - a converted file's preprocessing with a near-zero std, and the size caps of the reader.
 *
 * Every hostile file is generated in a temp folder. The CLI cases run the tool in a subprocess
 * watched by `runGuarded` (tests/cli_util.ts): it is killed when it passes a time or a peak-memory limit, so
 * a regression fails the test instead of hanging it or exhausting the machine.
 *
 * @module
 */
import { inflateSync, unzipSync, zipSync } from "fflate";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { runGuarded, TINY_FIX } from "./cli_util.ts";
import { readTorchCheckpoint } from "../src/weights/pth.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";
import { readZipDirectory, zipEntryData } from "../src/weights/zip.ts";
import { applyMeta } from "../src/graph/model.ts";
import { loadModel } from "../src/graph/load_model.ts";
import { InvalidWeightsError } from "../src/graph/weights.ts";

const TINY_PTH = `${TINY_FIX}model.pth`;

/**
 * The CLI limits: far above a fixed run (under a second, about 80 MB peak on Linux), far below
 * the bugs (a hang; 1 GiB and more).
 */
const CLI_TIMEOUT_MS = 30_000;
const CLI_MAX_MIB = 300;

/**
 * Run the tool on `weights` with an empty image folder and check it refused the weights:
 * status 1, `message` on stderr, no output folder, within the limits.
 */
async function expectRefused(dir: string, weights: string, message: RegExp): Promise<void> {
  await Deno.mkdir(`${dir}/images`, { recursive: true });
  const r = await runGuarded(
    ["--image-path", `${dir}/images`, "--weights", weights, "--output-dir", `${dir}/out`],
    dir,
    { limitMs: CLI_TIMEOUT_MS, rssLimitMiB: CLI_MAX_MIB },
  );
  const seen = `status ${r.code}, ${Math.round(r.ms)} ms, peak ${r.peakMiB * 1024} KiB, ` +
    `killed: ${r.killed || "no"}; stderr:\n${r.stderr}`;
  assert.ok(!r.killed, `killed: ${seen}`);
  assertEquals(r.code, 1, seen);
  assert.match(r.stderr, message, seen);
  assert.ok(r.peakMiB < CLI_MAX_MIB, seen);
  assertThrows(() => Deno.statSync(`${dir}/out`), /No such file|NotFound|not found/i);
}

Deno.test("hostile weights: a FIFO as --weights is refused at once (used to hang)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw_fifo_" });
  try {
    const fifo = `${dir}/weights.pth`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assertEquals(mk.code, 0, "mkfifo");
    await expectRefused(
      dir,
      fifo,
      /weights\.pth: cannot read weights file: not a regular file \(fifo\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile weights: a link to /dev/zero is refused (used to read without end)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw_zero_" });
  try {
    const link = `${dir}/zero.pth`;
    await Deno.symlink("/dev/zero", link);
    await expectRefused(
      dir,
      link,
      /zero\.pth: cannot read weights file: not a regular file \(character device\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile weights: directories and files over the size cap are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw_cap_" });
  try {
    await assertRejects(
      () => readWeightsFile(dir),
      new RegExp(`${dir}: cannot read weights file: is a directory`),
    );
    await assertRejects(
      () => readWeightsFile(TINY_PTH, { maxFileBytes: 1000 }),
      /model\.pth: cannot read weights file: it has \d+ bytes, more than the cap of 1000 bytes/,
    );
    // Under the cap, a symbolic link to a regular file reads as the file.
    await Deno.symlink(TINY_PTH, `${dir}/link.pth`);
    assertEquals((await readWeightsFile(`${dir}/link.pth`)).stateDict.size, 115);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Deflate bombs

/**
 * A raw deflate stream (one dynamic-Huffman block) that inflates to `1 + 258 * matches` zero
 * bytes: a literal 0, then `matches` copies of (length 258, distance 1), each coded in 2 bits.
 * About 1032:1, the most deflate allows; built bit by bit, so generating it costs nothing.
 */
function zeroBomb(matches: number): Uint8Array {
  const out = new Uint8Array(64 + Math.ceil((2 * matches) / 8));
  let bit = 0;
  const put = (value: number, n: number) => { // LSB first (header fields, extra bits)
    for (let i = 0; i < n; i++, bit++) if ((value >> i) & 1) out[bit >> 3] |= 1 << (bit & 7);
  };
  const code = (c: string) => { // Huffman codes, MSB first
    for (const ch of c) put(ch === "1" ? 1 : 0, 1);
  };
  put(1, 1); // BFINAL
  put(2, 2); // dynamic Huffman
  put(286 - 257, 5); // HLIT: literal/length codes 0..285
  put(2 - 1, 5); // HDIST: distance codes 0..1
  put(18 - 4, 4); // HCLEN: 18 code-length code lengths
  // Code-length alphabet: 18 -> "0", 1 -> "10", 2 -> "11" (lengths 1, 2, 2), in RFC 1951 order.
  const order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
  const clen: Record<number, number> = { 18: 1, 1: 2, 2: 2 };
  for (const s of order) put(clen[s] ?? 0, 3);
  // Literal/length lengths: 0 -> 2, 1..255 -> 0, 256 -> 2, 257..284 -> 0, 285 -> 1;
  // distance lengths: 0 -> 1, 1 -> 1.
  code("11");
  code("0"), put(138 - 11, 7);
  code("0"), put(117 - 11, 7);
  code("11");
  code("0"), put(28 - 11, 7);
  code("10");
  code("10"), code("10");
  // Data. Literal codes: 285 -> "0", 0 -> "10", 256 -> "11"; distance 0 -> "0".
  code("10"); // literal 0
  bit += 2 * matches; // each match is "0" (length 258) + "0" (distance 1): zero bits
  code("11"); // end of block
  return out.subarray(0, Math.ceil(bit / 8));
}

interface ZipItem {
  name: string;
  /** The bytes as stored in the archive (raw deflate data when method is 8). */
  data: Uint8Array;
  method: 0 | 8;
  /** The uncompressed size the headers declare. */
  size: number;
}

/**
 * A zip archive of `items` as they are given: no compression of its own, so the declared sizes
 * can lie. CRCs are written as 0 (the reader does not check them).
 */
function writeZip(items: ZipItem[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const it of items) {
    const name = enc.encode(it.name);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, it.method, true);
    lv.setUint32(18, it.data.length, true);
    lv.setUint32(22, it.size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, it.method, true);
    cv.setUint32(20, it.data.length, true);
    cv.setUint32(24, it.size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, it.data);
    central.push(cd);
    offset += local.length + it.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, items.length, true);
  ev.setUint16(10, items.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const a of all) out.set(a, p), p += a.length;
  return out;
}

/** The tiny model with storage entry `key` replaced by a bomb declaring `declared` bytes. */
function bombedTinyModel(key: string, matches: number, declared: (real: number) => number) {
  const entries = unzipSync(Deno.readFileSync(TINY_PTH));
  const items: ZipItem[] = Object.entries(entries).map(([name, data]) => ({
    name,
    data,
    method: 0,
    size: data.length,
  }));
  const i = items.findIndex((it) => it.name === `archive/data/${key}`);
  assert.ok(i >= 0, `the tiny model has a storage ${key}`);
  const real = items[i].size;
  items[i] = { name: items[i].name, data: zeroBomb(matches), method: 8, size: declared(real) };
  return { bytes: writeZip(items), real };
}

Deno.test("hostile weights: the bomb generator makes a valid deflate stream of zeros", () => {
  const out = inflateSync(zeroBomb(1000));
  assertEquals(out.length, 1 + 258 * 1000);
  assert.ok(out.every((b) => b === 0));
  // The CLI tests' bomb: 1 GiB from about 1 MB.
  assert.ok(zeroBomb(4_161_600).length < 1_100_000);
});

Deno.test("hostile weights: zip entries stop inflating at their declared size", () => {
  const bomb = zeroBomb(40_000); // 10.3 MB of zeros from 10 KB
  const zip = writeZip([{ name: "x/data/0", data: bomb, method: 8, size: 1000 }]);
  const lying = readZipDirectory(zip, "l.pth").get("x/data/0")!;
  const t0 = performance.now();
  assertThrows(
    () => zipEntryData(zip, lying, "l.pth"),
    /l\.pth: zip entry "x\/data\/0" inflates past its declared size of 1000 bytes \(stopped at \d+ bytes\)/,
  );
  assert.ok(performance.now() - t0 < 2000, "stopped early");
  // A declared size over the caller's limit is refused before inflating.
  const honest = writeZip([{ name: "x/data/0", data: bomb, method: 8, size: 1 + 258 * 40_000 }]);
  const entry = readZipDirectory(honest, "h.pth").get("x/data/0")!;
  assertThrows(
    () => zipEntryData(honest, entry, "h.pth", 1000),
    /h\.pth: zip entry "x\/data\/0" declares 10320001 bytes, more than the 1000 expected/,
  );
  assertEquals(zipEntryData(honest, entry, "h.pth").length, 10_320_001);
  // Legitimate deflated data that needs many pushes comes out intact.
  const data = new Uint8Array(3_000_000);
  for (let i = 0, x = 1; i < data.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = i % 7 === 0 ? 0 : x >>> 24;
  }
  const deflated = zipSync({ "x/data/0": data }, { level: 1 });
  const e = readZipDirectory(deflated, "d.pth").get("x/data/0")!;
  assertEquals(e.method, 8);
  assertEquals(zipEntryData(deflated, e, "d.pth", data.length), data);
});

Deno.test("hostile weights: a bombed storage entry is refused from the pickle's size", () => {
  // Honest header: the entry declares what it inflates to, far more than the pickle describes.
  const honest = bombedTinyModel("0", 40_000, () => 1 + 258 * 40_000);
  assertThrows(
    () => readTorchCheckpoint(honest.bytes, "h.pth"),
    new RegExp(
      `h\\.pth: storage 0 \\(float16, ${honest.real / 2} elements\\) needs ${honest.real} ` +
        `bytes, entry archive/data/0 declares 10320001: refusing to read more than the pickle`,
    ),
  );
  // Lying header: the right size is declared, and inflation stops just past it.
  const lying = bombedTinyModel("0", 40_000, (real) => real);
  assertThrows(
    () => readTorchCheckpoint(lying.bytes, "l.pth"),
    new RegExp(
      `l\\.pth: zip entry "archive/data/0" inflates past its declared size of ${lying.real} ` +
        `bytes \\(stopped at \\d+ bytes\\)`,
    ),
  );
  // The cap on all inflated data together.
  const deflated = zipSync(unzipSync(Deno.readFileSync(TINY_PTH)), { level: 6 });
  assertEquals(readTorchCheckpoint(deflated, "d.pth").size, 115);
  assertThrows(
    () => readTorchCheckpoint(deflated, "d.pth", { maxInflatedBytes: 20_000 }),
    /d\.pth: zip entry "archive\/data\/\d+" declares \d+ bytes; with the \d+ already inflated that passes the cap of 20000 bytes/,
  );
});

for (const [what, declared] of [["honest", () => 1 + 258 * 4_161_600], ["lying", null]] as const) {
  Deno.test(`hostile weights: CLI refuses a 1 GiB deflate bomb (${what} header) fast, in little memory`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "hw_bomb_" });
    try {
      const { bytes } = bombedTinyModel("0", 4_161_600, declared ?? ((real) => real));
      assert.ok(bytes.length < 1_200_000);
      await Deno.writeFile(`${dir}/bomb.pth`, bytes);
      await expectRefused(
        dir,
        `${dir}/bomb.pth`,
        declared
          ? /bomb\.pth: storage 0 .* declares 1073692801: refusing/
          : /bomb\.pth: zip entry "archive\/data\/0" inflates past its declared size of 216 bytes/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Impossible values

/**
 * The tiny model with element `index` of tensor `name` set to `value`, re-zipped (valid CRCs).
 * Handles float32 and float16 tensors.
 */
function patchedTinyModel(name: string, index: number, value: number): Uint8Array {
  const bytes = Deno.readFileSync(TINY_PTH);
  const t = readTorchCheckpoint(bytes, "model.pth").get(name)!; // stored entries: views of bytes
  assert.ok(t, `the tiny model has ${name}`);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.dtype === "float32") view.setFloat32(4 * index, value, true);
  else if (t.dtype === "float16") {
    const half = Number.isNaN(value)
      ? 0x7e00
      : value === Infinity
      ? 0x7c00
      : value === -1
      ? 0xbc00
      : NaN;
    assert.ok(!Number.isNaN(half), `no float16 pattern for ${value}`);
    view.setUint16(2 * index, half, true);
  } else throw new Error(`unexpected dtype ${t.dtype}`);
  return zipSync(unzipSync(bytes), { level: 0 });
}

const BAD_VALUES: [string, number, number, RegExp][] = [
  ["conv1.weight", 5, NaN, /tensor conv1\.weight has a non-finite value NaN at index 5 \(1 of 108/],
  [
    "bn1.running_var",
    2,
    Infinity,
    /tensor bn1\.running_var has a non-finite value Infinity at index 2/,
  ],
  [
    "layer1.0.bn1.running_var",
    1,
    -1,
    /tensor layer1\.0\.bn1\.running_var has a negative BN running variance -1 at index 1/,
  ],
  ["bn1.bias", 3, -Infinity, /tensor bn1\.bias has a non-finite value -Infinity at index 3/],
];

Deno.test("hostile weights: NaN, infinite values and negative running_var are refused at load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw_nan_" });
  try {
    // The unpatched model loads.
    assertEquals((await loadModel("auto", TINY_PTH)).weights.size > 0, true);
    for (const [name, index, value, re] of BAD_VALUES) {
      const path = `${dir}/bad.pth`;
      await Deno.writeFile(path, patchedTinyModel(name, index, value));
      const e = await loadModel("auto", path).then(() => undefined, (err) => err);
      assert.ok(e instanceof InvalidWeightsError, `${name}: ${e}`);
      assert.match(e.message, new RegExp(`^${dir}/bad\\.pth: ${re.source}`));
      assert.match(e.message, /would make every score NaN/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile weights: CLI refuses a NaN checkpoint with status 1 (used to print nan, status 0)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw_nan_cli_" });
  try {
    await Deno.writeFile(`${dir}/nan.pth`, patchedTinyModel("bn1.weight", 0, NaN));
    await expectRefused(
      dir,
      `${dir}/nan.pth`,
      /nan\.pth: tensor bn1\.weight has a non-finite value NaN at index 0/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile weights: a converted file's near-zero or non-finite std is refused", async () => {
  const { graph } = await loadModel("auto", TINY_PTH);
  const pre = { channelOrder: "bgr", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], size: 112 };
  assertEquals(applyMeta(graph, { preprocess: pre }, "x.gfqw").preprocess.std, [0.5, 0.5, 0.5]);
  for (const std of [[0.5, 1e-30, 0.5], [0.5, -1e-9, 0.5], [0.5, 0.5, Infinity]]) {
    assertThrows(
      () => applyMeta(graph, { preprocess: { ...pre, std } }, "x.gfqw"),
      /x\.gfqw: meta\.preprocess std must be three finite nonzero numbers, each at least 0\.001/,
    );
  }
});
