/**
 * Hostile runs of the main command (issue 11): an output location that cannot be written, an
 * over-long line on stdin, and faults while the output files are published.
 *
 * Each case runs the tool as a user does (`deno run -A mod.ts` in a subprocess, on the tiny
 * 112x112 iResNet fixture, see tests/cli_util.ts) with a time limit, on files generated in a
 * temporary folder.
 */
import { assert, assertEquals } from "./assert.ts";
import { MOD, type ProcessResult, tinyWorkDir } from "./cli_util.ts";

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
