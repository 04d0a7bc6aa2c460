/**
 * Tests of src/io: Python float text, the official image selection, score files, failure lists
 * and atomic writes.
 *
 * References are independent of the code under test: real CPython output committed as fixtures
 * (tools/make_pyfloat_fixture.py, tools/make_select_fixture.py), the official implementation's
 * score files in ../shared/reference, and value texts quoted in docs/ALGORITHM.md#score-files. All
 * comparisons are exact (text or bit equality): formatting and selection have no rounding
 * tolerance.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { formatPythonFloat, parsePythonFloat } from "../src/io/pyfloat.ts";
import {
  applyPathReplace,
  checkPathReplaceArgs,
  compareCodePoints,
  comparePathsPythonOrder,
  listImages,
  listImagesRecursive,
  pathlibChild,
  pathlibNormalize,
} from "../src/io/select.ts";
import { atomicWriteFile } from "../src/io/files.ts";
import {
  FAILED_FILE_NAME,
  FAILED_HEADER,
  formatScore,
  parseScoreFile,
  scorePathProblem,
} from "../src/io/scores.ts";
import {
  readFailedList,
  readScoreFile,
  writeFailedList,
  writeScoreFiles,
} from "../src/io/score_files.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

function doubleFromHex(hex: string): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setBigUint64(0, BigInt("0x" + hex));
  return dv.getFloat64(0);
}

function hexFromDouble(x: number): string {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  return dv.getBigUint64(0).toString(16).padStart(16, "0");
}

function loadJson<T>(rel: string): T {
  return JSON.parse(Deno.readTextFileSync(new URL(rel, import.meta.url))) as T;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

// ---------------------------------------------------------------------------------------------
// Python float repr

interface PyFloatFixture {
  python: string;
  cases: [string, string][];
}

Deno.test("formatPythonFloat equals CPython repr() on the fixture (exact text)", () => {
  const fx = loadJson<PyFloatFixture>("./fixtures/io/pyfloat.json");
  assert(fx.cases.length > 5000, "fixture unexpectedly small");
  const bad: string[] = [];
  for (const [hex, expected] of fx.cases) {
    const got = formatPythonFloat(doubleFromHex(hex));
    if (got !== expected) bad.push(`${hex}: got ${got}, Python ${fx.python} says ${expected}`);
  }
  assertEquals(bad.slice(0, 10), [], `${bad.length} mismatches`);
});

Deno.test("parsePythonFloat reads every repr of the fixture back to the same bits", () => {
  const fx = loadJson<PyFloatFixture>("./fixtures/io/pyfloat.json");
  for (const [hex, text] of fx.cases) {
    const x = parsePythonFloat(text);
    if (text === "nan") assert(Number.isNaN(x));
    else assertEquals(hexFromDouble(x), hex, `parse ${text}`);
  }
});

Deno.test("formatPythonFloat: the examples and rules of docs/ALGORITHM.md#score-files", () => {
  // Texts quoted in docs/ALGORITHM.md#score-files and the official score files (Python's own
  // output).
  assertEquals(formatPythonFloat(7190.53515625), "7190.53515625");
  assertEquals(formatPythonFloat(Math.fround(0.0188)), "0.018799999728798866");
  assertEquals(formatPythonFloat(Math.fround(1e-5)), "9.999999747378752e-06");
  assertEquals(formatPythonFloat(7190), "7190.0");
  assertEquals(formatPythonFloat(1e16), "1e+16");
  assertEquals(formatPythonFloat(1.5e-7), "1.5e-07");
  assertEquals(formatPythonFloat(-2.5e20), "-2.5e+20");
  assertEquals(formatPythonFloat(0), "0.0");
  assertEquals(formatPythonFloat(-0), "-0.0");
  assertEquals(formatPythonFloat(Infinity), "inf");
  assertEquals(formatPythonFloat(-Infinity), "-inf");
  assertEquals(formatPythonFloat(NaN), "nan");
});

Deno.test("formatPythonFloat round-trips 200k random doubles and float32 values", () => {
  // Self-consistency beyond the fixture (which is the independent reference): the text reads
  // back to the same double, and the layout follows the repr grammar for its magnitude.
  let seed = 0x9e3779b9;
  const next32 = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const dv = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 200_000; i++) {
    let x: number;
    if (i % 2 === 0) {
      dv.setUint32(0, next32());
      dv.setUint32(4, next32());
      x = dv.getFloat64(0);
    } else {
      dv.setUint32(0, next32());
      x = dv.getFloat32(0);
    }
    if (!Number.isFinite(x)) continue;
    const t = formatPythonFloat(x);
    assert(Object.is(Number(t), x), `${t} does not read back as ${x}`);
    const a = Math.abs(x);
    const expNotation = a !== 0 && (a < 1e-4 || a >= 1e16);
    assert(expNotation === /e[+-]\d\d+$/.test(t), `notation of ${t}`);
    if (!expNotation) assert(t.includes("."), `${t} lacks a point`);
  }
});

Deno.test("parsePythonFloat: Python literals and errors", () => {
  assertEquals(parsePythonFloat("-inf"), -Infinity);
  assertEquals(parsePythonFloat("Infinity"), Infinity);
  assert(Number.isNaN(parsePythonFloat("-nan")));
  assertEquals(parsePythonFloat(" 1e-05\n"), 1e-5);
  assertEquals(parsePythonFloat(".5"), 0.5);
  assertEquals(parsePythonFloat("5."), 5);
  assertThrows(() => parsePythonFloat("0x10"), /not a float literal/);
  assertThrows(() => parsePythonFloat(""), /not a float literal/);
  assertThrows(() => parsePythonFloat("1,5"), /not a float literal/);
});

// ---------------------------------------------------------------------------------------------
// Selection

interface LayoutEntry {
  path: string;
  type: "file" | "dir" | "symlink";
  target?: string;
}
interface SelectFixture {
  python: string;
  layout: LayoutEntry[];
  glob: { cwd: string; dir: string; ext: string; expected: string[] }[];
  recursive: { cwd: string; dir: string; exts: string[]; expected: string[] }[];
  normalize: [string, string][];
  sort: [string[], string[]];
  replace: [string, string, string, string][];
}

const selectFx = loadJson<SelectFixture>("./fixtures/io/select.json");

/** The layout needs a case-sensitive POSIX file system that allows "\n" and "\t" in names. */
async function layoutSupported(): Promise<string | null> {
  if (Deno.build.os === "windows") return "Windows file names cannot hold the fixture's names";
  const d = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${d}/a`, "");
    try {
      await Deno.stat(`${d}/A`);
      return "the temp file system is case-insensitive";
    } catch {
      return null;
    }
  } finally {
    await Deno.remove(d, { recursive: true });
  }
}
const layoutSkip = await layoutSupported();
if (layoutSkip) console.warn(`io_test: skipping the pathlib layout tests: ${layoutSkip}`);

async function buildLayout(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "grafiqs_select_" });
  for (const e of selectFx.layout) {
    const p = `${root}/${e.path}`;
    if (e.type === "dir") await Deno.mkdir(p);
    else if (e.type === "file") await Deno.writeTextFile(p, "not an image\n");
    else await Deno.symlink(e.target!, p);
  }
  return root;
}

Deno.test({
  name: "listImages equals sorted(Path(DIR).glob('*.' + ext)) of CPython on a tricky layout",
  ignore: layoutSkip !== null,
  fn: async () => {
    const root = await buildLayout();
    try {
      for (const c of selectFx.glob) {
        const dir = c.dir.replaceAll("{ROOT}", root);
        const expected = c.expected.map((p) => p.replaceAll("{ROOT}", root));
        const got = await listImages(dir, c.ext, { cwd: `${root}/${c.cwd}` });
        assertEquals(got, expected, `cwd ${c.cwd} dir ${JSON.stringify(c.dir)} ext ${c.ext}`);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "listImagesRecursive equals the os.walk reference of the fixture",
  ignore: layoutSkip !== null,
  fn: async () => {
    const root = await buildLayout();
    try {
      for (const c of selectFx.recursive) {
        const dir = c.dir.replaceAll("{ROOT}", root);
        const expected = c.expected.map((p) => p.replaceAll("{ROOT}", root));
        const got = await listImagesRecursive(dir, c.exts, { cwd: `${root}/${c.cwd}` });
        assertEquals(got, expected, `cwd ${c.cwd} dir ${JSON.stringify(c.dir)} exts ${c.exts}`);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test("listImages without cwd resolves against the process directory", async () => {
  // Absolute DIR: the cwd option plays no part.
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/b.png`, "");
    await Deno.writeTextFile(`${root}/a.png`, "");
    assertEquals(await listImages(`${root}/`, "png"), [`${root}/a.png`, `${root}/b.png`]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("pathlibNormalize equals str(PurePosixPath(text)) of CPython", () => {
  for (const [text, expected] of selectFx.normalize) {
    assertEquals(pathlibNormalize(text), expected, `normalize ${JSON.stringify(text)}`);
  }
  // Child texts (pathlib joins; checked with CPython 3.10-3.13, see the fixture's glob cases).
  assertEquals(pathlibChild(".", "x.jpg"), "x.jpg");
  assertEquals(pathlibChild("/", "x.jpg"), "/x.jpg");
  assertEquals(pathlibChild("//", "x.jpg"), "//x.jpg");
  assertEquals(pathlibChild("a/b", "x.jpg"), "a/b/x.jpg");
});

Deno.test("comparePathsPythonOrder equals sorted(PurePosixPath) of CPython", () => {
  const [input, expected] = selectFx.sort;
  assertEquals([...input].sort(comparePathsPythonOrder), expected);
  // JavaScript's default (UTF-16) order differs on the astral-plane entries of this list.
  assert(JSON.stringify([...expected].sort()) !== JSON.stringify(expected));
});

Deno.test("compareCodePoints orders by code points, not UTF-16 units", () => {
  assert(compareCodePoints("\u{1F600}", "\uE000") > 0); // U+1F600 > U+E000
  assert("\u{1F600}" < "\uE000"); // ... where UTF-16 order says the opposite
  assert(compareCodePoints("a\u{1F600}", "a\u{1F601}") < 0); // same high surrogate
  assert(compareCodePoints("a", "ab") < 0);
  assertEquals(compareCodePoints("x\u{10000}", "x\u{10000}"), 0);
});

Deno.test("listImages: clear errors for bad DIR and extension", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${root}/f.jpg`, "");
    await assertRejects(() => listImages(`${root}/missing`, "jpg"), /missing.*does not exist/);
    await assertRejects(() => listImages(`${root}/f.jpg`, "jpg"), /f\.jpg.*is not a directory/);
    await assertRejects(() => listImages(root, "*"), /glob metacharacter/);
    await assertRejects(() => listImages(root, "[jp]g"), /glob metacharacter/);
    await assertRejects(() => listImages(root, "j?g"), /glob metacharacter/);
    await assertRejects(() => listImages(root, "a/jpg"), /must not contain "\/"/);
    await assertRejects(() => listImagesRecursive(root, []), /no image extensions/);
    await assertRejects(() => listImagesRecursive(root, ["jpg", ""]), /extension is empty/);
    await assertRejects(() => listImagesRecursive(`${root}/nope`, ["jpg"]), /does not exist/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("applyPathReplace equals Python str.replace (fixture)", () => {
  for (const [s, a, b, expected] of selectFx.replace) {
    assertEquals(applyPathReplace(s, a, b), expected, `${JSON.stringify([s, a, b])}`);
  }
});

Deno.test("checkPathReplaceArgs refuses a lone option and an empty --path-replace", () => {
  assertEquals(checkPathReplaceArgs(undefined, undefined), null);
  assertEquals(checkPathReplaceArgs("imgs/", ""), { a: "imgs/", b: "" });
  assertThrows(() => checkPathReplaceArgs("a", undefined), /needs --path-replace-with/);
  assertThrows(() => checkPathReplaceArgs(undefined, "b"), /needs --path-replace/);
  assertThrows(() => checkPathReplaceArgs("", "b"), /must not be empty/);
});

// ---------------------------------------------------------------------------------------------
// Score files

const GROUPS = ["image", "block1", "block2", "block3", "block4"];
const refDir = new URL("../../shared/reference/iresnet50/", import.meta.url);
let refExists = false;
try {
  refExists = Deno.statSync(new URL("aligned_bgr/GraFIQs_image.txt", refDir)).isFile;
} catch { /* absent */ }
if (!refExists) console.warn("io_test: ../shared/reference absent; skipping official-file tests");

Deno.test({
  name: "writeScoreFiles reproduces the official score files byte for byte",
  ignore: !refExists,
  fn: async () => {
    for (const variant of ["aligned_bgr", "raw_rgb", "magface_bgr"]) {
      // Official files, parsed independently of the code under test (plain split + Number;
      // these files hold only finite decimal scores).
      const texts = GROUPS.map((g) =>
        Deno.readTextFileSync(new URL(`${variant}/GraFIQs_${g}.txt`, refDir))
      );
      const parsed = texts.map((t) =>
        t.trimEnd().split("\n").map((l) => {
          const i = l.lastIndexOf(" ");
          return { path: l.slice(0, i), score: Number(l.slice(i + 1)) };
        })
      );
      const rows = parsed[0].map((r, i) => ({
        path: r.path,
        scores: parsed.map((p) => {
          assertEquals(p[i].path, r.path);
          // The official scores are float32 sums widened to double (docs/ALGORITHM.md#score-files).
          assertEquals(Math.fround(p[i].score), p[i].score, `${p[i].score} is not a float32`);
          return p[i].score;
        }),
      }));
      const out = await Deno.makeTempDir();
      try {
        await writeScoreFiles(`${out}/new/sub`, GROUPS, rows);
        for (let g = 0; g < GROUPS.length; g++) {
          const got = Deno.readTextFileSync(`${out}/new/sub/GraFIQs_${GROUPS[g]}.txt`);
          assertEquals(got, texts[g], `${variant} ${GROUPS[g]}`);
          // readScoreFile agrees with the independent parse.
          const back = readScoreFile(`${out}/new/sub/GraFIQs_${GROUPS[g]}.txt`);
          assertEquals(back, parsed[g]);
        }
        // No temp files are left behind.
        assertEquals(await listDir(`${out}/new/sub`), GROUPS.map((g) => `GraFIQs_${g}.txt`).sort());
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    }
  },
});

Deno.test("writeScoreFiles: float32 widening, Float32Array scores, exact line format", async () => {
  const out = await Deno.makeTempDir();
  try {
    const f32 = new Float32Array([0.0188, 1e-5, 7190.53515625, 1e20]);
    await writeScoreFiles(out, ["a", "b"], [
      { path: "imgs/sp ace.jpg", scores: [f32[0], f32[1]] },
      { path: "x.jpg", scores: f32.subarray(2) },
      { path: "y.jpg", scores: [0.1, -0] }, // 0.1 is rounded to float32 first
    ]);
    // Expected texts: docs/ALGORITHM.md#score-files examples and Python's
    // repr(float(numpy.float32(...))).
    assertEquals(
      Deno.readTextFileSync(`${out}/GraFIQs_a.txt`),
      "imgs/sp ace.jpg 0.018799999728798866\nx.jpg 7190.53515625\ny.jpg 0.10000000149011612\n",
    );
    assertEquals(
      Deno.readTextFileSync(`${out}/GraFIQs_b.txt`),
      "imgs/sp ace.jpg 9.999999747378752e-06\nx.jpg 1.0000000200408773e+20\ny.jpg -0.0\n",
    );
    assertEquals(formatScore(Infinity), "inf");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("writeScoreFiles: clear errors", async () => {
  const out = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => writeScoreFiles(out, ["image", "block1"], [{ path: "p.jpg", scores: [1] }]),
      /row 0 \("p\.jpg"\) has 1 scores, expected 2/,
    );
    await assertRejects(
      () => writeScoreFiles(out, ["image"], [{ path: "a\nb.jpg", scores: [1] }]),
      /line break/,
    );
    await assertRejects(() => writeScoreFiles(out, ["a/b"], []), /bad score group name/);
    await assertRejects(() => writeScoreFiles(out, ["a", "a"], []), /given twice/);
    await Deno.writeTextFile(`${out}/file`, "");
    await assertRejects(() => writeScoreFiles(`${out}/file`, ["image"], []), /file/);
    assertEquals(scorePathProblem("a b.jpg"), null);
    assert(scorePathProblem("a\rb.jpg") !== null);
    // Nothing was written by the failed calls.
    assertEquals(await listDir(out), ["file"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("parseScoreFile splits on the last space and names the bad line", () => {
  assertEquals(parseScoreFile("a b c.jpg 1e-05\r\nx 2.0\n", "f.txt"), [
    { path: "a b c.jpg", score: 1e-5 },
    { path: "x", score: 2 },
  ]);
  assertEquals(parseScoreFile("", "f.txt"), []);
  const inf = parseScoreFile("p inf\nq nan\n", "f.txt");
  assertEquals(inf[0].score, Infinity);
  assert(Number.isNaN(inf[1].score));
  assertThrows(
    () => parseScoreFile("a 1.0\nnospace\n", "f.txt"),
    /f\.txt:2: expected "PATH SCORE"/,
  );
  assertThrows(() => parseScoreFile("a 1.0\n\nb 2.0\n", "f.txt"), /f\.txt:2:/);
  assertThrows(() => parseScoreFile("a x1\n", "f.txt"), /f\.txt:1: bad score/);
  assertThrows(() => readScoreFile("/nonexistent-dir-grafiqs/x.txt"), /cannot read score file/);
});

// ---------------------------------------------------------------------------------------------
// Failure list

Deno.test("writeFailedList / readFailedList round trip with escapes", async () => {
  const out = await Deno.makeTempDir();
  try {
    const failures = [
      { path: "imgs/d.jpg", reason: "is a directory" },
      { path: "imgs/tab\t.jpg", reason: "cannot decode: bad\nmarker \\ x\r" },
    ];
    await writeFailedList(`${out}/o`, failures);
    const text = Deno.readTextFileSync(`${out}/o/${FAILED_FILE_NAME}`);
    assertEquals(
      text,
      "path\treason\nimgs/d.jpg\tis a directory\n" +
        "imgs/tab\\t.jpg\tcannot decode: bad\\nmarker \\\\ x\\r\n",
    );
    assertEquals(readFailedList(`${out}/o/${FAILED_FILE_NAME}`), failures);
    // An empty list leaves just the header (replacing the earlier list).
    await writeFailedList(`${out}/o`, []);
    assertEquals(Deno.readTextFileSync(`${out}/o/${FAILED_FILE_NAME}`), FAILED_HEADER + "\n");
    assertEquals(readFailedList(`${out}/o/${FAILED_FILE_NAME}`), []);
    Deno.writeTextFileSync(`${out}/bad.txt`, "nope\n");
    assertThrows(() => readFailedList(`${out}/bad.txt`), /bad\.txt:1: expected the header/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Atomic writes

Deno.test("atomicWriteFile: the target keeps its old content until the rename", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/scores.txt`;
    await Deno.writeTextFile(target, "old content\n");
    const big = new Uint8Array(3 << 20).map((_, i) => i * 7);
    let seenTemp = "";
    await atomicWriteFile(target, big, {
      beforeRename: async (tmp) => {
        seenTemp = tmp;
        // The interrupted state: the temp file is complete, the target untouched.
        assertEquals(await Deno.readTextFile(target), "old content\n");
        assertEquals(await Deno.readFile(tmp), big);
        assert(tmp.startsWith(`${dir}/.scores.txt.`) && tmp.endsWith(".tmp"), tmp);
      },
    });
    assertEquals(await Deno.readFile(target), big);
    assert(seenTemp !== "" && !(await exists(seenTemp)), "temp file left behind");
    assertEquals(await listDir(dir), ["scores.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomicWriteFile: a failure before the rename keeps the old file and no temp", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/GraFIQs_image.txt`;
    await Deno.writeTextFile(target, "a.jpg 1.0\n");
    await assertRejects(
      () =>
        atomicWriteFile(target, "b.jpg 2.0\n", {
          beforeRename: () => {
            throw new Error("simulated crash");
          },
        }),
      /cannot write .*GraFIQs_image\.txt: simulated crash/,
    );
    assertEquals(await Deno.readTextFile(target), "a.jpg 1.0\n");
    assertEquals(await listDir(dir), ["GraFIQs_image.txt"]);
    // Missing parent directory: a clear error naming the file, nothing created.
    await assertRejects(
      () => atomicWriteFile(`${dir}/no/such/x.txt`, "x"),
      /cannot write .*no\/such\/x\.txt/,
    );
    // A 250-byte target name (near the 255-byte limit) still gets a valid temp name.
    const long = `${dir}/${"n".repeat(246)}.txt`;
    await atomicWriteFile(long, "x\n");
    assertEquals(await Deno.readTextFile(long), "x\n");
    await Deno.remove(long);
    // Strings are written as UTF-8; sync can be turned off.
    await atomicWriteFile(`${dir}/u.txt`, "\u00fc\u{1F600}\n", { sync: false });
    assertEquals(
      await Deno.readFile(`${dir}/u.txt`),
      new TextEncoder().encode("\u00fc\u{1F600}\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
