/**
 * Reader of PyTorch checkpoints (`.pth` / `.pt` files written by `torch.save`) that never runs
 * anything from the file.
 *
 * A checkpoint is a Python pickle whose tensors refer to raw storages. The pickle is parsed with
 * the npm package `pickleparser`, and every global it names is looked up in a fixed whitelist:
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` / `_rebuild_tensor` /
 * `_rebuild_parameter` / `_rebuild_parameter_with_state`, and the storage classes
 * `torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage` (also under
 * `torch.cuda.`) and `torch.UntypedStorage`. The whitelisted names map to small functions of
 * this module that only record what the pickle describes; any other global (a model class,
 * `os.system`, `builtins.eval`, ...) is an error that names it, raised before the pickle goes on.
 *
 * Two layouts are read (see weights/README.md for the byte-level description):
 * - zip (PyTorch >= 1.6): `<folder>/data.pkl` plus one entry `<folder>/data/<key>` per storage,
 *   `<folder>` being any single folder name (PyTorch uses the saved file's stem);
 * - legacy (before 1.6, or `_use_new_zipfile_serialization=False`): consecutive pickles (magic
 *   number, protocol version 1001, system info, the object, the sorted list of storage keys),
 *   then each storage as an 8-byte little-endian element count and its raw bytes. The system
 *   info's `type_sizes` are ignored: Windows saves claim `long` is 4 bytes while the counts and
 *   LongStorage elements are 8 bytes regardless.
 *
 * What is accepted as the state_dict, in this order: the top-level dict when any of its values is
 * a tensor; else the dict stored under `"state_dict"`, else the one under `"model"` (training
 * checkpoints). Non-tensor values inside it are left out. When every key starts with `module.`
 * (a model saved from `nn.DataParallel` / `DistributedDataParallel`) that prefix is removed.
 *
 * @module
 */
import { BufferReader, Parser } from "pickleparser";
import type { DType, LoadedWeights, StateDict, WeightsFormat, WeightTensor } from "./types.ts";
import { bytesPerElement, numElements } from "./tensor.ts";
import { readZipDirectory, type ZipEntry, zipEntryData } from "./zip.ts";
import { decodeGfqw, isGfqw } from "./gfqw.ts";

export { tensorToFloat32 } from "./tensor.ts";

/** The number `torch.save` pickles first in the legacy format (0x1950a86a20f9469cfc6c). */
const LEGACY_MAGIC = new Uint8Array([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
/** The legacy format's protocol version, pickled second. */
const LEGACY_PROTOCOL_VERSION = 1001;

/**
 * Default cap on the size of a weights file that `readWeightsFile` (weights/read_file.ts) reads: 4 GiB (the
 * largest official backbone, iResNet-200, is about 0.3 GB).
 */
export const WEIGHTS_MAX_FILE_BYTES = 4 * 2 ** 30;
/**
 * Default cap on the bytes inflated from the deflated entries of one zip checkpoint, all
 * entries together: 4 GiB (torch.save stores entries uncompressed, which costs nothing here).
 */
export const WEIGHTS_MAX_INFLATED_BYTES = 4 * 2 ** 30;
/** Largest `data.pkl` entry of a zip checkpoint: 64 MiB (real ones are tens of KB). */
export const PICKLE_MAX_BYTES = 64 * 2 ** 20;
/** Largest `byteorder` entry of a zip checkpoint ("little" is 6 bytes). */
const BYTEORDER_MAX_BYTES = 64;

/**
 * Caps that bound the memory a hostile weights file can make the reader use (SECURITY.md).
 * Every field is optional; the defaults are the exported constants.
 */
export interface WeightsReadLimits {
  /**
   * Largest file `readWeightsFile` (weights/read_file.ts) reads, in bytes (default
   * {@link WEIGHTS_MAX_FILE_BYTES}, 4 GiB); a larger file is refused before it is read.
   */
  maxFileBytes?: number;
  /**
   * Most bytes inflated from the deflated entries of a zip checkpoint, all together (default
   * {@link WEIGHTS_MAX_INFLATED_BYTES}, 4 GiB). Each storage entry is also bounded by the size
   * its pickle describes (element count x element size), checked before inflating.
   */
  maxInflatedBytes?: number;
}

/** PyTorch storage class name (without module) to element type. */
const STORAGE_DTYPES: Readonly<Record<string, DType>> = Object.freeze({
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  DoubleStorage: "float64",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
});

/** A storage class named by the pickle (`torch.FloatStorage`, ...). */
class StorageType {
  constructor(readonly name: string, readonly dtype: DType) {
    Object.freeze(this);
  }
}

/** A storage referred to by a persistent id: what the pickle says about it. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** Element count claimed by the persistent id (of the root storage for legacy views). */
    readonly numel: number,
    readonly location: string,
    /** Legacy storage views only: element offset and length of the view in the root storage. */
    readonly view?: { offset: number; numel: number },
  ) {
    Object.freeze(this);
  }
}

