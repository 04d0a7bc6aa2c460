/**
 * Any input a user has, and the calibrated quality scale, end to end as a user runs them
 * (`deno run -A mod.ts ...` in a subprocess) on the tiny 112x112 iResNet fixture:
 * `--image-path FILE`, `--image-list`, `--image-extension .png`, an empty selection,
 * `grafiqs calibrate` and `--calibration`.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { runTool as cli, TINY_FIX as FIX, tinyWorkDir } from "./cli_util.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { parseScoreArgs } from "../src/cli/score_args.ts";
import { inShard } from "../src/pipeline/shard.ts";
import { selectImages } from "../src/pipeline/select_images.ts";

const GROUPS = ["image", "block1", "block2", "block3", "block4"];
const GPU = gpuTestOptions("cli_inputs_test");
const MODEL = ["--weights", "model.pth"];

/** The five score files of OUT, by group. */
async function scoreTexts(out: string): Promise<string[]> {
  return await Promise.all(GROUPS.map((g) => Deno.readTextFile(`${out}/GraFIQs_${g}.txt`)));
}

/** The line of `path` in each of the five score files of OUT. */
async function linesOf(out: string, path: string): Promise<string[]> {
  return (await scoreTexts(out)).map((t) => t.split("\n").find((l) => l.startsWith(path + " "))!);
}

/**
 * One work folder (tinyWorkDir) shared by the tests of this file, with the folder mode's output
 * of images/*.png in OUT `o` (made once: each run of the tool costs seconds).
 */
let shared: Promise<string> | undefined;
function baseline(): Promise<string> {
  shared ??= (async () => {
    const dir = await tinyWorkDir("grafiqs_inputs_");
    const r = await cli(
      ["--image-path", "images", "--image-extension", "png", ...MODEL, "--output-dir", "o"],
      dir,
    );
    assertEquals(r.code, 3, r.stderr); // broken.png and folder.png fail
    return dir;
  })();
  return shared;
}

/** The lines of a text file, without the last line feed (trailing tabs kept). */
async function linesOfFile(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).replace(/\n$/, "").split("\n");
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("input options: --image-list, the leading dot, and combinations that do not fit", () => {
  const opts = (args: string[]) => {
    const o = parseScoreArgs([...MODEL, ...args]);
    assert(o !== "help");
    return o;
  };
  assertEquals(opts(["--image-path", "d", "--image-extension", ".jpg,png,.PNG"]).imageExtensions, [
    "jpg",
    "png",
    "PNG",
  ]);
  assertEquals(opts(["--image-path", "d", "--image-extension", "."]).imageExtensions, ["."]);
  const l = opts(["--image-list", "l.txt"]);
  assertEquals([l.imageList, l.records, l.outputDir], ["l.txt", false, "."]);
  assertEquals(opts(["--image-list", "l.txt", "--output", "r.tsv"]).records, true);
  const bad: [string[], RegExp][] = [
    [["--image-list", "l", "--image-path", "d"], /--image-list and --image-path both name/],
    [["--image-list", "l", "--image-extension", "png"], /an --image-list names its files/],
    [["--image-list", "l", "--recursive"], /not with --image-list/],
    [["--image-list", "l", "-0"], /one path a line/],
    [["--image-list", "-"], /--image-list - is not supported/],
  ];
  for (const [args, re] of bad) assertThrows(() => parseScoreArgs([...MODEL, ...args]), re);
  const cal = ["--image-path", "d", "--output", "c.json"];
  assert(parseScoreArgs([...MODEL, ...cal], "calibrate") !== "help");
  const badCal: [string[], RegExp][] = [
    [["--image-path", "d"], /calibrate needs --output FILE\.json/],
    [["--output", "c.json"], /calibrate needs the reference images/],
    [[...cal, "--output-dir", "o"], /--output-dir does not apply to calibrate/],
    [[...cal, "--resume"], /--resume does not apply to calibrate/],
    [[...cal, "--calibration", "c.json"], /--calibration does not apply to calibrate/],
    [[...cal, "--shard", "0/2"], /--shard does not apply to calibrate/],
  ];
  for (const [args, re] of badCal) {
    assertThrows(() => parseScoreArgs([...MODEL, ...args], "calibrate"), re);
  }
});

