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
import { matchImages, type PairImages, pairImages, PathMatcher } from "./matching.ts";
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
}

/** Everything an evaluation needs, parsed and matched. */
export interface EdcInputs {
  /** The pairs list. */
  pairs: PairList;
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

/**
 * Read, parse and match all inputs of an evaluation.
 *
 * Exactly one similarity source must be given: a similarities file, a 4th column in an
 * `a b label similarity` pairs list, or embeddings plus index (cosine similarity).
 *
 * @throws EdcInputError naming the file (and line) of any problem: unreadable file, parse error,
 *   a pair image without score or embedding, a duplicate path, non-finite values, two methods of
 *   the same name, no or several similarity sources.
 */
export async function loadEdcInputs(src: EdcInputFiles): Promise<EdcInputs> {
  if (src.qualities.length === 0) {
    throw new EdcInputError("no quality score file given (--quality)");
  }
  const pairs = parsePairs(await readText(src.pairs), src.pairs);
  const images = pairImages(pairs);
  const sources = [
    src.similarities !== undefined,
    pairs.hasSimilarity,
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
  let similarity: Float64Array;
  let similaritySource: string;
  if (src.similarities !== undefined) {
    similarity = parseSimilarities(
      await readText(src.similarities),
      src.similarities,
      pairs.pairs.length,
    );
    similaritySource = src.similarities;
  } else if (pairs.hasSimilarity) {
    similarity = Float64Array.from(pairs.pairs, (p) => p.similarity!);
    similaritySource = `${src.pairs} (similarity column)`;
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
    const rows = matchImages(images, matcher);
    similarity = cosineSimilarities(emb, rows, images, src.embeddings, index.lines);
    similaritySource = `cosine of L2-normalised embeddings in ${src.embeddings}`;
  }
  const methods: EdcInputs["methods"] = [];
  const names = new Map<string, string>();
  for (const q of src.qualities) {
    const parsed = parseQualityText(await readText(q.file), q);
    const matcher = new PathMatcher(q.file, parsed[0].paths, parsed[0].lines, src.imagesRoot);
    const rows = matchImages(images, matcher);
    for (const m of parsed) {
      const other = names.get(m.name);
      if (other !== undefined) {
        throw new EdcInputError(
          `${q.file}: method name "${m.name}" is already used by ${other}; give ,name=OTHER`,
        );
      }
      names.set(m.name, q.file);
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
  return { pairs, images, similarity, similaritySource, methods, comparisons };
}
