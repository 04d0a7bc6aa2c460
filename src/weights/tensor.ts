/**
 * Element sizes and numeric conversion of checkpoint tensors ({@link WeightTensor}).
 *
 * All tensor bytes are little-endian (PyTorch writes little-endian on every platform it
 * supports, and the converted GFQW format is little-endian); the conversions below read them
 * through typed arrays, which use the host byte order, so they assume a little-endian host (every
 * platform Deno runs on). {@link tensorToFloat32} checks this once and throws otherwise.
 *
 * @module
 */
import type { DType, WeightTensor } from "./types.ts";

/** Bytes per element of each {@link DType} (PyTorch's element sizes; bool is one byte). */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
});

/** True when `s` names a {@link DType}. */
export function isDType(s: unknown): s is DType {
  return typeof s === "string" && Object.hasOwn(DTYPE_BYTES, s);
}

/**
 * Bytes per element of `dtype`.
 * @throws Error for a string that is not a {@link DType}.
 */
export function bytesPerElement(dtype: DType): number {
  if (!isDType(dtype)) throw new Error(`unknown dtype "${String(dtype)}"`);
  return DTYPE_BYTES[dtype];
}

/**
 * Number of elements of a tensor of this shape: the product of the dimensions, 1 for a 0-d
 * (scalar) shape `[]`, 0 when any dimension is 0.
 * @throws Error when a dimension is not a non-negative safe integer or the product exceeds
 * `Number.MAX_SAFE_INTEGER`.
 */
export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`invalid dimension ${String(d)} in shape [${shape.join(", ")}]`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) throw new Error(`shape [${shape.join(", ")}] is too large`);
  }
  return n;
}

let hostChecked = false;
function checkLittleEndianHost(): void {
  if (hostChecked) return;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("weights: a big-endian host is not supported (tensor bytes are little-endian)");
  }
  hostChecked = true;
}

let f16Table: Float32Array | undefined;

/**
 * The 65536-entry table from IEEE 754 binary16 bit patterns to their float32 values. Every
 * binary16 value (subnormals, ±0, ±inf, NaN payloads' sign) is exactly representable in float32,
 * so the table is exact. Built once on first use (256 KiB).
 */
export function float16Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) {
      // inf or NaN: all-ones exponent, mantissa shifted into the float32 mantissa's top bits.
      bits[h] = sign | 0x7f800000 | (mant << 13);
    } else if (exp !== 0) {
      // normal: rebias the exponent from 15 to 127.
      bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant === 0) {
      bits[h] = sign; // ±0
    } else {
      // subnormal binary16 = mant * 2^-24: normalise into a float32 normal.
      let e = 113; // float32 biased exponent of 2^-14
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      bits[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  f16Table = table;
  return table;
}

/** A typed-array view of `data` when its offset is aligned to `size`, else of an aligned copy. */
function aligned(data: Uint8Array, size: number): { buffer: ArrayBufferLike; byteOffset: number } {
  if (data.byteOffset % size === 0) return { buffer: data.buffer, byteOffset: data.byteOffset };
  const copy = data.slice();
  return { buffer: copy.buffer, byteOffset: 0 };
}

/**
 * The tensor's elements as a new Float32Array of `product(shape)` values in the tensor's
 * row-major order.
 *
 * - float32: copied bit for bit (NaN payloads included);
 * - float16 and bfloat16: converted exactly (every value of both is a float32 value); float16
 *   through a 65536-entry lookup table, bfloat16 by placing its 16 bits in the high half;
 * - float64 and the integer types: rounded to the nearest float32 (int64 via the nearest double
 *   first, exact below 2^53); bool gives 0 or 1.
 *
 * The result never shares memory with `t.data`.
 * @throws Error when `t.data.byteLength` is not `product(t.shape) * bytesPerElement(t.dtype)`,
 * for an unknown dtype, or on a big-endian host.
 */
export function tensorToFloat32(t: WeightTensor): Float32Array {
  checkLittleEndianHost();
  const size = bytesPerElement(t.dtype);
  const n = numElements(t.shape);
  if (t.data.byteLength !== n * size) {
    throw new Error(
      `tensor of dtype ${t.dtype} and shape [${t.shape.join(", ")}] needs ${n * size} bytes, ` +
        `has ${t.data.byteLength}`,
    );
  }
  const out = new Float32Array(n);
  if (n === 0) return out;
  const { buffer, byteOffset } = aligned(t.data, size);
  switch (t.dtype) {
    case "float32":
      new Uint8Array(out.buffer).set(t.data);
      break;
    case "float16": {
      const table = float16Table();
      const src = new Uint16Array(buffer, byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
      break;
    }
    case "bfloat16": {
      const src = new Uint16Array(buffer, byteOffset, n);
      const dst = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) dst[i] = src[i] << 16;
      break;
    }
    case "float64":
      out.set(new Float64Array(buffer, byteOffset, n));
      break;
    case "int64": {
      const src = new BigInt64Array(buffer, byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      break;
    }
    case "int32":
      out.set(new Int32Array(buffer, byteOffset, n));
      break;
    case "int16":
      out.set(new Int16Array(buffer, byteOffset, n));
      break;
    case "int8":
      out.set(new Int8Array(buffer, byteOffset, n));
      break;
    case "uint8":
      out.set(t.data);
      break;
    case "bool":
      for (let i = 0; i < n; i++) out[i] = t.data[i] !== 0 ? 1 : 0;
      break;
  }
  return out;
}
