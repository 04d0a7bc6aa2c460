/**
 * Loading the inputs of one EDC evaluation: quality score files, a pairs list and comparison
 * scores, read, parsed and matched to each other.
 *
 * @module
 */
import { NpyFormatError, type NpyMatrix, parseNpy } from "../io/npy.ts";
import { cosineSimilarities, parseIndex, parseSimilarities } from "./comparisons.ts";
import type { Comparisons } from "./evaluate.ts";
import { EdcInputError } from "./input_text.ts";
import { findImages, type PairImages, pairImages, PathMatcher } from "./matching.ts";
import { type PairList, parsePairs } from "./pairs.ts";
import { parseQualityText, qualityOf, type QualitySource } from "./quality.ts";

/** Where the inputs of one evaluation come from. */
export interface EdcInputFiles {
  /** The quality score files (one or more methods each). */
  qualities: QualitySource[];
  /** The pairs list. */
  pairs: string;
  /** Directory the LFW / relative image names are relative to (optional). */
  imagesRoot?: string;
  /** File of one similarity per pair, in pairs order (optional). */
  similarities?: string;
  /** `.npy` embeddings, N × D float32/float64 (optional; needs `embeddingsIndex`). */
  embeddings?: string;
  /** Paths of the embedding rows, one per line. */
  embeddingsIndex?: string;
  /**
   * Leave out the pairs that name an image without an entry in a quality file or the embeddings
   * index (and report them in {@link EdcInputs.skipped}) instead of failing. Default false.
   */
  skipMissing?: boolean;
}

/** The pairs left out by {@link EdcInputFiles.skipMissing}. */
export interface SkippedPairs {
  /** Pairs left out. */
  pairs: number;
  /** Of which mated. */
  mated: number;
  /** Of which non-mated. */
  nonMated: number;
  /** Pairs in the list before leaving any out. */
  listed: number;
  /** Each image without an entry, in pairs-list order, with the first file that lacks it. */
  images: { name: string; file: string }[];
}

/** Everything an evaluation needs, parsed and matched. */
export interface EdcInputs {
  /** The pairs list (without the pairs left out by `skipMissing`). */
  pairs: PairList;
  /** What `skipMissing` left out (null when it was not asked for). */
  skipped: SkippedPairs | null;
  /** Distinct images of the pairs and the pairs as indices. */
  images: PairImages;
  /** Similarity of each pair, in pairs order. */
  similarity: Float64Array;
  /** Where the similarities came from, in words. */
  similaritySource: string;
  /** The methods, with per-image quality (higher = better) for `images.images`. */
  methods: { name: string; file: string; higherIsBetter: boolean; qualities: Float64Array }[];
  /** The comparisons as `evaluateEdc` takes them: image indices, mated flags, similarity. */
  comparisons: Comparisons;
}

async function readText(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    throw new EdcInputError(`${file}: cannot read (${(e as Error).message})`);
  }
}

/** One file of paths (a quality file or the embeddings index) matched to the pair images. */
interface MatchedFile {
  file: string;
  /** For each pair image (of the whole list), its entry in the file or -1. */
  rows: Int32Array;
}

function quoteList(names: string[], max = 3): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(", ");
  return names.length > max ? `${shown}, ...` : shown;
}

/**
 * Which pairs to keep: every pair whose two images have an entry in every file. Without
 * `skip`, a missing image is an error naming the first one, how many there are and how many
 * pairs `--skip-missing` would leave out.
 */
function keepPairs(
  pairs: PairList,
  pi: PairImages,
  files: MatchedFile[],
  skip: boolean,
): { keep: boolean[]; skipped: SkippedPairs | null } {
  const missingIn = new Array<string | undefined>(pi.images.length);
  for (const f of files) {
    f.rows.forEach((r, i) => {
      if (r < 0 && missingIn[i] === undefined) missingIn[i] = f.file;
    });
  }
  const keep = pairs.pairs.map((_, k) =>
    missingIn[pi.a[k]] === undefined && missingIn[pi.b[k]] === undefined
  );
  const dropped = keep.filter((x) => !x).length;
  if (dropped > 0 && !skip) {
    const f = files.find((f) => f.rows.some((r) => r < 0))!;
    const names = pi.images.filter((_, i) => f.rows[i] < 0);
    const first = f.rows.findIndex((r) => r < 0);
    const more = names.length > 1
      ? `; ${names.length} images of the pairs list have no entry there (${quoteList(names)})`
      : "";
    throw new EdcInputError(
      `${pi.firstSeen[first]}: image "${pi.images[first]}" has no entry in ${f.file}${more}. ` +
        `Give --skip-missing to evaluate without the ${dropped} of ${pairs.pairs.length} pairs ` +
        `that name an image without a score or embedding.`,
    );
  }
  if (!skip) return { keep, skipped: null };
  const mated = pairs.pairs.filter((p, k) => !keep[k] && p.mated).length;
  const images = pi.images.flatMap((name, i) =>
    missingIn[i] === undefined ? [] : [{ name, file: missingIn[i]! }]
  );
  const skipped = {
    pairs: dropped,
    mated,
    nonMated: dropped - mated,
    listed: pairs.pairs.length,
    images,
  };
  for (const [want, what] of [[true, "mated"], [false, "non-mated"]] as const) {
    if (!pairs.pairs.some((p, k) => keep[k] && p.mated === want)) {
      throw new EdcInputError(
        `${pairs.file}: no ${what} pairs left after leaving out the ${dropped} pairs that name ` +
          `an image without a score or embedding (first: ${quoteList(images.map((m) => m.name))})`,
      );
    }
  }
  return { keep, skipped };
}

