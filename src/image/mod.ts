/**
 * Image input for GraFIQs (docs/ALGORITHM.md, "Input"): bounded file reading, decoding with
 * OpenCV `imread` semantics (with a pixel cap against decompression bombs), EXIF orientation,
 * PyTorch-exact antialiased bilinear resize, and normalisation to the CHW float32 network input.
 *
 * @module
 */
export {
  type DecodedImage,
  decodeImage,
  type DecodeOptions,
  DEFAULT_MAX_PIXELS,
  ImageDecodeError,
} from "./decode.ts";
export { type DeclaredSize, declaredSizes } from "./header.ts";
export { DEFAULT_MAX_FILE_BYTES, ImageReadError, readImageFile } from "./read_file.ts";
export { applyExifOrientation, readExifOrientation } from "./orientation.ts";
export {
  type Accumulation,
  antialiasAxisWeights,
  type AxisWeights,
  fmaF32,
  resizeAntialiasBilinear,
  resizeAntialiasBilinearFloat,
  roundHalfEven,
} from "./resize.ts";
export {
  imageToTensorInto,
  IRESNET_PREPROCESS,
  MOBILEFACENET_PREPROCESS,
  normalizationTable,
  prepareImage,
  prepareImageInto,
  type PrepareOptions,
} from "./normalize.ts";
