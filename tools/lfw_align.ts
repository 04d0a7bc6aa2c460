/**
 * `--align` on real data: the 1583 raw LFW images of ../shared/data/lfw (250x250 JPEGs) through
 * the library pipeline with the aligner (the same `scorePaths` + align stage the command runs),
 * scored by the real MobileFaceNet of ../shared/models/mobilefacenet, then
 * - the verification accuracy on the 1200 pairs at the best single threshold, counting a pair
 *   with a failed image (no face found) as an error;
 * - the FNMR-EDC of GraFIQs on the aligned faces (600 mated pairs with both images aligned,
 *   starting error 0.05, quality = -raw, pair quality = min, pAUC at discard 0.20) against
 *   100 seeded random orderings, per group, as tests/lfw_validation_test.ts computes it for
 *   the centre crop;
 * - the cost: detection + alignment images/s (time inside the aligner, one CPU thread), GPU
 *   scoring images/s (time inside `Executor.run`), and the whole run.
 *
 * `deno task lfw:align [--batch-size 32] [--limit N] [--face center|largest]`
 *
 * Not part of CI (minutes on 2 cores). Prints a Markdown summary on stdout.
 *
 * @module
 */
import { Aligner, type FaceAligner } from "../src/align/align.ts";
import type { FaceRule } from "../src/align/detect.ts";
import { Executor } from "../src/graph/executor.ts";
import { loadModel } from "../src/graph/load_model.ts";
import { Gpu } from "../src/gpu/gpu.ts";
import { ensureRuntimeDir } from "../src/gpu/runtime_dir.ts";
import { pairImages } from "../src/eval/matching.ts";
import { parsePairs } from "../src/eval/pairs.ts";
import {
  bestAccuracy,
  cosine,
  groupPaucsVsRandom,
  paucVsRandomRow,
} from "../src/eval/verification.ts";
import { scorePaths } from "../src/pipeline/score_paths.ts";
import { parseToolArgs } from "./tool_args.ts";

/** Help text of `deno task lfw:align`. */
export const LFW_ALIGN_USAGE =
  `lfw:align: --align on the raw LFW images of ../shared/data/lfw, real MobileFaceNet

usage: deno task lfw:align [--batch-size 32] [--limit N] [--face center|largest]

  --batch-size N    images per GPU pass (default 32)
  --limit N         only the first N images (and the pairs within them)
  --face RULE       which face --align takes: center (default) or largest

Prints a Markdown summary on stdout: verification accuracy (a failed image counts as an
error), failures, FNMR-EDC pAUC per group against random orderings, align and scoring
images/s. Needs ../shared/models/mobilefacenet/mobilefacenet.pt.
Running time on a 2-core machine with Mesa's CPU adapter, all 1583 images: about 5.5 min
idle (4.9 images/s; alignment 21.7 images/s on one thread), up to 29 min when the machine is
shared; --limit 100 takes under a minute.`;

const values = parseToolArgs("lfw:align", LFW_ALIGN_USAGE, Deno.args, {
  "batch-size": { type: "string", default: "32" },
  limit: { type: "string" },
  face: { type: "string", default: "center" },
});
const SHARED = new URL("../../shared/", import.meta.url);
const LFW = new URL("data/lfw/", SHARED);
const MFN = new URL("models/mobilefacenet/mobilefacenet.pt", SHARED);

const list = parsePairs(await Deno.readTextFile(new URL("pairs.txt", LFW)), "pairs.txt");
const pi = pairImages(list);
const limit = values.limit ? Number(values.limit) : Infinity;
const pairs = list.pairs.map((p, k) => ({ mated: p.mated, a: pi.a[k], b: pi.b[k] }))
  .filter((p) => p.a < limit && p.b < limit);
const names = pi.images.slice(0, Math.min(limit, pi.images.length));
const paths = names.map((n) => new URL(`images/${n}`, LFW).pathname);