/** A tensor as the pickle describes it, before its storage bytes are known. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    Object.freeze(this);
  }
}

/** State shared by the whitelisted globals and the persistent-id resolver during one parse. */
interface ParseContext {
  /** Storages by key, as first referenced. */
  storages: Map<string, StorageRef>;
  /** Legacy format: persistent ids carry a 6th element (view metadata). */
  legacy: boolean;
}

/** Copy a pickled tuple/list into a fresh array of its elements (ignoring its prototype). */
function tuple(x: unknown, what: string): unknown[] {
  if (!Array.isArray(x)) throw new Error(`${what} is not a tuple`);
  return Array.prototype.slice.call(x);
}

function natural(x: unknown, what: string): number {
  if (typeof x === "bigint" && x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(x);
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
    throw new Error(`${what} is ${String(x)}, expected a non-negative integer`);
  }
  return x;
}

function naturals(x: unknown, what: string): number[] {
  return tuple(x, what).map((v, i) => natural(v, `${what}[${i}]`));
}

function makeTensorRef(storage: unknown, offset: unknown, size: unknown, stride: unknown) {
  if (!(storage instanceof StorageRef)) {
    throw new Error("_rebuild_tensor: first argument is not a storage reference");
  }
  const shape = naturals(size, "tensor size");
  const strides = naturals(stride, "tensor stride");
  if (shape.length !== strides.length) {
    throw new Error(`tensor size [${shape}] and stride [${strides}] differ in length`);
  }
  return new TensorRef(storage, natural(offset, "storage offset"), shape, strides);
}

/** The whitelist: fully qualified global name -> the function or marker it resolves to. */
function makeGlobals(): Map<string, (...args: unknown[]) => unknown> {
  const g = new Map<string, (...args: unknown[]) => unknown>();
  const add = (name: string, value: unknown) => {
    Object.freeze(value);
    g.set(name, value as (...args: unknown[]) => unknown);
  };
  add("collections.OrderedDict", (...args: unknown[]) => {
    const m = new Map<unknown, unknown>();
    if (args.length > 0) {
      for (const pair of tuple(args[0], "OrderedDict items")) {
        const kv = tuple(pair, "OrderedDict item");
        m.set(kv[0], kv[1]);
      }
    }
    return m;
  });
  const rebuild = (...a: unknown[]) => makeTensorRef(a[0], a[1], a[2], a[3]);
  add("torch._utils._rebuild_tensor_v2", rebuild);
  add("torch._utils._rebuild_tensor", (...a: unknown[]) => makeTensorRef(a[0], a[1], a[2], a[3]));
  const parameter = (data: unknown) => {
    if (!(data instanceof TensorRef)) throw new Error("_rebuild_parameter: data is not a tensor");
    return data;
  };
  add("torch._utils._rebuild_parameter", parameter);
  add("torch._utils._rebuild_parameter_with_state", (data: unknown) => parameter(data));
  for (const [cls, dtype] of Object.entries(STORAGE_DTYPES)) {
    add(`torch.${cls}`, new StorageType(cls, dtype));
    add(`torch.cuda.${cls}`, new StorageType(cls, dtype));
  }
  add("torch.UntypedStorage", new StorageType("UntypedStorage", "uint8"));
  return g;
}

