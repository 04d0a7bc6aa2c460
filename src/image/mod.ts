/**
 * Image input for GraFIQs (docs/ALGORITHM.md, "Input"): decoding with OpenCV `imread` semantics,
 * EXIF orientation, PyTorch-exact antialiased bilinear resize, and normalisation to the CHW float32
 * network input.
 *
 * @module
 */
export { type DecodedImage, decodeImage, ImageDecodeError } from "./decode.ts";
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
