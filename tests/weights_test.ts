/**
 * Tests of the checkpoint reader (src/weights/pth.ts), the GFQW format (src/weights/gfqw.ts)
 * and the converter (src/weights/convert.ts, tools/convert.ts).
 *
 * Expected values come from PyTorch itself: tools/make_pth_fixtures.py wrote the small
 * checkpoints in tests/fixtures/pth/ and, from torch.load of the same files, expected.json
 * (bytes and values per tensor) and shared_reference.json (per-tensor SHA-256 of the bytes of the
 * real checkpoints in ../shared, and PyTorch's own float32 conversion of them).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { unzipSync, zipSync } from "fflate";
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { readTorchCheckpoint, sniffWeightsFormat } from "../src/weights/pth.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";
import { bytesPerElement, float16Table, tensorToFloat32 } from "../src/weights/tensor.ts";
import { decodeGfqw, encodeGfqw, GFQW_ALIGN } from "../src/weights/gfqw.ts";
import { convertWeights, listStateDict, summarizeStateDict } from "../src/weights/convert.ts";
import { main as convertMain } from "../tools/convert.ts";
import type { LoadedWeights, StateDict } from "../src/weights/types.ts";

const FIX = new URL("./fixtures/pth/", import.meta.url);
const fixturePath = (name: string) => fileURLToPath(new URL(name, FIX));
const readFixture = (name: string) => Deno.readFileSync(new URL(name, FIX));

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  hex: string;
  values: (number | string)[];
}
interface ExpectedFile {
  format: string;
  keys: string[];
  tensors: Record<string, ExpectedTensor>;
}
const expected: { files: Record<string, ExpectedFile> } = JSON.parse(
  new TextDecoder().decode(readFixture("expected.json")),
);

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const num = (v: number | string) =>
  v === "nan" ? NaN : v === "inf" ? Infinity : v === "-inf" ? -Infinity : v as number;

/** Compare a state_dict with PyTorch's view of the same file: exact bytes and exact values. */
function checkAgainstExpected(sd: StateDict, exp: ExpectedFile, file: string) {
  assertEquals([...sd.keys()], exp.keys, `${file}: keys`);
  for (const [name, e] of Object.entries(exp.tensors)) {
    const t = sd.get(name)!;
    assertEquals(t.dtype, e.dtype, `${file} ${name}: dtype`);
    assertEquals(t.shape, e.shape, `${file} ${name}: shape`);
    assertEquals(hex(t.data), e.hex, `${file} ${name}: bytes`);
    assert.equal(t.data.byteOffset % bytesPerElement(t.dtype), 0, `${name}: alignment`);
    // Exact: float16/bfloat16/float32 values are float32 values, and float64/int values must
    // round to the nearest float32 (Math.fround), which is what tensorToFloat32 promises.
    const got = tensorToFloat32(t);
    assertEquals(got.length, e.values.length);
    for (let i = 0; i < got.length; i++) {
      const want = Math.fround(num(e.values[i]));
      assert.ok(Object.is(got[i], want), `${file} ${name}[${i}]: ${got[i]} !== ${want}`);
    }
  }
}

for (const file of ["zip_small.pth", "legacy_small.pth", "wrapped_zip.pth", "wrapped_legacy.pth"]) {
  Deno.test(`pth: ${file} matches PyTorch (bytes, values, order, unwrapping)`, async () => {
    const exp = expected.files[file];
    const bytes = readFixture(file);
    assertEquals(sniffWeightsFormat(bytes), exp.format);
    checkAgainstExpected(readTorchCheckpoint(bytes, file), exp, file);
    const loaded = await readWeightsFile(fixturePath(file));
    assertEquals(loaded.format, exp.format);
    assertEquals(loaded.meta, {});
    checkAgainstExpected(loaded.stateDict, exp, file);
  });
}

Deno.test("pth: the small fixtures exercise views, offsets and all dtypes", () => {
  // Guards the fixture itself: the non-contiguous and offset cases must be present.
  const t = expected.files["zip_small.pth"].tensors;
  const views = ["view.rows", "view.cols", "view.t", "view.expanded", "view.half_strided"];
  for (const k of [...views, "misc.empty", "misc.scalar"]) {
    assert.ok(t[k], `fixture lacks ${k}`);
  }
  const dtypes = new Set(Object.values(t).map((e) => e.dtype));
  for (
    const d of ["float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"]
  ) {
    assert.ok(dtypes.has(d), `fixture lacks ${d}`);
  }
});