/**
 * Resolve a persistent id: ('storage', storage_type, key, location, numel) in the zip format,
 * with a 6th element view_metadata (None or (view_key, offset, size)) in the legacy format.
 */
function resolveStorage(pid: unknown, ctx: ParseContext): StorageRef {
  const t = tuple(pid, "persistent id");
  if (t[0] !== "storage") {
    throw new Error(
      `persistent id of type ${JSON.stringify(String(t[0]))} (only "storage" is supported; a ` +
        `legacy save of a whole module refers to its source code this way)`,
    );
  }
  if (t.length !== (ctx.legacy ? 6 : 5)) {
    throw new Error(
      `storage persistent id has ${t.length} elements, expected ${ctx.legacy ? 6 : 5}`,
    );
  }
  const type = t[1];
  if (!(type instanceof StorageType)) throw new Error("storage persistent id without storage type");
  const key = t[2];
  if (typeof key !== "string") throw new Error("storage key is not a string");
  const location = typeof t[3] === "string" ? t[3] : String(t[3]);
  const numel = natural(t[4], `element count of storage ${key}`);
  let view: { offset: number; numel: number } | undefined;
  if (ctx.legacy && t[5] !== null && t[5] !== undefined) {
    const vm = tuple(t[5], "storage view metadata");
    view = { offset: natural(vm[1], "storage view offset"), numel: natural(vm[2], "view size") };
    if (view.offset + view.numel > numel) {
      throw new Error(`storage view ${String(vm[0])} exceeds its root storage ${key}`);
    }
  }
  const ref = new StorageRef(key, type.dtype, numel, location, view);
  const known = ctx.storages.get(key);
  if (known) {
    if (known.dtype !== ref.dtype) {
      throw new Error(`storage ${key} is used both as ${known.dtype} and ${ref.dtype}`);
    }
  } else {
    ctx.storages.set(key, ref);
  }
  return ref;
}

/**
 * Unpickle one pickle starting at the reader's position, leaving the reader after its STOP.
 * Only protocol >= 2 pickles (what torch.save writes) are accepted.
 */
function unpickle(reader: BufferReader, bytes: Uint8Array, ctx: ParseContext): unknown {
  const start = reader.position;
  if (start >= bytes.byteLength) throw new Error("unexpected end of file (truncated)");
  if (bytes[start] !== 0x80 || bytes[start + 1] < 2) {
    throw new Error(
      `pickle at byte ${start} does not start with protocol >= 2 (torch.save writes protocol 2)`,
    );
  }
  const globals = makeGlobals();
  const parser = new Parser({
    nameResolver: {
      resolve(module: string, name: string) {
        const fq = `${module}.${name}`;
        const value = globals.get(fq);
        if (value === undefined) {
          throw new Error(
            `refusing unknown global "${fq}": only tensors, storages and dicts may appear in a ` +
              `checkpoint (a pickled Python object or code, e.g. torch.save(model) instead of ` +
              `torch.save(model.state_dict()), is never executed)`,
          );
        }
        return value;
      },
    },
    persistentResolver: { resolve: (pid: unknown) => resolveStorage(pid, ctx) },
    extensionResolver: {
      resolve: (code: number) => {
        throw new Error(`refusing pickle extension code ${code}`);
      },
    },
    unpicklingTypeOfDictionary: "Map",
    unpicklingTypeOfSet: "array",
  });
  // pickleparser prints "N exceeds MAX_SAFE_INTEGER. Precision may be lost" (console.warn) for
  // a huge LONG1 integer, as a hostile file holds; natural() refuses such a value with a message
  // naming the field, so the library's line is only noise. The parse is synchronous: the filter
  // is in place for exactly its duration.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!(args.length === 2 && args[1] === UNSAFE_INTEGER_WARNING)) warn(...args);
  };
  try {
    return parser.read(reader);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/end of file|more bytes|end of line/i.test(msg)) {
      throw new Error(`pickle at byte ${start} is truncated (${msg})`);
    }
    throw new Error(`pickle at byte ${start}: ${msg}`);
  } finally {
    console.warn = warn;
  }
}

