/**
 * Smaller defects of issue 11 (item 11): arithmetic-coded JPEGs reported as corrupt, a decoder
 * failure reported as "(unreachable)", a symbolic link loop whose reason repeats the path, a NUL
 * in a path written raw into a TSV field, and a line feed in a path splitting a stderr line.
 *
 * The decoder, the TSV escaping and the stderr path helper are checked directly (no GPU); the
 * reasons and stderr lines as a user sees them are checked by running the command on the tiny
 * iResNet of tests/cli_util.ts, under a time and memory limit.
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import { MOD, runGuarded, TINY_FIX } from "./cli_util.ts";
import { decodeImage, ImageDecodeError } from "../src/image/mod.ts";
import { escapeTsv, unescapeTsv } from "../src/io/scores.ts";
import { readFailedList } from "../src/io/score_files.ts";
import { formatRecord, parseRecordLine } from "../src/io/records.ts";
import { printablePath } from "../src/cli/progress.ts";

const GPU = gpuTestOptions("hostile_small_test");
const JPEG_FIXTURE = new URL("./fixtures/image/synthetic/baseline420.jpg", import.meta.url);
const GOOD_PNG = `${TINY_FIX}/images/smooth_a.png`;

/** The ImageDecodeError that `f` rejects with (fails the test on anything else). */
async function decodeError(f: () => Promise<unknown>): Promise<ImageDecodeError> {
  try {
    await f();
  } catch (e) {
    assert(e instanceof ImageDecodeError, String(e));
    return e;
  }
  throw new Error("expected an ImageDecodeError, the decode succeeded");
}

/** The JPEG fixture with its SOF0 marker (FF C0) changed to `FF marker`. */
async function withSof(marker: number): Promise<Uint8Array> {
  const b = await Deno.readFile(JPEG_FIXTURE);
  const i = b.findIndex((v, k) => v === 0xff && b[k + 1] === 0xc0);
  assert(i > 0, "the fixture has an SOF0 marker");
  b[i + 1] = marker;
  return b;
}

Deno.test("decode: arithmetic-coded and hierarchical JPEGs are unsupported, not corrupt", async () => {
  for (
    const [marker, text] of [
      [0xc9, "arithmetic (SOF9)"],
      [0xca, "arithmetic (SOF10)"],
      [0xcb, "arithmetic (SOF11)"],
      [0xcd, "arithmetic, hierarchical (SOF13)"],
      [0xcf, "arithmetic, hierarchical (SOF15)"],
      [0xc5, "hierarchical (SOF5)"],
    ] as const
  ) {
    const err = await decodeError(async () => await decodeImage(await withSof(marker), "a.jpg"));
    assertEquals(err.problem, `unsupported JPEG coding: ${text}`);
  }
  // The baseline original still decodes.
  const ok = await decodeImage(await withSof(0xc0), "b.jpg");
  assert(ok.width > 0 && ok.height > 0);
});

Deno.test("decode: a JPEG that libjpeg cannot decode gets libjpeg's reason, not a trap", async () => {
  // Four bytes of the fixture changed (found by mutation): the former decoder panicked on it, a
  // WASM trap whose own message was just "unreachable". libjpeg-turbo stops with a fatal error
  // (cv2.imdecode returns None on these bytes too), its message is the reason, and the
  // instance left behind by the error's longjmp is not reused.
  const b = await Deno.readFile(JPEG_FIXTURE);
  for (const [i, v] of [[170, 110], [776, 85], [234, 154], [99, 246]]) b[i] = v;
  const err = await decodeError(() => decodeImage(b, "t.jpg"));
  assert(!err.problem.includes("unreachable"), err.problem);
  assertEquals(err.problem, "corrupt JPEG data (Quantization table 0x6e was not defined)");
  // The next file decodes with a fresh decoder instance.
  const ok = await decodeImage(await Deno.readFile(JPEG_FIXTURE), "ok.jpg");
  assert(ok.width > 0);
});

Deno.test("TSV: a NUL in a path is escaped as \\0 and read back", () => {
  const path = "a\0b\\0c\td.png";
  const esc = escapeTsv(path);
  assert(!esc.includes("\0"), JSON.stringify(esc));
  assertEquals(esc, "a\\0b\\\\0c\\td.png");
  assertEquals(unescapeTsv(esc), path);
  const line = formatRecord("tsv", ["image"], {
    path,
    scores: null,
    error: "bad\0reason",
  });
  assert(!line.includes("\0"), JSON.stringify(line));
  const back = parseRecordLine("tsv", ["image"], line.replace(/\n$/, ""), "test:1");
  assertEquals(back.path, path);
  assertEquals(back.error, "bad\0reason");
});

Deno.test("stderr: control characters of a path are escaped", () => {
  assertEquals(printablePath("d/a.png"), "d/a.png");
  assertEquals(printablePath("d\\a b.png"), "d\\a b.png");
  assertEquals(printablePath("a\nb\tc\rd\x1b[2Je\x7f"), "a\\nb\\tc\\rd\\x1b[2Je\\x7f");
  assertEquals(printablePath("x\0y"), "x\\x00y");
});

