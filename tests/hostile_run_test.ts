/**
 * Hostile runs of the main command (issue 11): an output location that cannot be written, an
 * over-long line on stdin, and faults while the output files are published.
 *
 * Each case runs the tool as a user does (`deno run -A mod.ts` in a subprocess, on the tiny
 * 112x112 iResNet fixture, see tests/cli_util.ts) with a time limit, on files generated in a
 * temporary folder.
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { type GuardedResult, runGuarded, tinyWorkDir } from "./cli_util.ts";
import { type BadPath, DelimitedPathReader, STALL } from "../src/pipeline/source.ts";
import { readFileSet } from "../src/io/file_set.ts";
import { removeStaleTemps, TEMP_NAME_PATTERN } from "../src/io/files.ts";
import {
  readResultSet,
  RESULT_MANIFEST_NAME,
  type ResultSet,
  writeResultSet,
} from "../src/io/result_set.ts";
import { writeFailedList, writeScoreFiles } from "../src/io/score_files.ts";
import { saveEmbeddings } from "../src/io/embeddings.ts";

/** The runs that score images need a WebGPU adapter (see tests/gpu_util.ts). */
const GPU = gpuTestOptions("hostile_run_test");

/** A generous bound for one run of the tiny model (start-up and type check included). */
const RUN_LIMIT_MS = 180_000;

/**
 * Run the tool in `cwd` with `input` on stdin (see {@link runGuarded}: several pieces are
 * written 30 ms apart), killed after `limitMs`; asserts it ended within the limit.
 */
async function run(
  args: string[],
  cwd: string,
  input?: string | string[],
  limitMs = RUN_LIMIT_MS,
): Promise<GuardedResult> {
  const r = await runGuarded(args, cwd, { input, limitMs });
  assert(r.ms < limitMs, `mod.ts ${args.join(" ")}: killed after ${limitMs} ms`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// An output location that cannot be written

Deno.test("unwritable --output-dir or --output folder: exit 1 before the model or any image", async () => {
  const dir = await tinyWorkDir("grafiqs_hostile_run_");
  try {
    // A folder below a regular file: mkdir fails with ENOTDIR, for root too (unlike chmod).
    await Deno.writeTextFile(`${dir}/plain_file`, "not a folder\n");
    const folder = await run(
      ["--image-path", "images", "--image-extension", "png", "--weights", "model.pth"]
        .concat(["--output-dir", "plain_file/out"]),
      dir,
    );
    assertEquals(folder.code, 1, folder.stderr);
    assert(
      /cannot write to output directory plain_file\/out: .*[Nn]ot a directory/.test(folder.stderr),
      folder.stderr,
    );
    // Nothing was decoded or scored: broken.png would be reported, the adapter named.
    assert(!/broken\.png|adapter|scored/.test(folder.stderr), folder.stderr);

    const records = await run(
      ["--weights", "model.pth", "--output", "plain_file/sub/records.tsv"],
      dir,
      "images/smooth_a.png\nimages/broken.png\n",
    );
    assertEquals(records.code, 1, records.stderr);
    assert(
      /cannot write to the output file's folder plain_file\/sub: .*[Nn]ot a directory/.test(
        records.stderr,
      ),
      records.stderr,
    );
    assert(!/broken\.png|adapter|scored/.test(records.stderr), records.stderr);
    assertEquals(records.stdout, "");

    // The check is fast: well under the time of loading the model and scoring one batch.
    for (const r of [folder, records]) assert(r.ms < 60_000, `${r.ms} ms`);
    assertEquals(await Deno.readTextFile(`${dir}/plain_file`), "not a folder\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// An over-long line on stdin

/** A stream of the given chunks (strings as UTF-8). */
function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i >= chunks.length) return c.close();
      const x = chunks[i++];
      c.enqueue(typeof x === "string" ? enc.encode(x) : x);
    },
  });
}

async function drain(r: DelimitedPathReader): Promise<(string | BadPath)[]> {
  const out: (string | BadPath)[] = [];
  for (let p = await r.next(Infinity); p !== null; p = await r.next(Infinity)) {
    if (p !== STALL) out.push(p);
  }
  return out;
}

function tooLong(head: string, n: number, hint = ""): BadPath {
  return { path: head + "\u2026", error: `path too long: ${n} bytes, over 65536${hint}` };
}

