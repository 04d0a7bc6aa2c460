/**
 * One-file builds (tools/compile.ts): `deno task bundle` (a single JavaScript file, run with
 * `deno run -A`) and `deno task compile` (a standalone executable). Each is copied into an empty
 * temporary folder, with no source tree or deno.json beside it, and must score images bit for
 * bit like the source tree's folder mode.
 *
 * `deno compile` needs Deno's runtime (denort), which it downloads from a host CI cannot reach;
 * that test runs only where DENORT_BIN names a denort (or Deno's cache holds one) and says so
 * when skipped. The bundle needs nothing from outside and runs everywhere. Both carry the face
 * models of `--align` (tools/compile.ts embeds them); the bundle's `--align` run has an empty
 * Deno cache, so no npm package folder can stand in for them.
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { runCommand as sh } from "./cli_util.ts";
import { findDenort } from "../tools/compile.ts";
import { VERSION } from "../src/version.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MOD = `${ROOT}mod.ts`;
const COMPILE = `${ROOT}tools/compile.ts`;
const FIX = new URL("./fixtures/golden/iresnet112_tiny/", import.meta.url).pathname;
const JPEG = new URL("./fixtures/image/synthetic/baseline420.jpg", import.meta.url).pathname;
/** A raw (unaligned) 250 x 250 LFW photo, decoded to PNG: one face for --align. */
const FACE = new URL(
  "./fixtures/image/shared_jpeg/raw_Sachiko_Yamada_0004.opencv.png",
  import.meta.url,
).pathname;
const REF = new URL("../../shared/reference/", import.meta.url).pathname;
const GROUPS = ["image", "block1", "block2", "block3", "block4"];
/** The builds are checked by scoring images: a WebGPU adapter is needed (tests/gpu_util.ts). */
const GPU = gpuTestOptions("bundle_test");
const FILES = [...GROUPS.map((g) => `GraFIQs_${g}.txt`), "GraFIQs_failed.txt"];

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** An empty folder with only the images (and weights) to score. */
async function imagesDir(withWeights = true): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_onefile_" });
  await Deno.mkdir(`${dir}/images`);
  for (const n of ["smooth_a.png", "smooth_b.png"]) {
    await Deno.copyFile(`${FIX}/images/${n}`, `${dir}/images/${n}`);
  }
  await Deno.writeTextFile(`${dir}/images/broken.png`, "not a PNG");
  if (withWeights) await Deno.copyFile(`${FIX}/model.pth`, `${dir}/model.pth`);
  return dir;
}

const FOLDER_ARGS = ["--image-path", "images", "--image-extension", "png", "--weights"];

/** The source tree's folder mode on the fixture: the reference for every build. */
async function sourceRun(): Promise<Map<string, string>> {
  const dir = await imagesDir();
  const r = await sh(Deno.execPath(), ["run", "-A", MOD, ...FOLDER_ARGS, "model.pth"], dir);
  assertEquals(r.code, 3, r.stderr);
  return new Map(FILES.map((f) => [f, Deno.readTextFileSync(`${dir}/${f}`)]));
}

/** Score texts of the five files, path -> texts per group. */
function scoreTexts(files: Map<string, string>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  GROUPS.forEach((g, gi) => {
    for (const line of files.get(`GraFIQs_${g}.txt`)!.trimEnd().split("\n")) {
      const sp = line.lastIndexOf(" ");
      const row = m.get(line.slice(0, sp)) ?? [];
      row[gi] = line.slice(sp + 1);
      m.set(line.slice(0, sp), row);
    }
  });
  return m;
}

// Build the bundle once, before the tests are registered, to know whether it can run at all.
const bundleDir = await Deno.makeTempDir({ prefix: "grafiqs_bundle_build_" });
const bundleFile = `${bundleDir}/grafiqs.js`;
const t0 = performance.now();
const build = await sh(
  Deno.execPath(),
  ["run", "-A", COMPILE, "--bundle", "--output", bundleFile],
  ROOT,
);
const buildSecs = (performance.now() - t0) / 1000;
// imagescript's Node entry point loads native codecs (.node files) that no single-file build
// can hold; the decoders must be imported without it (src/image/decode.ts).
const blocked = build.code !== 0 && /imagescript\/[^/]+\/codecs\/node/.test(build.stderr)
  ? "src/image/decode.ts imports imagescript's Node entry point, whose native codecs cannot " +
    "be bundled (the image decoders must be imported as WASM with embedded bytes)"
  : null;
if (blocked) console.log(`bundle_test: bundle tests skipped: ${blocked}`);