/**
 * Read, parse and match all inputs of an evaluation.
 *
 * Exactly one similarity source must be given: a similarities file, a 4th column in an
 * `a b label similarity` pairs list, or embeddings plus index (cosine similarity).
 *
 * @throws EdcInputError naming the file (and line) of any problem: unreadable file, parse error,
 *   a pair image without score or embedding (unless `skipMissing`; the message names the first
 *   such images and the number of pairs that name them), a duplicate path, non-finite values,
 *   two methods of the same name, no or several similarity sources, no mated or no non-mated
 *   pair left after `skipMissing`.
 */
export async function loadEdcInputs(src: EdcInputFiles): Promise<EdcInputs> {
  if (src.qualities.length === 0) {
    throw new EdcInputError("no quality score file given (--quality)");
  }
  const listed = parsePairs(await readText(src.pairs), src.pairs);
  const all = pairImages(listed);
  const sources = [
    src.similarities !== undefined,
    listed.hasSimilarity,
    src.embeddings !== undefined || src.embeddingsIndex !== undefined,
  ].filter(Boolean).length;
  if (sources !== 1) {
    throw new EdcInputError(
      sources === 0
        ? `${src.pairs}: no comparison scores: give --similarities, --embeddings with --embeddings-index, ` +
          `or a 4th (similarity) column in the pairs list`
        : `${src.pairs}: comparison scores given more than once (similarity column, --similarities, --embeddings); give one`,
    );
  }
  const files: MatchedFile[] = [];
  let listedSimilarity: Float64Array | undefined;
  let embedded: { emb: NpyMatrix; lines: number[]; file: string } | undefined;
  if (src.similarities !== undefined) {
    listedSimilarity = parseSimilarities(
      await readText(src.similarities),
      src.similarities,
      listed.pairs.length,
    );
  } else if (listed.hasSimilarity) {
    listedSimilarity = Float64Array.from(listed.pairs, (p) => p.similarity!);
  } else {
    if (src.embeddings === undefined || src.embeddingsIndex === undefined) {
      throw new EdcInputError("--embeddings and --embeddings-index must be given together");
    }
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(src.embeddings);
    } catch (e) {
      throw new EdcInputError(`${src.embeddings}: cannot read (${(e as Error).message})`);
    }
    let emb: NpyMatrix;
    try {
      emb = parseNpy(bytes, src.embeddings);
    } catch (e) {
      if (e instanceof NpyFormatError) throw new EdcInputError(e.message);
      throw e;
    }
    const index = parseIndex(await readText(src.embeddingsIndex), src.embeddingsIndex);
    if (index.paths.length !== emb.rows) {
      throw new EdcInputError(
        `${src.embeddingsIndex}: ${index.paths.length} paths, but ${src.embeddings} has ${emb.rows} rows`,
      );
    }
    const matcher = new PathMatcher(src.embeddingsIndex, index.paths, index.lines, src.imagesRoot);
    files.push({ file: src.embeddingsIndex, rows: findImages(all, matcher) });
    embedded = { emb, lines: index.lines, file: src.embeddings };
  }
  const parsedFiles = [];
  const names = new Map<string, string>();
  for (const q of src.qualities) {
    const parsed = parseQualityText(await readText(q.file), q);
    const matcher = new PathMatcher(q.file, parsed[0].paths, parsed[0].lines, src.imagesRoot);
    const matched = { file: q.file, rows: findImages(all, matcher) };
    files.push(matched);
    for (const m of parsed) {
      const other = names.get(m.name);
      if (other !== undefined) {
        throw new EdcInputError(
          `${q.file}: method name "${m.name}" is already used by ${other}; give ,name=OTHER`,
        );
      }
      names.set(m.name, q.file);
    }
    parsedFiles.push({ parsed, matched });
  }

  const { keep, skipped } = keepPairs(listed, all, files, src.skipMissing ?? false);
  const pairs = skipped && skipped.pairs > 0
    ? { ...listed, pairs: listed.pairs.filter((_, k) => keep[k]) }
    : listed;
  const images = pairs === listed ? all : pairImages(pairs);
  // For each image of the kept pairs, its index among the images of the whole list.
  const indexOf = new Map(all.images.map((n, i) => [n, i]));
  const orig = images.images.map((n) => indexOf.get(n)!);
  const rowsOf = (f: MatchedFile) => Uint32Array.from(orig, (i) => f.rows[i]);

  let similarity: Float64Array;
  let similaritySource: string;
  if (embedded) {
    similarity = cosineSimilarities(
      embedded.emb,
      rowsOf(files[0]),
      images,
      embedded.file,
      embedded.lines,
    );
    similaritySource = `cosine of L2-normalised embeddings in ${embedded.file}`;
  } else {
    similarity = listedSimilarity!.filter((_, k) => keep[k]);
    similaritySource = src.similarities ?? `${src.pairs} (similarity column)`;
  }
  const methods: EdcInputs["methods"] = [];
  for (const { parsed, matched } of parsedFiles) {
    const rows = rowsOf(matched);
    for (const m of parsed) {
      const all = qualityOf(m);
      methods.push({
        name: m.name,
        file: m.file,
        higherIsBetter: m.higherIsBetter,
        qualities: Float64Array.from(rows, (r) => all[r]),
      });
    }
  }
  const comparisons = {
    a: images.a,
    b: images.b,
    mated: pairs.pairs.map((p) => p.mated),
    similarity,
  };
  return { pairs, skipped, images, similarity, similaritySource, methods, comparisons };
}