Deno.test("stdin reader: an over-long path is a failed record, the paths around it are kept", async () => {
  const max = DelimitedPathReader.MAX_PATH;
  const x = (n: number) => "x".repeat(n);
  // Between two paths, cut into small reads: counted as it streams, never kept whole.
  const long = `a.png\n${x(70000)}\nb.png\n`;
  const chunks = [];
  for (let i = 0; i < long.length; i += 4096) chunks.push(long.slice(i, i + 4096));
  assertEquals(await drain(new DelimitedPathReader(streamOf(chunks), "\n")), [
    "a.png",
    tooLong(x(200), 70000),
    "b.png",
  ]);
  // Exactly MAX_PATH bytes is a path (also with CRLF and after a byte-order mark); one more
  // byte is not. The count is of UTF-8 bytes; the stand-in never cuts a character.
  const e = "\u20ac".repeat(30000); // 90000 bytes; 200 bytes would cut the 67th
  assertEquals(
    await drain(
      new DelimitedPathReader(
        streamOf([`\ufeff${x(max)}\r\n${x(max + 1)}\r\n${e}\n${x(max)}`]),
        "\n",
      ),
    ),
    [x(max), tooLong(x(200), max + 1), tooLong("\u20ac".repeat(66), 90000), x(max)],
  );
  // NUL-separated input read as lines: the failed record says what to do; with -0 it works.
  const nul = Array.from({ length: 7000 }, (_, i) => `img_${i}.png\0`).join("");
  const [only] = await drain(new DelimitedPathReader(streamOf([nul]), "\n"));
  assertEquals(
    (only as BadPath).error,
    `path too long: ${nul.length} bytes, over 65536 ` +
      "(NUL-separated input needs -0)",
  );
  assertEquals((await drain(new DelimitedPathReader(streamOf([nul]), "\0"))).length, 7000);
});

