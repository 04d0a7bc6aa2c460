/**
 * Parity against the official implementation's outputs in ../shared/reference: runs our
 * WebGPU scorer on the reference images and compares every group's score (relative error)
 * and the embeddings (cosine similarity).
 *
 * As a task: `deno task parity:full [--backbone-dir iresnet50] [--sets aligned,raw,magface]`
 * scores the full sets in both channel orders and prints a table. The CI test
 * (tests/parity_test.ts) uses {@link runParity} on a subset.
 *
 * @module
 */
import { parseArgs } from "../src/cli/args.ts";
import { loadModel } from "../src/cli/model.ts";
import { scorePaths } from "../src/cli/score.ts";
import { Gpu } from "../src/gpu/gpu.ts";
import { Executor } from "../src/graph/executor.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { parseNpy } from "../src/eval/inputs.ts";

/** The shared reference folder (../shared/reference from the repository root). */
export const REFERENCE_DIR = new URL("../../shared/reference/", import.meta.url);

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
 * Score `names` (file names inside reference/images/<set>) with our implementation and compare
 * with reference/<model>/<set>_<order>/. Runs from the reference folder so the path texts are
 * the official ones (`images/<set>/<name>`).
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
): Promise<ParityReport> {
  const refDir = new URL(`${model}/${set}_${order}/`, REFERENCE_DIR);
  const groups = ex.groups;
  const expected = new Map<string, number[]>();
  for (const [gi, g] of groups.entries()) {
    const text = await Deno.readTextFile(new URL(`GraFIQs_${g}.txt`, refDir));
    parseScoreFile(text, `${model}/${set}_${order}/GraFIQs_${g}.txt`).forEach((e) => {
      const row = expected.get(e.path) ?? new Array(groups.length).fill(NaN);
      row[gi] = e.score;
      expected.set(e.path, row);
    });
  }
  const allPaths = [...expected.keys()];
  const npy = parseNpy(
    await Deno.readFile(new URL("embeddings.npy", refDir)),
    `${model}/${set}_${order}/embeddings.npy`,
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
  return { set, order, images: paths, maxRel, minCosine, seconds };
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

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "iresnet50" },
      weights: { type: "string" },
      sets: { type: "string", default: "aligned,raw,magface" },
      "batch-size": { type: "string", default: "8" },
    },
  });
  if (!haveReference()) {
    console.error("parity: ../shared/reference is absent; nothing to compare against");
    Deno.exit(1);
  }
  const weights = values.weights ?? new URL(`${values.model}/weights.pth`, REFERENCE_DIR).pathname;
  const model = await loadModel("auto", weights);
  const gpu = await Gpu.create();
  const ex = await Executor.create(gpu, model.graph, model.weights);
  const reports: ParityReport[] = [];
  for (const set of values.sets!.split(",")) {
    for (const order of ["bgr", "rgb"] as const) {
      const r = await runParity(
        ex,
        values.model!,
        set,
        order,
        undefined,
        Number(values["batch-size"]),
      );
      reports.push(r);
      console.error(parityTable([r]).split("\n")[2]);
    }
  }
  console.log(parityTable(reports));
  ex.destroy();
}
