/**
 * The main command end to end, as a user runs it (`deno run -A mod.ts ...` in a subprocess),
 * on a tiny 112x112 iResNet whose official-equivalent outputs come from PyTorch
 * (tests/fixtures/golden/iresnet112_tiny, made by tools/make_golden_fixtures.py).
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { runTool as cli, TINY_FIX as FIX, tinyWorkDir } from "./cli_util.ts";
import { formatPythonFloat } from "../src/io/pyfloat.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { readFailedList } from "../src/io/score_files.ts";
import { parseNpy } from "../src/io/npy.ts";
import { describeParseError, parseArgs } from "../src/cli/args.ts";

const GROUPS = ["image", "block1", "block2", "block3", "block4"];
/** The tests that score images need a WebGPU adapter (see tests/gpu_util.ts). */
const GPU = gpuTestOptions("cli_test");

async function expectedScores(order: "bgr" | "rgb") {
  const m = new Map<string, number[]>();
  for (const [gi, g] of GROUPS.entries()) {
    const f = `${FIX}/scores_${order}/GraFIQs_${g}.txt`;
    for (const e of parseScoreFile(await Deno.readTextFile(f), f)) {
      const row = m.get(e.path) ?? [];
      row[gi] = e.score;
      m.set(e.path, row);
    }
  }
  return m;
}

async function readOut(dir: string) {
  const m = new Map<string, number[]>();
  const texts: Record<string, string> = {};
  for (const [gi, g] of GROUPS.entries()) {
    const f = `${dir}/GraFIQs_${g}.txt`;
    texts[g] = await Deno.readTextFile(f);
    for (const e of parseScoreFile(texts[g], f)) {
      const row = m.get(e.path) ?? [];
      row[gi] = e.score;
      m.set(e.path, row);
    }
  }
  return { m, texts };
}

Deno.test(
  "CLI: scores a folder, skips bad files with a failure list and exit status 3",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_cli_");
    for (const order of ["bgr", "rgb"] as const) {
      const out = `${dir}/out_${order}`;
      const args = ["--image-path", "images", "--image-extension", "png", "--weights", "model.pth"];
      const r = await cli(
        [...args, "--output-dir", out, ...(order === "rgb" ? ["--bgr2rgb"] : [])],
        dir,
      );
      assertEquals(r.code, 3, r.stderr);
      assert(r.stderr.includes("images/broken.png"), r.stderr);
      const failed = readFailedList(`${out}/GraFIQs_failed.txt`);
      assertEquals(failed.map((f) => f.path), ["images/broken.png", "images/folder.png"]);
      assert(failed[1].reason.includes("directory"), failed[1].reason);
      // The reason says what is wrong without repeating the path; stderr names the file once.
      assert(failed[0].reason.startsWith("not an image"), failed[0].reason);
      assertEquals(r.stderr.split("images/broken.png").length - 1, 1, r.stderr);
      const { m, texts } = await readOut(out);
      const exp = await expectedScores(order);
      assertEquals([...m.keys()], ["images/smooth_a.png", "images/smooth_b.png"]);
      for (const [path, row] of m) {
        row.forEach((v, gi) => {
          // Float32 WebGPU vs float32 PyTorch on a 112x112 tiny iResNet: measured <= 3e-6
          // relative; 1e-4 leaves room for summation-order differences, far under 1e-3.
          const e = exp.get(path)![gi];
          assert(
            Math.abs(v - e) <= 1e-4 * Math.abs(e),
            `${order} ${path} ${GROUPS[gi]}: ${v} vs ${e}`,
          );
        });
      }
      // Official format: `PATH SCORE\n`, score as Python's repr of the float32 value.
      for (const t of Object.values(texts)) {
        for (const line of t.trimEnd().split("\n")) {
          const [p, s] = line.split(" ");
          assertEquals(formatPythonFloat(Math.fround(Number(s))), s, line);
          assert(p.startsWith("images/"));
        }
        assert(t.endsWith("\n"));
      }
    }
  },
);