/** The second argument of pickleparser's console.warn for an integer above 2^53 - 1. */
const UNSAFE_INTEGER_WARNING = "exceeds MAX_SAFE_INTEGER. Precision may be lost";

/** True when the map has at least one tensor value. */
function hasTensor(m: unknown): m is Map<unknown, unknown> {
  if (!(m instanceof Map)) return false;
  for (const v of m.values()) if (v instanceof TensorRef) return true;
  return false;
}

/** Apply the unwrapping rule of the module documentation; returns [name, tensor] in file order. */
function selectTensors(obj: unknown): [string, TensorRef][] {
  if (!(obj instanceof Map)) {
    const kind = Array.isArray(obj) ? "list/tuple" : obj === null ? "None" : typeof obj;
    throw new Error(`the checkpoint holds a ${kind}, not a dict of tensors (a state_dict)`);
  }
  let dict: Map<unknown, unknown> | undefined = hasTensor(obj) ? obj : undefined;
  for (const k of ["state_dict", "model"]) {
    if (dict) break;
    const v = obj.get(k);
    if (hasTensor(v)) dict = v;
  }
  if (!dict) {
    const keys = [...obj.keys()].map((k) => JSON.stringify(String(k))).slice(0, 20);
    throw new Error(
      `no tensors found: the top-level dict (keys ${keys.join(", ")}) holds no tensors and no ` +
        `"state_dict" or "model" dict of tensors`,
    );
  }
  const out: [string, TensorRef][] = [];
  for (const [k, v] of dict) {
    if (!(v instanceof TensorRef)) continue;
    if (typeof k !== "string") throw new Error(`state_dict key ${String(k)} is not a string`);
    out.push([k, v]);
  }
  if (out.every(([k]) => k.startsWith("module."))) {
    for (const e of out) e[0] = e[0].slice("module.".length);
  }
  return out;
}

/**
 * Make a tensor's contiguous bytes from its storage. Contiguous tensors are views of `storage`
 * (copied only when the view would not be aligned to the element size); strided ones are
 * gathered into a new array.
 */