Deno.test("selectImages: one file as given, a list in its order, the hint for a list as FILE", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_select_" });
  await Deno.writeTextFile(`${dir}/a.png`, "");
  await Deno.writeTextFile(`${dir}/l.txt`, `${dir}/b.png\n${dir}/a.png\n${dir}/./b.png\n`);
  const base = { imageExtensions: ["jpg"], recursive: false, shard: null };
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  assertEquals(await selectImages({ ...base, imagePath: `${dir}//a.png` }, warn), [
    `${dir}//a.png`,
  ]);
  assertEquals(await selectImages({ ...base, imagePath: "", imageList: `${dir}/l.txt` }, warn), [
    `${dir}/b.png`,
    `${dir}/a.png`,
  ]);
  assertEquals(warnings, [
    `grafiqs: ${dir}/l.txt: ${
      JSON.stringify(`${dir}/b.png`)
    } (line 1) is listed again on line 3; ` +
    "scored once",
  ]);
  warnings.length = 0;
  assertEquals(await selectImages({ ...base, imagePath: `${dir}/l.txt` }, warn), [`${dir}/l.txt`]);
  assertEquals(warnings, [
    `grafiqs: warning: --image-path ${dir}/l.txt is scored as one image; for a list of image ` +
    `paths use --image-list ${dir}/l.txt`,
  ]);
  await assertRejects(
    () => selectImages({ ...base, imagePath: `${dir}/a.png`, recursive: true }, warn),
    /--recursive walks a folder; --image-path .*a\.png is a file/,
  );
  await assertRejects(
    () => selectImages({ ...base, imagePath: `${dir}/none` }, warn),
    /does not exist \(neither folder nor file\)/,
  );
});

Deno.test(
  "CLI: --image-path FILE scores that file as the folder mode does, its path as given",
  GPU,
  async () => {
    const dir = await baseline();
    const one = await cli(
      ["--image-path", "./images/smooth_b.png", ...MODEL, "--output-dir", "one"],
      dir,
    );
    assertEquals(one.code, 0, one.stderr);
    // The same bytes as the folder run's line, the path printed exactly as given.
    const want = await linesOf(`${dir}/o`, "images/smooth_b.png");
    assertEquals(
      await scoreTexts(`${dir}/one`),
      want.map((l) => "./" + l + "\n"),
    );
    assertEquals(await Deno.readTextFile(`${dir}/one/GraFIQs_failed.txt`), "path\treason\n");
  },
);

Deno.test(
  "CLI: an extension that selects nothing is an error naming the folder and what it holds",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_inputs_");
    await Deno.writeTextFile(`${dir}/images/notes`, "");
    // The leading dot is accepted (`.PNG` is `PNG`); the folder has only *.png.
    const r = await cli(
      ["--image-path", "images", "--image-extension", ".PNG", ...MODEL, "--output-dir", "o"],
      dir,
    );
    assertEquals(r.code, 1, r.stderr);
    assert(
      r.stderr.includes(
        "grafiqs: no file in images matches *.PNG (extensions are case-sensitive, as in the " +
          "official tool); it holds 4 files and 1 subfolder: .png (3), (no extension) (1)",
      ),
      r.stderr,
    );
    assert(!(await exists(`${dir}/o`)), "nothing is written");
    await Deno.writeTextFile(`${dir}/empty.txt`, "# nothing yet\n\n");
    const e = await cli(["--image-list", "empty.txt", ...MODEL, "--output", "r.tsv"], dir);
    assertEquals(e.code, 1, e.stderr);
    assert(e.stderr.includes("image list empty.txt names no image"), e.stderr);
    assert(!(await exists(`${dir}/r.tsv`)));
  },
);