const aligner = await Aligner.create({ face: values.face as FaceRule });
let alignSecs = 0;
const timed: FaceAligner = {
  align(img) {
    const t = performance.now();
    try {
      return aligner.align(img);
    } finally {
      alignSecs += (performance.now() - t) / 1000;
    }
  },
};
const model = await loadModel("auto", MFN.pathname);
ensureRuntimeDir(); // Mesa's XDG_RUNTIME_DIR line, as the command line does
const ex = await Executor.create(await Gpu.create(), model.graph, model.weights);
let gpuSecs = 0;
const run = ex.run.bind(ex);
ex.run = async (input, count) => {
  const t = performance.now();
  try {
    return await run(input, count);
  } finally {
    gpuSecs += (performance.now() - t) / 1000;
  }
};
const t0 = performance.now();
const result = await scorePaths(
  ex,
  paths,
  {
    batchSize: Number(values["batch-size"]),
    channelOrder: model.graph.preprocess.channelOrder,
    align: { aligner: timed },
  },
  (f) => console.error(`lfw:align: failed ${f.path}: ${f.reason}`),
  (done) => {
    if (done % 160 < Number(values["batch-size"])) console.error(`lfw:align: ${done} images`);
  },
);
const wall = (performance.now() - t0) / 1000;
ex.destroy();

const index = new Map(paths.map((p, i) => [p, i]));
const E = result.scored[0].embedding.length;
const G = result.groups.length;
const emb = new Float32Array(paths.length * E);
const raw = new Float64Array(paths.length * G);
const ok = new Array<boolean>(paths.length).fill(false);
for (const s of result.scored) {
  const i = index.get(s.path)!;
  emb.set(s.embedding, i * E);
  s.scores.forEach((v, g) => (raw[i * G + g] = v));
  ok[i] = true;
}
const usable = pairs.filter((p) => ok[p.a] && ok[p.b]);
const sim = Float64Array.from(usable, (p) => cosine(emb, E, p.a, p.b));
const acc = bestAccuracy(sim, usable.map((p) => p.mated));
// A pair with a failed image is an error whatever the threshold.
const accuracy = (acc.accuracy * usable.length) / pairs.length;

const mated = usable.flatMap((p, k) => (p.mated ? [{ ...p, s: sim[k] }] : []));
const edc = groupPaucsVsRandom(
  result.groups,
  (gi) => Float64Array.from({ length: paths.length }, (_, i) => -raw[i * G + gi]),
  { a: mated.map((p) => p.a), b: mated.map((p) => p.b), sim: mated.map((p) => p.s) },
);
const t = edc.threshold;
const rows = edc.rows.map(paucVsRandomRow);
const n = paths.length;
console.log(
  `## --align on LFW (${n} images, ${pairs.length} pairs, face rule ${values.face})\n\n` +
    `- failed images (no face found or too small): ${result.failures.length}` +
    (result.failures.length
      ? ` (${result.failures.map((f) => f.path.split("/").pop()).join(", ")})`
      : "") +
    `\n- pairs with a failed image (counted as errors): ${pairs.length - usable.length}\n` +
    `- verification accuracy at the best threshold (${acc.t.toFixed(4)}): ` +
    `**${(100 * accuracy).toFixed(2)} %**\n` +
    `- detection + alignment: ${alignSecs.toFixed(1)} s, ${(n / alignSecs).toFixed(2)} images/s ` +
    `(one CPU thread, tfjs WebAssembly)\n` +
    `- GraFIQs scoring (MobileFaceNet on the GPU adapter): ${gpuSecs.toFixed(1)} s, ` +
    `${(result.scored.length / gpuSecs).toFixed(2)} images/s\n` +
    `- whole run (decode + align overlapping the GPU): ${wall.toFixed(1)} s, ` +
    `${(n / wall).toFixed(2)} images/s\n\n` +
    `FNMR-EDC (${mated.length} mated pairs with both images aligned, E0 = 0.05, ` +
    `t = ${t.toFixed(4)}), pAUC at discard 0.20:\n\n` +
    "| group | GraFIQs | random order (mean ± std, 100 shuffles) | below random |\n" +
    "|---|---|---|---|\n" + rows.join("\n"),
);