Deno.test("pth: hostile and non-state_dict pickles are refused, naming the global", () => {
  const cases: [string, RegExp][] = [
    ["malicious_os_system.pth", /malicious_os_system\.pth.*unknown global "os\.system"/],
    ["malicious_eval_legacy.pth", /malicious_eval_legacy\.pth.*unknown global "builtins\.eval"/],
    ["whole_module.pth", /unknown global "torch\.nn\.modules\.linear\.Linear"/],
  ];
  for (const [file, re] of cases) {
    assertThrows(() => readTorchCheckpoint(readFixture(file), file), re);
  }
  // The hostile pickles would create a file named PWNED in the working directory.
  assertThrows(() => Deno.statSync("PWNED"), /No such file|NotFound|not found/i);
});

Deno.test("pth: every truncation of a zip or legacy checkpoint is an error naming the file", () => {
  for (const file of ["zip_small.pth", "legacy_small.pth"]) {
    const bytes = readFixture(file);
    for (let cut = 0; cut < bytes.byteLength; cut += 13) {
      assertThrows(() => readTorchCheckpoint(bytes.subarray(0, cut), file), /_small\.pth: /);
    }
  }
  const legacy = readFixture("legacy_small.pth");
  assertThrows(
    () => readTorchCheckpoint(legacy.subarray(0, legacy.byteLength - 3), "l.pth"),
    /l\.pth: storage \d+ .*truncated/,
  );
  assertThrows(() => readTorchCheckpoint(legacy.subarray(0, 200), "l.pth"), /truncated/);
  const zip = readFixture("zip_small.pth");
  assertThrows(
    () => readTorchCheckpoint(zip.subarray(0, zip.byteLength - 30), "z.pth"),
    /z\.pth: no zip end-of-central-directory record.*truncated/,
  );
});

Deno.test("pth: corrupted bytes never crash the reader otherwise than with a named error", () => {
  // Deterministic mutation fuzzing (LCG): flip 1-3 bytes of the pickle-bearing part of each
  // small checkpoint. The reader must either return a state_dict or throw an Error whose
  // message names the file: no other exception type, no hang, no huge allocation.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  // Nothing is printed either: some mutations make a huge integer, for which the pickle library
  // warns on the console ("exceeds MAX_SAFE_INTEGER"); the reader refuses the value instead.
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (...a: unknown[]) => void warned.push(a.join(" "));
  try {
    for (const file of ["zip_small.pth", "legacy_small.pth"]) {
      const original = readFixture(file);
      for (let trial = 0; trial < 400; trial++) {
        const bytes = original.slice();
        for (let k = 1 + rand(3); k > 0; k--) {
          bytes[rand(Math.min(bytes.length, 2600))] = rand(256);
        }
        try {
          readTorchCheckpoint(bytes, file);
        } catch (e) {
          assert.ok(e instanceof Error, `${file} trial ${trial}: threw a non-Error`);
          assert.ok(e.message.startsWith(`${file}: `), `${file} trial ${trial}: ${e.message}`);
        }
      }
    }
  } finally {
    console.warn = warn;
  }
  assert.deepStrictEqual(warned, [], "the reader printed warnings");
});

