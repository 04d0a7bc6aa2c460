/**
 * Parity against the official implementation's outputs in ../shared/reference: runs our
 * WebGPU scorer on the reference images and compares every group's score (relative error)
 * and the embeddings (cosine similarity).
 *
 * Run directly: `deno run -A tools/parity.ts [--model iresnet50|mobilefacenet] [--sets a,b]
 * [--weights FILE] [--batch-size N] [--kernels auto|register|tiled]` scores every reference folder of the model (both channel
 * orders for iresnet50; the model's own order for mobilefacenet, whose folders have no order
 * suffix) and prints a table. Groups are the graph's. The CI test
 * (tests/parity_test.ts) uses {@link runParity} on a subset.
 *
 * @module
 */
import { parseToolArgs } from "./tool_args.ts";
import { loadModel } from "../src/graph/load_model.ts";
import { scorePaths } from "../src/pipeline/score_paths.ts";
import { Gpu, type KernelChoice } from "../src/gpu/gpu.ts";
import { ensureRuntimeDir } from "../src/gpu/runtime_dir.ts";
import { Executor } from "../src/graph/executor.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { parseNpy } from "../src/io/npy.ts";

/** The shared reference folder (../shared/reference from the repository root). */
export const REFERENCE_DIR = new URL("../../shared/reference/", import.meta.url);

/** The shared models folder (../shared/models), home of the real MobileFaceNet. */
export const MODELS_DIR = new URL("../../shared/models/", import.meta.url);

/**
 * The weights the reference outputs of `model` were made with: reference/iresnet50/weights.pth
 * for iresnet50, models/mobilefacenet/mobilefacenet.pt for mobilefacenet, else
 * reference/<model>/weights.pth.
 */
export function referenceWeights(model: string): string {
  if (model === "mobilefacenet") {
    return new URL("mobilefacenet/mobilefacenet.pt", MODELS_DIR).pathname;
  }
  return new URL(`${model}/weights.pth`, REFERENCE_DIR).pathname;
}

/** One folder of reference outputs: an image set scored in one channel order. */
export interface ReferenceSet {
  /** Image set, a folder of reference/images ("aligned", "raw", "magface"). */
  set: string;
  /** Channel order the network saw. */
  order: "bgr" | "rgb";
  /** Folder name inside reference/<model>/. */
  dir: string;
}

/**
 * The reference output folders of `model`: `<set>_<order>` (iresnet50, both orders), or a plain
 * `<set>` scored in the model's own channel order `nativeOrder` (mobilefacenet). Sorted by set,
 * BGR first.
 */
export function referenceSets(model: string, nativeOrder: "bgr" | "rgb"): ReferenceSet[] {
  const out: ReferenceSet[] = [];
  for (const e of Deno.readDirSync(new URL(`${model}/`, REFERENCE_DIR))) {
    if (!e.isDirectory) continue;
    const m = /^(.+)_(bgr|rgb)$/.exec(e.name);
    if (m) out.push({ set: m[1], order: m[2] as "bgr" | "rgb", dir: e.name });
    else out.push({ set: e.name, order: nativeOrder, dir: e.name });
  }
  return out.sort((a, b) => a.set < b.set ? -1 : a.set > b.set ? 1 : a.order < b.order ? -1 : 1);
}

/** Whether ../shared/reference exists (tests skip with a message when it does not). */
export function haveReference(): boolean {
  try {
    return Deno.statSync(REFERENCE_DIR).isDirectory;
  } catch {
    return false;
  }
}