Deno.test({
  name: "CLI: a symbolic link loop and a line feed in a name: short reason, one stderr line",
  ...GPU,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_small_" });
    await Deno.mkdir(`${dir}/d`);
    await Deno.copyFile(`${TINY_FIX}/model.pth`, `${dir}/model.pth`);
    await Deno.copyFile(GOOD_PNG, `${dir}/d/good.png`);
    await Deno.copyFile(GOOD_PNG, `${dir}/d/two\nlines.png`);
    await Deno.symlink("loop.png", `${dir}/d/loop.png`);
    await Deno.writeFile(`${dir}/d/arith.jpg`, await withSof(0xc9));
    const r = await runGuarded(
      [
        "--image-path",
        "d",
        "--image-extension",
        "png,jpg",
        "--weights",
        "model.pth",
        "--output-dir",
        "out",
      ],
      dir,
      { limitMs: 60_000, rssLimitMiB: 2048 },
    );
    const what = `${r.killed || `exit ${r.code}`}\n${r.stderr.slice(-2000)}`;
    assertEquals(r.killed, "", what);
    assertEquals(r.code, 3, what);
    const failed = readFailedList(`${dir}/out/GraFIQs_failed.txt`);
    const reasons = Object.fromEntries(failed.map((f) => [f.path, f.reason]));
    assertEquals(reasons["d/loop.png"], "symbolic link loop", what);
    assertEquals(reasons["d/arith.jpg"], "unsupported JPEG coding: arithmetic (SOF9)", what);
    assert(reasons["d/two\nlines.png"]?.includes("line break"), what);
    // Every stderr line that names a skipped file is whole: the line feed is escaped.
    assert(r.stderr.includes("grafiqs: skipped d/two\\nlines.png: path contains"), r.stderr);
    assert(!r.stderr.split("\n").some((l) => l.startsWith("lines.png")), r.stderr);
    assert(r.stderr.includes("grafiqs: skipped d/loop.png: symbolic link loop\n"), r.stderr);
    await Deno.remove(dir, { recursive: true });
  },
});

/**
 * Spawn the tool in `cwd`, wait until stderr holds `ready`, send SIGINT, and return the exit
 * status (130 also for a death by SIGINT) and the whole stderr. Killed after 60 s.
 */
async function interrupt(
  args: string[],
  cwd: string,
  ready: string,
  stdinText?: string,
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    cwd,
    stdin: stdinText === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const writer = stdinText === undefined ? undefined : child.stdin.getWriter();
  await writer?.write(new TextEncoder().encode(stdinText)); // stdin stays open
  let stderr = "";
  let sent = false;
  const dec = new TextDecoder();
  for await (const chunk of child.stderr) {
    stderr += dec.decode(chunk, { stream: true });
    if (!sent && stderr.includes(ready)) {
      sent = true;
      child.kill("SIGINT");
    }
  }
  const st = await child.status;
  clearTimeout(guard);
  await writer?.close().catch(() => {});
  return { code: st.signal === "SIGINT" ? 130 : st.code, stderr };
}

Deno.test({
  name: "CLI: Ctrl-C: record mode says what a second Ctrl-C does; the folder mode writes nothing",
  ...GPU,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_small_" });
    await Deno.mkdir(`${dir}/d`);
    await Deno.copyFile(`${TINY_FIX}/model.pth`, `${dir}/model.pth`);
    for (let i = 0; i < 400; i++) await Deno.copyFile(GOOD_PNG, `${dir}/d/i${i}.png`);
    // Record mode, paths on a stdin that stays open: one SIGINT stops it with status 130.
    const rec = await interrupt(
      ["--weights", "model.pth", "--batch-size", "2"],
      dir,
      "paths from stdin",
      "d/i0.png\nd/i1.png\n",
    );
    assertEquals(rec.code, 130, rec.stderr);
    assert(
      rec.stderr.includes(
        "grafiqs: interrupted; finishing the batch in flight (Ctrl-C again quits when the " +
          "batch in flight returns, without writing it)",
      ),
      rec.stderr,
    );
    // The folder mode without --resume: SIGINT ends it and no score file is written.
    const fol = await interrupt(
      [
        "--image-path",
        "d",
        "--image-extension",
        "png",
        "--weights",
        "model.pth",
        "--output-dir",
        "out",
        "--batch-size",
        "2",
      ],
      dir,
      "400 images",
    );
    assertEquals(fol.code, 130, fol.stderr);
    const left = [];
    for await (const e of Deno.readDir(`${dir}/out`)) left.push(e.name);
    assert(!left.some((n) => n.startsWith("GraFIQs_")), left.join(", "));
    const help = (await runGuarded(["--help"], dir, { limitMs: 60_000 })).stdout;
    assert(help.includes("the folder mode without --resume\nwrites nothing"), help);
    await Deno.remove(dir, { recursive: true });
  },
});
