/**
 * Real input: runs the README's main command on the 1583 real LFW images of ../shared/data/lfw
 * (linked into one flat folder in a temporary directory) with the reference iresnet50, or the
 * weights given, checks that every score file of the model's groups is complete and valid, and
 * prints the wall time and images/s.
 *
 * `deno task lfw [--batch-size 16] [--limit N] [--bgr2rgb] [--weights FILE] [--output-dir DIR]`
 *
 * The score files checked are the ones the run's manifest lists (the model's groups: image and
 * block1..block4 for an iResNet, image and stage1..stage5 for MobileFaceNet), so any backbone
 * works. Without `--output-dir` the score files are checked and then deleted with the temporary
 * folder; with it they are written to DIR and kept (for example for `mod.ts edc`), and their
 * paths are the bare LFW file names (`--path-replace`), since the linked folder is deleted. The
 * temporary folder is removed however the run ends: success, failure, an exception, or Ctrl-C.
 *
 * @module
 */
import { readResultSet } from "../src/io/result_set.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { parseToolArgs } from "./tool_args.ts";

/** Help text of `deno task lfw`. */
export const LFW_USAGE =
  `lfw: the main command on the real LFW images of ../shared/data/lfw, checked

usage: deno task lfw [--weights FILE] [--batch-size 16] [--limit N] [--bgr2rgb]
                     [--output-dir DIR]

  --weights FILE    checkpoint (default ../shared/reference/iresnet50/weights.pth); any
                    backbone: the score files checked are those of the model's groups
  --batch-size N    images per GPU pass (default 16)
  --limit N         only the first N images (people and files sorted by name)
  --bgr2rgb         feed RGB to an iResNet (as the main command's flag)
  --output-dir DIR  keep the score files in DIR (paths are the bare LFW file names);
                    without it they are checked and deleted with the temporary folder

Exit status 0 when the run exits 0 and every score file has one finite, positive score per
image; 1 otherwise.
Running time on a 2-core machine with Mesa's CPU adapter, all 1583 images: about 60 min
with iresnet50 (0.44 images/s), about 20 min with MobileFaceNet (1.3 images/s, measured
while other jobs shared the machine); --limit 100 takes about 4 min or 1.5 min.`;

/** The score files of a result set: every `GraFIQs_<group>.txt` but the failure list. */
function scoreFileNames(names: string[]): string[] {
  return names.filter((n) =>
    /^GraFIQs_.+\.txt$/.test(n) && n !== "GraFIQs_failed.txt" && n !== "GraFIQs_embeddings.txt"
  );
}

async function main(): Promise<number> {
  const values = parseToolArgs("lfw", LFW_USAGE, Deno.args, {
    "batch-size": { type: "string", default: "16" },
    limit: { type: "string" },
    bgr2rgb: { type: "boolean", default: false },
    weights: { type: "string" },
    "output-dir": { type: "string" },
  });
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit >= 1 && (limit === Infinity || Number.isInteger(limit)))) {
    console.error(`lfw: --limit ${values.limit}: expected an integer >= 1`);
    return 2;
  }
  const shared = new URL("../../shared/", import.meta.url);
  const lfw = new URL("data/lfw/images/", shared).pathname;
  const weights = values.weights ?? new URL("reference/iresnet50/weights.pth", shared).pathname;
  try {
    Deno.statSync(lfw);
  } catch {
    console.error(`lfw: ${lfw} is absent (the shared LFW images); nothing to run`);
    return 1;
  }
  const tmp = await Deno.makeTempDir({ prefix: "grafiqs_lfw_" });
  const removeTmp = () => {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* already gone */ }
  };
  // Ctrl-C (or SIGINT sent to this process alone): stop the scoring child, clean up, exit 130.
  let child: Deno.ChildProcess | undefined;
  const onInterrupt = () => {
    try {
      child?.kill("SIGKILL");
    } catch { /* already exited */ }
    removeTmp();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const flat = `${tmp}/images`;
    await Deno.mkdir(flat);
    let count = 0;
    const people = [...Deno.readDirSync(lfw)].map((e) => e.name).sort();
    outer: for (const person of people) {
      for (const f of [...Deno.readDirSync(`${lfw}/${person}`)].map((e) => e.name).sort()) {
        if (count >= limit) break outer;
        await Deno.symlink(`${lfw}/${person}/${f}`, `${flat}/${f}`);
        count++;
      }
    }
    console.error(`lfw: linked ${count} images into ${flat}`);
    const out = values["output-dir"] ?? `${tmp}/out`;
    const args = [
      "run",
      "-A",
      new URL("../mod.ts", import.meta.url).pathname,
      "--image-path",
      flat,
      "--weights",
      weights,
      "--output-dir",
      out,
      "--batch-size",
      values["batch-size"]!,
      ...(values.bgr2rgb ? ["--bgr2rgb"] : []),
      ...(values["output-dir"] ? ["--path-replace", `${flat}/`, "--path-replace-with", ""] : []),
    ];
    const t0 = performance.now();
    child = new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
      .spawn();
    const r = await child.status;
    const secs = (performance.now() - t0) / 1000;
    let ok = r.code === 0;
    let files: string[] = [];
    try {
      files = scoreFileNames((await readResultSet(out)).map((f) => f.name));
    } catch (e) {
      console.error(`lfw: no valid output set in ${out}: ${(e as Error).message}`);
      ok = false;
    }
    if (ok && files.length === 0) {
      console.error(`lfw: the output set in ${out} lists no score file`);
      ok = false;
    }
    for (const name of files) {
      const f = `${out}/${name}`;
      const rows = parseScoreFile(await Deno.readTextFile(f), f);
      const bad = rows.filter((e) => !Number.isFinite(e.score) || e.score <= 0).length;
      console.error(`lfw: ${f}: ${rows.length} lines, ${bad} non-finite or non-positive scores`);
      ok &&= rows.length === count && bad === 0;
    }
    console.log(
      `lfw: exit ${r.code}; ${count} images in ${secs.toFixed(1)} s wall (including start-up ` +
        `and weight loading) = ${(count / secs).toFixed(3)} images/s; ${files.length} score ` +
        `files ${ok ? "valid" : "INVALID"}`,
    );
    return ok ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    removeTmp();
  }
}

if (import.meta.main) Deno.exit(await main());
