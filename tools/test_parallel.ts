/**
 * `deno task test:parallel`: the documented GNU parallel command on this machine.
 *
 * 1. Installs Debian's `parallel` when it is missing (apt-get; needs root).
 * 2. Runs the block after `<!-- parallel-command: ...` in docs/PIPELINE.md with `bash -e` in a
 *    work folder (tools/cluster_util.ts: the 42 reference faces, the real MobileFaceNet,
 *    `grafiqs` on PATH): four shards, two at a time, then `grafiqs merge`.
 * 3. Runs the same block again: every part is complete, so `--resume` scores nothing and the
 *    merge writes the same bytes.
 * 4. Runs one folder-mode run and compares every output file byte for byte.
 *
 * Prints each phase's time; exits 0 on success, 1 on failure (the work folder is then kept and
 * named).
 *
 * @module
 */
import { join } from "node:path";
import {
  compareFolders,
  docBlock,
  ensurePrograms,
  folderRun,
  output,
  prepareWorkDir,
} from "./cluster_util.ts";
import { parseToolArgs } from "./tool_args.ts";

const USAGE = `Usage: deno task test:parallel

Runs the documented GNU parallel command of docs/PIPELINE.md on this machine, then
grafiqs merge, and compares the merged files byte for byte with one folder-mode run (see this
file's header for the steps). Installs parallel with apt-get when missing (needs root).
Takes no options.

Expected running time: 1 to 3 min on a 2-core machine.`;
parseToolArgs("test:parallel", USAGE, Deno.args, {});

const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
const log = (m: string) => console.error(`[test:parallel ${secs()} s] ${m}`);

await ensurePrograms(["parallel"], ["parallel"]);
const work = await prepareWorkDir("grafiqs_parallel_");
log(`work folder ${work.dir}`);
try {
  const block = docBlock("parallel-command");
  let t = performance.now();
  await output("bash", ["-e", "-c", block], { cwd: work.dir, env: work.env });
  log(
    `documented command (shards and merge) done in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s`,
  );
  const first = await Deno.readFile(join(work.dir, "out", "GraFIQs_manifest.json"));
  t = performance.now();
  await output("bash", ["-e", "-c", block], { cwd: work.dir, env: work.env });
  log(
    `rerun (every part complete, resumed) done in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const again = await Deno.readFile(join(work.dir, "out", "GraFIQs_manifest.json"));
  if (first.length !== again.length || first.some((b, i) => b !== again[i])) {
    throw new Error("the rerun's merge wrote another set");
  }
  const folderSecs = await folderRun(work);
  log(`folder-mode run done in ${folderSecs.toFixed(1)} s`);
  const same = await compareFolders(join(work.dir, "out"), join(work.dir, "full"));
  log(`merged output equals the folder-mode run byte for byte: ${same.join(", ")}`);
} catch (e) {
  console.error(`test:parallel FAILED: ${(e as Error).message} (kept: ${work.dir})`);
  Deno.exit(1);
}
await Deno.remove(work.dir, { recursive: true });
log(`PASSED in ${secs()} s`);