function materialize(name: string, t: TensorRef, storage: Uint8Array): WeightTensor {
  const dtype = t.storage.dtype;
  const es = bytesPerElement(dtype);
  const shape = [...t.shape];
  const n = numElements(shape);
  const base = (t.storage.view?.offset ?? 0) + t.offset;
  const limit = t.storage.view
    ? t.storage.view.offset + t.storage.view.numel
    : Math.floor(storage.byteLength / es);
  if (n === 0) return { dtype, shape, data: new Uint8Array(0) };
  let last = base;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * t.stride[i];
  if (last >= limit) {
    throw new Error(
      `tensor "${name}" (shape [${shape}], stride [${t.stride}], offset ${t.offset}) reaches ` +
        `element ${last} of storage ${t.storage.key}, which has ${limit}`,
    );
  }
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= shape[i];
  }
  if (contiguous) {
    const data = storage.subarray(base * es, (base + n) * es);
    return { dtype, shape, data: data.byteOffset % es === 0 ? data : data.slice() };
  }
  // Strided gather: rows along the last dimension, odometer over the others.
  const out = new Uint8Array(n * es);
  const nd = shape.length;
  const inner = shape[nd - 1], innerStride = t.stride[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let src = base, dst = 0;
  for (let row = 0, rows = n / inner; row < rows; row++) {
    if (innerStride === 1) {
      out.set(storage.subarray(src * es, (src + inner) * es), dst);
      dst += inner * es;
    } else {
      for (let j = 0; j < inner; j++) {
        const s = (src + j * innerStride) * es;
        for (let b = 0; b < es; b++) out[dst++] = storage[s + b];
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      src += t.stride[d];
      if (idx[d] < shape[d]) break;
      src -= t.stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return { dtype, shape, data: out };
}

function buildStateDict(obj: unknown, storageBytes: (ref: StorageRef) => Uint8Array): StateDict {
  const sd: StateDict = new Map();
  for (const [name, t] of selectTensors(obj)) {
    if (sd.has(name)) throw new Error(`duplicate tensor name "${name}"`);
    sd.set(name, materialize(name, t, storageBytes(t.storage)));
  }
  return sd;
}

function readZipCheckpoint(
  bytes: Uint8Array,
  fileName: string,
  maxInflatedBytes: number,
): StateDict {
  const entries = readZipDirectory(bytes, fileName);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new Error(
      `${fileName}: a zip checkpoint has exactly one <folder>/data.pkl entry, this one has ` +
        `${pkls.length === 0 ? "none" : pkls.join(", ")}`,
    );
  }
  const prefix = pkls[0].slice(0, -"data.pkl".length);
  // Bytes inflated so far (deflated entries only; stored entries are views of `bytes`).
  let inflated = 0;
  const entryData = (entry: ZipEntry, limit: number): Uint8Array => {
    if (entry.method !== 0 && inflated + entry.size > maxInflatedBytes) {
      throw new Error(
        `${fileName}: zip entry "${entry.name}" declares ${entry.size} bytes; with the ` +
          `${inflated} already inflated that passes the cap of ${maxInflatedBytes} bytes of ` +
          `inflated data per checkpoint`,
      );
    }
    const data = zipEntryData(bytes, entry, fileName, limit);
    if (entry.method !== 0) inflated += data.byteLength;
    return data;
  };
  const order = entries.get(prefix + "byteorder");
  if (order) {
    const text = new TextDecoder().decode(entryData(order, BYTEORDER_MAX_BYTES)).trim();
    if (text !== "little") {
      throw new Error(`${fileName}: byteorder is "${text}", only little-endian is supported`);
    }
  }
  const ctx: ParseContext = { storages: new Map(), legacy: false };
  const pkl = entryData(entries.get(pkls[0])!, PICKLE_MAX_BYTES);
  let obj: unknown;
  try {
    obj = unpickle(new BufferReader(pkl), pkl, ctx);
  } catch (e) {
    throw new Error(`${fileName}: ${pkls[0]}: ${(e as Error).message}`);
  }
  const cache = new Map<string, Uint8Array>();
  const storageBytes = (ref: StorageRef): Uint8Array => {
    let data = cache.get(ref.key);
    if (data) return data;
    const entryName = `${prefix}data/${ref.key}`;
    const entry = entries.get(entryName);
    if (!entry) throw new Error(`storage ${ref.key} is missing (no entry ${entryName})`);
    // The pickle says how many bytes the storage has: the entry must declare exactly that
    // (torch.save writes it so), and nothing more is ever inflated.
    const need = ref.numel * bytesPerElement(ref.dtype);
    const what = `storage ${ref.key} (${ref.dtype}, ${ref.numel} elements) needs ${need} bytes`;
    if (entry.size < need) throw new Error(`${what}, entry ${entryName} has ${entry.size}`);
    if (entry.size > need) {
      throw new Error(
        `${what}, entry ${entryName} declares ${entry.size}: refusing to read more than the ` +
          `pickle describes`,
      );
    }
    data = entryData(entry, need);
    cache.set(ref.key, data);
    return data;
  };
  try {
    return buildStateDict(obj, storageBytes);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(fileName) ? msg : `${fileName}: ${msg}`);
  }
}

/**
 * Length of the legacy magic-number pickle at the start of `bytes`, or 0 when it is not there.
 * (`pickleparser` cannot decode this 10-byte LONG1, so it is matched byte by byte:
 * PROTO n, an optional FRAME, LONG1 of 10 bytes, STOP.)
 */
function legacyMagicLength(bytes: Uint8Array): number {
  if (bytes.byteLength < 15 || bytes[0] !== 0x80 || bytes[1] < 2 || bytes[1] > 5) return 0;
  let p = 2;
  if (bytes[p] === 0x95) p += 9; // FRAME + 8-byte length (protocol 4+)
  if (bytes[p] !== 0x8a || bytes[p + 1] !== 10) return 0;
  for (let i = 0; i < 10; i++) if (bytes[p + 2 + i] !== LEGACY_MAGIC[i]) return 0;
  return bytes[p + 12] === 0x2e ? p + 13 : 0;
}

function readLegacyCheckpoint(bytes: Uint8Array, fileName: string): StateDict {
  const magicLen = legacyMagicLength(bytes);
  if (!magicLen) throw new Error(`${fileName}: not a legacy PyTorch checkpoint (no magic number)`);
  const reader = new BufferReader(bytes);
  reader.skip(magicLen);
  const ctx: ParseContext = { storages: new Map(), legacy: true };
  const fail = (what: string, e: unknown): never => {
    throw new Error(`${fileName}: ${what}: ${e instanceof Error ? e.message : String(e)}`);
  };
  let version: unknown, sysInfo: unknown, obj: unknown, keys: unknown;
  try {
    version = unpickle(reader, bytes, ctx);
  } catch (e) {
    fail("protocol version", e);
  }
  if (version !== LEGACY_PROTOCOL_VERSION) {
    throw new Error(
      `${fileName}: legacy protocol version is ${String(version)}, expected ` +
        `${LEGACY_PROTOCOL_VERSION}`,
    );
  }
  try {
    sysInfo = unpickle(reader, bytes, ctx);
  } catch (e) {
    fail("system info", e);
  }
  // Only the byte order is used; type_sizes are not trusted (see the module documentation).
  if (sysInfo instanceof Map && sysInfo.get("little_endian") === false) {
    throw new Error(`${fileName}: the checkpoint was saved big-endian, which is not supported`);
  }
  try {
    obj = unpickle(reader, bytes, ctx);
  } catch (e) {
    fail("object pickle", e);
  }
  try {
    keys = unpickle(reader, bytes, ctx);
  } catch (e) {
    fail("storage key list", e);
  }
  const keyList = tuple(keys, `${fileName}: storage key list`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, Uint8Array>();
  let p = reader.position;
  for (const key of keyList) {
    if (typeof key !== "string") throw new Error(`${fileName}: storage key ${String(key)}`);
    const ref = ctx.storages.get(key);
    if (!ref) {
      throw new Error(
        `${fileName}: storage ${key} is listed but no tensor refers to it, so its element size ` +
          `is unknown`,
      );
    }
    if (p + 8 > bytes.byteLength) {
      throw new Error(`${fileName}: truncated before the element count of storage ${key}`);
    }
    const count = view.getBigInt64(p, true);
    const es = bytesPerElement(ref.dtype);
    if (count < 0n || count > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / es))) {
      throw new Error(`${fileName}: storage ${key} has an invalid element count ${count}`);
    }
    const nbytes = Number(count) * es;
    if (p + 8 + nbytes > bytes.byteLength) {
      throw new Error(
        `${fileName}: storage ${key} (${count} ${ref.dtype} elements at byte ${p + 8}) runs past ` +
          `the end of the file (${bytes.byteLength} bytes): the file is truncated`,
      );
    }
    if (Number(count) !== ref.numel) {
      throw new Error(
        `${fileName}: storage ${key} has ${count} elements in the file but ${ref.numel} in its ` +
          `persistent id`,
      );
    }
    storages.set(key, bytes.subarray(p + 8, p + 8 + nbytes));
    p += 8 + nbytes;
  }
  try {
    return buildStateDict(obj, (ref) => {
      const data = storages.get(ref.key);
      if (!data) throw new Error(`storage ${ref.key} is missing from the storage key list`);
      return data;
    });
  } catch (e) {
    throw new Error(`${fileName}: ${(e as Error).message}`);
  }
}

