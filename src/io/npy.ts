/**
 * NumPy `.npy` files: the writer of float32 matrices (format version 1.0), so Python users can
 * open the embeddings with `numpy.load`, and the reader of 2-D float32/float64 matrices (format
 * versions 1.0 to 3.0) that the EDC evaluation and the parity tools use.
 *
 * @module
 */

/** A malformed or unsupported `.npy` file; the message starts with the file's name. */
export class NpyFormatError extends Error {
  /** @param message the full message, `FILE: what is wrong` */
  constructor(message: string) {
    super(message);
    this.name = "NpyFormatError";
  }
}

/**
 * Encode a row-major float32 matrix as `.npy` bytes: magic `\x93NUMPY`, version 1.0, a header
 * dict `{'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }` padded with spaces
 * and a newline so the data starts at a multiple of 64 bytes, then the little-endian values.
 *
 * @throws {RangeError} when `data.length !== rows * cols`.
 */
export function encodeNpyFloat32(data: Float32Array, rows: number, cols: number): Uint8Array {
  if (data.length !== rows * cols) {
    throw new RangeError(`npy: ${data.length} values do not form a ${rows} x ${cols} matrix`);
  }
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const pre = 10; // magic (6) + version (2) + header length (2)
  const headerLen = Math.ceil((pre + dict.length + 1) / 64) * 64 - pre;
  const header = dict.padEnd(headerLen - 1, " ") + "\n";
  const out = new Uint8Array(pre + headerLen + data.byteLength);
  out.set([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0]);
  new DataView(out.buffer).setUint16(8, headerLen, true);
  out.set(new TextEncoder().encode(header), pre);
  const body = new DataView(out.buffer, pre + headerLen);
  for (let i = 0; i < data.length; i++) body.setFloat32(i * 4, data[i], true);
  return out;
}

/** A 2-D numeric array read from a `.npy` file, widened to float64, row-major. */
export interface NpyMatrix {
  /** Rows (N). */
  rows: number;
  /** Columns (D). */
  cols: number;
  /** The dtype as written in the header, e.g. `<f4`. */
  dtype: string;
  /** N × D values, row-major (element (i, j) at i * D + j). */
  data: Float64Array;
}

/**
 * Read a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0) holding a 2-D float32 or float64
 * array, little- or big-endian, C or Fortran order.
 *
 * @param bytes the whole file.
 * @param file name for messages.
 * @throws {NpyFormatError} for a bad magic string or header, another dtype, or a shape that is not
 *   2-D, or a data size that disagrees with the shape.
 */
export function parseNpy(bytes: Uint8Array, file: string): NpyMatrix {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) {
    throw new NpyFormatError(`${file}: not a .npy file (no \\x93NUMPY magic)`);
  }
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number, start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyFormatError(`${file}: truncated .npy header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyFormatError(`${file}: unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.length) throw new NpyFormatError(`${file}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(start, start + headerLen),
  );
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyFormatError(`${file}: malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.length !== 2 || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new NpyFormatError(
      `${file}: expected a 2-D array (N images x D), got shape (${shapeText})`,
    );
  }
  const m = /^([<>|=])f([48])$/.exec(descr);
  if (!m) throw new NpyFormatError(`${file}: dtype "${descr}" is not float32 or float64`);
  const little = m[1] !== ">";
  const size = Number(m[2]);
  const [rows, cols] = shape;
  const count = rows * cols;
  const offset = start + headerLen;
  if (bytes.length - offset !== count * size) {
    throw new NpyFormatError(
      `${file}: shape (${rows}, ${cols}) of ${descr} needs ${count * size} data bytes, file has ${
        bytes.length - offset
      }`,
    );
  }
  const data = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const v = size === 4
      ? dv.getFloat32(offset + 4 * k, little)
      : dv.getFloat64(offset + 8 * k, little);
    // C order: k = i * cols + j; Fortran order: k = j * rows + i.
    if (fortran === "True") data[(k % rows) * cols + Math.floor(k / rows)] = v;
    else data[k] = v;
  }
  return { rows, cols, dtype: descr, data };
}
