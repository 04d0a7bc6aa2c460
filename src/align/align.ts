/**
 * `--align`: from a decoded photo to the 112 x 112 ArcFace crop that the FR network expects.
 * Detect and choose a face and its five landmarks (detect.ts), fit the similarity transform
 * onto {@link ARCFACE_TEMPLATE} (least squares) and warp with bilinear sampling and a zero
 * border as `cv2.warpAffine` does (similarity.ts). The crop then goes through the usual
 * preprocessing (channel order, normalisation) unchanged.
 *
 * @module
 */
// imagescript's PNG encoder module itself (pure JavaScript): its main entry would pull in the
// package's native Node codecs, which the one-file bundle cannot hold.
import { encode as encodePng } from "imagescript/png/src/png.mjs";
import type { DecodedImage } from "../image/decode.ts";
import { atomicWriteFile } from "../io/files.ts";
import { type AlignOptions, FaceDetector } from "./detect.ts";
import type { AlignedFace, FaceAligner, FaceInfo } from "./face.ts";
import { ARCFACE_TEMPLATE, estimateSimilarity, warpAffineBilinear } from "./similarity.ts";

/** Side of the aligned crop in pixels (the ArcFace template's size). */
export const ALIGNED_SIZE = 112;

export type { AlignedFace, FaceAligner, FaceInfo };

/**
 * The face aligner: one detector (models loaded once) and the face-choice options.
 *
 * @example Align one photo
 * ```ts
 * import { Aligner, decodeImage } from "@grafiqs/grafiqs-webgpu";
 *
 * const aligner = await Aligner.create({ face: "center" });
 * const img = await decodeImage(await Deno.readFile("photo.jpg"), "photo.jpg");
 * const { crop, face } = aligner.align(img); // throws NoFaceError: "no face found"
 * console.log(crop.width, face.landmarks);   // 112 [[x, y], ...]
 * ```
 */
export class Aligner implements FaceAligner {
  private constructor(readonly detector: FaceDetector, readonly options: AlignOptions) {}

  /**
   * Load the detector's models and keep the options.
   *
   * @param options which face, thresholds (see {@link AlignOptions})
   * @param modelDir folder of the TFJS models (default: the @vladmandic/human package's)
   * @throws when the models cannot be read (the error names the file)
   */
  static async create(options: AlignOptions = {}, modelDir?: URL): Promise<Aligner> {
    return new Aligner(await FaceDetector.create(modelDir), options);
  }

  /**
   * Detect, choose, fit and warp.
   *
   * @param img decoded RGB image (EXIF orientation applied, as decodeImage does)
   * @returns the 112 x 112 crop and the face's box, landmarks and confidence
   * @throws {NoFaceError} "no face found", or "face too small (...)" (see FaceDetector.locate)
   */
  align(img: DecodedImage): AlignedFace {
    const f = this.detector.locate(img, this.options);
    const m = estimateSimilarity(f.landmarks, ARCFACE_TEMPLATE);
    const rgb = warpAffineBilinear(img.rgb, img.width, img.height, m, ALIGNED_SIZE, ALIGNED_SIZE);
    return {
      crop: { ...img, width: ALIGNED_SIZE, height: ALIGNED_SIZE, rgb },
      face: { box: f.box, landmarks: f.landmarks, confidence: f.score },
      matrix: m,
      detail: f,
    };
  }
}

/**
 * The file name under `--save-aligned DIR` of the image printed as `path`: the same relative
 * path with the extension replaced by `.png`; a leading `/` (or a Windows drive) is dropped,
 * and `.` and `..` segments become `_` and `__`, so every crop lands inside DIR.
 *
 * @param path the image's printed path
 * @returns a relative path with `/` separators
 * @example `alignedName("../photos/a.jpg")` is `"__/photos/a.png"`
 */
export function alignedName(path: string): string {
  const parts = path.replace(/\\/g, "/").replace(/^[A-Za-z]:/, "").split("/")
    .filter((s) => s !== "")
    .map((s) => (s === "." ? "_" : s === ".." ? "__" : s));
  if (parts.length === 0) parts.push("_");
  const last = parts.length - 1;
  parts[last] = parts[last].replace(/\.[^.]*$/, "") + ".png";
  return parts.join("/");
}

/**
 * Write an aligned crop as PNG (imagescript's encoder) to `dir/alignedName(path)`, creating
 * its folders; the file is replaced atomically.
 *
 * @param dir the `--save-aligned` folder
 * @param path the image's printed path
 * @param crop the 112 x 112 crop
 * @returns the file written
 * @throws Error `cannot write FILE: reason` when the folder or file cannot be written
 */
export async function saveAligned(dir: string, path: string, crop: DecodedImage): Promise<string> {
  const file = `${dir.replace(/\/+$/, "")}/${alignedName(path)}`;
  const bytes: Uint8Array = encodePng(crop.rgb, {
    width: crop.width,
    height: crop.height,
    channels: 3,
    level: 1,
  });
  try {
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
  } catch (e) {
    throw new Error(`cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
  await atomicWriteFile(file, bytes, { sync: false });
  return file;
}