/** Comparison of one image set in one channel order. */
export interface ParityReport {
  set: string;
  order: "bgr" | "rgb";
  images: string[];
  /** Largest relative score error per group. */
  maxRel: Record<string, number>;
  /** Smallest cosine similarity between our and the official embeddings. */
  minCosine: number;
  seconds: number;
  /** Our scores by image file name, one per group in the executor's group order. */
  scores: Record<string, number[]>;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Score `names` (file names inside reference/images/<set>; all of the reference's images when
 * undefined) with our implementation in channel order `order`, and compare every group of the
 * executor (the graph's group names) with reference/<model>/<dir>/GraFIQs_<group>.txt and
 * embeddings.npy. `dir` defaults to `<set>_<order>` (the iresnet50 layout); see
 * {@link referenceSets}. Runs from the reference folder so the path texts are the official ones
 * (`images/<set>/<name>`).
 *
 * @throws Error when a reference file is missing or an image fails to score.
 */
export async function runParity(
  ex: Executor,
  model: string,
  set: string,
  order: "bgr" | "rgb",
  names: string[] | undefined,
  batchSize = 4,
  dir = `${set}_${order}`,
): Promise<ParityReport> {
  const refDir = new URL(`${model}/${dir}/`, REFERENCE_DIR);
  const groups = ex.groups;
  const expected = new Map<string, number[]>();
  for (const [gi, g] of groups.entries()) {
    const text = await Deno.readTextFile(new URL(`GraFIQs_${g}.txt`, refDir));
    parseScoreFile(text, `${model}/${dir}/GraFIQs_${g}.txt`).forEach((e) => {
      const row = expected.get(e.path) ?? new Array(groups.length).fill(NaN);
      row[gi] = e.score;
      expected.set(e.path, row);
    });
  }
  const allPaths = [...expected.keys()];
  const npy = parseNpy(
    await Deno.readFile(new URL("embeddings.npy", refDir)),
    `${model}/${dir}/embeddings.npy`,
  );
  const paths = names ? names.map((n) => `images/${set}/${n}`) : allPaths;
  const cwd = Deno.cwd();
  Deno.chdir(REFERENCE_DIR);
  const t0 = performance.now();
  let result;
  try {
    result = await scorePaths(ex, paths, { batchSize, channelOrder: order }, (f) => {
      throw new Error(`${f.path}: ${f.reason}`);
    });
  } finally {
    Deno.chdir(cwd);
  }
  const seconds = (performance.now() - t0) / 1000;
  const maxRel: Record<string, number> = Object.fromEntries(groups.map((g) => [g, 0]));
  let minCosine = 1;
  for (const s of result.scored) {
    const exp = expected.get(s.path);
    if (!exp) throw new Error(`no official score for ${s.path}`);
    groups.forEach((g, gi) => {
      const rel = Math.abs(s.scores[gi] - exp[gi]) / Math.abs(exp[gi]);
      if (!(rel <= maxRel[g])) maxRel[g] = rel; // NaN propagates as a failure
    });
    const row = allPaths.indexOf(s.path);
    const ref = npy.data.subarray(row * npy.cols, (row + 1) * npy.cols);
    minCosine = Math.min(minCosine, cosine(s.embedding, ref));
  }
  const scores = Object.fromEntries(
    result.scored.map((s) => [s.path.slice(s.path.lastIndexOf("/") + 1), [...s.scores]]),
  );
  return { set, order, images: paths, maxRel, minCosine, seconds, scores };
}

/** Format reports as a Markdown table. */
export function parityTable(reports: ParityReport[]): string {
  if (!reports.length) return "";
  const groups = Object.keys(reports[0].maxRel);
  const lines = [
    `| set | order | images | ${groups.map((g) => `max rel ${g}`).join(" | ")} | min cosine | s |`,
    `|---|---|---|${groups.map(() => "---").join("|")}|---|---|`,
  ];
  for (const r of reports) {
    lines.push(
      `| ${r.set} | ${r.order} | ${r.images.length} | ` +
        groups.map((g) => r.maxRel[g].toExponential(2)).join(" | ") +
        ` | ${r.minCosine.toFixed(7)} | ${r.seconds.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

/** Help text of `deno task parity:full`. */
export const PARITY_USAGE =
  `parity:full: our scores and embeddings against the official implementation's outputs
in ../shared/reference, every image set in every channel order the model has

usage: deno task parity:full [--model iresnet50|mobilefacenet] [--sets aligned,raw,magface]
                             [--weights FILE] [--batch-size N] [--kernels auto|register|tiled]

  --model NAME     reference outputs to compare with (default iresnet50); the weights are
                   the ones they were made with unless --weights
  --sets A,B       only these image sets (default: all)
  --batch-size N   images per GPU pass (default 8; the scores do not depend on it)
  --kernels F      kernel family (default auto: register on a software adapter, else tiled)

Prints one Markdown row per set and order: the largest relative error of each group's score
and the smallest embedding cosine. Needs ../shared/reference and a WebGPU adapter.
Running time on a 2-core machine with Mesa's CPU adapter: about 4 min for iresnet50 (84
images, 0.5 images/s), about 1 min for mobilefacenet.`;

if (import.meta.main) {
  const values = parseToolArgs("parity:full", PARITY_USAGE, Deno.args, {
    model: { type: "string", default: "iresnet50" },
    weights: { type: "string" },
    sets: { type: "string" },
    "batch-size": { type: "string", default: "8" },
    kernels: { type: "string", default: "auto" },
  });
  if (!haveReference()) {
    console.error("parity: ../shared/reference is absent; nothing to compare against");
    Deno.exit(1);
  }
  const model = await loadModel("auto", values.weights ?? referenceWeights(values.model!));
  console.error(`parity: ${model.description}, groups ${model.graph.groups.map((g) => g.name)}`);
  ensureRuntimeDir();
  const gpu = await Gpu.create();
  const ex = await Executor.create(gpu, model.graph, model.weights, {
    kernels: values.kernels as KernelChoice,
  });
  console.error(`parity: adapter ${gpu.adapterName}, kernels ${ex.kernels}`);
  const wanted = values.sets?.split(",");
  const reports: ParityReport[] = [];
  for (const ref of referenceSets(values.model!, model.graph.preprocess.channelOrder)) {
    if (wanted && !wanted.includes(ref.set)) continue;
    const r = await runParity(
      ex,
      values.model!,
      ref.set,
      ref.order,
      undefined,
      Number(values["batch-size"]),
      ref.dir,
    );
    reports.push(r);
    console.error(parityTable([r]).split("\n")[2]);
  }
  console.log(parityTable(reports));
  ex.destroy();
}
