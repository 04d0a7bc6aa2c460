/**
 * `grafiqs merge` end to end (subprocesses, as a user runs it) on the tiny 112x112 iResNet
 * fixture: three shard jobs in the record mode (TSV and JSONL, one of them killed mid-record
 * and resumed), then merge, compared byte for byte with one folder-mode run over the whole
 * folder; the same for folder-mode shards with embeddings; and the refusals: a missing shard,
 * a path scored twice, mixed settings (another kernel family too), a torn last line, a lock
 * left behind, a part without settings, an unfinished output folder; shards made with
 * `--image-list` and `--calibration` (GraFIQs_quality.tsv included), a stdin-fed part that
 * repeats paths, and `--image-path FILE`.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { runTool, tinyWorkDir } from "./cli_util.ts";
import { EXIT_INCOMPLETE, MERGE_HELP, runMerge } from "../src/cli/merge.ts";
import { docBlock } from "../tools/cluster_util.ts";
import {
  checkSameSettings,
  mergeCalibration,
  type MergePart,
  mergeParts,
} from "../src/pipeline/merge.ts";
import type { RecordSettings } from "../src/pipeline/resume.ts";
import { scorePathProblem } from "../src/io/scores.ts";
import { weightsFingerprint } from "../src/io/hash.ts";
import { calibrationFingerprint, parseCalibration } from "../src/io/calibration.ts";

const GPU = gpuTestOptions("merge_test");

/** Every file of a folder by name, with its bytes. */
async function folderBytes(dir: string): Promise<Map<string, Uint8Array>> {
  const m = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) m.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
}

async function assertSameFolder(actual: string, expected: string): Promise<void> {
  const a = await folderBytes(actual);
  const e = await folderBytes(expected);
  assertEquals([...a.keys()], [...e.keys()]);
  for (const [name, bytes] of e) assertEquals(a.get(name), bytes, `${actual}/${name}`);
}

