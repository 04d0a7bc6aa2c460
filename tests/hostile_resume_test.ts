/**
 * Record-mode `--resume` against mixed settings and concurrent writers (src/pipeline/resume.ts
 * `checkRecordSettings`, `lockRecordFile`; src/cli/run_pipeline.ts): a record file is only
 * resumed with the settings it was written with (kept in `FILE.settings`), and only one run
 * writes an `--output` at a time (`FILE.lock`; a dead run's lock is taken over).
 *
 * The command runs as a subprocess on the tiny 112x112 iResNet (tests/cli_util.ts).
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { MOD, runGuarded, tinyWorkDir } from "./cli_util.ts";

/** The runs score images: they need a WebGPU adapter (see tests/gpu_util.ts). */
const GPU = gpuTestOptions("hostile_resume_test");
const LIMITS = { limitMs: 120_000, rssLimitMiB: 2048 };
const A = "images/smooth_a.png\n";
const AB = "images/smooth_a.png\nimages/smooth_b.png\n";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test(
  "--resume, record mode: another channel order is refused, naming both settings",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hres_order_");
    const args = ["--weights", "model.pth", "--output", "out.tsv"];
    const first = await runGuarded(args, dir, { input: A, ...LIMITS });
    assertEquals(first.code, 0, first.stderr);
    const before = await Deno.readFile(`${dir}/out.tsv`);
    const r = await runGuarded([...args, "--resume", "--bgr2rgb"], dir, { input: AB, ...LIMITS });
    assertEquals(r.code, 1, r.stderr);
    assert(r.stderr.includes("other settings"), r.stderr);
    assert(r.stderr.includes('"channelOrder":"bgr"'), `old settings named: ${r.stderr}`);
    assert(r.stderr.includes('"channelOrder":"rgb"'), `new settings named: ${r.stderr}`);
    assert(/"weights":"[0-9a-f]{16}"/.test(r.stderr), `weights fingerprint named: ${r.stderr}`);
    assertEquals(await Deno.readFile(`${dir}/out.tsv`), before, "the record file is untouched");
    assertEquals(await exists(`${dir}/out.tsv.lock`), false, "the lock is removed at exit");
  },
);

Deno.test(
  "--resume, record mode: another kernel family is refused, naming both and --kernels",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hres_kernels_");
    const args = ["--weights", "model.pth", "--output", "out.tsv"];
    const first = await runGuarded([...args, "--kernels", "tiled"], dir, { input: A, ...LIMITS });
    assertEquals(first.code, 0, first.stderr);
    const settings = await Deno.readTextFile(`${dir}/out.tsv.settings`);
    assert(settings.includes('"kernels":"tiled"'), settings);
    const before = await Deno.readFile(`${dir}/out.tsv`);
    const r = await runGuarded([...args, "--resume", "--kernels", "register"], dir, {
      input: AB,
      ...LIMITS,
    });
    assertEquals(r.code, 1, r.stderr);
    assert(
      r.stderr.includes(
        "out.tsv was made with the tiled kernels (out.tsv.settings) but this run uses the " +
          "register kernels; their scores differ in float32 rounding, so the two are " +
          "not mixed: resume with --kernels tiled, or choose another --output",
      ),
      r.stderr,
    );
    assertEquals(await Deno.readFile(`${dir}/out.tsv`), before, "the record file is untouched");
    const same = await runGuarded([...args, "--resume", "--kernels", "tiled"], dir, {
      input: AB,
      ...LIMITS,
    });
    assertEquals(same.code, 0, same.stderr);
    assertEquals((await Deno.readTextFile(`${dir}/out.tsv`)).split("\n").length, 4);
  },
);

