/**
 * Convert a PyTorch checkpoint to the project's GFQW weight format, or list its tensors.
 *
 * ```
 * deno run -A tools/convert.ts IN.pth OUT.gfqw [--backbone NAME]
 * deno run -A tools/convert.ts IN.pth --list
 * ```
 *
 * IN may be a zip or legacy PyTorch checkpoint or a GFQW file (its meta is kept, and --backbone
 * overrides meta.backbone). OUT is written atomically. Nothing from IN is ever executed. The
 * format is described in weights/README.md.
 *
 * When --backbone names a known architecture (an iResNet, mobilefacenet) or is "auto", the
 * checkpoint is first checked against that architecture (every tensor present with the right
 * shape), and the model description travels with the weights: meta.backbone (the architecture
 * found), meta.preprocess (channel order, mean/std, input size) and meta.groups (the GraFIQs
 * group names, which name the output files). `loadModel` (src/graph/model.ts) honours them.
 * Another --backbone name is stored as given, without checks.
 *
 * @module
 */
import { describeParseError, parseArgs } from "../src/cli/args.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";
import {
  convertWeights,
  describeSummary,
  formatBytes,
  listStateDict,
  summarizeStateDict,
} from "../src/weights/convert.ts";
import { atomicWriteFile } from "../src/io/files.ts";
import { basename } from "node:path";
import { ARCHITECTURES, buildBackbone, detectBackbone } from "../src/graph/model.ts";
import { extractWeights } from "../src/graph/weights.ts";
import type { Graph } from "../src/graph/ir.ts";

const USAGE = `usage: deno run -A tools/convert.ts IN.pth OUT.gfqw [--backbone NAME]
       deno run -A tools/convert.ts IN.pth --list

Converts a PyTorch checkpoint (.pth/.pt, zip or legacy format, or an existing .gfqw file) to the
GFQW weight format (weights/README.md). Tensors keep their dtype (float16 stays float16).

  --backbone NAME  store NAME as meta.backbone. For a known architecture or "auto" (recognised
                   from the keys), the weights are first checked against it, and its
                   preprocessing and group names are stored too (meta.preprocess, meta.groups).
                   Known: ${ARCHITECTURES.join(", ")}
  --list           print each tensor's name, dtype and shape and the totals; write nothing
  -h, --help       this text

Running time: a few seconds (iresnet50, 170 MB: 2-5 s on a 2-core machine).`;

/** The command-line options, for `parseArgs`. */
const OPTIONS = {
  backbone: { type: "string" },
  list: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: OPTIONS,
    });
  } catch (e) {
    console.error(`convert: ${describeParseError(e, Object.keys(OPTIONS))}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const expected = values.list ? 1 : 2;
  if (positionals.length !== expected) {
    console.error(
      `convert: expected ${expected === 1 ? "IN" : "IN and OUT"}, got ${positionals.length} ` +
        `argument(s)\n${USAGE}`,
    );
    return 2;
  }
  try {
    if (values.list) {
      const w = await readWeightsFile(positionals[0]);
      for (const line of listStateDict(w.stateDict)) console.log(line);
      console.log(`format: ${w.format}`);
      if (Object.keys(w.meta).length > 0) console.log(`meta: ${JSON.stringify(w.meta)}`);
      console.log(describeSummary(summarizeStateDict(w.stateDict)));
      return 0;
    }
    const [inPath, outPath] = positionals;
    const t0 = performance.now();
    const weights = await readWeightsFile(inPath);
    const base = basename(inPath);
    let backbone = values.backbone;
    let meta: Record<string, unknown> = {};
    if (backbone !== undefined && (backbone === "auto" || ARCHITECTURES.includes(backbone))) {
      const graph = describeModel(backbone, weights.stateDict, inPath);
      extractWeights(graph, weights.stateDict, inPath); // every tensor present, right shape
      backbone = graph.name;
      meta = { preprocess: graph.preprocess, groups: graph.groups.map((g) => g.name) };
    }
    const r = convertWeights(weights, { sourceName: base, backbone, meta });
    await atomicWriteFile(outPath, r.bytes);
    console.log(describeSummary(summarizeStateDict(weights.stateDict)));
    console.log(
      `wrote ${outPath} (${formatBytes(r.bytes.byteLength)}) in ${
        ((performance.now() - t0) / 1000).toFixed(2)
      } s; meta ${JSON.stringify(r.meta)}`,
    );
    return 0;
  } catch (e) {
    console.error(`convert: ${(e as Error).message}`);
    return 1;
  }
}

/**
 * The graph of `backbone` ("auto": recognised from the keys) for a state_dict.
 * @throws Error naming the file when "auto" recognises nothing.
 */
function describeModel(
  backbone: string,
  sd: Parameters<typeof buildBackbone>[1],
  file: string,
): Graph {
  if (backbone !== "auto") return buildBackbone(backbone, sd);
  const g = detectBackbone(sd);
  if (!g) {
    throw new Error(
      `${file}: the checkpoint's keys do not match any known backbone (${
        ARCHITECTURES.join(", ")
      })`,
    );
  }
  return g;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