Deno.test(
  "merge: shards in TSV and JSONL, one resumed, equal one folder run byte for byte",
  GPU,
  async (t) => {
    // images/: smooth_a.png, smooth_b.png (scored), broken.png, folder.png (failed).
    const dir = await tinyWorkDir("grafiqs_merge_");
    const base = ["--image-path", "images", "--image-extension", "png", "--weights", "model.pth"];
    const full = await runTool([...base, "--output-dir", "full"], dir);
    assertEquals(full.code, 3, full.stderr);
    // Shards of 3 (FNV-1a 64 mod 3): 0 holds smooth_a and smooth_b, 1 broken.png, 2 folder.png.
    const parts = ["part_0.tsv", "part_1.jsonl", "part_2.tsv"];
    for (const [k, part] of parts.entries()) {
      const r = await runTool([...base, "--shard", `${k}/3`, "--output", part], dir);
      assertEquals(r.code, k === 0 ? 0 : 3, r.stderr);
    }
    assertEquals((await Deno.readTextFile(`${dir}/part_0.tsv`)).split("\n").length, 4);
    const merge = (args: string[]) => runTool(["merge", ...args], dir);

    await t.step("merged files equal the folder run's, with and without the listing", async () => {
      const r = await merge([
        "--output-dir",
        "m1",
        "--image-path",
        "images",
        "--image-extension",
        "png",
        ...parts,
      ]);
      assertEquals(r.code, 3, r.stderr);
      await assertSameFolder(`${dir}/m1`, `${dir}/full`);
      // Without a listing: Python's path order of the records, the same here; parts in any order.
      const r2 = await merge(["--output-dir", "m2", ...[...parts].reverse()]);
      assertEquals(r2.code, 3, r2.stderr);
      await assertSameFolder(`${dir}/m2`, `${dir}/full`);
    });

    await t.step(
      "a missing shard: the paths no shard scored, status 4, nothing written",
      async () => {
        const r = await merge([
          "--output-dir",
          "m3",
          "--image-path",
          "images",
          "--image-extension",
          "png",
          parts[0],
          parts[2],
        ]);
        assertEquals(r.code, EXIT_INCOMPLETE, r.stderr);
        assert(
          r.stderr.includes("listed paths that no shard scored (1):\n  images/broken.png\n"),
          r.stderr,
        );
        assert(r.stderr.includes("nothing written to m3"), r.stderr);
        await assertNoFolder(`${dir}/m3`);
      },
    );

    await t.step("a path scored twice: both places named, status 4", async () => {
      await Deno.copyFile(`${dir}/part_1.jsonl`, `${dir}/again.jsonl`);
      await Deno.copyFile(`${dir}/part_1.jsonl.settings`, `${dir}/again.jsonl.settings`);
      const r = await merge(["--output-dir", "m4", ...parts, "again.jsonl"]);
      assertEquals(r.code, EXIT_INCOMPLETE, r.stderr);
      assert(
        r.stderr.includes(
          "paths held by more than one part (1): a copy of a part given beside it, or parts of two runs\n" +
            "  images/broken.png (part_1.jsonl:1, again.jsonl:1)\n",
        ),
        r.stderr,
      );
      await assertNoFolder(`${dir}/m4`);
    });

    // One shard run with other settings: merge refuses, naming the two differing files by the
    // setting that differs, and writes nothing.
    const mixedRefused = async (
      flags: string[],
      file: string,
      out: string,
      ours: string, // the setting as part_0.tsv has it
      theirs: string, // as `file` has it
    ) => {
      const r0 = await runTool([...base, ...flags, "--shard", "1/3", "--output", file], dir);
      assertEquals(r0.code, 3, r0.stderr);
      const r = await merge(["--output-dir", out, parts[0], file, parts[2]]);
      assertEquals(r.code, 1, r.stderr);
      assert(r.stderr.includes("different settings"), r.stderr);
      assert(new RegExp(`\\n {2}part_0\\.tsv: .*${ours}`).test(r.stderr), r.stderr);
      assert(
        new RegExp(`\\n {2}${file.replace(".", "\\.")}: .*${theirs}`).test(r.stderr),
        r.stderr,
      );
      assert(!r.stderr.includes("  part_2.tsv:"), r.stderr);
      await assertNoFolder(`${dir}/${out}`);
    };

    await t.step(
      "mixed settings (--bgr2rgb in one shard): refused, naming the files",
      () =>
        mixedRefused(
          ["--bgr2rgb"],
          "rgb_1.tsv",
          "m5",
          `"channelOrder":"bgr"`,
          `"channelOrder":"rgb"`,
        ),
    );

    await t.step(
      "a shard of the other kernel family (--kernels tiled): refused",
      () =>
        mixedRefused(
          ["--kernels", "tiled"],
          "tiled_1.tsv",
          "m5k",
          `"kernels":"register"`,
          `"kernels":"tiled"`,
        ),
    );

    await t.step("a part without its settings file is refused", async () => {
      await Deno.copyFile(`${dir}/part_2.tsv`, `${dir}/bare.tsv`);
      const r = await merge(["--output-dir", "m6", parts[0], parts[1], "bare.tsv"]);
      assertEquals(r.code, 1, r.stderr);
      assert(r.stderr.includes("bare.tsv has no settings file bare.tsv.settings"), r.stderr);
    });

    await t.step(
      "a torn last line (killed job) and a stale lock: status 4; resumed: identical",
      async () => {
        // A job killed while writing its second record: the file ends in part of a line.
        const text = await Deno.readTextFile(`${dir}/part_0.tsv`);
        const cut = text.lastIndexOf("\n", text.length - 2) + 25;
        await Deno.writeTextFile(`${dir}/part_0.tsv`, text.slice(0, cut));
        await Deno.writeTextFile(`${dir}/part_0.tsv.lock`, "2147483646\n");
        const r = await merge([
          "--output-dir",
          "m7",
          "--image-path",
          "images",
          "--image-extension",
          "png",
          ...parts,
        ]);
        assertEquals(r.code, EXIT_INCOMPLETE, r.stderr);
        assert(r.stderr.includes("  images/smooth_b.png\n"), r.stderr); // missing
        assert(
          r.stderr.includes(
            "unfinished parts (2): a job is still running, or was killed (rerun it with --resume)\n" +
              "  part_0.tsv: ends in a torn line of 24 bytes\n" +
              "  part_0.tsv: its lock part_0.tsv.lock is present (pid 2147483646)\n",
          ),
          r.stderr,
        );
        await assertNoFolder(`${dir}/m7`);
        // The job rerun with --resume (a dead pid's lock is taken over) completes the part.
        const rr = await runTool(
          [...base, "--shard", "0/3", "--output", parts[0], "--resume"],
          dir,
        );
        assertEquals(rr.code, 0, rr.stderr);
        assertEquals(await Deno.readTextFile(`${dir}/part_0.tsv`), text);
        const r2 = await merge([
          "--output-dir",
          "m7",
          "--image-path",
          "images",
          "--image-extension",
          "png",
          ...parts,
        ]);
        assertEquals(r2.code, 3, r2.stderr);
        await assertSameFolder(`${dir}/m7`, `${dir}/full`);
      },
    );
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(
  "merge: folder-mode shards with embeddings equal one folder run byte for byte",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_merge_dirs_");
    const base = [
      "--image-path",
      "images",
      "--image-extension",
      "png",
      "--weights",
      "model.pth",
      "--save-embeddings",
    ];
    const full = await runTool([...base, "--output-dir", "full"], dir);
    assertEquals(full.code, 3, full.stderr);
    for (const k of [0, 1, 2]) {
      const r = await runTool([...base, "--shard", `${k}/3`, "--output-dir", `out_${k}`], dir);
      assertEquals(r.code, k === 0 ? 0 : 3, r.stderr);
    }
    const listing = ["--image-path", "images", "--image-extension", "png"];
    const r = await runTool(
      ["merge", "--output-dir", "m", ...listing, "out_2", "out_0", "out_1"],
      dir,
    );
    assertEquals(r.code, 3, r.stderr);
    assert((await Deno.readFile(`${dir}/m/GraFIQs_embeddings.npy`)).length > 128);
    await assertSameFolder(`${dir}/m`, `${dir}/full`);
    // An image list as the listing: its order is the output order; a path it lacks is reported.
    await Deno.writeTextFile(
      `${dir}/list.txt`,
      "# the four images\nimages/broken.png\nimages/folder.png\nimages/smooth_a.png\nimages/smooth_b.png\n",
    );
    const rl = await runTool([
      "merge",
      "--output-dir",
      "ml",
      "--image-list",
      "list.txt",
      "out_0",
      "out_1",
      "out_2",
    ], dir);
    assertEquals(rl.code, 3, rl.stderr);
    await assertSameFolder(`${dir}/ml`, `${dir}/full`);
    await Deno.writeTextFile(
      `${dir}/short.txt`,
      "images/smooth_b.png\nimages/smooth_a.png\nimages/broken.png\n",
    );
    const rs = await runTool([
      "merge",
      "--output-dir",
      "ms",
      "--image-list",
      "short.txt",
      "out_0",
      "out_1",
      "out_2",
    ], dir);
    assertEquals(rs.code, EXIT_INCOMPLETE, rs.stderr);
    assert(
      rs.stderr.includes(
        "scored paths that are not in the listing (1):\n  images/folder.png (out_2/GraFIQs_failed.txt:2)\n",
      ),
      rs.stderr,
    );
    // A folder whose --resume run has not finished: its journal is there.
    await Deno.writeTextFile(`${dir}/out_1/.grafiqs_journal.tsv`, "");
    const r2 = await runTool(
      ["merge", "--output-dir", "m2", ...listing, "out_0", "out_1", "out_2"],
      dir,
    );
    assertEquals(r2.code, EXIT_INCOMPLETE, r2.stderr);
    assert(
      r2.stderr.includes("  out_1: a --resume run left its journal out_1/.grafiqs_journal.tsv"),
      r2.stderr,
    );
    // A record part among folders: merged, without embeddings (records hold none).
    await Deno.remove(`${dir}/out_1/.grafiqs_journal.tsv`);
    const rec = await runTool(
      [...base.slice(0, -1), "--shard", "1/3", "--output", "part_1.tsv"],
      dir,
    );
    assertEquals(rec.code, 3, rec.stderr);
    const r3 = await runTool([
      "merge",
      "--output-dir",
      "m3",
      ...listing,
      "out_0",
      "part_1.tsv",
      "out_2",
    ], dir);
    assertEquals(r3.code, 3, r3.stderr);
    for (const name of ["image", "block1", "block2", "block3", "block4", "failed"]) {
      assertEquals(
        await Deno.readFile(`${dir}/m3/GraFIQs_${name}.txt`),
        await Deno.readFile(`${dir}/full/GraFIQs_${name}.txt`),
        name,
      );
    }
    await assertNoFolder(`${dir}/m3/GraFIQs_embeddings.npy`);
    await Deno.remove(dir, { recursive: true });
  },
);

/** Run `merge` in-process (no tool start-up): its exit status and what it wrote to stderr. */
async function mergeIn(args: string[]): Promise<{ code: number; stderr: string }> {
  const original = console.error;
  let stderr = "";
  console.error = (...a: unknown[]) => void (stderr += a.join(" ") + "\n");
  try {
    const code = await runMerge(args);
    return { code, stderr };
  } finally {
    console.error = original;
  }
}

const GROUPS = ["image", "block1", "block2", "block3", "block4"];

Deno.test(
  "merge: --image-list shards made with --calibration equal one folder run (quality file too)",
  GPU,
  async (t) => {
    const dir = await tinyWorkDir("grafiqs_merge_cal_");
    const at = (p: string) => `${dir}/${p}`;
    // Not the sorted order. Shard 0/2 holds smooth_b and broken, 1/2 smooth_a and folder.png.
    const list = ["smooth_b", "broken", "smooth_a", "folder"].map((n) => `images/${n}.png`);
    await Deno.writeTextFile(at("list.txt"), list.join("\n") + "\n");
    // A calibration of these weights whose quantiles span 1e-3..1e6, so that every group's raw
    // scores fall between two of them and get qualities other than 0 and 100.
    const cal = {
      format: "GraFIQs calibration",
      formatVersion: 1,
      tool: "grafiqs test",
      model: {
        architecture: "iresnet",
        weightsFingerprint: weightsFingerprint(await Deno.readFile(at("model.pth"))),
      },
      preprocessing: {
        channelOrder: "bgr",
        size: 112,
        mean: [0.5, 0.5, 0.5],
        std: [0.5, 0.5, 0.5],
      },
      reference: { scored: 10, failed: 0 },
      groups: GROUPS.map((name) => ({
        name,
        count: 10,
        quantiles: [-3, -2, -1, 0, 1, 2, 3, 4, 5, 6].map((e) => 10 ** e),
      })),
    };
    await Deno.writeTextFile(at("cal.json"), JSON.stringify(cal));
    const other = {
      ...cal,
      groups: cal.groups.map((g) => ({ ...g, quantiles: g.quantiles.map((q) => 2 * q) })),
    };
    await Deno.writeTextFile(at("cal2.json"), JSON.stringify(other, null, 1));
    const fp = calibrationFingerprint(parseCalibration(JSON.stringify(cal), "cal"));
    const fp2 = calibrationFingerprint(parseCalibration(JSON.stringify(other), "cal2"));
    const base = [
      "--image-list",
      "list.txt",
      "--weights",
      "model.pth",
      "--calibration",
      "cal.json",
    ];
    const full = await runTool([...base, "--output-dir", "full"], dir);
    assertEquals(full.code, 3, full.stderr);
    const quality = (await Deno.readTextFile(at("full/GraFIQs_quality.tsv"))).split("\n");
    assertEquals(quality.map((l) => l.split("\t")[0]), [
      "path",
      "images/smooth_b.png",
      "images/smooth_a.png",
      "",
    ]);
    for (const line of quality.slice(1, 3)) {
      for (const q of line.split("\t").slice(1)) assert(/^\d\d\.\d\d$/.test(q), line);
    }
    const parts = ["part_0.tsv", "part_1.jsonl"];
    for (const [k, part] of parts.entries()) {
      const r = await runTool([...base, "--shard", `${k}/2`, "--output", part], dir);
      assertEquals(r.code, 3, r.stderr);
    }
    const listing = ["--image-list", at("list.txt")];
    const withCal = [...listing, "--calibration", at("cal.json")];

    await t.step(
      "merged: the folder run's files byte for byte, GraFIQs_quality.tsv and the manifest included",
      async () => {
        const r = await mergeIn(["--output-dir", at("m1"), ...withCal, ...parts.map(at)]);
        assertEquals(r.code, 3, r.stderr);
        await assertSameFolder(at("m1"), at("full"));
      },
    );

    await t.step("refused, naming the files: no --calibration, or another one", async () => {
      const r = await mergeIn(["--output-dir", at("m2"), ...listing, ...parts.map(at)]);
      assertEquals(r.code, 1, r.stderr);
      assert(
        r.stderr.includes(
          `merge: the parts were made with --calibration (${at("part_0.tsv")}: ${fp}, ` +
            `${at("part_1.jsonl")}: ${fp}); give merge the same --calibration FILE.json`,
        ),
        r.stderr,
      );
      const r2 = await mergeIn([
        "--output-dir",
        at("m2"),
        ...listing,
        "--calibration",
        at("cal2.json"),
        ...parts.map(at),
      ]);
      assertEquals(r2.code, 1, r2.stderr);
      assert(
        r2.stderr.includes(
          `merge: the shards were made with another calibration than ${at("cal2.json")} ` +
            `(fingerprint ${fp2}):\n  ${at("part_0.tsv")}: calibration ${fp}\n  ` +
            `${at("part_1.jsonl")}: calibration ${fp}\n`,
        ),
        r2.stderr,
      );
      await assertNoFolder(at("m2"));
    });

    await t.step(
      "shards with and without a calibration, or with two: refused, naming them",
      async () => {
        const plain = await runTool([
          ...base.slice(0, -2),
          "--shard",
          "1/2",
          "--output",
          "plain_1.tsv",
        ], dir);
        assertEquals(plain.code, 3, plain.stderr);
        // A shard made with cal2.json: its settings name that calibration's fingerprint.
        await Deno.copyFile(at("part_1.jsonl"), at("other_1.jsonl"));
        const settings = await Deno.readTextFile(at("part_1.jsonl.settings"));
        assert(settings.includes(`"calibration":"${fp}"`), settings);
        await Deno.writeTextFile(at("other_1.jsonl.settings"), settings.replace(fp, fp2));
        for (const [second, want] of [["plain_1.tsv", "null"], ["other_1.jsonl", `"${fp2}"`]]) {
          const r = await mergeIn([
            "--output-dir",
            at("m3"),
            ...withCal,
            at("part_0.tsv"),
            at(second),
          ]);
          assertEquals(r.code, 1, r.stderr);
          assert(
            r.stderr.includes("merge: the shards were made with different settings"),
            r.stderr,
          );
          assert(r.stderr.includes(`\n  ${at("part_0.tsv")}: {`), r.stderr);
          assert(r.stderr.includes(`"calibration":"${fp}"}\n`), r.stderr);
          assert(r.stderr.includes(`\n  ${at(second)}: {`), r.stderr);
          assert(r.stderr.endsWith(`"calibration":${want}}\n`), r.stderr);
        }
        await assertNoFolder(at("m3"));
      },
    );

    await t.step(
      "a calibrated output folder among record parts; one with another calibration",
      async () => {
        const r0 = await runTool([...base, "--shard", "0/2", "--output-dir", "out_0"], dir);
        assertEquals(r0.code, 3, r0.stderr);
        const r = await mergeIn([
          "--output-dir",
          at("m4"),
          ...withCal,
          at("out_0"),
          at("part_1.jsonl"),
        ]);
        assertEquals(r.code, 3, r.stderr);
        await assertSameFolder(at("m4"), at("full"));
        const r2 = await mergeIn([
          "--output-dir",
          at("m5"),
          "--calibration",
          at("cal2.json"),
          at("out_0"),
        ]);
        assertEquals(r2.code, 1, r2.stderr);
        assert(
          r2.stderr.includes(
            `merge: ${at("out_0/GraFIQs_quality.tsv")} does not hold the qualities that ` +
              `calibration ${at("cal2.json")} gives its scores`,
          ),
          r2.stderr,
        );
        // And a calibrated folder beside an uncalibrated record part.
        const r3 = await mergeIn(["--output-dir", at("m5"), at("out_0"), at("plain_1.tsv")]);
        assertEquals(r3.code, 1, r3.stderr);
        assert(r3.stderr.includes(`\n  ${at("out_0")}: {"groups":`), r3.stderr);
        assert(r3.stderr.includes(`"calibrated":true}`), r3.stderr);
        await assertNoFolder(at("m5"));
      },
    );

    await t.step(
      "a stdin-fed part that repeats paths: kept once with a note; conflicting: status 4",
      async () => {
        // The record mode scores every line it is fed: smooth_b and broken twice here.
        const input = [...list, list[0], list[1]].join("\n") + "\n";
        const r = await runTool(
          ["--weights", "model.pth", "--calibration", "cal.json", "--output", "stdin.tsv"],
          dir,
          input,
        );
        assertEquals(r.code, 3, r.stderr);
        const m = await mergeIn(["--output-dir", at("m6"), ...withCal, at("stdin.tsv")]);
        assertEquals(m.code, 3, m.stderr);
        assert(
          m.stderr.startsWith(
            "merge: note: paths recorded more than once within one part, the same result each " +
              `time, kept once (2):\n  images/smooth_b.png (${at("stdin.tsv")}:2, ` +
              `${at("stdin.tsv")}:6)\n  images/broken.png (${at("stdin.tsv")}:3, ` +
              `${at("stdin.tsv")}:7)\n`,
          ),
          m.stderr,
        );
        await assertSameFolder(at("m6"), at("full"));
        // The second smooth_b record with another image score: which one is right is unknown.
        const lines = (await Deno.readTextFile(at("stdin.tsv"))).split("\n");
        const f = lines[5].split("\t");
        assertEquals(f[0], "images/smooth_b.png");
        f[1] = "1.5";
        lines[5] = f.join("\t");
        await Deno.writeTextFile(at("conflict.tsv"), lines.join("\n"));
        await Deno.copyFile(at("stdin.tsv.settings"), at("conflict.tsv.settings"));
        const c = await mergeIn(["--output-dir", at("m7"), ...withCal, at("conflict.tsv")]);
        assertEquals(c.code, EXIT_INCOMPLETE, c.stderr);
        assert(
          c.stderr.includes(
            "merge: paths recorded more than once within one part, with different results (1):\n" +
              `  images/smooth_b.png (${at("conflict.tsv")}:2, ${at("conflict.tsv")}:6)\n`,
          ),
          c.stderr,
        );
        await assertNoFolder(at("m7"));
      },
    );

    await t.step(
      "--image-path FILE: two shards (one empty) equal the folder run of the file",
      async () => {
        const file = ["--image-path", "./images/smooth_b.png", "--weights", "model.pth"];
        const one = await runTool([...file, "--output-dir", "one"], dir);
        assertEquals(one.code, 0, one.stderr);
        for (const k of [0, 1]) {
          const r = await runTool([...file, "--shard", `${k}/2`, "--output", `one_${k}.tsv`], dir);
          assertEquals(r.code, 0, r.stderr);
        }
        // "./images/smooth_b.png" falls in shard 1/2; shard 0/2 is the header alone.
        assertEquals((await Deno.readTextFile(at("one_0.tsv"))).split("\n").length, 2);
        const r = await runTool(
          [
            "merge",
            "--output-dir",
            "m8",
            "--image-path",
            "./images/smooth_b.png",
            "one_0.tsv",
            "one_1.tsv",
          ],
          dir,
        );
        assertEquals(r.code, 0, r.stderr);
        await assertSameFolder(at("m8"), at("one"));
      },
    );
    await Deno.remove(dir, { recursive: true });
  },
);

async function assertNoFolder(path: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  throw new Error(`${path} was created`);
}

Deno.test("merge: usage errors (status 2) and the documented commands the cluster tasks run", async () => {
  const cases: [string[], string][] = [
    [["a.tsv"], "--output-dir OUT is required"],
    [["--output-dir", "o"], "give the parts to merge"],
    [["--output-dir", "o", "--image-path", "x", "--image-list", "l", "a.tsv"], "not both"],
    [["--output-dir", "o", "--recursive", "a.tsv"], "need --image-path DIR"],
    [["--output-dir", "o", "a.tsv", "a.tsv"], "named twice"],
    [
      ["--output-dir", "o", "--path-replace", "x", "a.tsv"],
      "--path-replace needs --path-replace-with",
    ],
    [["--output", "o", "a.tsv"], "unknown option --output (did you mean --output-dir?)"],
  ];
  // In-process (runMerge returns before touching any file on a usage error); stderr captured.
  const original = console.error;
  try {
    for (const [args, msg] of cases) {
      let stderr = "";
      console.error = (...a: unknown[]) => void (stderr += a.join(" ") + "\n");
      const code = await runMerge(args);
      console.error = original;
      assertEquals(code, 2, `${args.join(" ")}: ${stderr}`);
      assert(stderr.includes(msg), `${args.join(" ")}: ${stderr}`);
    }
  } finally {
    console.error = original;
  }
  assert(MERGE_HELP.includes("4  the parts do not cover the input exactly once"));
  // test:slurm and test:parallel run these blocks of docs/PIPELINE.md as they stand.
  const script = docBlock("slurm-script");
  assert(
    script.startsWith("#!/bin/bash\n#SBATCH --job-name=grafiqs\n#SBATCH --array=0-3\n"),
    script,
  );
  assert(script.includes('--shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"'), script);
  assert(script.includes("--resume"), script);
  assert(docBlock("slurm-merge").startsWith("grafiqs merge --output-dir out "));
  assert(docBlock("parallel-command").includes("\ngrafiqs merge --output-dir out "));
});

Deno.test("merge: settings checks and the merge itself, in-process", () => {
  const groups = ["image", "block1"];
  const settings = (over: Partial<RecordSettings> = {}): RecordSettings => ({
    model: "iresnet50",
    weights: "0123456789abcdef",
    groups,
    channelOrder: "bgr",
    format: "tsv",
    ...over,
  });
  const part = (file: string, s: RecordSettings | null, records: MergePart["records"] = []) => ({
    file,
    groups: s?.groups ?? groups,
    settings: s,
    records,
    embeddings: false,
    calibrated: s?.calibration !== undefined,
    unfinished: [],
  });
  // The format may differ; an output folder (no settings) is checked by its groups only.
  checkSameSettings([
    part("a.tsv", settings()),
    part("b.jsonl", settings({ format: "jsonl" })),
    part("out_2", null),
  ]);
  const refused = (parts: MergePart[]) => {
    try {
      checkSameSettings(parts);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error("not refused");
  };
  const m = refused([
    part("a.tsv", settings()),
    part("b.tsv", settings({ weights: "fedcba9876543210" })),
    part("c.tsv", settings()),
    part("d.tsv", settings({ groups: ["image"] })),
  ]);
  assert(m.includes('\n  a.tsv: {"model":"iresnet50","weights":"0123456789abcdef",'), m);
  assert(m.includes('\n  b.tsv: {"model":"iresnet50","weights":"fedcba9876543210",'), m);
  assert(
    m.includes('\n  d.tsv: {"model":"iresnet50","weights":"0123456789abcdef","groups":["image"],'),
    m,
  );
  assert(!m.includes("c.tsv"), m);
  const m2 = refused([part("a.tsv", settings()), { ...part("out_1", null), groups: ["image"] }]);
  assert(m2.includes('\n  out_1: {"groups":["image"],"calibrated":false}'), m2);

  // Without a listing: Python's path order (by components: "a/x" before "a-b/x"); a path with a
  // line break becomes a failure with the folder mode's reason; a path held twice is named.
  const rec = (path: string, place: string, scores: number[] | null = [1.5, 2.5]) => ({
    path,
    scores,
    error: scores ? null : "is a directory",
    place,
  });
  const { set, problems } = mergeParts([
    part("p0.tsv", settings(), [rec("a-b/x.png", "p0.tsv:2"), rec("bad\nname.png", "p0.tsv:3")]),
    part("p1.tsv", settings(), [rec("a/x.png", "p1.tsv:2"), rec("d.png", "p1.tsv:3", null)]),
    part("p2.tsv", settings(), [rec("a/x.png", "p2.tsv:2")]),
  ], null);
  assertEquals(set.rows.map((r) => r.path), ["a/x.png", "a-b/x.png"]);
  assertEquals(set.failures, [
    { path: "bad\nname.png", reason: scorePathProblem("bad\nname.png")! },
    { path: "d.png", reason: "is a directory" },
  ]);
  assertEquals(problems.duplicates, [{ path: "a/x.png", places: ["p1.tsv:2", "p2.tsv:2"] }]);
  assertEquals(set.embeddings, null);

  // Within one part: the same result again (scores bit for bit, NaN included; or the same
  // failure) is kept once; another result is a problem. Across parts it stays a duplicate.
  const nan = [NaN, 2.5];
  const within = mergeParts([
    part("s.tsv", settings(), [
      rec("r.png", "s.tsv:2", nan),
      rec("c.png", "s.tsv:3"),
      rec("f.png", "s.tsv:4", null),
      rec("r.png", "s.tsv:5", [NaN, 2.5]),
      rec("c.png", "s.tsv:6", [1.5, 2.5000002384185791]),
      rec("f.png", "s.tsv:7", null),
      rec("g.png", "s.tsv:8", null),
      rec("g.png", "s.tsv:9"),
    ]),
    part("t.tsv", settings(), [rec("f.png", "t.tsv:2", null)]),
  ], null);
  assertEquals(within.repeated, [
    { path: "r.png", places: ["s.tsv:2", "s.tsv:5"] },
    { path: "f.png", places: ["s.tsv:4", "s.tsv:7"] },
  ]);
  assertEquals(within.problems.conflicting, [
    { path: "c.png", places: ["s.tsv:3", "s.tsv:6"] },
    { path: "g.png", places: ["s.tsv:8", "s.tsv:9"] },
  ]);
  assertEquals(within.problems.duplicates, [
    { path: "f.png", places: ["s.tsv:4", "s.tsv:7", "t.tsv:2"] },
  ]);
  assertEquals(within.set.rows.map((r) => r.path), ["c.png", "r.png"]);

  // A calibration is a setting: record files with two, or with and without; a calibrated
  // folder (GraFIQs_quality.tsv in its set) beside an uncalibrated one.
  const m3 = refused([
    part("a.tsv", settings({ calibration: "00000000000000aa" })),
    part("b.tsv", settings({ calibration: "00000000000000bb" })),
    part("c.tsv", settings()),
  ]);
  assert(
    m3.includes('"channelOrder":"bgr","kernels":"register","calibration":"00000000000000aa"}'),
    m3,
  );
  assert(m3.includes('\n  b.tsv: {"model"'), m3);
  assert(m3.includes('"calibration":"00000000000000bb"}'), m3);
  assert(m3.includes('\n  c.tsv: {"model"') && m3.endsWith('"calibration":null}'), m3);
  const m4 = refused([{ ...part("o1", null), calibrated: true }, part("o2", null)]);
  assert(m4.endsWith('\n  o2: {"groups":["image","block1"],"calibrated":false}'), m4);
  // Calibrated parts and no --calibration given, or the reverse.
  const calibrated = [part("a.tsv", settings({ calibration: "00000000000000aa" }))];
  assertThrows(
    () => mergeCalibration(calibrated, null),
    /\(a\.tsv: 00000000000000aa\); give merge/,
  );
  assertEquals(mergeCalibration([part("c.tsv", settings())], null), null);

  // The kernel family is a setting: settings without one (written before it was recorded) are
  // the register family's; register and tiled parts are refused, naming the files.
  checkSameSettings([
    part("a.tsv", settings()),
    part("b.tsv", settings({ kernels: "register" })),
  ]);
  const mk = refused([
    part("a.tsv", settings()),
    part("b.tsv", settings({ kernels: "tiled" })),
    part("c.tsv", settings({ kernels: "register" })),
  ]);
  assertEquals(
    mk,
    "the shards were made with different settings; merge only the parts of one run:\n" +
      '  a.tsv: {"model":"iresnet50","weights":"0123456789abcdef","groups":["image","block1"],' +
      '"channelOrder":"bgr","kernels":"register","calibration":null}\n' +
      '  b.tsv: {"model":"iresnet50","weights":"0123456789abcdef","groups":["image","block1"],' +
      '"channelOrder":"bgr","kernels":"tiled","calibration":null}',
  );

  // --align is a setting too: its face rule, or none; and a record file made with it is not
  // merged with an output folder, which does not record it.
  checkSameSettings([
    part("a.tsv", settings({ align: { face: "center" } })),
    part("b.jsonl", settings({ format: "jsonl", align: { face: "center" } })),
  ]);
  const m5 = refused([
    part("a.tsv", settings({ align: { face: "center" } })),
    part("b.tsv", settings({ align: { face: "largest" } })),
    part("c.tsv", settings()),
  ]);
  assert(m5.includes('\n  a.tsv: {"model"') && m5.includes('"align":{"face":"center"}}\n'), m5);
  assert(m5.includes('\n  b.tsv: {"model"') && m5.includes('"align":{"face":"largest"}}\n'), m5);
  assert(
    m5.endsWith(
      '\n  c.tsv: {"model":"iresnet50","weights":"0123456789abcdef","groups":' +
        '["image","block1"],"channelOrder":"bgr","kernels":"register","calibration":null}',
    ),
    m5,
  );
  assertEquals(
    refused([part("a.tsv", settings({ align: { face: "center" } })), part("out_1", null)]),
    "a.tsv was made with --align, but the output folder out_1 does not record whether it " +
      "was, so the two cannot be checked against each other; merge the record files of the " +
      "--align run only, or its output folders only",
  );
});