Deno.test({
  name: "bundle: one file, run from an empty folder, scores bit-identical to the folder mode",
  ignore: blocked !== null || GPU.ignore,
  fn: async () => {
    assertEquals(build.code, 0, build.stderr);
    const want = await sourceRun();
    const dir = await imagesDir();
    await Deno.copyFile(bundleFile, `${dir}/grafiqs.js`);
    const deno = (args: string[], input?: string) =>
      sh(Deno.execPath(), ["run", "-A", "--no-config", "grafiqs.js", ...args], dir, input);
    const t1 = performance.now();
    const v = await deno(["--version"]);
    const versionSecs = (performance.now() - t1) / 1000;
    assertEquals([v.code, v.stdout.trim()], [0, `grafiqs ${VERSION}`], v.stderr);
    const h = await deno(["--help"]);
    assert(h.code === 0 && h.stdout.includes("--image-path"), h.stderr);
    const r = await deno([...FOLDER_ARGS, "model.pth", "--output-dir", "."]);
    assertEquals(r.code, 3, r.stderr);
    for (const f of FILES) assertEquals(await Deno.readTextFile(`${dir}/${f}`), want.get(f), f);
    // The record mode of the bundle, paths on stdin, gives the same numbers.
    const s = await deno(["--weights", "model.pth"], "images/smooth_b.png\nimages/smooth_a.png\n");
    assertEquals(s.code, 0, s.stderr);
    const texts = scoreTexts(want);
    for (const line of s.stdout.trimEnd().split("\n").slice(1)) {
      const f = line.split("\t");
      assertEquals(f.slice(1, 6), texts.get(f[0]), f[0]);
    }
    // A JPEG: the bundle embeds libjpeg-turbo's WASM module too, and scores it like the source
    // tree's record mode.
    await Deno.copyFile(JPEG, `${dir}/face.jpg`);
    const jb = await deno(["--weights", "model.pth"], "face.jpg\n");
    const js = await sh(
      Deno.execPath(),
      ["run", "-A", MOD, "--weights", "model.pth"],
      dir,
      "face.jpg\n",
    );
    assertEquals([jb.code, js.code], [0, 0], jb.stderr + js.stderr);
    const jpegRecord = (out: string) => out.trimEnd().split("\n")[1].split("\t");
    assertEquals(jpegRecord(jb.stdout), jpegRecord(js.stdout));
    const rec = jpegRecord(jb.stdout);
    assertEquals([rec[0], rec[GROUPS.length + 1]], ["face.jpg", "ok"], jb.stdout);
    console.log(
      `  bundle built in ${buildSecs.toFixed(1)} s (${
        (Deno.statSync(bundleFile).size / 2 ** 20).toFixed(1)
      } MiB); --version in ${versionSecs.toFixed(2)} s`,
    );
  },
});

