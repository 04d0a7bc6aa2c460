/**
 * Checks a state_dict against a graph and extracts every parameter the graph needs as float32,
 * before any image is read.
 *
 * @module
 */
import { tensorToFloat32 } from "../weights/tensor.ts";
import type { StateDict } from "../weights/types.ts";
import type { Graph } from "./ir.ts";

/** Raised when a checkpoint does not fit the chosen backbone. */
export class WeightsMismatchError extends Error {
  /**
   * A checkpoint/backbone mismatch.
   *
   * @param message names the tensor, the expected shape and the found shape
   */
  constructor(message: string) {
    super(message);
    this.name = "WeightsMismatchError";
  }
}

/**
 * Raised when a checkpoint fits the backbone but holds values no trained network has: NaN or
 * infinite weights, or a negative BN running variance (they would make every score NaN).
 */
export class InvalidWeightsError extends Error {
  /**
   * Weights with impossible values.
   *
   * @param message names the file, the tensor, the first bad index and its value
   */
  constructor(message: string) {
    super(message);
    this.name = "InvalidWeightsError";
  }
}

/** Float32 parameters by state-dict key, all shapes already checked. */
export type GraphWeights = Map<string, Float32Array>;

/** The state-dict keys and shapes (PyTorch order) a graph needs. */
export function expectedShapes(graph: Graph): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const t = graph.tensors;
  for (const n of graph.nodes) {
    if (n.kind === "conv") {
      const cin = t[n.input].c, cout = t[n.output].c;
      out.set(`${n.name}.weight`, [cout, cin / n.groups, n.k, n.k]);
      if (n.bias) out.set(`${n.name}.bias`, [cout]);
    } else if (n.kind === "bn") {
      const c = t[n.input].c;
      for (const k of ["weight", "bias", "running_mean", "running_var"]) {
        out.set(`${n.name}.${k}`, [c]);
      }
      if (n.act === "prelu") out.set(`${n.preluName}.weight`, [c]);
    } else {
      const inT = t[n.input], outF = t[n.output].c;
      out.set(`${n.fcName}.weight`, [outF, inT.c * inT.h * inT.w]);
      out.set(`${n.fcName}.bias`, [outF]);
      for (const k of ["weight", "bias", "running_mean", "running_var"]) {
        out.set(`${n.bnName}.${k}`, [outF]);
      }
    }
  }
  return out;
}

/**
 * The BN epsilon the executor uses (PyTorch's BatchNorm default); a running variance must keep
 * `running_var + BN_EPS > 0`.
 */
const BN_EPS = 1e-5;

/**
 * Refuse values that would turn every score into NaN: any non-finite value (NaN, ±inf) after the
 * conversion to float32, and for a BN running variance any negative value (a variance is never
 * negative; `running_var + eps` must be > 0). Names the tensor, the first bad index (flat,
 * row-major) and its value, and how many values are bad.
 */
function checkValues(key: string, v: Float32Array, source: string): void {
  const isVar = key.endsWith(".running_var");
  let first = -1, count = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    // x - x is NaN exactly for NaN and ±inf; the variance test also catches -inf.
    if (x - x !== 0 || (isVar && (x < 0 || x + BN_EPS <= 0))) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return;
  const x = v[first];
  const [what, why] = Number.isFinite(x)
    ? [
      `a negative BN running variance ${x}`,
      "a variance is >= 0 and running_var + eps must be > 0",
    ]
    : [`a non-finite value ${x}`, "weights must be finite"];
  throw new InvalidWeightsError(
    `${source}: tensor ${key} has ${what} at index ${first} (${count} of ${v.length} values ` +
      `are bad; ${why}): such weights would make every score NaN`,
  );
}

/**
 * Check every tensor the graph needs (present, floating point, right shape, finite values, BN
 * running variances >= 0) and convert it to float32 (float16 values are widened exactly). Keys
 * the graph does not use are ignored (e.g. `num_batches_tracked`).
 *
 * @throws {WeightsMismatchError} naming the tensor, the expected shape and the found shape,
 *   or the missing key.
 * @throws {InvalidWeightsError} naming the tensor, the first bad index and its value when a
 *   value is NaN or infinite, or a BN running variance is negative.
 */
export function extractWeights(graph: Graph, sd: StateDict, source: string): GraphWeights {
  const out: GraphWeights = new Map();
  for (const [key, shape] of expectedShapes(graph)) {
    const t = sd.get(key);
    if (!t) {
      throw new WeightsMismatchError(
        `${source}: tensor ${key} is missing; ${graph.name} needs it with shape [${shape}]`,
      );
    }
    // PReLU may be stored with one shared slope; PyTorch's PReLU(num_parameters=1).
    const found = t.shape.join(",");
    const sharedPrelu = key.endsWith("prelu.weight") && found === "1";
    if (found !== shape.join(",") && !sharedPrelu) {
      throw new WeightsMismatchError(
        `${source}: tensor ${key} has shape [${t.shape}], ${graph.name} expects [${shape}]`,
      );
    }
    if (!["float32", "float16", "bfloat16", "float64"].includes(t.dtype)) {
      throw new WeightsMismatchError(
        `${source}: tensor ${key} has dtype ${t.dtype}, expected a float`,
      );
    }
    let v = tensorToFloat32(t);
    checkValues(key, v, source);
    if (sharedPrelu) v = new Float32Array(shape[0]).fill(v[0]);
    out.set(key, v);
  }
  return out;
}
