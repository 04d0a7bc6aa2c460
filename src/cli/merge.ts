/**
 * The `merge` command: the record files of a sharded run (`--shard K/N --output FILE`) become
 * the official output set of the whole input (pipeline/merge.ts).
 *
 * @module
 */
import {
  describeParseError,
  EXIT_ERROR,
  EXIT_OK,
  EXIT_SOME_FAILED,
  EXIT_USAGE,
  parseArgs,
  UsageError,
} from "./args.ts";
import { readCalibration } from "../io/calibration_file.ts";
import { readImageList } from "../io/image_list.ts";
import { writeResultSet } from "../io/result_set.ts";
import { applyPathReplace, checkPathReplaceArgs } from "../io/select.ts";
import {
  checkSameSettings,
  mergeCalibration,
  mergeComplete,
  type MergeListing,
  type MergePart,
  mergeParts,
  type MergeProblems,
  readMergePart,
} from "../pipeline/merge.ts";
import { selectImages } from "../pipeline/select_images.ts";
import { printablePath } from "./progress.ts";

/**
 * Exit status of `merge`: the shards do not cover the listing exactly once (paths missing,
 * scored twice or not listed, a torn last line, a lock still present); nothing was written.
 */
export const EXIT_INCOMPLETE = 4;

/** Help text of the `merge` command. */
export const MERGE_HELP = `merge: join the parts of a sharded run into the official output files

usage:
  merge --output-dir OUT [--image-path DIR [--image-extension EXT ...] [--recursive]
        | --image-list FILE] [--path-replace A --path-replace-with B]
        [--calibration FILE.json] PART...

PART is a record file written by "--shard K/N --output PART" (TSV or JSONL, resumed or not),
with its settings file PART.settings beside it, or an output folder written by "--shard K/N
--output-dir PART" (read as the set its manifest names). Every part must come from the same
weights, groups, channel order, calibration and --align face rule, or none (an output folder
records only its groups and whether it was calibrated, so only those are checked for it, and
record files made with --align are not merged with output folders); the record formats may
differ. Records made with --align merge into what the folder mode writes with --align: their
face fields are not part of the official files.

OUT receives what one folder-mode run over the whole input writes, byte for byte: the score
files GraFIQs_<group>.txt in the global order, GraFIQs_failed.txt, the embeddings when every
part is an output folder written with --save-embeddings, GraFIQs_quality.tsv when the parts were
made with --calibration, and GraFIQs_manifest.json, published as one set.

  --image-path DIR, --image-extension EXT, --recursive
        the listing the shards were cut from (the main command's options, same meaning); the
        merge checks that the parts hold every listed path exactly once, in the listing order
  --image-list FILE
        the same with an image list (the order is the list's)
  --path-replace A --path-replace-with B
        the replacement the shards printed their paths with (to match them to the listing)
  --calibration FILE.json
        the calibration the shards were made with: required when they were (all of them, with
        this one calibration; parts with and without one, or with two, are refused), and
        GraFIQs_quality.tsv is written from it as the folder mode writes it
  Without a listing the order is Python's sorted path order of the parts' paths (the folder
  mode's order when the shards listed a directory without --path-replace), and only paths
  held twice and unfinished parts are found.

A path recorded more than once within one record file (paths fed on stdin may repeat, and the
record mode scores each line) is kept once, with a note, when all its records have the same
result (scores, or failure reason); with different results it is an error (status 4). A path held
by two parts is always an error (status 4): a copy of a part given beside it, or parts of two runs
(the same file named twice is a usage error, status 2).

exit status:
  0  merged; every image was scored
  3  merged; some images failed (listed in OUT/GraFIQs_failed.txt)
  4  the parts do not cover the input exactly once: paths no shard scored, paths held by two
     parts, paths recorded with different results within one part, paths outside the listing,
     or an unfinished part (a torn last line or a lock file left by a killed or running job,
     an output folder's resume journal); each is named; nothing written
  1  a part cannot be read, is malformed, or the parts have different settings, calibrations
     or --align (the files are named); --calibration is missing, unreadable or not the
     parts'; or OUT cannot be written
  2  bad command line
`;

