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
 * @module
 */
import { parseArgs } from "../src/cli/args.ts";
import { readWeightsFile } from "../src/weights/pth.ts";
import {
  convertFile,
  describeSummary,
  formatBytes,
  listStateDict,
  summarizeStateDict,
} from "../src/weights/convert.ts";

const USAGE = `usage: deno run -A tools/convert.ts IN.pth OUT.gfqw [--backbone NAME]
       deno run -A tools/convert.ts IN.pth --list

Converts a PyTorch checkpoint (.pth/.pt, zip or legacy format, or an existing .gfqw file) to the
GFQW weight format (weights/README.md). Tensors keep their dtype (float16 stays float16).

  --backbone NAME  store NAME as meta.backbone (e.g. iresnet50, iresnet100, mobilefacenet)
  --list           print each tensor's name, dtype and shape and the totals; write nothing
  -h, --help       this text`;

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        backbone: { type: "string" },
        list: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`convert: ${(e as Error).message}\n${USAGE}`);
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
    const r = await convertFile(inPath, outPath, { backbone: values.backbone });
    console.log(describeSummary(r.summary));
    console.log(
      `wrote ${outPath} (${formatBytes(r.fileBytes)}) in ${
        ((performance.now() - t0) / 1000).toFixed(2)
      } s; meta ${JSON.stringify(r.meta)}`,
    );
    return 0;
  } catch (e) {
    console.error(`convert: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
