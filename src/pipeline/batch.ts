/**
 * Decoding a batch of images into the executor's input buffer, shared by the folder mode and
 * the stream mode.
 *
 * @module
 */
import { type FaceAligner, type FaceInfo, NoFaceError } from "../align/face.ts";
import {
  type DecodedImage,
  decodeImage,
  type DecodeOptions,
  ImageDecodeError,
} from "../image/decode.ts";
import { imageToTensorInto, prepareImageInto, type PrepareOptions } from "../image/normalize.ts";

/**
 * Where the pipeline gets an image's bytes: the platform seam between the pipeline (bytes
 * only) and what lists name. The command line reads files (`fileImageReader` in
 * image/read_file.ts); the web page reads the `File` objects the user picked (web/main.ts).
 */
export interface ImageReader {
  /**
   * The whole content of the image listed as `listed`.
   *
   * @param listed the path text as listed
   * @param maxBytes the largest accepted size in bytes, or undefined for the reader's default
   * @throws whatever the reader refuses with; {@link ImageReader.failureReason} words it
   */
  read(listed: string, maxBytes: number | undefined): Promise<Uint8Array>;
  /**
   * The reason recorded for an error that {@link ImageReader.read} threw, without the path
   * (the failure list and stderr already name the file).
   */
  failureReason(e: unknown): string;
}

/**
 * What the pipeline refuses to read or decode: the caps against hostile input and the choice
 * on JPEGs that end early (the main command's `--max-pixels`, `--max-file-bytes` and
 * `--allow-truncated`). Every field is optional; the defaults are those of the command.
 */
export interface ImageInputOptions extends DecodeOptions {
  /**
   * Largest image file read, in bytes; a larger one fails with "file too large (N bytes,
   * over --max-file-bytes M)". A positive integer; default 256 MiB
   * (`DEFAULT_MAX_FILE_BYTES`).
   */
  maxFileBytes?: number;
}

/** {@link ImageInputOptions} plus where the bytes come from. */
export interface ImageSourceOptions extends ImageInputOptions {
  /** Reads each listed image's bytes (files, or the page's picked files). */
  reader: ImageReader;
}

/**
 * `--align` in the pipeline: each decoded image is aligned before it is normalised, and an
 * image without a usable face fails with the aligner's reason ("no face found").
 */
export interface AlignStage {
  /** The aligner (an `Aligner`: models loaded, face rule chosen). */
  aligner: FaceAligner;
  /**
   * `--save-aligned DIR`: writes each crop (the command line's `saveAligned`, as PNG under DIR),
   * given the image's printed path; null or absent: crops are not kept.
   */
  save?: ((path: string, crop: DecodedImage) => Promise<unknown>) | null;
}

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
  /** Per item: the decoder's warnings (e.g. a truncated JPEG decoded anyway); often empty. */
  warnings: string[][];
  /** Per item with `--align`: the aligned face's box, landmarks and confidence, or null. */
  faces: (FaceInfo | null)[];
  /** Without `--align`: the first image of the batch that was resized (not S x S), if any. */
  resized: { path: string; width: number; height: number } | null;
}

/**
 * Read and decode a batch of images into one N x 3 x S x S input buffer, packing the decoded
 * ones first. An item with an `error`, an image whose printed path `pathProblem` rejects, or
 * one that cannot be read or decoded, takes no slot: its entry in `slots` is the reason. Used
 * by `scoreStream`, which every mode runs on (the folder mode through `scorePaths`), so all
 * report failures alike. The bytes come from `limits.reader` (for files: regular files only, at
 * most `limits.maxFileBytes`) and are decoded with `limits` (pixel cap, truncated JPEGs); a
 * decoding failure's reason is the decoder's problem text, a reading failure's the reader's
 * {@link ImageReader.failureReason}.
 * With `align`, each decoded image is aligned first (an image without a face takes no slot, its
 * reason "no face found") and its crop is handed to `align.save` when set.
 *
 * @throws Error when `align.save` fails (fatal: an aligned crop that cannot be written)
 */
export async function prepareBatch(
  items: Item[],
  per: number,
  prep: PrepareOptions,
  pathProblem: ((text: string) => string | null) | undefined,
  limits: ImageSourceOptions,
  align?: AlignStage,
): Promise<Prepared> {
  const input = new Float32Array(items.length * per);
  const slots: (number | string)[] = [];
  const warnings: string[][] = [];
  const faces: (FaceInfo | null)[] = [];
  let resized: Prepared["resized"] = null;
  const decode = { maxPixels: limits.maxPixels, allowTruncated: limits.allowTruncated };
  let count = 0;
  for (const it of items) {
    const problem = it.error ?? pathProblem?.(it.text);
    faces.push(null);
    if (problem) {
      slots.push(problem);
      warnings.push([]);
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = await limits.reader.read(it.listed, limits.maxFileBytes);
    } catch (e) {
      slots.push(limits.reader.failureReason(e));
      warnings.push([]);
      continue;
    }
    let crop;
    try {
      if (align) {
        const img = await decodeImage(bytes, it.listed, decode);
        const a = align.aligner.align(img);
        imageToTensorInto(a.crop, prep, input, count * per);
        faces[faces.length - 1] = a.face;
        crop = a.crop;
        warnings.push(img.warnings);
      } else {
        const img = await prepareImageInto(bytes, it.listed, prep, input, count * per, decode);
        warnings.push(img.warnings);
        if (!resized && (img.width !== prep.size || img.height !== prep.size)) {
          resized = { path: it.text, width: img.width, height: img.height };
        }
      }
      slots.push(count++);
    } catch (e) {
      slots.push(
        e instanceof ImageDecodeError || e instanceof NoFaceError
          ? e.problem
          : (e as Error).message,
      );
      warnings.push([]);
    }
    if (crop && align?.save) await align.save(it.text, crop);
  }
  return { items, input, count, slots, warnings, faces, resized };
}