Deno.test("pth: zip variants: deflated entries, other folder names, missing or short storage", () => {
  const file = "zip_small.pth";
  const entries = unzipSync(readFixture(file));
  const exp = expected.files[file];
  // Deflated (fflate level 6) instead of stored, under another folder name.
  const renamed: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(entries)) renamed[k.replace(/^zip_small\//, "other/")] = v;
  checkAgainstExpected(readTorchCheckpoint(zipSync(renamed, { level: 6 }), "d.pth"), exp, "d");
  // A storage entry removed.
  const missing = { ...entries };
  delete missing["zip_small/data/3"];
  assertThrows(
    () => readTorchCheckpoint(zipSync(missing, { level: 0 }), "m.pth"),
    /m\.pth: storage 3 is missing \(no entry zip_small\/data\/3\)/,
  );
  // A storage entry shorter than its persistent id says.
  const short = { ...entries, "zip_small/data/3": entries["zip_small/data/3"].subarray(0, 2) };
  assertThrows(
    () => readTorchCheckpoint(zipSync(short, { level: 0 }), "s.pth"),
    /s\.pth: storage 3 \(\w+, \d+ elements\) needs \d+ bytes, entry zip_small\/data\/3 has 2/,
  );
  // No data.pkl, or two of them.
  const noPkl = { ...entries };
  delete noPkl["zip_small/data.pkl"];
  assertThrows(() => readTorchCheckpoint(zipSync(noPkl), "n.pth"), /n\.pth: .*data\.pkl.*none/);
  const twoPkl = { ...entries, "b/data.pkl": entries["zip_small/data.pkl"] };
  assertThrows(() => readTorchCheckpoint(zipSync(twoPkl), "t.pth"), /exactly one/);
  // A protocol-0 pickle (never written by torch.save) is refused clearly.
  const proto0 = { ...entries, "zip_small/data.pkl": new TextEncoder().encode("(dp0\n.") };
  assertThrows(() => readTorchCheckpoint(zipSync(proto0), "p.pth"), /p\.pth: .*protocol >= 2/);
  // A pickle holding no tensors.
  const noTensor = { "x/data.pkl": new Uint8Array([0x80, 0x02, 0x7d, 0x2e]) }; // {} STOP
  assertThrows(() => readTorchCheckpoint(zipSync(noTensor), "e.pth"), /e\.pth: no tensors found/);
});

Deno.test("pth: non-checkpoints and unreadable paths are clear errors", async () => {
  assertThrows(() => readTorchCheckpoint(new Uint8Array(0), "empty.pth"), /empty\.pth: .*empty/);
  assertThrows(
    () => readTorchCheckpoint(new TextEncoder().encode("hello world"), "h.pth"),
    /h\.pth: not a PyTorch checkpoint .*68 65 6c 6c/,
  );
  await assertRejects(
    () => readWeightsFile(fixturePath("does_not_exist.pth")),
    /does_not_exist\.pth: cannot read weights file: no such file/,
  );
  await assertRejects(() => readWeightsFile(fixturePath("expected.json")), /not a weights file/);
});

Deno.test("tensorToFloat32: float16 table equals the IEEE 754 binary16 definition", () => {
  // Independent reference: value = (-1)^s * 2^(e-15) * (1 + m/1024) for normals,
  // (-1)^s * 2^-14 * (m/1024) for subnormals, +-inf / NaN for e = 31. Exact in float64 and
  // float32, so equality is exact (Object.is distinguishes -0).
  const table = float16Table();
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
    const want = e === 31
      ? (m ? NaN : s * Infinity)
      : e === 0
      ? s * 2 ** -14 * (m / 1024)
      : s * 2 ** (e - 15) * (1 + m / 1024);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(table[h]), `0x${h.toString(16)}`);
    else assert.ok(Object.is(table[h], want), `0x${h.toString(16)}: ${table[h]} vs ${want}`);
  }
  assertThrows(
    () => tensorToFloat32({ dtype: "float16", shape: [3], data: new Uint8Array(4) }),
    /needs 6 bytes, has 4/,
  );
  // An odd byteOffset (legacy storages are unaligned in the file) still converts.
  const buf = new Uint8Array(5);
  buf.set([0x00, 0x3c, 0x00, 0xc0], 1); // 1.0, -2.0
  assertEquals([...tensorToFloat32({ dtype: "float16", shape: [2], data: buf.subarray(1) })], [
    1,
    -2,
  ]);
});

/** A GFQW file written by hand (not by encodeGfqw), for the validation tests. */
function handMadeGfqw(header: unknown, dataLength: number, version = 1): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = Math.ceil((12 + json.byteLength) / 64) * 64;
  const out = new Uint8Array(dataStart + dataLength);
  out.set(new TextEncoder().encode("GFQW"));
  new DataView(out.buffer).setUint32(4, version, true);
  new DataView(out.buffer).setUint32(8, json.byteLength, true);
  out.set(json, 12);
  return out;
}

