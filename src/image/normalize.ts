/**
 * From file bytes to the normalised network input: decode (OpenCV `imread` semantics), choose
 * the channel order, resize to size x size when needed, scale and normalise, lay out as CHW
 * float32 (docs/ALGORITHM.md, "Input").
 *
 * The official iResNet code does, in float32 tensors:
 * `cv2.imread` (BGR) -> optional `cvtColor(BGR2RGB)` -> antialiased resize to 112 when the size
 * differs -> `torch.from_numpy(img).permute(2, 0, 1).float().div(255).sub(0.5).div(0.5)`.
 * Each tensor op rounds to float32; PyTorch divides by a scalar with a true division, not a
 * multiplication by the reciprocal (checked on all 256 values: the reciprocal form differs on
 * 111 of them). So x = fl(fl(fl(v / 255) - mean) / std), which a 256-entry table per channel
 * holds exactly.
 *
 * @module
 */
import { type DecodedImage, decodeImage, type DecodeOptions } from "./decode.ts";
import { resizeAntialiasBilinear } from "./resize.ts";

const f = Math.fround;

/** Preprocessing choices of one FR network. */
export interface PrepareOptions {
  /** Order of the three output channels: "bgr" (OpenCV's, the official default) or "rgb". */
  channelOrder: "bgr" | "rgb";
  /** Per output channel (in `channelOrder`), subtracted from v / 255. */
  mean: readonly [number, number, number];
  /** Per output channel (in `channelOrder`), the divisor after the mean; nonzero. */
  std: readonly [number, number, number];
  /** Network input side in pixels (112 for iResNet and MobileFaceNet). */
  size: number;
}

/**
 * The official iResNet preprocessing without `--bgr2rgb`: BGR, (v / 255 - 0.5) / 0.5, i.e.
 * values in [-1, 1], 112 x 112 (docs/ALGORITHM.md, "Input"). Use `{ ...IRESNET_PREPROCESS,
 * channelOrder: "rgb" }` for `--bgr2rgb`.
 */
export const IRESNET_PREPROCESS: Readonly<PrepareOptions> = Object.freeze({
  channelOrder: "bgr",
  mean: [0.5, 0.5, 0.5] as const,
  std: [0.5, 0.5, 0.5] as const,
  size: 112,
});

/**
 * MobileFaceNet as trained (../shared/models/mobilefacenet/MODEL.md): RGB, v / 255, then the
 * ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), 112 x 112. Computed like
 * torchvision's ToTensor + Normalize: fl(fl(fl(v / 255) - mean) / std) in float32.
 */
export const MOBILEFACENET_PREPROCESS: Readonly<PrepareOptions> = Object.freeze({
  channelOrder: "rgb",
  mean: [0.485, 0.456, 0.406] as const,
  std: [0.229, 0.224, 0.225] as const,
  size: 112,
});

function checkOptions(opts: PrepareOptions): void {
  if (opts.channelOrder !== "bgr" && opts.channelOrder !== "rgb") {
    throw new RangeError(`channelOrder must be "bgr" or "rgb", got ${String(opts.channelOrder)}`);
  }
  if (!Number.isInteger(opts.size) || opts.size < 1) {
    throw new RangeError(`size must be a positive integer, got ${opts.size}`);
  }
  for (const [name, arr] of [["mean", opts.mean], ["std", opts.std]] as const) {
    if (!arr || arr.length !== 3 || !arr.every((v) => Number.isFinite(v))) {
      throw new RangeError(`${name} must be three finite numbers, got ${String(arr)}`);
    }
  }
  if (opts.std.some((v) => v === 0)) throw new RangeError("std must not contain 0");
}

/**
 * The float32 value table of one output channel: `table[v]` = fl(fl(fl(v / 255) - mean) / std)
 * for v = 0..255, exactly what PyTorch's float32 tensor ops give.
 *
 * @param mean subtracted after the division by 255
 * @param std divisor, nonzero
 * @returns 256 float32 values
 */
export function normalizationTable(mean: number, std: number): Float32Array {
  const m = f(mean), s = f(std);
  const t = new Float32Array(256);
  for (let v = 0; v < 256; v++) t[v] = f(f(f(v / 255) - m) / s);
  return t;
}

// Tables by (mean, std): built once, not per image and channel.
const tables = new Map<string, Float32Array>();
function cachedTable(mean: number, std: number): Float32Array {
  const key = `${mean},${std}`;
  let t = tables.get(key);
  if (!t) tables.set(key, t = normalizationTable(mean, std));
  return t;
}

