/**
 * Decoding a batch of images into the executor's input buffer, shared by the folder mode and
 * the stream mode.
 *
 * @module
 */
import { ImageDecodeError } from "../image/decode.ts";
import { prepareImageInto, type PrepareOptions } from "../image/normalize.ts";

/**
 * One path to score: as listed (to read the file) and as printed (after --path-replace), or,
 * with `error`, an input record known to fail already (an over-long line on stdin).
 */
export interface Item {
  listed: string;
  text: string;
  /** Why this record fails without being read (it takes no slot), when set. */
  error?: string;
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
 * The reason recorded for an image that could not be read or decoded, without its path (the
 * failure list and stderr already name the file): the decoder's problem text, or the OS error
 * without Deno's trailing `: readfile 'PATH'`.
 */
function failureReason(e: unknown): string {
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  if (e instanceof ImageDecodeError) return e.problem;
  const msg = (e as Error).message;
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied
    ? msg.replace(/: readfile '.*'$/s, "")
    : msg;
}

/**
 * Read and decode a batch of images into one N x 3 x S x S input buffer, packing the decoded
 * ones first. An item with an `error`, an image whose printed path `pathProblem` rejects, or
 * one that cannot be read or decoded, takes no slot: its entry in `slots` is the reason. Used
 * by `scoreStream`, which every mode runs on (the folder mode through `scorePaths`), so all
 * report failures alike.
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
    const problem = it.error ?? pathProblem?.(it.text);
    if (problem) {
      slots.push(problem);
      continue;
    }
    try {
      const bytes = await Deno.readFile(it.listed);
      await prepareImageInto(bytes, it.listed, prep, input, count * per);
      slots.push(count++);
    } catch (e) {
      slots.push(failureReason(e));
    }
  }
  return { items, input, count, slots };
}
