/**
 * Real input: runs the README's main command on the 1583 real LFW images of ../shared/data/lfw
 * (linked into one flat folder in a temporary directory) with the reference iresnet50, checks
 * that the five score files are complete and valid, and prints the wall time and images/s.
 *
 * `deno task lfw [--batch-size 16] [--limit N] [--bgr2rgb] [--output-dir DIR]`
 *
 * Without `--output-dir` the score files are checked and then deleted with the temporary folder;
 * with it they are written to DIR and kept (for example for `mod.ts edc`), and their paths are the
 * bare LFW file names (`--path-replace`), since the linked folder is deleted.
 *
 * @module
 */
import { parseArgs } from "../src/cli/args.ts";
import { parseScoreFile } from "../src/io/scores.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "batch-size": { type: "string", default: "16" },
    limit: { type: "string" },
    bgr2rgb: { type: "boolean", default: false },
    weights: { type: "string" },
    "output-dir": { type: "string" },
  },
});
const shared = new URL("../../shared/", import.meta.url);
const lfw = new URL("data/lfw/images/", shared).pathname;
const weights = values.weights ?? new URL("reference/iresnet50/weights.pth", shared).pathname;
const tmp = await Deno.makeTempDir({ prefix: "grafiqs_lfw_" });
const flat = `${tmp}/images`;
await Deno.mkdir(flat);
let count = 0;
const limit = values.limit ? Number(values.limit) : Infinity;
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
const r = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
  .output();
const secs = (performance.now() - t0) / 1000;
let ok = r.code === 0;
for (const g of ["image", "block1", "block2", "block3", "block4"]) {
  const f = `${out}/GraFIQs_${g}.txt`;
  const rows = parseScoreFile(await Deno.readTextFile(f), f);
  const bad = rows.filter((e) => !Number.isFinite(e.score) || e.score <= 0).length;
  console.error(`lfw: ${f}: ${rows.length} lines, ${bad} non-finite or non-positive scores`);
  ok &&= rows.length === count && bad === 0;
}
console.log(
  `lfw: exit ${r.code}; ${count} images in ${secs.toFixed(1)} s wall (including start-up and ` +
    `weight loading) = ${(count / secs).toFixed(3)} images/s; files ${ok ? "valid" : "INVALID"}`,
);
await Deno.remove(tmp, { recursive: true });
Deno.exit(ok ? 0 : 1);
