/**
 * Decoding a batch of images into the executor's input buffer, shared by the folder mode and
 * the stream mode.
 *
 * @module
 */
import { prepareImageInto, type PrepareOptions } from "../image/normalize.ts";

/** One path to score: as listed (to read the file) and as printed (after --path-replace). */
export interface Item {
  listed: string;
  text: string;
}

/** A batch decoded into one input buffer. */
export interface Prepared {
  items: Item[];
  /** items.length x 3 x S x S float32: the decoded images back to back, then zeros. */
  input: Float32Array;
  count: number;
  /** Per item: its index among the decoded images, or why it failed. */
  slots: (number | string)[];
}

/**
 * Read and decode a batch of images into one N x 3 x S x S input buffer, packing the decoded
 * ones first. An image whose printed path `pathProblem` rejects, or that cannot be read or
 * decoded, takes no slot: its entry in `slots` is the reason. Used by the folder mode
 * (`scorePaths`) and the stream mode alike, so both report failures the same way.
 */
export async function prepareBatch(
  items: Item[],
  per: number,
  prep: PrepareOptions,
  pathProblem: ((text: string) => string | null) | undefined,
): Promise<Prepared> {
  const input = new Float32Array(items.length * per);
  const slots: (number | string)[] = [];
  let count = 0;
  for (const it of items) {
    const problem = pathProblem?.(it.text);
    if (problem) {
      slots.push(problem);
      continue;
    }
    try {
      const bytes = await Deno.readFile(it.listed);
      await prepareImageInto(bytes, it.listed, prep, input, count * per);
      slots.push(count++);
    } catch (e) {
      slots.push(e instanceof Deno.errors.IsADirectory ? "is a directory" : (e as Error).message);
    }
  }
  return { items, input, count, slots };
}
