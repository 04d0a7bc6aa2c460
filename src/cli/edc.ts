/**
 * The `edc` command: evaluate FIQA quality scores with EDC curves, pAUC and a plot.
 *
 * @module
 */
import {
  describeParseError,
  EXIT_ERROR,
  EXIT_OK,
  EXIT_USAGE,
  parseArgs,
  UsageError,
} from "./args.ts";
import type { ThresholdSpec } from "../eval/edc.ts";
import { evaluateEdc } from "../eval/evaluate.ts";
import { EdcInputError } from "../eval/input_text.ts";
import { loadEdcInputs, type SkippedPairs } from "../eval/load.ts";
import { parseQualitySpec } from "../eval/quality.ts";
import { paucMarkdown, writeEdcReport } from "../eval/report.ts";

/**
 * Fewer mated (or non-mated) comparisons than this give a warning: a curve of n comparisons moves
 * in steps of 1/n, so under 100 a single comparison shifts the error by more than 1 %.
 */
export const MIN_COMPARISONS = 100;

/** Help text of the `edc` command. */
export const EDC_HELP =
  `edc: evaluate face image quality scores with Error-versus-Discard Characteristic curves

usage:
  edc --quality FILE[,name=NAME][,order=lower|higher][,column=COL][,path=COL][,format=text|tsv|jsonl] ...
      --pairs PAIRS [--images-root DIR]
      (--similarities FILE | --embeddings FILE.npy --embeddings-index PATHS.txt)
      [--skip-missing] [--out DIR] [--starting-error E | --quantile Q | --threshold T]
      [--limit L ...] [--shuffles N] [--seed S] [--plot-max-discard X]
      [--title TEXT | --model NAME --data NAME] [--no-png]

quality score files (one --quality per file; each file holds one or more FIQA methods):
  text    the official "PATH SCORE" lines (split at the last space; paths may hold spaces)
  tsv     header row; a path column (path, image, file or filename, else the first) and one
          method per other column (or only column=COL)
  jsonl   one object per line: a path field and numeric score fields, as for tsv
  Format from the extension (.tsv, .jsonl/.ndjson, else text) or format=.
  order=lower: lower scores are better (the sign is flipped, q = -raw); the default is lower
  for files named GraFIQs_* (raw GraFIQs scores) and higher for any other file.
  name=NAME names the method (several columns: NAME/COLUMN); the default is the file name
  without extension (text) or the column name.

pairs (--pairs):
  LFW pairs.txt: header "FOLDS<TAB>N", then "NAME i j" (mated) and "NAME1 i NAME2 j"
    (non-mated) lines; image i of NAME is NAME/NAME_%04d.jpg
  "a b label [similarity]": label 1 = mated, 0 = non-mated; tab-separated when the line holds a
    tab, else whitespace; an optional header row; an optional 4th column gives the similarity
  A pair's image matches a score path when it equals that path relative to --images-root (the
  path as written without it), else when its file name is that of exactly one path.
  A pair image without an entry in a quality file or the embeddings index is an error naming
  the first such images; --skip-missing leaves out the pairs that name them instead and says
  how many it left out (e.g. images that failed to decode, or a subset that was scored).

comparison scores (exactly one source):
  --similarities FILE       one similarity per line in pairs order (optional header row)
  --embeddings FILE.npy     N x D float32/float64 .npy; cosine similarity of L2-normalised rows
  --embeddings-index FILE   the N image paths of the rows, one per line
  or the 4th column of an "a b label similarity" pairs list

evaluation (ISO/IEC 29794-1 EDC, Schlett et al.):
  pair quality = min of the two image qualities; tied qualities are discarded together
  --starting-error E   threshold = E-quantile of mated (FNMR) and (1-E)-quantile of non-mated
                       (FMR) similarities, type 7 (default 0.05)
  --quantile Q         threshold = Q-quantile of each set's similarities
  --threshold T        threshold = T for both
  --limit L            pAUC discard limit, repeatable or comma-separated (default 0.2)
  --shuffles N         random-order baseline shuffles (default 100; 0 disables it)
  --seed S             seed of the baseline's mulberry32 generator (default 0)
  Fewer than ${MIN_COMPARISONS} mated or non-mated comparisons give a warning: each one then moves
  the curve by more than 1 %, and the pAUC of a few pairs says little.

outputs (--out DIR, default ./edc), each written atomically:
  pauc.tsv, pauc.md        pAUC, pAUC minus theoretical best, random-order mean and sd
  curves.csv, edc.json     the EDC points of every method (JSON: everything)
  random_order.csv         the random-order baseline on a grid of 401 discard fractions
  edc.svg, edc.png         the figure (PNG skipped with a note when resvg cannot load);
  edc.vl.json              its Vega-Lite specification
  --plot-max-discard X     right end of the plot's discard axis (default: twice the
                           largest limit, at most 1)
  --title TEXT             the figure's title; without it the title is built from
  --model NAME, --data NAME  the model and the data set, e.g. --model MobileFaceNet --data LFW
                           (the data defaults to the pairs file's name)

exit status: 0 success, 1 bad input (the message names the file and line), 2 bad usage

running time: seconds (1200 pairs, 6 methods, 100 shuffles: 5-15 s on 2 cores, most of it the
figure); the shuffles grow with pairs x methods x --shuffles.
`;