Deno.test("gfqw: round trip keeps names, order, dtypes, shapes, bytes and meta; layout", () => {
  const sd = readTorchCheckpoint(readFixture("zip_small.pth"), "zip_small.pth");
  const meta = {
    backbone: "test",
    preprocess: { channelOrder: "rgb", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], size: 112 },
    groups: ["image", "block1"],
    note: "ünïcödé",
  };
  const bytes = encodeGfqw(sd, meta);
  // Layout as documented in weights/README.md, read directly.
  const view = new DataView(bytes.buffer);
  assertEquals(new TextDecoder().decode(bytes.subarray(0, 4)), "GFQW");
  assertEquals(view.getUint32(4, true), 1);
  const h = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + h)));
  const dataStart = Math.ceil((12 + h) / 64) * 64;
  assertEquals(bytes.byteLength, dataStart + header.dataLength);
  assertEquals(header.meta, meta);
  assertEquals(header.tensors.map((t: { name: string }) => t.name), [...sd.keys()]);
  for (const e of header.tensors) {
    assertEquals(e.offset % 64, 0);
    const t = sd.get(e.name)!;
    assertEquals(
      hex(bytes.subarray(dataStart + e.offset, dataStart + e.offset + e.length)),
      hex(t.data),
    );
  }
  // Decoder.
  const back = decodeGfqw(bytes, "x.gfqw");
  assertEquals(back.meta, meta);
  checkAgainstExpected(back.stateDict, expected.files["zip_small.pth"], "gfqw");
  for (const t of back.stateDict.values()) assertEquals(t.data.byteOffset % GFQW_ALIGN, 0);
  // Unaligned input buffer: copied, still aligned views.
  const shifted = new Uint8Array(bytes.byteLength + 3);
  shifted.set(bytes, 3);
  const back2 = decodeGfqw(shifted.subarray(3), "y.gfqw");
  for (const t of back2.stateDict.values()) assertEquals(t.data.byteOffset % GFQW_ALIGN, 0);
  checkAgainstExpected(back2.stateDict, expected.files["zip_small.pth"], "gfqw2");
  // Empty state_dict.
  const empty = decodeGfqw(encodeGfqw(new Map(), {}), "e.gfqw");
  assertEquals(empty.stateDict.size, 0);
});

Deno.test("gfqw: invalid files are rejected with the file name and the reason", () => {
  const ok = (over: Record<string, unknown> = {}) => ({
    name: "a",
    dtype: "float32",
    shape: [2, 3],
    offset: 0,
    length: 24,
    ...over,
  });
  const hdr = (tensors: unknown[], dataLength = 128, meta: unknown = {}) => ({
    tensors,
    dataLength,
    meta,
  });
  // The hand-made baseline is valid.
  assertEquals(decodeGfqw(handMadeGfqw(hdr([ok()]), 128), "f.gfqw").stateDict.get("a")!.shape, [
    2,
    3,
  ]);
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode("GFQX...."), /f\.gfqw: invalid GFQW file: .*magic/],
    [handMadeGfqw(hdr([ok()]), 128, 2), /version 2 is not supported/],
    [handMadeGfqw(hdr([ok()]), 128).subarray(0, 100), /truncated/],
    [handMadeGfqw(hdr([ok()]), 128).subarray(0, 8), /truncated/],
    [handMadeGfqw(hdr([ok()]), 129), /1 unexpected bytes after the data section/],
    [handMadeGfqw([1, 2], 0), /header\.meta is not an object|not a JSON object/],
    [handMadeGfqw(hdr([ok()], 128, null), 128), /header\.meta is not an object/],
    [handMadeGfqw(hdr([ok({ dtype: "float8" })]), 128), /tensor "a" has unknown dtype "float8"/],
    [handMadeGfqw(hdr([ok({ length: 12 })]), 128), /length 12 but float32 \[2,3\] needs 24/],
    [handMadeGfqw(hdr([ok({ offset: 8 })]), 128), /offset 8 is not a multiple of 64/],
    [handMadeGfqw(hdr([ok({ offset: 128 })]), 128), /lies outside the data section/],
    [handMadeGfqw(hdr([ok({ shape: [2, -3] })]), 128), /invalid dimension -3/],
    [handMadeGfqw(hdr([ok(), ok()]), 128), /tensor "a" appears twice/],
    [
      handMadeGfqw(hdr([ok({ shape: [20], length: 80 }), ok({ name: "b", offset: 64 })]), 128),
      /tensors "a" and "b" overlap/,
    ],
  ];
  for (const [bytes, re] of cases) assertThrows(() => decodeGfqw(bytes, "f.gfqw"), re);
  // Corrupt JSON.
  const bad = handMadeGfqw(hdr([ok()]), 128);
  bad[12] = 0x7b + 1;
  assertThrows(() => decodeGfqw(bad, "f.gfqw"), /header is not UTF-8 JSON/);
  // Encoder input checks.
  assertThrows(
    () => encodeGfqw(new Map([["w", { dtype: "float32", shape: [2], data: new Uint8Array(4) }]])),
    /tensor "w": float32 \[2\] needs 8 bytes, has 4/,
  );
  assertThrows(() => encodeGfqw(new Map(), { n: 1n } as never), /not JSON-serialisable/);
});

