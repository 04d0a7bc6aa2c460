/**
 * Reading a TensorFlow.js graph model (model.json + binary weight shards) from files, and
 * running it on TensorFlow.js's WebAssembly backend (@tensorflow/tfjs-core, -backend-wasm with
 * XNNPACK, -converter). The backend's SIMD module is embedded through a `bytes` import (as the
 * image decoders are), handed to tfjs as a blob URL, and run single-threaded.
 *
 * model.json is parsed as JSON data only: its topology is a list of TensorFlow ops that the
 * converter maps to its own kernels; nothing in the file is executed as code. The weight
 * shards it names must be plain file names in the same folder (no `/`, no `..`); their sizes
 * must add up to what the manifest's tensors need (dtype, shape and any quantisation: the
 * float16 and uint8 encodings are decoded by tfjs). The files come from a folder or, in the
 * one-file builds of tools/compile.ts, from bytes embedded in the program ({@link ModelFiles}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import simdWasm from "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm" with {
  type: "bytes",
};
import { type GraphModel, loadGraphModel } from "@tensorflow/tfjs-converter";
import { readRegularFile } from "../io/files.ts";

/** Largest model.json or weight shard read, in bytes (the face models are under 2 MB). */
const MAX_MODEL_FILE_BYTES = 64 * 1024 * 1024;

/** Bytes per element of the manifest dtypes and quantisation dtypes tfjs reads. */
const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  float16: 2,
  uint8: 1,
  uint16: 2,
};

/** A model.json or weight shard that cannot be used: names the file and what is wrong. */
export class TfjsModelError extends Error {
  /** The file that is wrong. */
  readonly file: string;
  /** What is wrong with it, without the file name. */
  readonly problem: string;

  /**
   * A model file that cannot be used.
   *
   * @param file the file that is wrong
   * @param problem what is wrong with it
   */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "TfjsModelError";
    this.file = file;
    this.problem = problem;
  }
}

let backendReady: Promise<void> | undefined;

/**
 * Select tfjs's WebAssembly backend once: its SIMD module from the embedded bytes (no file or
 * network access), one thread.
 */
function ensureBackend(): Promise<void> {
  backendReady ??= (async () => {
    const url = URL.createObjectURL(new Blob([simdWasm], { type: "application/wasm" }));
    setWasmPaths({
      "tfjs-backend-wasm.wasm": url,
      "tfjs-backend-wasm-simd.wasm": url,
      "tfjs-backend-wasm-threaded-simd.wasm": url,
    }, true);
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    tf.env().set("WASM_HAS_SIMD_SUPPORT", true);
    if (!(await tf.setBackend("wasm"))) {
      throw new Error("TensorFlow.js WebAssembly backend is unavailable");
    }
    await tf.ready();
  })();
  return backendReady;
}

/**
 * Model files held in memory: file name (e.g. `blazeface.json`, `blazeface.bin`) -> bytes. The
 * one-file builds (tools/compile.ts) carry the face models this way.
 */
export type ModelFiles = ReadonlyMap<string, Uint8Array>;

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}

/**
 * Load a graph model from `dir/name.json` and the shards it names in `dir`.
 *
 * @param dir folder of the model files (a `file:` URL, with a trailing slash), or the files
 *   themselves in memory ({@link ModelFiles}; errors then name them `embedded:FILE`)
 * @param name the model's base name, e.g. `blazeface`
 * @returns the loaded model, on tfjs's WebAssembly backend
 * @throws {TfjsModelError} when model.json is not a graph model, names a shard outside its
 *   folder, or the shards' sizes differ from what the weight manifest needs
 * @throws the errors of reading the files (e.g. `Deno.errors.NotFound`)
 */