Deno.test(
  "CLI: --image-list in the list's order, duplicates once; records, --resume and --shard",
  GPU,
  async () => {
    const dir = await baseline();
    await Deno.writeTextFile(
      `${dir}/list.txt`,
      "# my faces\r\nimages/smooth_b.png\r\n\n  images/smooth_a.png\nimages/broken.png\n" +
        "./images/smooth_b.png\nimages//smooth_b.png\nimages/smooth_a.png\n",
    );
    const r = await cli([
      "--image-list",
      "list.txt",
      ...MODEL,
      "--output-dir",
      "l",
      "--save-embeddings",
    ], dir);
    assertEquals(r.code, 3, r.stderr);
    const dup = r.stderr.split("\n").filter((l) => l.includes("listed again"));
    assertEquals(dup, [
      'grafiqs: list.txt: "images/smooth_b.png" (line 2) is listed again on lines 6, 7; scored once',
      'grafiqs: list.txt: "images/smooth_a.png" (line 4) is listed again on line 8; scored once',
    ]);
    const b = await linesOf(`${dir}/o`, "images/smooth_b.png");
    const a = await linesOf(`${dir}/o`, "images/smooth_a.png");
    assertEquals(await scoreTexts(`${dir}/l`), GROUPS.map((_, g) => `${b[g]}\n${a[g]}\n`));
    assert(
      (await Deno.readTextFile(`${dir}/l/GraFIQs_failed.txt`)).startsWith(
        "path\treason\nimages/broken.png\tnot an image",
      ),
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/l/GraFIQs_embeddings.txt`),
      "images/smooth_b.png\nimages/smooth_a.png\n",
    );
    // The folder mode's --resume writes the same files.
    const res = await cli(
      ["--image-list", "list.txt", ...MODEL, "--output-dir", "lr", "--resume"],
      dir,
    );
    assertEquals(res.code, 3, res.stderr);
    assertEquals(await scoreTexts(`${dir}/lr`), await scoreTexts(`${dir}/l`));
    // Records in the list's order; the two shards together hold every record once.
    const rec = await cli(["--image-list", "list.txt", ...MODEL, "--output", "r.tsv"], dir);
    assertEquals(rec.code, 3, rec.stderr);
    const lines = await linesOfFile(`${dir}/r.tsv`);
    assertEquals(lines.slice(1).map((l) => l.split("\t")[0]), [
      "images/smooth_b.png",
      "images/smooth_a.png",
      "images/broken.png",
    ]);
    assertEquals(lines[1].split("\t").slice(1, 6), b.map((l) => l.split(" ")[1]));
    const s0 = await cli(
      ["--image-list", "list.txt", ...MODEL, "--output", "s0.tsv", "--shard", "0/2"],
      dir,
    );
    assert(s0.code === 0 || s0.code === 3, s0.stderr);
    assertEquals(
      await linesOfFile(`${dir}/s0.tsv`),
      lines.filter((l, i) => i === 0 || inShard(l.split("\t")[0], { index: 0, count: 2 })),
    );
  },
);

Deno.test(
  "CLI: calibrate, then --calibration: quality columns, the official files unchanged, refusals",
  GPU,
  async () => {
    const dir = await baseline();
    const c = await cli(
      [
        "calibrate",
        "--image-path",
        "images",
        "--image-extension",
        "png",
        ...MODEL,
        "--output",
        "cal/c.json",
      ],
      dir,
    );
    assertEquals(c.code, 3, c.stderr); // written from the two images that score
    const cal = JSON.parse(await Deno.readTextFile(`${dir}/cal/c.json`));
    // The distribution is the two raw scores of each group, as the score files print them.
    const raw = (await scoreTexts(`${dir}/o`)).map((t) =>
      parseScoreFile(t, "score file").map((e) => e.score)
    );
    assertEquals(cal.groups.map((g: { quantiles: number[] }) => g.quantiles), raw);
    assertEquals(cal.reference, { scored: 2, failed: 2 });
    assert(/^[0-9a-f]{16}$/.test(cal.model.weightsFingerprint));
    assertEquals(cal.preprocessing, {
      channelOrder: "bgr",
      size: 112,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
    // A calibration placed around the known scores, so that qualities fall in between: per
    // group, quantiles [a - 100, a + 300] with a smooth_a's raw score: F(a) = 100/400, quality
    // 75; smooth_b's quality is where its score falls on that line (0 above a + 300).
    const a = raw.map((r) => r[0]);
    const bScores = raw.map((r) => r[1]);
    cal.groups = GROUPS.map((name, g) => ({
      name,
      count: 2,
      quantiles: [a[g] - 100, a[g] + 300],
    }));
    await Deno.writeTextFile(`${dir}/mid.json`, JSON.stringify(cal));
    const expected = (x: number, g: number) => {
      const f = Math.min(1, Math.max(0, (x - (a[g] - 100)) / 400));
      return (100 * (1 - f)).toFixed(2);
    };
    const q = await cli(
      ["--image-path", "images", "--image-extension", "png", ...MODEL, "--output-dir", "q"].concat(
        ["--calibration", "mid.json"],
      ),
      dir,
    );
    assertEquals(q.code, 3, q.stderr);
    // The official five files and the failure list stay byte-identical.
    assertEquals(await scoreTexts(`${dir}/q`), await scoreTexts(`${dir}/o`));
    assertEquals(
      await Deno.readTextFile(`${dir}/q/GraFIQs_failed.txt`),
      await Deno.readTextFile(`${dir}/o/GraFIQs_failed.txt`),
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/q/GraFIQs_quality.tsv`),
      "path\tquality_image\tquality_block1\tquality_block2\tquality_block3\tquality_block4\n" +
        `images/smooth_a.png\t${GROUPS.map((_, g) => expected(a[g], g)).join("\t")}\n` +
        `images/smooth_b.png\t${GROUPS.map((_, g) => expected(bScores[g], g)).join("\t")}\n`,
    );
    assertEquals(expected(a[0], 0), "75.00");
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/q/GraFIQs_manifest.json`));
    assert(JSON.stringify(manifest).includes("GraFIQs_quality.tsv"), "part of the result set");
    // Records (TSV, with --resume): the uncalibrated columns, then quality_<group>.
    const rec = [
      "--image-path",
      "images",
      "--image-extension",
      "png",
      ...MODEL,
      "--output",
      "r.tsv",
    ];
    const r = await cli([...rec, "--calibration", "mid.json"], dir);
    assertEquals(r.code, 3, r.stderr);
    const withQ = await linesOfFile(`${dir}/r.tsv`);
    assertEquals(
      withQ[0],
      ["path", ...GROUPS, "status", "error", ...GROUPS.map((g) => `quality_${g}`)].join("\t"),
    );
    assertEquals(withQ.length, 5);
    assertEquals(
      withQ[3],
      `images/smooth_a.png\t${raw.map((r) => r[0]).join("\t")}\tok\t\t` +
        GROUPS.map((_, g) => expected(a[g], g)).join("\t"),
    );
    assert(withQ[1].startsWith("images/broken.png\t\t\t\t\t\tfailed\tnot an image"), withQ[1]);
    assert(withQ[1].endsWith("\t\t\t\t\t"), "a failed image has empty quality fields");
    const again = await cli([...rec, "--calibration", "mid.json", "--resume"], dir);
    assertEquals(again.code, 3, again.stderr);
    assert(again.stderr.includes("4 records kept"), again.stderr);
    assertEquals(await linesOfFile(`${dir}/r.tsv`), withQ);
    const noCal = await cli([...rec, "--resume"], dir);
    assertEquals(noCal.code, 1, noCal.stderr);
    assert(noCal.stderr.includes("same model, format and --calibration"), noCal.stderr);
    // Refusals: other weights (both fingerprints named), a broken file (the other checks of a
    // calibration are in calibration_test.ts).
    const other = { ...cal, model: { ...cal.model, weightsFingerprint: "0123456789abcdef" } };
    await Deno.writeTextFile(`${dir}/other.json`, JSON.stringify(other));
    const base = ["--image-path", "images/smooth_a.png", ...MODEL, "--output-dir", "x"];
    const w = await cli([...base, "--calibration", "other.json"], dir);
    assertEquals(w.code, 1, w.stderr);
    assert(
      w.stderr.includes(
        `grafiqs: calibration other.json was made with other weights (fingerprint ` +
          `0123456789abcdef, ${cal.model.architecture}); this run's weights have fingerprint ` +
          `${cal.model.weightsFingerprint}`,
      ),
      w.stderr,
    );
    await Deno.writeTextFile(`${dir}/broken.json`, '{"format": "GraFIQs calibration"');
    const m = await cli([...base, "--calibration", "broken.json"], dir);
    assertEquals(m.code, 1, m.stderr);
    assert(m.stderr.includes("grafiqs: calibration broken.json: not JSON"), m.stderr);
    assert(!(await exists(`${dir}/x`)), "nothing is written");
    // The fixture's own PyTorch scores are in range of the calibration: a sanity check that
    // the quantiles are raw scores of this model (1e-4 relative, as in cli_test).
    const golden = parseScoreFile(
      await Deno.readTextFile(`${FIX}/scores_bgr/GraFIQs_image.txt`),
      "golden",
    );
    assert(Math.abs(golden[0].score - a[0]) <= 1e-4 * golden[0].score);
  },
);