Deno.test(
  "CLI: batch size does not change a byte; --path-replace and --save-embeddings",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_cli_");
    await Deno.remove(`${dir}/images/broken.png`);
    await Deno.remove(`${dir}/images/folder.png`);
    const base = [
      "--image-path",
      "./images/",
      "--image-extension",
      "png",
      "--weights",
      "model.pth",
    ];
    const r1 = await cli([...base, "--output-dir", "o1", "--batch-size", "1"], dir);
    const r2 = await cli([
      ...base,
      "--output-dir",
      "o2",
      "--batch-size",
      "2",
      "--path-replace",
      "images/",
      "--path-replace-with",
      "/data/faces/",
      "--save-embeddings",
    ], dir);
    assertEquals(r1.code, 0, r1.stderr);
    assertEquals(r2.code, 0, r2.stderr);
    for (const g of GROUPS) {
      const a = await Deno.readTextFile(`${dir}/o1/GraFIQs_${g}.txt`);
      const b = await Deno.readTextFile(`${dir}/o2/GraFIQs_${g}.txt`);
      assertEquals(b, a.replaceAll("images/", "/data/faces/"));
      assert(a.startsWith("images/smooth_a.png "), "pathlib drops './' and the trailing '/'");
    }
    const npy = parseNpy(await Deno.readFile(`${dir}/o2/GraFIQs_embeddings.npy`), "emb");
    assertEquals([npy.rows, npy.cols], [2, 8]);
    assertEquals(
      await Deno.readTextFile(`${dir}/o2/GraFIQs_embeddings.txt`),
      "/data/faces/smooth_a.png\n/data/faces/smooth_b.png\n",
    );
    const golden = JSON.parse(await Deno.readTextFile(`${FIX}/expected.json`));
    const want = (golden.embeddings as number[][]).flat();
    for (let i = 0; i < want.length; i++) {
      // Embeddings go through ~10 float32 layers; 1e-4 relative + 1e-5 absolute.
      assert(Math.abs(npy.data[i] - want[i]) <= 1e-5 + 1e-4 * Math.abs(want[i]), `embedding ${i}`);
    }
  },
);

Deno.test("CLI: a checkpoint that does not fit the backbone stops before any image is read", async () => {
  const dir = await tinyWorkDir("grafiqs_cli_");
  const r = await cli([
    "--image-path",
    "no_such_dir",
    "--weights",
    "model.pth",
    "--backbone",
    "iresnet50",
    "--output-dir",
    "out",
  ], dir);
  assertEquals(r.code, 1);
  assert(
    /conv1\.weight has shape \[4,3,3,3\], iresnet50 expects \[64,3,3,3\]/.test(r.stderr),
    r.stderr,
  );
  assert(/non-standard iresnet\([\d,]+\): --backbone auto reads it/.test(r.stderr), r.stderr);
  assert(!(await exists(`${dir}/out`)), "nothing may be written");
});

Deno.test("CLI: --help, --version and usage errors need no GPU", async () => {
  const dir = await Deno.makeTempDir();
  const h = await cli(["--help"], dir);
  assertEquals(h.code, 0);
  assert(h.stdout.includes("--image-path"));
  const v = await cli(["--version"], dir);
  assertEquals(v.code, 0);
  assert(/^grafiqs \d+\.\d+\.\d+/.test(v.stdout));
  const u = await cli(["--image-path", "x"], dir);
  assertEquals(u.code, 2);
  assert(u.stderr.includes("--weights"), u.stderr);
  const typo = await cli(["--image-path", "x", "--weight", "m.pth"], dir);
  assertEquals(typo.code, 2);
  assert(typo.stderr.includes("unknown option --weight (did you mean --weights?)"), typo.stderr);
  const none = await cli(["--image-path", "x", "--weights"], dir);
  assertEquals(none.code, 2);
  assert(none.stderr.includes("option --weights <value> needs a value"), none.stderr);
});

// An extension that selects nothing is an error now (the official tool writes five empty
// files): tested in cli_inputs_test.ts.

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("CLI: parse errors are rewritten with a did-you-mean hint only for near options", () => {
  const options = {
    "image-path": { type: "string" },
    weights: { type: "string" },
    bgr2rgb: { type: "boolean" },
  } as const;
  const message = (args: string[]) => {
    try {
      parseArgs({ args, options, strict: true, allowPositionals: false });
    } catch (e) {
      return describeParseError(e, Object.keys(options));
    }
    throw new Error(`${args.join(" ")} parsed`);
  };
  // Two edits (transposition) and a prefix are near; an unrelated name gets no hint.
  assertEquals(message(["--wieghts", "m"]), "unknown option --wieghts (did you mean --weights?)");
  assertEquals(message(["--image", "d"]), "unknown option --image (did you mean --image-path?)");
  assertEquals(message(["--output", "o"]), "unknown option --output");
  assertEquals(message(["--bgr2rgb=yes"]), "option '--bgr2rgb' does not take an argument");
});