export async function loadTfjsGraphModel(
  dir: URL | ModelFiles,
  name: string,
): Promise<GraphModel> {
  await ensureBackend();
  /** The file's name in messages, and its bytes. */
  const where = (file: string) =>
    dir instanceof URL ? decodeURIComponent(new URL(file, dir).pathname) : `embedded:${file}`;
  const read = async (file: string, tooLarge: (n: number) => string): Promise<Uint8Array> => {
    if (dir instanceof URL) {
      return await readRegularFile(where(file), MAX_MODEL_FILE_BYTES, tooLarge);
    }
    const bytes = dir.get(file);
    if (!bytes) throw new Deno.errors.NotFound(`${where(file)}: not among the embedded models`);
    return bytes;
  };
  const jsonPath = where(`${name}.json`);
  const text = new TextDecoder().decode(
    await read(`${name}.json`, (n) => `model file too large (${n} bytes)`),
  );
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TfjsModelError(jsonPath, `not JSON (${(e as Error).message})`);
  }
  if (doc.format !== "graph-model" || typeof doc.modelTopology !== "object") {
    throw new TfjsModelError(jsonPath, `not a TensorFlow.js graph model (format ${doc.format})`);
  }
  const manifest = doc.weightsManifest as { paths: string[]; weights: WeightSpec[] }[];
  if (!Array.isArray(manifest)) throw new TfjsModelError(jsonPath, "no weightsManifest");
  const specs: WeightSpec[] = [];
  const shards: Uint8Array[] = [];
  let need = 0;
  for (const group of manifest) {
    for (const p of group.paths) {
      if (typeof p !== "string" || !/^[A-Za-z0-9._-]+$/.test(p) || p.startsWith(".")) {
        throw new TfjsModelError(
          jsonPath,
          `weight shard ${JSON.stringify(p)} is not a plain file name`,
        );
      }
      shards.push(await read(p, (n) => `shard too large (${n} bytes)`));
    }
    for (const w of group.weights) {
      const dt = w.quantization?.dtype ?? w.dtype;
      const per = DTYPE_BYTES[dt];
      if (per === undefined || !Array.isArray(w.shape)) {
        throw new TfjsModelError(jsonPath, `weight ${w.name}: unsupported dtype ${dt}`);
      }
      need += per * w.shape.reduce((a, b) => a * b, 1);
      specs.push(w);
    }
  }
  const total = shards.reduce((a, s) => a + s.length, 0);
  if (total !== need) {
    throw new TfjsModelError(
      jsonPath,
      `the weight shards hold ${total} bytes, the manifest's tensors need ${need}`,
    );
  }
  const data = new Uint8Array(total);
  let off = 0;
  for (const s of shards) {
    data.set(s, off);
    off += s.length;
  }
  return await loadGraphModel({
    load: () =>
      Promise.resolve({
        modelTopology: doc.modelTopology as object,
        format: "graph-model",
        generatedBy: String(doc.generatedBy ?? ""),
        convertedBy: String(doc.convertedBy ?? ""),
        signature: doc.signature as object | undefined,
        userDefinedMetadata: doc.userDefinedMetadata as { [key: string]: object } | undefined,
        // deno-lint-ignore no-explicit-any
        weightSpecs: specs as any,
        weightData: data.buffer,
      }),
  });
}

/**
 * Run a graph model on one NHWC float32 input and return every output's values, disposing
 * all tensors.
 *
 * @param model a model from {@link loadTfjsGraphModel}
 * @param input the input values, `shape` row-major
 * @param shape the input shape, e.g. `[1, 256, 256, 3]`
 * @returns each output's values and shape, in the model's output order
 */
export function runTfjs(
  model: GraphModel,
  input: Float32Array,
  shape: number[],
): { data: Float32Array; shape: number[] }[] {
  return tf.tidy(() => {
    const x = tf.tensor(input, shape, "float32");
    const r = model.execute(x);
    const list = Array.isArray(r) ? r : [r];
    return list.map((t) => ({ data: t.dataSync() as Float32Array, shape: t.shape }));
  });
}
