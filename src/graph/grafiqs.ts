/**
 * The GraFIQs method stated on the graph, with no GPU: which BatchNorm layers enter the loss
 * and with which coefficients ({@link lossTerms}), and what the reverse pass does for a choice
 * of groups φ ({@link reversePlan}): where it stops, which tensors get a gradient, which nodes
 * run backward, where the statistics gradient is injected and where each group is scored.
 *
 * The reverse pass is one generic walk over the nodes in reverse order, driven by a rule per
 * node kind ({@link BACKWARD_RULES}). The executor turns the result into dispatches; every
 * method decision it makes comes from here. Definitions: docs/ALGORITHM.md.
 *
 * @module
 */
import type { BnNode, Graph, Node } from "./ir.ts";

/**
 * One BatchNorm2d layer's term of the GraFIQs loss (docs/ALGORITHM.md, "The loss"). For an
 * image, with a = the layer's input (C x H x W), N = H W, μ_c and σ²_c its per-channel mean and
 * biased variance over (h, w), and K = the number of terms:
 *
 *   L_l = (1/C) Σ_c (μ_c - rm_c)² + (1/C) Σ_c (σ²_c - rv_c)²,   L = (1/K) Σ_l L_l,
 *
 * whose gradient injected at the layer input is
 *
 *   ∂L/∂a[c,h,w] = 2/(K C N) · [ (μ_c - rm_c) + (σ²_c - rv_c) · 2 (a[c,h,w] - μ_c) ].
 */
export interface LossTerm {
  /** Index of the BatchNorm node in {@link Graph.nodes}. */
  index: number;
  /** The BatchNorm node. */
  node: BnNode;
  /** Its input tensor a, whose statistics enter the loss (a tensor id). */
  input: number;
  /** Channels C of a. */
  c: number;
  /** Elements per channel N = H W of a. */
  n: number;
  /**
   * 1/K, the weight of this layer in L (K = number of terms). The executor hands exactly this
   * double to the BatchNorm backward kernel as `invLayers`.
   */
  layerWeight: number;
  /** 1/C, the weight of each channel's squared differences in L_l. */
  channelWeight: number;
  /**
   * 2/(K C N), the factor of the injected gradient, computed as the kernel recorder computes it
   * from `invLayers` (2 · layerWeight / (C H W), in double, rounded to float32 once when
   * written to the kernel's uniforms).
   */
  gradientCoefficient: number;
}

/**
 * The loss terms of a graph, in forward order: one per BatchNorm2d node marked `inLoss` (for
 * the iResNets and MobileFaceNet every BatchNorm2d; the iResNet head's BatchNorm1d `features`
 * is part of a `linear_bn1d` node and never counts). docs/ALGORITHM.md, "The loss".
 *
 * @throws {RangeError} when the graph has no loss term, or when {@link Graph.lossLayers}
 *   disagrees with the nodes.
 */
export function lossTerms(graph: Graph): LossTerm[] {
  const bns: { node: BnNode; index: number }[] = [];
  graph.nodes.forEach((node, index) => {
    if (node.kind === "bn" && node.inLoss) bns.push({ node, index });
  });
  const k = bns.length;
  if (k === 0) throw new RangeError(`${graph.name}: no BatchNorm2d layer enters the loss`);
  if (graph.lossLayers !== k) {
    throw new RangeError(
      `${graph.name}: lossLayers says ${graph.lossLayers} but ${k} BatchNorm2d nodes are in the loss`,
    );
  }
  const layerWeight = 1 / k;
  return bns.map(({ node, index }) => {
    const t = graph.tensors[node.input];
    return {
      index,
      node,
      input: node.input,
      c: t.c,
      n: t.h * t.w,
      layerWeight,
      channelWeight: 1 / t.c,
      gradientCoefficient: (2 * layerWeight) / (t.c * t.h * t.w),
    };
  });
}

/**
 * How one kind of node passes gradients back in the reverse pass (docs/ALGORITHM.md, "The
 * reverse pass"). Only activation gradients are taken, never weight gradients.
 */
export interface BackwardRule<N extends Node> {
  /**
   * The tensors that receive a gradient from this node, given whether a gradient arrives at its
   * output. An empty list means the node's backward does not run.
   */
  gradientTargets(node: N, outputHasGradient: boolean): number[];
  /** The forward tensors its backward reads, kept alive until it ran. */
  saved(node: N): number[];
}

/** The rule table: one {@link BackwardRule} per node kind. */
export const BACKWARD_RULES: {
  readonly [K in Node["kind"]]: BackwardRule<Extract<Node, { kind: K }>>;
} = {
  // Transposed convolution with the same weights: needs only the output gradient.
  conv: {
    gradientTargets: (node, out) => out ? [node.input] : [],
    saved: () => [],
  },
  // Eval BN + activation: g · act'(y) · γ/√(rv + ε) when a gradient arrives, plus the statistics
  // gradient of a loss layer (so a loss layer always runs); the residual add passes the output
  // gradient through unchanged. Both terms need the saved input a (y is recomputed from it).
  bn: {
    gradientTargets: (node, out) => [
      ...(out || node.inLoss ? [node.input] : []),
      ...(out && node.residual !== undefined ? [node.residual] : []),
    ],
    saved: (node) => [node.input],
  },
  // The embedding head comes after every loss layer: nothing to pass back.
  linear_bn1d: {
    gradientTargets: () => [],
    saved: () => [],
  },
};