Deno.test("convert: tools/convert.ts writes a GFQW file readable by readWeightsFile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_convert_test_" });
  try {
    const out = `${dir}/small.gfqw`;
    const quiet = silence();
    let rc: number;
    try {
      rc = await convertMain([fixturePath("legacy_small.pth"), out, "--backbone", "tiny"]);
    } finally {
      quiet.restore();
    }
    assertEquals(rc, 0);
    const w = await readWeightsFile(out);
    assertEquals(w.format, "gfqw");
    assertEquals(w.meta, { source: "legacy_small.pth", backbone: "tiny" });
    checkAgainstExpected(w.stateDict, expected.files["legacy_small.pth"], "converted");
    // No temporary file is left behind.
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["small.gfqw"]);
    // --list prints one line per tensor plus the totals, writes nothing.
    const q2 = silence();
    try {
      assertEquals(await convertMain([fixturePath("zip_small.pth"), "--list"]), 0);
    } finally {
      q2.restore();
    }
    const lines = q2.out.join("\n").split("\n");
    assertEquals(
      lines.slice(0, expected.files["zip_small.pth"].keys.length),
      listStateDict(readTorchCheckpoint(readFixture("zip_small.pth"), "z")),
    );
    assert.ok(lines.includes("conv.weight\tfloat16\t[4, 3, 3, 3]"));
    // Refused input: exit code 1, no output file.
    const q3 = silence();
    try {
      assertEquals(await convertMain([fixturePath("malicious_os_system.pth"), `${dir}/m.gfqw`]), 1);
      assertEquals(await convertMain(["only_one_argument"]), 2);
    } finally {
      q3.restore();
    }
    assert.ok(q3.err.join("\n").includes('unknown global "os.system"'));
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["small.gfqw"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("convert: convertWeights merges meta and keeps dtypes; summary counts", () => {
  const sd = readTorchCheckpoint(readFixture("wrapped_zip.pth"), "w.pth");
  const { bytes, meta } = convertWeights({ format: "torch-zip", stateDict: sd, meta: { a: 1 } }, {
    meta: { b: 2 },
    backbone: "x",
  });
  assertEquals(meta, { a: 1, b: 2, backbone: "x" });
  const back = decodeGfqw(bytes, "w.gfqw");
  assertEquals(back.meta, meta);
  assertEquals([...back.stateDict.values()].map((t) => t.dtype), ["float32", "float16", "int64"]);
  const s = summarizeStateDict(sd);
  assertEquals([s.count, s.elements, s.bytes], [3, 6 + 3 + 1, 24 + 6 + 8]);
});

/** Capture console output while running code under test. */
function silence() {
  const log = console.log, error = console.error;
  const r = {
    out: [] as string[],
    err: [] as string[],
    restore() {
      console.log = log;
      console.error = error;
    },
  };
  console.log = (...a: unknown[]) => r.out.push(a.join(" "));
  console.error = (...a: unknown[]) => r.err.push(a.join(" "));
  return r;
}

// ---- The real checkpoints in ../shared (skipped when absent) ----

interface SharedRef {
  path: string;
  size: number;
  count: number;
  sha256_float32_all: string;
  sums: Record<string, { sum: number; sum_abs: number }>;
  tensors: [string, string, number[], string][];
}
const sharedRef: Record<string, SharedRef> = JSON.parse(
  new TextDecoder().decode(readFixture("shared_reference.json")),
);
const SHARED = new URL("../../shared/", import.meta.url);

function sharedFile(rel: string): string | undefined {
  try {
    Deno.statSync(new URL(rel, SHARED));
    return fileURLToPath(new URL(rel, SHARED));
  } catch {
    return undefined;
  }
}

const loadedShared = new Map<string, Promise<LoadedWeights>>();
/** Read a shared checkpoint once for all tests that use it. */
function loadShared(path: string): Promise<LoadedWeights> {
  let p = loadedShared.get(path);
  if (!p) loadedShared.set(path, p = readWeightsFile(path));
  return p;
}

for (const [label, format] of [["iresnet50", "torch-zip"], ["mobilefacenet", "torch-legacy"]]) {
  const ref = sharedRef[label];
  const path = sharedFile(ref.path);
  if (!path) console.log(`weights_test: skipping ${label}: ../shared/${ref.path} is absent`);
  Deno.test({
    name: `pth: real ${label} checkpoint (${format}) matches PyTorch byte for byte`,
    ignore: !path,
    fn: async () => {
      const t0 = performance.now();
      const w = await loadShared(path!);
      const ms = performance.now() - t0;
      console.log(
        `  read ${ref.path} (${(ref.size / 2 ** 20).toFixed(1)} MiB) in ${ms.toFixed(0)} ms`,
      );
      assertEquals(w.format, format);
      assertEquals(w.stateDict.size, ref.count);
      assertEquals(
        [...w.stateDict].map(([k, t]) => [k, t.dtype, t.shape]),
        ref.tensors.map(([k, d, s]) => [k, d, s]),
      );
      for (const [k, , , sha] of ref.tensors) {
        const digest = createHash("sha256").update(w.stateDict.get(k)!.data).digest("hex");
        assertEquals(digest.slice(0, 16), sha, `${label} ${k}: bytes`);
      }
      // tensorToFloat32 against PyTorch's t.float() of every tensor, exactly (one SHA-256 over
      // all of them in key order).
      const all = createHash("sha256");
      const f32 = new Map<string, Float32Array>();
      for (const [k, t] of w.stateDict) {
        const f = tensorToFloat32(t);
        all.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
        if (ref.sums[k]) f32.set(k, f);
      }
      assertEquals(all.digest("hex"), ref.sha256_float32_all, `${label}: float32 values`);
      // Float64 sums: PyTorch and this loop add the same float32 values in different orders;
      // each float64 sum is within (n-1) * 2^-53 * sum|x| of the exact sum, so they differ by at
      // most 2n * 2^-53 * sum|x|.
      for (const [k, { sum, sum_abs }] of Object.entries(ref.sums)) {
        const f = f32.get(k)!;
        let s = 0;
        for (const v of f) s += v;
        const tol = 2 * f.length * 2 ** -53 * sum_abs;
        assert.ok(Math.abs(s - sum) <= tol, `${label} ${k}: sum ${s} vs ${sum} (tol ${tol})`);
      }
    },
  });
}

Deno.test({
  name: "pth: iresnet50 key facts (conv1 float16 [64,3,3,3], bn1.running_var float32 [64])",
  ignore: !sharedFile(sharedRef.iresnet50.path),
  fn: async () => {
    const w = await loadShared(sharedFile(sharedRef.iresnet50.path)!);
    const conv1 = w.stateDict.get("conv1.weight")!;
    assertEquals([conv1.dtype, conv1.shape], ["float16", [64, 3, 3, 3]]);
    const rv = w.stateDict.get("bn1.running_var")!;
    assertEquals([rv.dtype, rv.shape], ["float32", [64]]);
    assertEquals(w.stateDict.size, 475);
    // GFQW round trip of the real file keeps every byte.
    const back = decodeGfqw(encodeGfqw(w.stateDict, { backbone: "iresnet50" }), "r50.gfqw");
    for (const [k, t] of w.stateDict) {
      const u = back.stateDict.get(k)!;
      assert.ok(u.dtype === t.dtype && u.data.byteLength === t.data.byteLength, k);
      assert.ok(Buffer.compare(u.data, t.data) === 0, k);
    }
  },
});