Deno.test({
  name: "bundle: --align runs on the embedded face models, with no npm package reachable",
  ignore: blocked !== null || GPU.ignore,
  fn: async () => {
    assertEquals(build.code, 0, build.stderr);
    const src = await Deno.makeTempDir({ prefix: "grafiqs_align_src_" });
    const one = await Deno.makeTempDir({ prefix: "grafiqs_align_bundle_" });
    // An empty Deno cache: the bundle can reach neither the npm package @vladmandic/human nor
    // any other package folder; the models and tfjs's WebAssembly module must be inside it.
    const cache = await Deno.makeTempDir({ prefix: "grafiqs_align_denodir_" });
    try {
      for (const d of [src, one]) {
        await Deno.copyFile(FACE, `${d}/face.png`);
        await Deno.copyFile(`${FIX}/model.pth`, `${d}/model.pth`);
      }
      await Deno.copyFile(bundleFile, `${one}/grafiqs.js`);
      const args = ["--weights", "model.pth", "--align", "--save-aligned", "crops"];
      const a = await sh(Deno.execPath(), ["run", "-A", MOD, ...args], src, "face.png\n");
      const b = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", "grafiqs.js", ...args],
        cwd: one,
        env: { DENO_DIR: cache },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = b.stdin.getWriter();
      await w.write(new TextEncoder().encode("face.png\n"));
      await w.close();
      const bo = await b.output();
      const out = new TextDecoder().decode(bo.stdout), err = new TextDecoder().decode(bo.stderr);
      assertEquals([a.code, bo.code], [0, 0], a.stderr + err);
      // The same record (scores, face box, landmarks, confidence) and the same aligned crop.
      assertEquals(out, a.stdout);
      const rec = out.trimEnd().split("\n")[1].split("\t");
      assertEquals([rec[0], rec[GROUPS.length + 1]], ["face.png", "ok"], out);
      assertEquals(
        await Deno.readFile(`${one}/crops/face.png`),
        await Deno.readFile(`${src}/crops/face.png`),
      );
    } finally {
      for (const d of [src, one, cache]) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "bundle: edc writes the figure as SVG and says in one line that the PNG is skipped",
  ignore: blocked !== null,
  fn: async () => {
    assertEquals(build.code, 0, build.stderr);
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_bundle_edc_" });
    try {
      await Deno.copyFile(bundleFile, `${dir}/grafiqs.js`);
      const EVAL = new URL("./fixtures/eval/", import.meta.url).pathname;
      const r = await sh(Deno.execPath(), [
        "run",
        "-A",
        "grafiqs.js",
        "edc",
        "--quality",
        `${EVAL}GraFIQs_image.txt`,
        "--pairs",
        `${EVAL}lfw_pairs.txt`,
        "--similarities",
        `${EVAL}sims.txt`,
        "--threshold",
        "0.5",
        "--shuffles",
        "5",
        "--out",
        "edc",
      ], dir);
      assertEquals(r.code, 0, r.stderr);
      assert(exists(`${dir}/edc/edc.svg`), "no edc.svg");
      // resvg (a native addon) is left out of the bundle: one line says so, no stack.
      const notes = r.stderr.split("\n").filter((l) => l.trim() !== "");
      const png = notes.filter((l) => l.includes("PNG skipped"));
      assertEquals(png.length, 1, r.stderr);
      assert(!notes.some((l) => /^\s+at |^\)$/.test(l)), `stack fragment on stderr:\n${r.stderr}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const haveReference = exists(`${REF}iresnet50/weights.pth`) &&
  exists(`${REF}images/aligned/Andrew_Gilligan_0001.png`);
if (!haveReference) console.log("bundle_test: reference-image test skipped: ../shared is absent");

Deno.test({
  name: "bundle: the reference images (iresnet50) score bit-identical to the source folder mode",
  ignore: blocked !== null || !haveReference || GPU.ignore,
  fn: async () => {
    const names = ["Andrew_Gilligan_0001.png", "Arnold_Palmer_0002.png"];
    const src = await Deno.makeTempDir({ prefix: "grafiqs_ref_src_" });
    const one = await Deno.makeTempDir({ prefix: "grafiqs_ref_bundle_" });
    for (const d of [src, one]) {
      await Deno.mkdir(`${d}/images`);
      for (const n of names) {
        await Deno.copyFile(`${REF}images/aligned/${n}`, `${d}/images/${n}`);
      }
    }
    await Deno.copyFile(bundleFile, `${one}/grafiqs.js`);
    const weights = `${REF}iresnet50/weights.pth`;
    const args = ["--weights", weights, "--batch-size", "2", "--bgr2rgb"];
    const a = await sh(
      Deno.execPath(),
      ["run", "-A", MOD, ...args, "--image-path", "images", "--image-extension", "png"],
      src,
    );
    assertEquals(a.code, 0, a.stderr);
    const want = scoreTexts(
      new Map(FILES.slice(0, 5).map((f) => [f, Deno.readTextFileSync(`${src}/${f}`)])),
    );
    // The bundle in the record mode, paths on stdin.
    const b = await sh(
      Deno.execPath(),
      ["run", "-A", "--no-config", "grafiqs.js", ...args],
      one,
      names.map((n) => `images/${n}\n`).join(""),
    );
    assertEquals(b.code, 0, b.stderr);
    const lines = b.stdout.trimEnd().split("\n").slice(1);
    assertEquals(lines.length, names.length);
    for (const line of lines) {
      const f = line.split("\t");
      assertEquals(f.slice(1, 6), want.get(f[0]), `${f[0]}: bit-identical`);
    }
  },
});

const denort = await findDenort(Deno.execPath(), Deno.build.target);
if (denort.kind === "download") {
  console.log(
    "bundle_test: compile test skipped: no denort runtime here (set DENORT_BIN to a denort " +
      `${Deno.version.deno}; deno compile would download it)`,
  );
}

Deno.test({
  name: "compile: a standalone executable, run from an empty folder, scores like the folder mode",
  ignore: denort.kind === "download" || blocked !== null || GPU.ignore,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "grafiqs_compile_" });
    const exe = `${out}/grafiqs${Deno.build.os === "windows" ? ".exe" : ""}`;
    const c = await sh(Deno.execPath(), ["run", "-A", COMPILE, "--output", exe], ROOT);
    assertEquals(c.code, 0, c.stderr);
    const want = await sourceRun();
    const dir = await imagesDir();
    const moved = `${dir}/${exe.split("/").pop()}`;
    await Deno.copyFile(exe, moved);
    await Deno.chmod(moved, 0o755).catch(() => {});
    const r = await sh(moved, [...FOLDER_ARGS, "model.pth", "--output-dir", "."], dir);
    assertEquals(r.code, 3, r.stderr);
    for (const f of FILES) assertEquals(await Deno.readTextFile(`${dir}/${f}`), want.get(f), f);
    // --align on the face models embedded in the executable: the source tree's record.
    await Deno.copyFile(FACE, `${dir}/face.png`);
    const args = ["--weights", "model.pth", "--align"];
    const e = await sh(moved, args, dir, "face.png\n");
    const s = await sh(Deno.execPath(), ["run", "-A", MOD, ...args], dir, "face.png\n");
    assertEquals([e.code, s.code], [0, 0], e.stderr + s.stderr);
    assertEquals(e.stdout, s.stdout);
  },
});

Deno.test("compile: a DENORT_BIN that does not exist is a clear error, nothing is downloaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_compile_err_" });
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", COMPILE, "--output", `${dir}/x`],
    env: { DENORT_BIN: `${dir}/no_such_denort` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assertEquals(r.code, 1, err);
  assert(err.includes(`DENORT_BIN=${dir}/no_such_denort: no such file`), err);
  assert(!exists(`${dir}/x`));
});