/**
 * Which weight-file format `bytes` holds, from its first bytes: `"torch-zip"` (starts with the
 * zip local-header magic "PK\x03\x04"), `"torch-legacy"` (starts with the pickled legacy magic
 * number), `"gfqw"` (starts with "GFQW"), or `undefined`.
 */
export function sniffWeightsFormat(bytes: Uint8Array): WeightsFormat | undefined {
  if (
    bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 &&
    bytes[3] === 4
  ) return "torch-zip";
  if (legacyMagicLength(bytes) > 0) return "torch-legacy";
  if (isGfqw(bytes)) return "gfqw";
  return undefined;
}

/**
 * Read a PyTorch checkpoint (zip or legacy format, detected from its first bytes) into a
 * state_dict, without executing anything from the file.
 *
 * Tensors come out contiguous in row-major order with their stored dtype (float16 stays
 * float16). A contiguous tensor's `data` is a view of `bytes` (aligned to its element size;
 * tensors sharing a storage may share memory), so treat it as read-only and keep `bytes`
 * unchanged; non-contiguous tensors (saved views with strides) are gathered into new arrays.
 *
 * Hostile zip files are bounded: a storage entry must declare exactly the bytes its pickle
 * describes (element count x element size) before it is inflated, inflation stops as soon as
 * an entry's output passes its declared size, `data.pkl` may declare at most
 * {@link PICKLE_MAX_BYTES}, and all inflated entries together at most
 * `limits.maxInflatedBytes`.
 *
 * @param bytes the whole file.
 * @param fileName the file's name, used in every error message.
 * @param limits `maxInflatedBytes` (see {@link WeightsReadLimits}; `maxFileBytes` is not used
 * here).
 * @returns parameter/buffer names to tensors, in the file's order, after the unwrapping rule of
 * the module documentation (`state_dict`/`model` wrappers, `module.` prefix).
 * @throws Error naming `fileName` and the problem: not a checkpoint, truncated, unknown global
 * (e.g. a pickled model class or `os.system`), missing or short storage, a storage entry that
 * declares more than its pickle describes or inflates past its declared size (naming the entry,
 * the declared and the reached size), a cap passed, tensor outside its storage, no tensors,
 * big-endian save, unsupported pickle protocol (< 2).
 */