Deno.test(
  "--resume, record mode: the same settings resume byte-identically, settings kept beside",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hres_same_");
    const common = ["--weights", "model.pth", "--bgr2rgb", "--format", "jsonl"];
    const ref = await runGuarded([...common, "--output", "ref.jsonl"], dir, {
      input: AB,
      ...LIMITS,
    });
    assertEquals(ref.code, 0, ref.stderr);
    const part = await runGuarded([...common, "--output", "out.jsonl"], dir, {
      input: A,
      ...LIMITS,
    });
    assertEquals(part.code, 0, part.stderr);
    const r = await runGuarded([...common, "--output", "out.jsonl", "--resume"], dir, {
      input: AB,
      ...LIMITS,
    });
    assertEquals(r.code, 0, r.stderr);
    assert(!r.stderr.includes("warning"), r.stderr);
    assertEquals(
      await Deno.readFile(`${dir}/out.jsonl`),
      await Deno.readFile(`${dir}/ref.jsonl`),
      "byte-identical to the uninterrupted run",
    );
    const settings = await Deno.readTextFile(`${dir}/out.jsonl.settings`);
    assert(settings.startsWith("#grafiqs-records-v1\t"), settings);
    assert(settings.includes('"channelOrder":"rgb"'), settings);
    assertEquals(settings, await Deno.readTextFile(`${dir}/ref.jsonl.settings`));
  },
);

Deno.test(
  "record mode: a second writer of the same --output is refused while the first runs",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hres_two_");
    const args = ["--weights", "model.pth", "--output", "out.tsv", "--resume"];
    // The first run reads one path, writes its record and then waits on its open stdin.
    const first = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MOD, ...args],
      cwd: dir,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(first.stderr).text();
    const w = first.stdin.getWriter();
    try {
      await w.write(new TextEncoder().encode(A));
      const deadline = performance.now() + 120_000;
      const lines = async () => {
        try {
          return (await Deno.readTextFile(`${dir}/out.tsv`)).split("\n").length - 1;
        } catch {
          return 0;
        }
      };
      while ((await lines()) < 2 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assertEquals(await lines(), 2, "the first run wrote its header and record");
      const second = await runGuarded(args, dir, { input: AB, ...LIMITS });
      assertEquals(second.code, 1, second.stderr);
      assert(second.stderr.includes("out.tsv.lock"), second.stderr);
      assert(second.stderr.includes(`process ${first.pid}`), second.stderr);
      // The second run must not have written, nor truncated a fresh run's file.
      const again = await runGuarded(["--weights", "model.pth", "--output", "out.tsv"], dir, {
        input: AB,
        ...LIMITS,
      });
      assertEquals(again.code, 1, again.stderr);
      assertEquals(await lines(), 2, "only the first run's records");
    } finally {
      await w.close().catch(() => {});
    }
    const status = await first.status;
    assertEquals(status.code, 0, await stderr);
    assertEquals(await exists(`${dir}/out.tsv.lock`), false, "the lock is removed at exit");
  },
);

Deno.test(
  "record mode: a dead run's lock is taken over, a live one's is not",
  GPU,
  async () => {
    const dir = await tinyWorkDir("grafiqs_hres_stale_");
    // A pid that has just exited (and was reaped): the lock of a killed run.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    await Deno.writeTextFile(`${dir}/out.tsv.lock`, `${gone.pid}\n`);
    const args = ["--weights", "model.pth", "--output", "out.tsv"];
    const r = await runGuarded(args, dir, { input: A, ...LIMITS });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await exists(`${dir}/out.tsv.lock`), false, "taken over, then removed");
    assertEquals((await Deno.readTextFile(`${dir}/out.tsv`)).split("\n").length, 3);
    // A lock held by a live process (this test's) is respected.
    await Deno.writeTextFile(`${dir}/out.tsv.lock`, `${Deno.pid}\n`);
    const live = await runGuarded([...args, "--resume"], dir, { input: AB, ...LIMITS });
    assertEquals(live.code, 1, live.stderr);
    assert(live.stderr.includes(`process ${Deno.pid}`), live.stderr);
    assertEquals(await Deno.readTextFile(`${dir}/out.tsv.lock`), `${Deno.pid}\n`);
    assertEquals((await Deno.readTextFile(`${dir}/out.tsv`)).split("\n").length, 3);
  },
);
