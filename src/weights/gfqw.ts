/**
 * GFQW: the project's own converted-weights file format (version 1).
 *
 * Layout (all integers little-endian; described for users in weights/README.md):
 *
 * | bytes                  | content                                                        |
 * | ---------------------- | -------------------------------------------------------------- |
 * | 0..3                   | magic, the ASCII bytes "GFQW"                                  |
 * | 4..7                   | format version, u32 (= 1)                                      |
 * | 8..11                  | header length H in bytes, u32                                  |
 * | 12..12+H               | header: UTF-8 JSON object (see {@link GfqwHeader})             |
 * | 12+H..D                | zero padding up to D = 12+H rounded up to a multiple of 64     |
 * | D..D+dataLength        | data section: each tensor's bytes at D + offset, offsets are   |
 * |                        | multiples of 64, zero padding between tensors                  |
 *
 * The file ends exactly at D + dataLength. Tensor bytes are contiguous, row-major, little-endian,
 * in the tensor's dtype (float16 stays float16). Because D and every offset are multiples of 64,
 * a decoded tensor can be viewed as a typed array (or uploaded) without copying.
 *
 * @module
 */
import type { DType, StateDict, WeightTensor } from "./types.ts";
import { bytesPerElement, isDType, numElements } from "./tensor.ts";

/** The 4 magic bytes, "GFQW". */
export const GFQW_MAGIC = "GFQW";
/** The format version this module writes and reads. */
export const GFQW_VERSION = 1;
/** Alignment in bytes of the data section and of every tensor within it. */
export const GFQW_ALIGN = 64;
/** Bytes before the JSON header: magic, version, header length. */
const FIXED = 12;

/** One tensor's entry in the JSON header. */
export interface GfqwTensorEntry {
  /** State_dict key (PyTorch parameter or buffer name). */
  name: string;
  /** Element type of the stored bytes. */
  dtype: DType;
  /** Shape, outermost first; `[]` for a scalar. */
  shape: number[];
  /** Byte offset from the start of the data section; a multiple of 64. */
  offset: number;
  /** Byte length, exactly product(shape) * bytesPerElement(dtype). */
  length: number;
}

/** The JSON header of a GFQW file. */
export interface GfqwHeader {
  /** Tensors in state_dict order (offsets increase in files this module writes). */
  tensors: GfqwTensorEntry[];
  /** Bytes of the data section: the end of the last tensor rounded up to 64 (0 when empty). */
  dataLength: number;
  /**
   * Free-form model description (JSON object), e.g. `backbone` (string), `preprocess`
   * ({@link import("./types.ts").Preprocess}), `groups` (string[]), `source` (file name).
   */
  meta: Record<string, unknown>;
}

const align = (n: number) => Math.ceil(n / GFQW_ALIGN) * GFQW_ALIGN;

/** True when `bytes` starts with the GFQW magic. */
export function isGfqw(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === 0x47 && bytes[1] === 0x46 && bytes[2] === 0x51 &&
    bytes[3] === 0x57;
}

/**
 * Encode a state_dict and a model description as a GFQW file.
 * @param sd tensors in the order to store them; each `data` must hold exactly
 * product(shape) * bytesPerElement(dtype) bytes.
 * @param meta JSON-serialisable object stored as the header's `meta`.
 * @returns the whole file.
 * @throws Error naming the tensor when its byte length does not match dtype and shape or its
 * dtype or shape is invalid, or when `meta` is not a JSON-serialisable plain object.
 */
export function encodeGfqw(sd: StateDict, meta: Record<string, unknown> = {}): Uint8Array {
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    throw new Error("GFQW meta must be a plain object");
  }
  const tensors: GfqwTensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of sd) {
    if (!isDType(t.dtype)) throw new Error(`tensor "${name}": unknown dtype "${t.dtype}"`);
    const n = numElements(t.shape);
    const length = n * bytesPerElement(t.dtype);
    if (t.data.byteLength !== length) {
      throw new Error(
        `tensor "${name}": ${t.dtype} [${t.shape}] needs ${length} bytes, has ${t.data.byteLength}`,
      );
    }
    tensors.push({ name, dtype: t.dtype, shape: [...t.shape], offset, length });
    offset = align(offset + length);
  }
  const header: GfqwHeader = { tensors, dataLength: offset, meta };
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (e) {
    throw new Error(`GFQW meta is not JSON-serialisable: ${(e as Error).message}`);
  }
  const headerBytes = new TextEncoder().encode(json);
  const dataStart = align(FIXED + headerBytes.byteLength);
  const out = new Uint8Array(dataStart + offset);
  out.set([0x47, 0x46, 0x51, 0x57]);
  const view = new DataView(out.buffer);
  view.setUint32(4, GFQW_VERSION, true);
  view.setUint32(8, headerBytes.byteLength, true);
  out.set(headerBytes, FIXED);
  let i = 0;
  for (const t of sd.values()) out.set(t.data, dataStart + tensors[i++].offset);
  return out;
}