/** The edc command's options, for `parseArgs`. */
const EDC_OPTIONS = {
  quality: { type: "string", short: "q", multiple: true },
  pairs: { type: "string", short: "p" },
  "images-root": { type: "string" },
  similarities: { type: "string" },
  embeddings: { type: "string" },
  "embeddings-index": { type: "string" },
  out: { type: "string", short: "o" },
  "starting-error": { type: "string" },
  quantile: { type: "string" },
  threshold: { type: "string" },
  limit: { type: "string", multiple: true },
  shuffles: { type: "string" },
  seed: { type: "string" },
  "plot-max-discard": { type: "string" },
  "skip-missing": { type: "boolean" },
  title: { type: "string" },
  model: { type: "string" },
  data: { type: "string" },
  "no-png": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function num(v: string | undefined, opt: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || x < lo || x > hi) {
    throw new UsageError(`--${opt} ${v}: expected a number in [${lo}, ${hi}]`);
  }
  return x;
}

/**
 * Run the `edc` command: FNMR- and FMR-EDC curves, pAUC and the plot of ISO/IEC 29794-1
 * (Schlett et al.'s formulation) for one or more quality score files (docs/EDC.md). The pAUC
 * table goes to stdout, the files to `--out` (default `./edc`).
 *
 * @example Evaluate two GraFIQs groups on LFW pairs with the embeddings of a scoring run
 * ```ts
 * import { runEdc } from "@grafiqs/grafiqs-webgpu";
 *
 * const status = await runEdc([
 *   "--quality", "out/GraFIQs_image.txt",
 *   "--quality", "out/GraFIQs_block1.txt",
 *   "--pairs", "lfw/pairs.txt",
 *   "--images-root", "lfw/images",
 *   "--embeddings", "out/GraFIQs_embeddings.npy",
 *   "--embeddings-index", "out/GraFIQs_embeddings.txt",
 *   "--out", "edc_lfw",
 * ]);
 * // status 0: edc_lfw/pauc.tsv, pauc.md, curves.csv, edc.json, edc.svg, edc.png, ...
 * ```
 *
 * @param args command-line arguments after the command name (see {@link EDC_HELP}).
 * @returns the exit status: 0 success, 1 bad input file (message on stderr names file and
 *   line), 2 bad usage.
 * @throws {Error} for other failures, e.g. an output file that cannot be written.
 */