/**
 * Write the network input of an already decoded image into `out` at `offset`: channel order, resize
 * to size x size when the image is not already that size (antialiased bilinear, docs/ALGORITHM.md
 * "Input" item 3; an image of the right size is used untouched), then the normalisation.
 *
 * @param img decoded RGB image ({@link decodeImage})
 * @param opts preprocessing ({@link IRESNET_PREPROCESS}, {@link MOBILEFACENET_PREPROCESS})
 * @param out destination, e.g. a whole batch buffer N x 3 x size x size
 * @param offset index in `out` (in elements) of this image's first value
 * @throws RangeError on invalid options, or when `out` is too short for 3 x size x size values
 *   at `offset`
 */
export function imageToTensorInto(
  img: DecodedImage,
  opts: PrepareOptions,
  out: Float32Array,
  offset: number,
): void {
  checkOptions(opts);
  const size = opts.size, plane = size * size;
  if (!Number.isInteger(offset) || offset < 0 || offset + 3 * plane > out.length) {
    throw new RangeError(
      `Output buffer of ${out.length} floats cannot hold 3 x ${size} x ${size} at offset ${offset}`,
    );
  }
  const px = img.width === size && img.height === size
    ? img.rgb
    : resizeAntialiasBilinear(img.rgb, img.width, img.height, size, size);
  for (let k = 0; k < 3; k++) {
    const src = opts.channelOrder === "rgb" ? k : 2 - k;
    const table = cachedTable(opts.mean[k], opts.std[k]);
    const base = offset + k * plane;
    for (let i = 0; i < plane; i++) out[base + i] = table[px[3 * i + src]];
  }
}

/**
 * Decode a file and write its network input into `out` at `offset` (the batcher fills one big
 * N x 3 x size x size buffer this way). See {@link prepareImage} for the computation.
 *
 * @param bytes the whole image file
 * @param fileName name for error messages
 * @param opts preprocessing options
 * @param out destination buffer
 * @param offset index in `out` (in elements) of this image's first value
 * @param decode the decoder's pixel cap and truncated-JPEG choice (defaults of
 *   {@link DecodeOptions})
 * @returns the decoded image (its original size, EXIF orientation and any decode warnings)
 * @throws ImageDecodeError when the file cannot be decoded or is refused
 * @throws RangeError on invalid options or a too short `out`
 */
export async function prepareImageInto(
  bytes: Uint8Array,
  fileName: string,
  opts: PrepareOptions,
  out: Float32Array,
  offset: number,
  decode: DecodeOptions = {},
): Promise<DecodedImage> {
  checkOptions(opts);
  const img = await decodeImage(bytes, fileName, decode);
  imageToTensorInto(img, opts, out, offset);
  return img;
}

/**
 * Decode a file and return its normalised network input (docs/ALGORITHM.md, "Input"):
 * 3 x size x size float32, CHW, channel 0 first in `opts.channelOrder`, value
 * fl(fl(fl(v / 255) - mean[c]) / std[c]) per output channel c. For the official iResNet
 * preprocessing ({@link IRESNET_PREPROCESS}) that is (v / 255 - 0.5) / 0.5 in [-1, 1], BGR.
 *
 * @example The official iResNet input of one image
 * ```ts
 * import { prepareImage } from "@grafiqs/grafiqs-webgpu";
 *
 * const x = await prepareImage(await Deno.readFile("face.jpg"), "face.jpg", {
 *   channelOrder: "bgr",
 *   mean: [0.5, 0.5, 0.5],
 *   std: [0.5, 0.5, 0.5],
 *   size: 112,
 * });
 * // x.length === 3 * 112 * 112; x[0] is the blue value of the top-left pixel, in [-1, 1].
 * ```
 *
 * @param bytes the whole image file
 * @param fileName name for error messages
 * @param opts preprocessing options; a model's own are `LoadedModel.graph.preprocess`
 * @param decode the decoder's pixel cap (default 50,000,000 pixels) and whether a JPEG that
 *   ends early is decoded anyway (default: refused); see {@link DecodeOptions}
 * @returns a new Float32Array of 3 * size * size values
 * @throws ImageDecodeError when the file cannot be decoded or is refused
 * @throws RangeError on invalid options
 */
export async function prepareImage(
  bytes: Uint8Array,
  fileName: string,
  opts: PrepareOptions,
  decode: DecodeOptions = {},
): Promise<Float32Array> {
  checkOptions(opts);
  const out = new Float32Array(3 * opts.size * opts.size);
  await prepareImageInto(bytes, fileName, opts, out, 0, decode);
  return out;
}