Deno.test(
  "CLI: a 70000-character stdin line between two good paths is a failed record",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hostile_run_");
    try {
      // The long line arrives in two reads, so that no read holds it whole (as from a pipe).
      const input = [
        `images/smooth_a.png\n${"y".repeat(40000)}`,
        "y".repeat(30000),
        "\nimages/smooth_b.png\n",
      ];
      const r = await run(["--weights", "model.pth", "--batch-size", "8"], dir, input);
      assertEquals(r.code, 3, r.stderr);
      const lines = r.stdout.trimEnd().split("\n").map((l) => l.split("\t"));
      assertEquals(lines.length, 4, r.stdout.slice(0, 2000));
      assertEquals(lines[0][0], "path");
      assertEquals([lines[1][0], lines[1][6]], ["images/smooth_a.png", "ok"]);
      assertEquals(lines[2], [
        "y".repeat(200) + "\u2026",
        "",
        "",
        "",
        "",
        "",
        "failed",
        "path too long: 70000 bytes, over 65536",
      ]);
      assertEquals([lines[3][0], lines[3][6]], ["images/smooth_b.png", "ok"]);
      assert(r.stderr.includes("2 scored, 1 failed"), r.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// ---------------------------------------------------------------------------------------------
// The folder output as one set

const GROUPS = ["image", "block1", "block2", "block3", "block4"];

/** A result set of `n` images (scores and embeddings from `seed`), with one failure. */
function resultSet(n: number, seed: number, embeddings = true): ResultSet {
  const rows = Array.from({ length: n }, (_, i) => ({
    path: `faces/img_${i}.png`,
    scores: GROUPS.map((_, g) => Math.fround(seed * 1000 + i * 10 + g + 0.25)),
  }));
  return {
    groups: GROUPS,
    rows,
    failures: [{ path: "faces/broken.png", reason: `not an image (run ${seed})` }],
    embeddings: embeddings
      ? rows.map((r, i) => ({ path: r.path, embedding: new Float32Array(4).fill(seed + i) }))
      : null,
  };
}

/** Every file of a folder (name to bytes), hidden ones included. */
async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const m = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    m.set(e.name, e.isFile ? await Deno.readFile(`${dir}/${e.name}`) : new Uint8Array());
  }
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function assertSameFolder(got: Map<string, Uint8Array>, want: Map<string, Uint8Array>): void {
  assertEquals([...got.keys()], [...want.keys()]);
  for (const [k, v] of want) assertEquals(got.get(k), v, k);
}

Deno.test("writeResultSet: the official files byte for byte, plus a manifest naming them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_hostile_run_" });
  try {
    const set = resultSet(3, 1);
    await writeResultSet(`${dir}/set`, set);
    // The same bytes as the file-by-file writers.
    await writeScoreFiles(`${dir}/plain`, set.groups, set.rows);
    await writeFailedList(`${dir}/plain`, set.failures);
    await saveEmbeddings(`${dir}/plain`, set.embeddings!);
    const plain = await snapshot(`${dir}/plain`);
    const published = await snapshot(`${dir}/set`);
    assertEquals([...published.keys()], [...plain.keys(), RESULT_MANIFEST_NAME].sort());
    for (const [k, v] of plain) assertEquals(published.get(k), v, k);
    const files = await readResultSet(`${dir}/set`);
    assertEquals(files.map((f) => f.name), [
      ...GROUPS.map((g) => `GraFIQs_${g}.txt`),
      "GraFIQs_failed.txt",
      "GraFIQs_embeddings.npy",
      "GraFIQs_embeddings.txt",
    ]);
    for (const f of files) assertEquals(f.data, plain.get(f.name), f.name);
    const manifest = JSON.parse(published.get(RESULT_MANIFEST_NAME)!.reduce(
      (t, b) => t + String.fromCharCode(b),
      "",
    ));
    assertEquals(manifest.files[0].bytes, plain.get("GraFIQs_image.txt")!.length);
    assert(/^[0-9a-f]{64}$/.test(manifest.files[0].sha256), manifest.files[0].sha256);
    // A file changed after the publish: the set is no longer valid, and the reader says which.
    await Deno.writeTextFile(`${dir}/set/GraFIQs_block2.txt`, "edited\n");
    let err = "";
    await readResultSet(`${dir}/set`).catch((e) => (err = e.message));
    assert(/GraFIQs_block2\.txt is not the file .*GraFIQs_manifest\.json names/.test(err), err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeResultSet: a fault at any step leaves the old set as it was, and no temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_hostile_run_" });
  try {
    await writeResultSet(dir, resultSet(3, 1));
    const old = await snapshot(dir);
    const oldSet = await readResultSet(dir);
    const fail = (step: string) => () => {
      throw new Error(`simulated fault before ${step}`);
    };
    // Before each file is put in place: the first, one in the middle, the manifest.
    for (const at of ["GraFIQs_image.txt", "GraFIQs_block3.txt", RESULT_MANIFEST_NAME]) {
      let err = "";
      await writeResultSet(dir, resultSet(2, 2), {
        beforePublish: (name) => (name === at ? fail(at)() : undefined),
      }).catch((e) => (err = e.message));
      assert(err.includes(`simulated fault before ${at}`), err);
      assert(err.includes("the earlier files are kept as they were"), err);
      assertSameFolder(await snapshot(dir), old);
    }
    // While the files are written (a full disk): the embeddings cannot be produced.
    const set = resultSet(2, 2);
    let err = "";
    await writeResultSet(dir, {
      ...set,
      embeddings: [{
        path: set.rows[0].path,
        get embedding(): Float32Array {
          throw new Error("No space left on device (os error 28)");
        },
      }],
    }).catch((e) => (err = e.message));
    assert(err.includes("No space left on device"), err);
    assertSameFolder(await snapshot(dir), old);
    // A target that is a directory: found before anything is replaced.
    await Deno.mkdir(`${dir}/GraFIQs_embeddings.npy.d`);
    await Deno.remove(`${dir}/GraFIQs_embeddings.npy`);
    await Deno.rename(`${dir}/GraFIQs_embeddings.npy.d`, `${dir}/GraFIQs_embeddings.npy`);
    const withDir = await snapshot(dir);
    err = "";
    await writeResultSet(dir, resultSet(2, 2)).catch((e) => (err = e.message));
    assert(/cannot write .*GraFIQs_embeddings\.npy: it is a directory/.test(err), err);
    assertSameFolder(await snapshot(dir), withDir);
    // Without the blocking directory the new set goes in whole.
    await Deno.remove(`${dir}/GraFIQs_embeddings.npy`);
    await writeResultSet(dir, resultSet(2, 2));
    const now = await readResultSet(dir);
    assertEquals(now.length, oldSet.length);
    assert(now.every((f, i) => f.sha256 !== oldSet[i].sha256), "every file is new");
    assert(![...(await snapshot(dir)).keys()].some((n) => n.endsWith(".tmp")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeResultSet: a run killed while publishing leaves no valid set; the next run cleans up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_hostile_run_" });
  try {
    await writeResultSet(dir, resultSet(3, 1));
    // A child process publishes a new set and dies (exit, no clean-up) before the fourth file.
    const script = `
      import { writeResultSet } from ${
      JSON.stringify(new URL("../src/io/result_set.ts", import.meta.url).href)
    };
      const groups = ${JSON.stringify(GROUPS)};
      const rows = [{ path: "x.png", scores: [1, 2, 3, 4, 5] }];
      await writeResultSet(Deno.args[0], { groups, rows, failures: [], embeddings: null }, {
        beforePublish: (name) => { if (name === "GraFIQs_block3.txt") Deno.exit(9); },
      });`;
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script, dir],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(RUN_LIMIT_MS),
    }).output();
    assertEquals(child.code, 9, new TextDecoder().decode(child.stderr));
    // Mixed files and the killed run's temporary files are there, but no manifest: no set.
    const names = [...(await snapshot(dir)).keys()];
    assert(!names.includes(RESULT_MANIFEST_NAME), names.join(" "));
    const temps = names.filter((n) => TEMP_NAME_PATTERN.test(n));
    assert(temps.length >= 3, names.join(" "));
    let err = "";
    await readResultSet(dir).catch((e) => (err = e.message));
    assert(err.includes("no complete file set"), err);
    // Files that only look alike are never removed: another prefix, another pattern.
    await Deno.writeTextFile(`${dir}/.notes.txt.123.0123456789ab.tmp`, "keep\n");
    await Deno.writeTextFile(`${dir}/.GraFIQs_image.txt.tmp`, "keep\n");
    // The next publish removes the dead process's files and writes a complete set.
    await writeResultSet(dir, resultSet(2, 3));
    const after = [...(await snapshot(dir)).keys()];
    assertEquals(after.filter((n) => n.startsWith(".")), [
      ".GraFIQs_image.txt.tmp",
      ".notes.txt.123.0123456789ab.tmp",
    ]);
    assertEquals((await readResultSet(dir)).length, 8);
    // A live process's files are kept (it may be writing): this test process's, when asked to.
    const mine = `.GraFIQs_block1.txt.${Deno.pid}.00112233aabb.tmp`;
    await Deno.writeTextFile(`${dir}/${mine}`, "in flight\n");
    assertEquals(await removeStaleTemps(dir, "GraFIQs_", false), []);
    assertEquals(await removeStaleTemps(dir, "GraFIQs_", true), [mine]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "CLI: stale temporary files are removed; a failed publish keeps the old set",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hostile_run_");
    try {
      await Deno.remove(`${dir}/images/folder.png`);
      const out = `${dir}/out`;
      await Deno.mkdir(out);
      // Left by a fake earlier run that was killed (process 999999999 cannot exist on Linux,
      // whose process ids stay below 2^22), and files that are not ours.
      const stale = [
        ".GraFIQs_image.txt.999999999.0123456789ab.tmp",
        ".GraFIQs_manifest.json.999999999.a1b2c3d4e5f6.tmp",
        ".GraFIQs_write_probe.999999999.00ff00ff00ff.tmp",
      ];
      for (const n of stale) await Deno.writeTextFile(`${out}/${n}`, "stale\n");
      await Deno.writeTextFile(`${out}/.mine.999999999.0123456789ab.tmp`, "not ours\n");
      await Deno.writeTextFile(`${out}/notes.txt`, "not ours\n");
      const args = ["--image-path", "images", "--image-extension", "png", "--weights", "model.pth"];
      const first = await run([...args, "--output-dir", "out"], dir);
      assertEquals(first.code, 3, first.stderr);
      assert(first.stderr.includes("removed 3 temporary file(s)"), first.stderr);
      const names = [...(await snapshot(out)).keys()];
      assertEquals(names, [
        ".mine.999999999.0123456789ab.tmp",
        "GraFIQs_block1.txt",
        "GraFIQs_block2.txt",
        "GraFIQs_block3.txt",
        "GraFIQs_block4.txt",
        "GraFIQs_failed.txt",
        "GraFIQs_image.txt",
        RESULT_MANIFEST_NAME,
        "notes.txt",
      ]);
      const set = await readFileSet(out, RESULT_MANIFEST_NAME);
      assertEquals(set.length, 6);
      assert(new TextDecoder().decode(set[0].data).startsWith("images/smooth_a.png "));
      const old = await snapshot(out);

      // Second run: other results (one image fewer, embeddings), and one target it cannot
      // replace. The failure comes after the scoring; the old set must be untouched.
      await Deno.remove(`${dir}/images/smooth_b.png`);
      await Deno.mkdir(`${out}/GraFIQs_embeddings.npy`);
      const second = await run([...args, "--output-dir", "out", "--save-embeddings"], dir);
      assertEquals(second.code, 1, second.stderr);
      assert(/cannot write .*GraFIQs_embeddings\.npy/.test(second.stderr), second.stderr);
      const now = await snapshot(out);
      now.delete("GraFIQs_embeddings.npy");
      assertSameFolder(now, old);
      assertEquals((await readResultSet(out)).length, 6);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