export async function runEdc(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: EDC_OPTIONS,
    });
  } catch (e) {
    console.error(
      `edc: ${describeParseError(e, Object.keys(EDC_OPTIONS))}\nRun with --help for usage.`,
    );
    return EXIT_USAGE;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(EDC_HELP);
    return EXIT_OK;
  }
  try {
    if (!v.quality || v.quality.length === 0) {
      throw new UsageError("give at least one --quality FILE");
    }
    if (!v.pairs) throw new UsageError("give --pairs FILE");
    const given = ["starting-error", "quantile", "threshold"].filter((k) =>
      (v as Record<string, unknown>)[k] !== undefined
    );
    if (given.length > 1) throw new UsageError(`give only one of --${given.join(", --")}`);
    let threshold: ThresholdSpec = { kind: "starting-error", value: 0.05 };
    if (v["starting-error"] !== undefined) {
      threshold = {
        kind: "starting-error",
        value: num(v["starting-error"], "starting-error", 0, 1)!,
      };
    } else if (v.quantile !== undefined) {
      threshold = { kind: "quantile", value: num(v.quantile, "quantile", 0, 1)! };
    } else if (v.threshold !== undefined) {
      threshold = { kind: "value", value: num(v.threshold, "threshold", -Infinity, Infinity)! };
    }
    const limits = (v.limit ?? ["0.2"]).flatMap((s) => s.split(",")).map((s) => {
      const x = num(s, "limit", 0, 1)!;
      if (x === 0) throw new UsageError("--limit 0: a discard limit must be above 0");
      return x;
    });
    const shuffles = num(v.shuffles, "shuffles", 0, 1e6) ?? 100;
    if (!Number.isInteger(shuffles)) {
      throw new UsageError(`--shuffles ${v.shuffles}: not a whole number`);
    }
    const seed = num(v.seed, "seed", 0, 4294967295) ?? 0;
    if (!Number.isInteger(seed)) throw new UsageError(`--seed ${v.seed}: not a whole number`);
    const maxDiscard = num(v["plot-max-discard"], "plot-max-discard", 0, 1);
    if (maxDiscard === 0) throw new UsageError("--plot-max-discard must be above 0");

    const inputs = await loadEdcInputs({
      qualities: v.quality.map(parseQualitySpec),
      pairs: v.pairs,
      imagesRoot: v["images-root"],
      similarities: v.similarities,
      embeddings: v.embeddings,
      embeddingsIndex: v["embeddings-index"],
      skipMissing: v["skip-missing"] ?? false,
    });
    if (inputs.skipped) console.error(`edc: ${describeSkipped(inputs.skipped)}`);
    const ev = evaluateEdc(
      inputs.comparisons,
      inputs.methods,
      { threshold, limits, shuffles, seed },
    );
    for (const w of fewComparisons(ev.mated, ev.nonMated)) console.error(`edc: warning: ${w}`);
    const out = v.out ?? "edc";
    const res = await writeEdcReport(ev, out, {
      maxDiscard,
      title: v.title,
      model: v.model,
      data: v.data ?? defaultDataName(inputs.pairs.file, inputs.pairs.pairs.length),
      png: !v["no-png"],
      extra: {
        pairs: inputs.pairs.file,
        similarities: inputs.similaritySource,
        images: inputs.images.images.length,
        ...(inputs.skipped
          ? {
            skipped_pairs: inputs.skipped.pairs,
            missing_images: inputs.skipped.images.map((m) => m.name),
          }
          : {}),
      },
    });
    console.log(paucMarkdown(ev));
    for (const f of res.written) console.log(`wrote ${f}`);
    for (const n of res.notes) console.error(`edc: ${n}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`edc: ${e.message}\nRun with --help for usage.`);
      return EXIT_USAGE;
    }
    if (e instanceof EdcInputError || e instanceof RangeError) {
      console.error(`edc: ${e.message}`);
      return EXIT_ERROR;
    }
    throw e;
  }
}

/**
 * The line `--skip-missing` prints: how many pairs it left out (mated, non-mated) and the first
 * images without a score or embedding, with the file that lacks each.
 */
export function describeSkipped(s: SkippedPairs): string {
  if (s.pairs === 0) return `--skip-missing: every image of the ${s.listed} pairs has an entry`;
  const first = s.images.slice(0, 3).map((m) => `"${m.name}" (not in ${m.file})`).join(", ");
  return `--skip-missing: left out ${s.pairs} of ${s.listed} pairs (${s.mated} mated, ` +
    `${s.nonMated} non-mated) that name ${s.images.length} image(s) without a score or ` +
    `embedding: ${first}${s.images.length > 3 ? ", ..." : ""}`;
}

/**
 * Warnings for too few comparisons to read an EDC curve (fewer than {@link MIN_COMPARISONS}
 * mated or non-mated ones); empty when there are enough.
 */
export function fewComparisons(mated: number, nonMated: number): string[] {
  const out: string[] = [];
  for (const [n, what, et] of [[mated, "mated", "FNMR"], [nonMated, "non-mated", "FMR"]] as const) {
    if (n < MIN_COMPARISONS) {
      out.push(
        `only ${n} ${what} comparisons: each moves the ${et}-EDC by ${
          (100 / n).toPrecision(2)
        } %, too coarse to read the curve or compare pAUC values; use at least ` +
          `${MIN_COMPARISONS}`,
      );
    }
  }
  return out;
}

/** The data set's name for the figure's title when `--data` is not given: the pairs file's name. */
function defaultDataName(file: string, pairs: number): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return `${pairs} pairs of ${base}`;
}