function fail(fileName: string, what: string): never {
  throw new Error(`${fileName}: invalid GFQW file: ${what}`);
}

/**
 * Decode a GFQW file.
 *
 * The tensors' `data` are views of `bytes` (no copy) when `bytes.byteOffset` is a multiple of
 * 64 (as for `Deno.readFile` results); otherwise the file is first copied to an aligned buffer.
 * Either way every `data.byteOffset` is a multiple of 64.
 *
 * @param bytes the whole file.
 * @param fileName used in every error message.
 * @returns the state_dict in header order and the header's `meta`.
 * @throws Error naming the file when: the magic is not "GFQW", the version is not 1, the file is
 * shorter than its header or data section says (truncated) or longer (trailing bytes), the
 * header is not valid JSON of the documented shape, a tensor has an unknown dtype, an invalid
 * shape, a length other than product(shape) * element size, an offset that is not a multiple
 * of 64 or lies outside the data section, a duplicate name, or overlaps another tensor.
 */
export function decodeGfqw(
  bytes: Uint8Array,
  fileName: string,
): { stateDict: StateDict; meta: Record<string, unknown> } {
  if (!isGfqw(bytes)) fail(fileName, 'it does not start with the magic "GFQW"');
  if (bytes.byteLength < FIXED) fail(fileName, "truncated inside the fixed header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== GFQW_VERSION) {
    fail(fileName, `version ${version} is not supported (this reader knows ${GFQW_VERSION})`);
  }
  const headerLength = view.getUint32(8, true);
  if (FIXED + headerLength > bytes.byteLength) {
    fail(
      fileName,
      `header of ${headerLength} bytes runs past the end of the file (${bytes.byteLength} ` +
        `bytes): truncated`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(FIXED, FIXED + headerLength)),
    );
  } catch (e) {
    fail(fileName, `header is not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail(fileName, "header is not a JSON object");
  }
  const h = header as Record<string, unknown>;
  const meta = h.meta;
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) {
    fail(fileName, "header.meta is not an object");
  }
  const dataLength = h.dataLength;
  if (typeof dataLength !== "number" || !Number.isSafeInteger(dataLength) || dataLength < 0) {
    fail(fileName, "header.dataLength is not a non-negative integer");
  }
  const dataStart = align(FIXED + headerLength);
  if (dataStart + dataLength > bytes.byteLength) {
    fail(
      fileName,
      `data section ends at byte ${dataStart + dataLength} but the file has ` +
        `${bytes.byteLength} bytes: truncated`,
    );
  }
  if (dataStart + dataLength < bytes.byteLength) {
    fail(
      fileName,
      `${bytes.byteLength - dataStart - dataLength} unexpected bytes after the data section`,
    );
  }
  if (!Array.isArray(h.tensors)) fail(fileName, "header.tensors is not an array");
  let base = bytes;
  if (bytes.byteOffset % GFQW_ALIGN !== 0) base = bytes.slice();
  const entries: GfqwTensorEntry[] = [];
  const names = new Set<string>();
  const sd: StateDict = new Map();
  for (const [i, raw] of (h.tensors as unknown[]).entries()) {
    if (raw === null || typeof raw !== "object") fail(fileName, `tensors[${i}] is not an object`);
    const e = raw as Record<string, unknown>;
    const name = e.name;
    if (typeof name !== "string") fail(fileName, `tensors[${i}].name is not a string`);
    const what = `tensor "${name}"`;
    if (names.has(name)) fail(fileName, `${what} appears twice`);
    names.add(name);
    if (!isDType(e.dtype)) fail(fileName, `${what} has unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape)) fail(fileName, `${what} has no shape array`);
    let n: number;
    try {
      n = numElements(e.shape as number[]);
    } catch (err) {
      fail(fileName, `${what}: ${(err as Error).message}`);
    }
    const { offset, length } = e;
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
      fail(fileName, `${what} has an invalid offset`);
    }
    if (offset % GFQW_ALIGN !== 0) {
      fail(fileName, `${what} offset ${offset} is not a multiple of ${GFQW_ALIGN}`);
    }
    const need = n * bytesPerElement(e.dtype);
    if (length !== need) {
      fail(
        fileName,
        `${what} has length ${String(length)} but ${e.dtype} [${e.shape}] needs ${need} bytes`,
      );
    }
    if (offset + need > dataLength) {
      fail(
        fileName,
        `${what} (bytes ${offset}..${offset + need}) lies outside the data section ` +
          `(${dataLength} bytes)`,
      );
    }
    const shape = [...(e.shape as number[])];
    entries.push({ name, dtype: e.dtype, shape, offset, length: need });
    const start = dataStart + offset;
    const t: WeightTensor = { dtype: e.dtype, shape, data: base.subarray(start, start + need) };
    sd.set(name, t);
  }
  const sorted = entries.filter((e) => e.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1], b = sorted[i];
    if (a.offset + a.length > b.offset) {
      fail(fileName, `tensors "${a.name}" and "${b.name}" overlap`);
    }
  }
  return { stateDict: sd, meta: meta as Record<string, unknown> };
}