export function readTorchCheckpoint(
  bytes: Uint8Array,
  fileName: string,
  limits: WeightsReadLimits = {},
): StateDict {
  const format = sniffWeightsFormat(bytes);
  if (format === "torch-zip") {
    return readZipCheckpoint(
      bytes,
      fileName,
      limits.maxInflatedBytes ?? WEIGHTS_MAX_INFLATED_BYTES,
    );
  }
  if (format === "torch-legacy") return readLegacyCheckpoint(bytes, fileName);
  throw new Error(
    `${fileName}: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle; the file ` +
      `starts with ${hexPrefix(bytes)})`,
  );
}

function hexPrefix(bytes: Uint8Array): string {
  if (bytes.byteLength === 0) return "nothing: it is empty";
  return "bytes " + [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/**
 * Parse weights already in memory, in any supported format, detected from the content (not the
 * name): a PyTorch checkpoint (zip or legacy, see {@link readTorchCheckpoint}) or the project's
 * converted GFQW file (see `decodeGfqw` in gfqw.ts). The bytes side of `readWeightsFile`
 * (weights/read_file.ts), which reads the file first; the web page hands it a picked file's
 * bytes.
 *
 * @param bytes the whole file
 * @param fileName the file's name, used in every error message
 * @param limits `maxInflatedBytes` ({@link WeightsReadLimits}; `maxFileBytes` is the reader's)
 * @returns the format, the state_dict, the model description (`meta`: the GFQW header's meta
 * object; `{}` for PyTorch checkpoints, which carry none) and `bytes` itself
 * @throws Error naming `fileName` when the format is unknown (an empty file included) or fails
 * the format's checks
 */
export function parseWeights(
  bytes: Uint8Array,
  fileName: string,
  limits: WeightsReadLimits = {},
): LoadedWeights {
  const format = sniffWeightsFormat(bytes);
  if (format === "gfqw") {
    const { stateDict, meta } = decodeGfqw(bytes, fileName);
    return { format, stateDict, meta, bytes };
  }
  if (format === undefined) {
    throw new Error(
      `${fileName}: not a weights file: neither a PyTorch checkpoint (.pth/.pt, zip or legacy) ` +
        `nor a converted GFQW file; it starts with ${hexPrefix(bytes)}`,
    );
  }
  return { format, stateDict: readTorchCheckpoint(bytes, fileName, limits), meta: {}, bytes };
}
