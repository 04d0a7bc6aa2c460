/**
 * Seeded random weights for any graph, for the speed tools (tools/profile.ts,
 * tools/bench_probe.ts) when no checkpoint is used. Speed does not depend on the values; these
 * keep activations finite and away from denormals.
 *
 * @module
 */
import { mulberry32 } from "../src/eval/edc.ts";
import type { Graph } from "../src/graph/ir.ts";
import { expectedShapes, type GraphWeights } from "../src/graph/weights.ts";

/**
 * Random but sane weights for every tensor of `graph`: convolution and linear weights uniform
 * with variance 1 / fan-in, BN scales in [0.8, 1.2], running variances in [0.5, 1.5], other
 * vectors uniform in +-sqrt(3). Same seed, same weights.
 *
 * @example
 * ```ts
 * const graph = buildIResNet(standardIResNet("iresnet100"));
 * const ex = await Executor.create(gpu, graph, randomWeights(graph));
 * ```
 */
export function randomWeights(graph: Graph, seed = 1): GraphWeights {
  const next = mulberry32(seed);
  const rnd = () => next() / 2 ** 32;
  const out: GraphWeights = new Map();
  for (const [key, shape] of expectedShapes(graph)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const fan = shape.length === 4
      ? shape[1] * shape[2] * shape[3]
      : shape.length === 2
      ? shape[1]
      : 1;
    for (let i = 0; i < n; i++) {
      if (key.endsWith("running_var")) v[i] = 0.5 + rnd();
      else if (key.endsWith(".weight") && shape.length === 1) {
        v[i] = 0.8 + 0.4 * rnd();
      } else v[i] = (rnd() * 2 - 1) * Math.sqrt(3 / fan);
    }
    out.set(key, v);
  }
  return out;
}
