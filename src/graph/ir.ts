/**
 * The network description the executor runs: tensors with static per-image shapes, and nodes
 * in forward execution order. Builders (iresnet.ts, ...) produce it; the executor derives the
 * reverse pass from it.
 *
 * @module
 */
import type { Activation } from "../kernels/batchnorm.ts";
import type { Preprocess } from "../weights/types.ts";

/** A per-image activation tensor, C x H x W float32 (NCHW over the batch). */
export interface TensorInfo {
  /** Index in {@link Graph.tensors}. */
  id: number;
  /** Readable name, e.g. "layer1.0.conv1:out". */
  name: string;
  /** Channels. */
  c: number;
  /** Height in pixels (1 for the embedding). */
  h: number;
  /** Width in pixels (1 for the embedding). */
  w: number;
}

/** A convolution (no activation), optionally with bias. Weight key `${name}.weight`. */
export interface ConvNode {
  /** Discriminant of {@link Node}. */
  kind: "conv";
  /** State-dict prefix, e.g. "layer1.0.conv1". */
  name: string;
  /** Input tensor id (index in {@link Graph.tensors}). */
  input: number;
  /** Output tensor id. */
  output: number;
  /** Square kernel size. */
  k: number;
  /** Stride, the same along both axes. */
  stride: number;
  /** Zero padding on every side, in pixels. */
  pad: number;
  /** 1 for a dense convolution, or the channel count for a depthwise one. */
  groups: number;
  /** Whether `${name}.bias` exists. */
  bias: boolean;
}

/**
 * An eval-mode BatchNorm2d with a fused activation and an optional residual add:
 * out = act(BN(in)) + residual. Keys `${name}.{weight,bias,running_mean,running_var}`, and
 * `${preluName}.weight` for PReLU.
 */
export interface BnNode {
  /** Discriminant of {@link Node}. */
  kind: "bn";
  /** State-dict prefix of the BatchNorm2d, e.g. "layer1.0.bn2". */
  name: string;
  /** Input tensor id; its per-image statistics enter the loss when {@link BnNode.inLoss}. */
  input: number;
  /** Output tensor id (same shape as the input). */
  output: number;
  /** Activation applied after the normalisation, before the residual add. */
  act: Activation;
  /** State-dict prefix of the PReLU when act is "prelu". */
  preluName?: string;
  /** Tensor added after the activation, if any. */
  residual?: number;
  /** Whether this layer's input statistics enter the GraFIQs loss (every BN2d does). */
  inLoss: boolean;
}

/** Flatten + Linear (with bias) + BatchNorm1d: the iResNet embedding head. */
export interface LinearBn1dNode {
  /** Discriminant of {@link Node}. */
  kind: "linear_bn1d";
  /** Prefix of the Linear layer ("fc"). */
  fcName: string;
  /** Prefix of the BatchNorm1d ("features"). */
  bnName: string;
  /** Input tensor id (flattened C x H x W, PyTorch order, into the Linear layer). */
  input: number;
  /** Output tensor id: the embedding, E x 1 x 1. */
  output: number;
}

/** Any node of the graph. */
export type Node = ConvNode | BnNode | LinearBn1dNode;

/** A GraFIQs group φ: a named tensor whose gradient is summed into a score. */
export interface Group {
  /** Group name, as in the output file GraFIQs_<name>.txt (e.g. "image", "block2"). */
  name: string;
  /** Id of the tensor whose gradient is summed (the input image, or a block's output). */
  tensor: number;
}

/** A complete network. */
export interface Graph {
  /** Backbone name, e.g. "iresnet50". */
  name: string;
  /** Every tensor of the network, indexed by id. */
  tensors: TensorInfo[];
  /** Nodes in forward execution order. */
  nodes: Node[];
  /** The network input tensor (3 x size x size). */
  input: number;
  /** The embedding tensor (E x 1 x 1). */
  embedding: number;
  /** Groups in the order of the output files, e.g. image, block1..block4. */
  groups: Group[];
  /** How images are prepared for this network. */
  preprocess: Preprocess;
  /** Number of BN2d layers in the loss (K of docs/ALGORITHM.md, "The loss"). */
  lossLayers: number;
}

/** Incrementally builds a {@link Graph}. */
export class GraphBuilder {
  readonly tensors: TensorInfo[] = [];
  readonly nodes: Node[] = [];

  /** Add a tensor of shape c x h x w; returns its id. */
  tensor(name: string, c: number, h: number, w: number): number {
    this.tensors.push({ id: this.tensors.length, name, c, h, w });
    return this.tensors.length - 1;
  }

  /** Add a convolution after `input`; returns the output tensor id. */
  conv(
    name: string,
    input: number,
    cout: number,
    k: number,
    stride: number,
    pad: number,
    opts: { groups?: number; bias?: boolean } = {},
  ): number {
    const t = this.tensors[input];
    const h = Math.floor((t.h + 2 * pad - k) / stride) + 1;
    const w = Math.floor((t.w + 2 * pad - k) / stride) + 1;
    const out = this.tensor(`${name}:out`, cout, h, w);
    this.nodes.push({
      kind: "conv",
      name,
      input,
      output: out,
      k,
      stride,
      pad,
      groups: opts.groups ?? 1,
      bias: opts.bias ?? false,
    });
    return out;
  }

  /** Add BN (+ activation, + residual) after `input`; returns the output tensor id. */
  bn(
    name: string,
    input: number,
    opts: { act?: Activation; preluName?: string; residual?: number; inLoss?: boolean } = {},
  ): number {
    const t = this.tensors[input];
    if (opts.residual !== undefined) {
      const r = this.tensors[opts.residual];
      if (r.c !== t.c || r.h !== t.h || r.w !== t.w) {
        throw new RangeError(`${name}: residual ${r.name} does not match ${t.name}`);
      }
    }
    const out = this.tensor(`${name}:out`, t.c, t.h, t.w);
    this.nodes.push({
      kind: "bn",
      name,
      input,
      output: out,
      act: opts.act ?? "none",
      preluName: opts.preluName,
      residual: opts.residual,
      inLoss: opts.inLoss ?? true,
    });
    return out;
  }

  /** Add the Linear + BatchNorm1d head; returns the embedding tensor id. */
  linearBn1d(fcName: string, bnName: string, input: number, outF: number): number {
    const out = this.tensor(`${bnName}:out`, outF, 1, 1);
    this.nodes.push({ kind: "linear_bn1d", fcName, bnName, input, output: out });
    return out;
  }

  /** Count of BN nodes whose statistics enter the loss. */
  lossLayers(): number {
    return this.nodes.filter((n) => n.kind === "bn" && n.inLoss).length;
  }

  /** The finished graph: the builder's tensors and nodes plus the given description. */
  finish(desc: Pick<Graph, "name" | "input" | "embedding" | "groups" | "preprocess">): Graph {
    return { ...desc, tensors: this.tensors, nodes: this.nodes, lossLayers: this.lossLayers() };
  }
}
