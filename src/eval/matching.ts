/**
 * Matching the images a pairs list names to the paths of a score file or an embeddings index.
 *
 * @module
 */
import * as path from "node:path";
import { EdcInputError } from "./input_text.ts";
import type { PairList } from "./pairs.ts";

function normalizeName(p: string): string {
  let n = path.normalize(p);
  while (n.startsWith("./")) n = n.slice(2);
  return n;
}

/**
 * Finds the entry of a score file (or embeddings index) that an image named by a pairs list
 * refers to. A name matches a path
 * 1. when it equals the path taken relative to the images root (with no root: the path as
 *    written), after normalisation (`./`, `//`, `..` resolved lexically); else
 * 2. when its file name equals the file name of exactly one path in the file.
 */
export class PathMatcher {
  private readonly byKey = new Map<string, number>();
  private readonly byBase = new Map<string, number[]>();

  /**
   * @param file the file holding the paths (for messages).
   * @param paths the paths, as written in the file.
   * @param lines the 1-based line of each path (for messages).
   * @param imagesRoot the images root directory, or undefined.
   * @throws EdcInputError for two entries that are the same path after normalisation.
   */
  constructor(
    readonly file: string,
    readonly paths: string[],
    readonly lines: number[],
    imagesRoot?: string,
  ) {
    const root = imagesRoot === undefined ? undefined : path.resolve(imagesRoot);
    paths.forEach((p, i) => {
      let key = normalizeName(p);
      if (root !== undefined) {
        const rel = path.relative(root, path.resolve(p));
        if (rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel)) key = rel;
      }
      const prev = this.byKey.get(key);
      if (prev !== undefined) {
        throw new EdcInputError(
          `${file}:${lines[i]}: duplicate path "${p}" (same image as line ${lines[prev]})`,
        );
      }
      this.byKey.set(key, i);
      const base = path.basename(p);
      const list = this.byBase.get(base);
      if (list) list.push(i);
      else this.byBase.set(base, [i]);
    });
  }

  /**
   * The entry index for an image name, or -1 when no path matches it.
   *
   * @param name the image as named by the pairs list.
   * @param where `PAIRSFILE:LINE` of the pair naming it.
   * @throws EdcInputError (naming `where`, the image and this file) when several paths match.
   */
  find(name: string, where: string): number {
    const hit = this.byKey.get(normalizeName(name));
    if (hit !== undefined) return hit;
    const cands = this.byBase.get(path.basename(name)) ?? [];
    if (cands.length === 1) return cands[0];
    if (cands.length === 0) return -1;
    throw new EdcInputError(
      `${where}: image "${name}" is ambiguous in ${this.file}: its file name matches lines ` +
        `${
          cands.map((c) => this.lines[c]).join(", ")
        }; give --images-root so paths match by relative path`,
    );
  }

  /**
   * The entry index for an image name.
   *
   * @param name the image as named by the pairs list.
   * @param where `PAIRSFILE:LINE` of the pair naming it.
   * @throws EdcInputError (naming `where`, the image and this file) when no path or several
   *   paths match.
   */
  match(name: string, where: string): number {
    const hit = this.find(name, where);
    if (hit < 0) throw new EdcInputError(`${where}: image "${name}" has no entry in ${this.file}`);
    return hit;
  }
}

/** The images a pairs list names, each once, and each pair as indices into that list. */
export interface PairImages {
  /** Distinct image names, in order of first appearance. */
  images: string[];
  /** For each image, the pair line that first named it as `FILE:LINE` (for messages). */
  firstSeen: string[];
  /** Index into `images` of each pair's first image. */
  a: Uint32Array;
  /** Index into `images` of each pair's second image. */
  b: Uint32Array;
}

/** Collect the distinct images of a pairs list (see {@link PairImages}). */
export function pairImages(list: PairList): PairImages {
  const index = new Map<string, number>();
  const images: string[] = [], firstSeen: string[] = [];
  const id = (name: string, line: number) => {
    let i = index.get(name);
    if (i === undefined) {
      i = images.length;
      index.set(name, i);
      images.push(name);
      firstSeen.push(`${list.file}:${line}`);
    }
    return i;
  };
  const a = new Uint32Array(list.pairs.length), b = new Uint32Array(list.pairs.length);
  list.pairs.forEach((p, k) => {
    a[k] = id(p.a, p.line);
    b[k] = id(p.b, p.line);
  });
  return { images, firstSeen, a, b };
}

/**
 * Map each pair image to its entry in a file of paths.
 *
 * @returns for each of `pi.images`, the index of its entry in `matcher.paths`.
 * @throws EdcInputError naming the pair's file and line when an image has no (or an ambiguous)
 *   entry.
 */
export function matchImages(pi: PairImages, matcher: PathMatcher): Uint32Array {
  const rows = new Uint32Array(pi.images.length);
  pi.images.forEach((name, i) => rows[i] = matcher.match(name, pi.firstSeen[i]));
  return rows;
}

/**
 * Map each pair image to its entry in a file of paths, or -1 where the file has none.
 *
 * @returns for each of `pi.images`, the index of its entry in `matcher.paths`, or -1.
 * @throws EdcInputError naming the pair's file and line when an image is ambiguous.
 */
export function findImages(pi: PairImages, matcher: PathMatcher): Int32Array {
  const rows = new Int32Array(pi.images.length);
  pi.images.forEach((name, i) => rows[i] = matcher.find(name, pi.firstSeen[i]));
  return rows;
}