/**
 * The rule of `node`'s kind. (The table is typed per kind; looking it up by a node of the union
 * type needs this one widening, which is sound because the key is the node's own kind.)
 */
export function backwardRule(node: Node): BackwardRule<Node> {
  return BACKWARD_RULES[node.kind] as BackwardRule<Node>;
}

/** A requested group φ and where its score comes from. */
export interface ScoredGroup {
  /** Group name, e.g. "block2". */
  name: string;
  /** Position in the output (the score column). */
  slot: number;
  /** The tensor whose gradient is summed, Σ |∂L/∂t|. */
  tensor: number;
  /**
   * Index of the node producing the tensor, or -1 for the graph input. The gradient is complete
   * (every downstream path added) once the walk reaches this node, before its own backward.
   */
  producer: number;
}

/**
 * What the reverse pass does for one choice of groups (docs/ALGORITHM.md, "The reverse pass").
 * Node indices refer to {@link Graph.nodes}; tensor ids to {@link Graph.tensors}.
 */
export interface ReversePlan {
  /** The requested groups, in output order. */
  groups: ScoredGroup[];
  /**
   * Where the walk stops: the producer of the earliest requested group's tensor (its backward
   * does not run), or -1 when the graph input is requested (the walk visits every node).
   */
  stop: number;
  /** The visited node indices, last node first, down to stop + 1. */
  walk: number[];
  /** Per tensor id: whether it receives a gradient in this pass. */
  needsGradient: boolean[];
  /** Per node index: whether its backward runs (a visited node with a gradient target). */
  runsBackward: boolean[];
  /**
   * The loss terms whose statistics gradient is injected, by node index: every term after the
   * stop. Terms at or before it cannot reach a requested gradient and are skipped (their forward
   * statistics are not captured either).
   */
  injected: Map<number, LossTerm>;
  /**
   * 1/K with K = every loss term of the graph, injected or not: the same layer weight whatever
   * the groups (the kernel gets it as `invLayers`).
   */
  layerWeight: number;
}

/**
 * Check and resolve the requested group names against the graph's groups.
 *
 * @param names the groups to score, in output order; undefined means all of the graph's groups.
 * @returns the groups with their output slot, tensor and producer node.
 * @throws {RangeError} for an unknown or repeated name, or an empty list.
 */
export function resolveGroups(graph: Graph, names?: readonly string[]): ScoredGroup[] {
  const known = graph.groups.map((g) => g.name);
  const wanted = names ?? known;
  for (const g of wanted) {
    if (!known.includes(g)) {
      throw new RangeError(`Unknown group "${g}" for ${graph.name}; known: ${known.join(", ")}`);
    }
  }
  if (wanted.length === 0) throw new RangeError("At least one group must be requested");
  const repeated = wanted.find((g, i) => wanted.indexOf(g) !== i);
  if (repeated !== undefined) throw new RangeError(`Group "${repeated}" is requested twice`);
  const producer = new Map<number, number>();
  graph.nodes.forEach((node, i) => producer.set(node.output, i));
  return wanted.map((name, slot) => {
    const tensor = graph.groups.find((g) => g.name === name)!.tensor;
    const p = tensor === graph.input ? -1 : producer.get(tensor);
    if (p === undefined) {
      throw new RangeError(
        `${graph.name}: group "${name}" is tensor ${graph.tensors[tensor]?.name}, ` +
          "which is neither the input nor produced by a node",
      );
    }
    return { name, slot, tensor, producer: p };
  });
}

/**
 * Plan the reverse pass for the requested groups: the generic walk over {@link BACKWARD_RULES}
 * from the last node down to (excluding) the stop node. docs/ALGORITHM.md, "The reverse pass".
 *
 * @param names the groups to score, in output order (default: all of the graph's groups).
 * @throws {RangeError} as {@link resolveGroups} and {@link lossTerms} do; when no gradient
 *   reaches a requested group's tensor (its score would be identically 0); and when a gradient
 *   reaches a node whose rule passes nothing back (the head).
 */
export function reversePlan(graph: Graph, names?: readonly string[]): ReversePlan {
  const groups = resolveGroups(graph, names);
  const terms = lossTerms(graph);
  const stop = Math.min(...groups.map((g) => g.producer));
  const needsGradient = new Array<boolean>(graph.tensors.length).fill(false);
  const runsBackward = new Array<boolean>(graph.nodes.length).fill(false);
  const walk: number[] = [];
  for (let i = graph.nodes.length - 1; i > stop; i--) {
    const node = graph.nodes[i];
    walk.push(i);
    const targets = backwardRule(node).gradientTargets(node, needsGradient[node.output]);
    if (needsGradient[node.output] && targets.length === 0) {
      throw new RangeError(
        `${graph.name}: a gradient reaches the output of ${node.kind} node ${i}, ` +
          "which cannot pass it back (a loss layer after the embedding head?)",
      );
    }
    for (const t of targets) needsGradient[t] = true;
    runsBackward[i] = targets.length > 0;
  }
  for (const g of groups) {
    if (!needsGradient[g.tensor]) {
      throw new RangeError(`${graph.name}: no gradient reaches group "${g.name}"`);
    }
  }
  const injected = new Map(terms.filter((t) => t.index > stop).map((t) => [t.index, t]));
  return {
    groups,
    stop,
    walk,
    needsGradient,
    runsBackward,
    injected,
    layerWeight: terms[0].layerWeight,
  };
}
