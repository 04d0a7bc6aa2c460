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
import { MOD, type ProcessResult, tinyWorkDir } from "./cli_util.ts";
import { type BadPath, DelimitedPathReader, STALL } from "../src/pipeline/source.ts";

/** The runs that score images need a WebGPU adapter (see tests/gpu_util.ts). */
const GPU = gpuTestOptions("hostile_run_test");

/** A generous bound for one run of the tiny model (start-up and type check included). */
const RUN_LIMIT_MS = 180_000;

/**
 * Run `deno run -A mod.ts args` in `cwd` with `input` on stdin, killed after `limitMs`; the
 * result has the wall time too.
 */
async function run(
  args: string[],
  cwd: string,
  input?: string,
  limitMs = RUN_LIMIT_MS,
): Promise<ProcessResult & { ms: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    cwd,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, limitMs);
  try {
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(input));
      await w.close();
    }
    const out = await child.output();
    const ms = performance.now() - t0;
    assert(ms < limitMs, `mod.ts ${args.join(" ")}: killed after ${limitMs} ms`);
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      ms,
    };
  } finally {
    clearTimeout(timer);
  }
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
      const input = `images/smooth_a.png\n${"y".repeat(70000)}\nimages/smooth_b.png\n`;
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