const MERGE_OPTIONS = {
  "output-dir": { type: "string" },
  "image-path": { type: "string" },
  "image-extension": { type: "string", multiple: true },
  recursive: { type: "boolean", default: false },
  "image-list": { type: "string" },
  "path-replace": { type: "string" },
  "path-replace-with": { type: "string" },
  calibration: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** At most this many paths of each kind are named on stderr; the count is always given. */
const SHOW = 20;

function report(p: MergeProblems): string[] {
  const lines: string[] = [];
  const list = <T>(items: T[], title: string, show: (x: T) => string, hint = "") => {
    if (items.length === 0) return;
    lines.push(`merge: ${title} (${items.length}):${hint}`);
    for (const x of items.slice(0, SHOW)) lines.push(`  ${show(x)}`);
    if (items.length > SHOW) lines.push(`  ... and ${items.length - SHOW} more`);
  };
  list(p.missing, "listed paths that no shard scored", (x) => printablePath(x));
  list(
    p.duplicates,
    "paths held by more than one part",
    (x) => `${printablePath(x.path)} (${x.places.join(", ")})`,
    " a copy of a part given beside it, or parts of two runs",
  );
  list(
    p.conflicting,
    "paths recorded more than once within one part, with different results",
    (x) => `${printablePath(x.path)} (${x.places.join(", ")})`,
  );
  list(
    p.unlisted,
    "scored paths that are not in the listing",
    (x) => `${printablePath(x.path)} (${x.place})`,
  );
  list(
    p.unfinished,
    "unfinished parts",
    (x) => `${x.file}: ${x.why}`,
    " a job is still running, or was killed (rerun it with --resume)",
  );
  return lines;
}

/**
 * Run the `merge` command (see {@link MERGE_HELP}): read the parts, check their settings and
 * that they cover the listing exactly once, then write the output set to OUT.
 *
 * @example Merge four shards of a directory
 * ```ts
 * import { runMerge } from "@grafiqs/grafiqs-webgpu";
 *
 * const status = await runMerge([
 *   "--output-dir", "out", "--image-path", "faces",
 *   "part_0.tsv", "part_1.tsv", "part_2.tsv", "part_3.tsv",
 * ]);
 * // 0 or 3: out/GraFIQs_image.txt ... as one folder-mode run writes them; 4: incomplete
 * ```
 *
 * @param args the command line after `merge`
 * @returns the exit status: 0, 3 (some images failed), {@link EXIT_INCOMPLETE} (4), 1 (a part
 *   cannot be read or the settings differ; OUT cannot be written) or 2 (bad usage). Messages go
 *   to stderr; nothing is thrown.
 */
export async function runMerge(args: string[]): Promise<number> {
  let v;
  let parts: string[];
  let pathReplace;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args, strict: true, allowPositionals: true, options: MERGE_OPTIONS });
    } catch (e) {
      throw new UsageError(describeParseError(e, Object.keys(MERGE_OPTIONS)));
    }
    v = parsed.values;
    parts = parsed.positionals;
    if (v.help) {
      console.log(MERGE_HELP);
      return EXIT_OK;
    }
    if (v["output-dir"] === undefined) throw new UsageError("--output-dir OUT is required");
    if (parts.length === 0) throw new UsageError("give the parts to merge (PART...)");
    if (v["image-path"] !== undefined && v["image-list"] !== undefined) {
      throw new UsageError("give --image-path DIR or --image-list FILE, not both");
    }
    if (v["image-path"] === undefined && (v.recursive || v["image-extension"])) {
      throw new UsageError("--image-extension and --recursive need --image-path DIR");
    }
    if (new Set(parts).size !== parts.length) {
      throw new UsageError("a part is named twice on the command line");
    }
    try {
      pathReplace = checkPathReplaceArgs(v["path-replace"], v["path-replace-with"]);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  } catch (e) {
    console.error(`merge: ${(e as Error).message}\nRun with --help for usage.`);
    return EXIT_USAGE;
  }
  try {
    const read: MergePart[] = [];
    for (const f of parts) read.push(await readMergePart(f));
    checkSameSettings(read);
    const cal = v.calibration;
    const quality = mergeCalibration(
      read,
      cal === undefined ? null : { calibration: await readCalibration(cal), source: cal },
    );
    let listing: MergeListing | null = null;
    const text = pathReplace
      ? (p: string) => applyPathReplace(p, pathReplace.a, pathReplace.b)
      : undefined;
    if (v["image-path"] !== undefined) {
      const raw = v["image-extension"] ?? ["jpg"];
      // As the main command reads them (score_args.ts pipelineOptions).
      const imageExtensions = [
        ...new Set(raw.flatMap((x) => (x === "" ? [""] : x.split(",").filter((e) => e !== "")))),
      ];
      if (imageExtensions.length === 0) throw new Error("--image-extension is empty");
      listing = {
        listed: await selectImages({
          imagePath: v["image-path"],
          imageExtensions,
          recursive: v.recursive!,
          shard: null,
        }),
        text,
      };
    } else if (v["image-list"] !== undefined) {
      listing = { listed: (await readImageList(v["image-list"])).paths, text };
    }
    const { set, problems, repeated } = mergeParts(read, listing, quality);
    if (repeated.length) {
      console.error(
        `merge: note: paths recorded more than once within one part, the same result each ` +
          `time, kept once (${repeated.length}):`,
      );
      for (const x of repeated.slice(0, SHOW)) {
        console.error(`  ${printablePath(x.path)} (${x.places.join(", ")})`);
      }
      if (repeated.length > SHOW) console.error(`  ... and ${repeated.length - SHOW} more`);
    }
    if (!mergeComplete(problems)) {
      for (const line of report(problems)) console.error(line);
      console.error(`merge: nothing written to ${printablePath(v["output-dir"]!)}`);
      return EXIT_INCOMPLETE;
    }
    await writeResultSet(v["output-dir"]!, set);
    console.error(
      `merge: ${read.length} parts, ${set.rows.length} images scored, ${set.failures.length} ` +
        `failed; wrote ${printablePath(v["output-dir"]!)}`,
    );
    return set.failures.length ? EXIT_SOME_FAILED : EXIT_OK;
  } catch (e) {
    console.error(`merge: ${(e as Error).message}`);
    return EXIT_ERROR;
  }
}
