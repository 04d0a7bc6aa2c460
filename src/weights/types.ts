/**
 * Shared types for checkpoint tensors and model descriptions.
 *
 * @module
 */

/** Element types a checkpoint tensor may have (PyTorch storage types, by their dtype name). */
export type DType =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/**
 * One tensor of a checkpoint, as stored: row-major (C order, contiguous), little-endian bytes.
 * `data.byteLength === product(shape) * bytesPerElement(dtype)`.
 */
export interface WeightTensor {
  /** Element type as stored in the file. */
  dtype: DType;
  /** Shape, outermost first (PyTorch order, e.g. conv weights are [Cout, Cin/groups, kH, kW]). */
  shape: number[];
  /** Contiguous little-endian element bytes. */
  data: Uint8Array;
}

/** A state_dict: parameter and buffer names (PyTorch keys) to tensors, in file order. */
export type StateDict = Map<string, WeightTensor>;

/**
 * How images are prepared for a model; travels with converted weights.
 * x = (v / 255 - mean[c]) / std[c] for 8-bit value v of channel c, after channel ordering.
 */
export interface Preprocess {
  /** Channel order fed to the network: "bgr" (the official iResNet default) or "rgb". */
  channelOrder: "bgr" | "rgb";
  /** Per-channel mean in units of v/255, in network channel order. */
  mean: [number, number, number];
  /** Per-channel standard deviation in units of v/255, in network channel order. */
  std: [number, number, number];
  /** Square input size in pixels (112 for the iResNets and MobileFaceNet). */
  size: number;
}

/**
 * Formats a weights file may have: a PyTorch checkpoint in the zip layout (torch.save since
 * 1.6) or the legacy layout (before 1.6), or the project's converted GFQW file
 * (weights/README.md).
 */
export type WeightsFormat = "torch-zip" | "torch-legacy" | "gfqw";

/**
 * What `readWeightsFile` (src/weights/read_file.ts) and `parseWeights` (src/weights/pth.ts)
 * return: the tensors and the model description.
 */
export interface LoadedWeights {
  /** The file's format, detected from its content. */
  format: WeightsFormat;
  /** Parameter and buffer names to tensors, in file order. */
  stateDict: StateDict;
  /**
   * Free-form model description stored with converted weights (GFQW header `meta`; e.g.
   * `backbone`, `preprocess` of type {@link Preprocess}, group names); `{}` for PyTorch files.
   */
  meta: Record<string, unknown>;
  /**
   * The whole file as read (tensors may be views into it), so that a caller can fingerprint
   * the weights without reading the file again (the resume journal does).
   */
  bytes: Uint8Array;
}
