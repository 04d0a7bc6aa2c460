/**
 * NumPy `.npy` (format version 1.0) writer for float32 matrices, so Python users can open the
 * embeddings with `numpy.load`.
 *
 * @module
 */

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
