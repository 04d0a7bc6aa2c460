/**
 * A tiny float64 iResNet-shaped network with the GraFIQs loss and its analytic backward, built
 * only from the operators of ./cpu.ts. It exists for finite-difference tests (testing-ladder
 * step 3 of docs/DESIGN.md): it mirrors, at toy size, what the GPU executor does for one
 * iResNet (docs/ALGORITHM.md, "The network" and "The loss"):
 *
 * - stem: conv k x k (Cin -> C0, stride 1) -> BN -> PReLU;
 * - blocks (IBasicBlock): out = BN1(x) -> conv3x3 s1 -> BN2 -> PReLU -> conv3x3 stride s -> BN3,
 *   plus identity x, or downsample(x) = conv1x1 stride s -> BN when the shape changes;
 *   no activation after the add;
 * - head: one BN2d on the last block's output (its output is not used by the loss).
 *
 * Every BN2d layer contributes its statistics term ({@link bnStatsLoss}) on its **input**, and
 * L = (1/K) Σ_l L_l per image with K the number of BN2d layers. The backward returns dL/dinput
 * and dL/d(output of each block), each including every downstream path.
 *
 * @module
 */
import {
  add,
  bnApply,
  bnBackward,
  bnEvalScaleShift,
  bnStatsLoss,
  bnStatsLossGrad,
  conv2d,
  conv2dBackwardData,
  prelu,
  preluBackward,
  randomArray,
  type Tensor4,
} from "./cpu.ts";

/** An eval-mode BatchNorm2d layer; all vectors have length C. */
export interface BnLayer {
  /** BN weight γ. */
  gamma: Float64Array;
  /** BN bias β. */
  beta: Float64Array;
  /** running_mean, compared with the per-image channel means by the loss. */
  runningMean: Float64Array;
  /** running_var (> 0), compared with the per-image biased channel variances by the loss. */
  runningVar: Float64Array;
  /** Variance epsilon (1e-5 in the iResNets). */
  eps: number;
}

/** A bias-free square convolution, groups 1. Weight `[cout, cin, k, k]` row-major. */
export interface ConvLayer {
  /** `[cout, cin, k, k]` row-major. */
  weight: Float64Array;
  /** Input channels. */
  cin: number;
  /** Output channels. */
  cout: number;
  /** Kernel size. */
  k: number;
  /** Stride. */
  stride: number;
  /** Zero padding per side. */
  pad: number;
}

/** One IBasicBlock (docs/ALGORITHM.md, "The network"). */
export interface TinyBlock {
  /** BN on the block input. */
  bn1: BnLayer;
  /** conv3x3, stride 1, pad 1, Cin -> Cout. */
  conv1: ConvLayer;
  /** BN after conv1. */
  bn2: BnLayer;
  /** PReLU slopes, length Cout. */
  prelu: Float64Array;
  /** conv3x3, stride s, pad 1, Cout -> Cout. */
  conv2: ConvLayer;
  /** BN after conv2. */
  bn3: BnLayer;
  /** conv1x1 stride s -> BN, present when the shape changes (stride != 1 or Cin != Cout). */
  downsample?: { conv: ConvLayer; bn: BnLayer };
}

/** The whole tiny network. */
export interface TinyNet {
  /** Stem convolution, Cin -> C0, stride 1, "same" padding. */
  stemConv: ConvLayer;
  /** Stem BN. */
  stemBn: BnLayer;
  /** Stem PReLU slopes, length C0. */
  stemPrelu: Float64Array;
  /** The blocks, in order. */
  blocks: TinyBlock[];
  /** Head BN2d on the last block output (counts in the loss; its output is unused). */
  headBn: BnLayer;
}

/** Shape options for {@link makeTinyNet}. */
export interface TinyNetOptions {
  /** Input channels (3 for images). */
  cin: number;
  /** Stem output channels. */
  stemWidth: number;
  /** Stem kernel size (odd; padding k/2). Default 3. */
  stemK?: number;
  /** One entry per block: output channels and stride of its second conv. */
  blocks: { width: number; stride: number }[];
}

/** Number K of BatchNorm2d layers of the network, i.e. the denominator of L (docs/ALGORITHM.md). */
export function bnLayerCount(net: TinyNet): number {
  let k = 2; // stem BN and head BN
  for (const b of net.blocks) k += b.downsample ? 4 : 3;
  return k;
}

function randomBn(rand: () => number, c: number): BnLayer {
  return {
    gamma: randomArray(rand, c, 0.5, 1.5),
    beta: randomArray(rand, c, -0.3, 0.3),
    runningMean: randomArray(rand, c, -0.5, 0.5),
    runningVar: randomArray(rand, c, 0.3, 2),
    eps: 1e-5,
  };
}

function randomConv(
  rand: () => number,
  cin: number,
  cout: number,
  k: number,
  stride: number,
): ConvLayer {
  // Uniform with variance 1 / fan-in keeps activations of order one through the chain.
  const a = Math.sqrt(3 / (cin * k * k));
  const weight = randomArray(rand, cout * cin * k * k, -a, a);
  return { weight, cin, cout, k, stride, pad: (k - 1) >> 1 };
}

/**
 * Build a tiny network with random parameters drawn from `rand` (e.g. cpu.ts `rng`): conv
 * weights uniform with variance 1/fan-in, γ in [0.5, 1.5), β in [-0.3, 0.3), running means in
 * [-0.5, 0.5), running variances in [0.3, 2), PReLU slopes in [0.1, 0.4).
 *
 * @throws Error when a width, stride or kernel size is not a positive integer or stemK is even.
 */
export function makeTinyNet(rand: () => number, opts: TinyNetOptions): TinyNet {
  const stemK = opts.stemK ?? 3;
  const ints = [
    opts.cin,
    opts.stemWidth,
    stemK,
    ...opts.blocks.flatMap((b) => [b.width, b.stride]),
  ];
  if (!ints.every((v) => Number.isInteger(v) && v >= 1) || stemK % 2 !== 1) {
    throw new Error(
      `reference/network.ts makeTinyNet: widths, strides and kernel sizes must be positive ` +
        `integers and stemK odd, got ${JSON.stringify(opts)}`,
    );
  }
  const stemConv = randomConv(rand, opts.cin, opts.stemWidth, stemK, 1);
  const stemBn = randomBn(rand, opts.stemWidth);
  const stemPrelu = randomArray(rand, opts.stemWidth, 0.1, 0.4);
  const blocks: TinyBlock[] = [];
  let c = opts.stemWidth;
  for (const { width, stride } of opts.blocks) {
    const block: TinyBlock = {
      bn1: randomBn(rand, c),
      conv1: randomConv(rand, c, width, 3, 1),
      bn2: randomBn(rand, width),
      prelu: randomArray(rand, width, 0.1, 0.4),
      conv2: randomConv(rand, width, width, 3, stride),
      bn3: randomBn(rand, width),
    };
    if (stride !== 1 || c !== width) {
      block.downsample = { conv: randomConv(rand, c, width, 1, stride), bn: randomBn(rand, width) };
    }
    blocks.push(block);
    c = width;
  }
  return { stemConv, stemBn, stemPrelu, blocks, headBn: randomBn(rand, c) };
}

function conv(layer: ConvLayer, x: Tensor4): Tensor4 {
  return conv2d(x, layer.weight, layer.cout, layer.k, layer.stride, layer.pad);
}

function convBack(layer: ConvLayer, gy: Tensor4, x: Tensor4): Tensor4 {
  return conv2dBackwardData(
    gy,
    layer.weight,
    layer.cin,
    x.h,
    x.w,
    layer.k,
    layer.stride,
    layer.pad,
  );
}

function scaleShift(bn: BnLayer) {
  return bnEvalScaleShift(bn.gamma, bn.beta, bn.runningMean, bn.runningVar, bn.eps);
}

/** Apply an eval BN to `a` and add its weighted statistics term to `loss` (per image). */
function bnWithLoss(bn: BnLayer, a: Tensor4, invK: number, loss: Float64Array): Tensor4 {
  const l = bnStatsLoss(a, bn.runningMean, bn.runningVar);
  for (let i = 0; i < loss.length; i++) loss[i] += invK * l[i];
  const { scale, shift } = scaleShift(bn);
  return bnApply(a, scale, shift);
}

/** d/da of an eval BN with stats loss: upstream gy through the affine map plus the loss term. */
function bnWithLossBack(bn: BnLayer, a: Tensor4, gy: Tensor4, invK: number): Tensor4 {
  const gl = bnStatsLossGrad(a, bn.runningMean, bn.runningVar, invK);
  return add(bnBackward(gy, scaleShift(bn).scale), gl);
}

interface BlockCache {
  x: Tensor4;
  c1: Tensor4;
  u2: Tensor4;
  c2: Tensor4;
  d?: Tensor4;
}

interface RunResult {
  loss: Float64Array;
  stemA?: Tensor4;
  stemS?: Tensor4;
  blocks: BlockCache[];
  blockOutputs: Tensor4[];
  last: Tensor4;
}

function checkInput(net: TinyNet, from: number, t: Tensor4): void {
  const c = from < 0 ? net.stemConv.cin : net.blocks[from]?.conv2.cout;
  if (!Number.isInteger(from) || from < -1 || from >= net.blocks.length || t.c !== c) {
    throw new Error(
      `reference/network.ts: start ${from} needs a tensor with ${c} channels, got ${t.c} ` +
        `(start must be -1 for the input or a block index < ${net.blocks.length})`,
    );
  }
}

/** Forward from `from` (-1: the network input; j: the output of block j), keeping caches. */
function run(net: TinyNet, from: number, t: Tensor4): RunResult {
  checkInput(net, from, t);
  const invK = 1 / bnLayerCount(net);
  const loss = new Float64Array(t.n);
  const res: RunResult = { loss, blocks: [], blockOutputs: [], last: t };
  let x = t;
  if (from < 0) {
    const a = conv(net.stemConv, t);
    const s = bnWithLoss(net.stemBn, a, invK, loss);
    res.stemA = a;
    res.stemS = s;
    x = prelu(s, net.stemPrelu);
  }
  for (let j = from + 1; j < net.blocks.length; j++) {
    const b = net.blocks[j];
    const u1 = bnWithLoss(b.bn1, x, invK, loss);
    const c1 = conv(b.conv1, u1);
    const u2 = bnWithLoss(b.bn2, c1, invK, loss);
    const c2 = conv(b.conv2, prelu(u2, b.prelu));
    const u3 = bnWithLoss(b.bn3, c2, invK, loss);
    let identity = x, d: Tensor4 | undefined;
    if (b.downsample) {
      d = conv(b.downsample.conv, x);
      identity = bnWithLoss(b.downsample.bn, d, invK, loss);
    }
    res.blocks[j] = { x, c1, u2, c2, d };
    x = add(u3, identity);
    res.blockOutputs[j] = x;
  }
  // Head BN2d: only its statistics term matters; its output feeds nothing that enters L.
  bnWithLoss(net.headBn, x, invK, loss);
  res.last = x;
  return res;
}

/**
 * Forward pass from the network input.
 *
 * @param x input, N x Cin x H x W.
 * @returns `loss`: L per image (length N, docs/ALGORITHM.md "The loss"); `blockOutputs[j]`: the
 *   output of block j.
 * @throws Error when x has the wrong channel count or a layer does not fit the spatial size.
 */
export function tinyNetForward(
  net: TinyNet,
  x: Tensor4,
): { loss: Float64Array; blockOutputs: Tensor4[] } {
  const r = run(net, -1, x);
  return { loss: r.loss, blockOutputs: r.blockOutputs };
}

/**
 * The part of L (per image, already divided by K) that depends on the output of block `from`,
 * computed by running the network from that tensor: the terms of every BN2d layer after it.
 * With `from = -1` the tensor is the network input and the result is the whole L. The terms
 * upstream of block `from` are constants with respect to its output, so finite differences of
 * this function give dL/d(block output).
 *
 * @throws Error on a bad start index or a tensor of the wrong channel count.
 */
export function tinyNetLossFrom(net: TinyNet, from: number, t: Tensor4): Float64Array {
  return run(net, from, t).loss;
}

/**
 * Forward and analytic backward (reverse mode through the ops of cpu.ts, docs/ALGORITHM.md).
 *
 * @param x input, N x Cin x H x W.
 * @returns `loss` (L per image), `gInput` = dL/dx (same shape as x) and `gBlocks[j]` =
 *   dL/d(output of block j), each with every downstream path included.
 * @throws Error when x has the wrong channel count or a layer does not fit the spatial size.
 */
export function tinyNetBackward(
  net: TinyNet,
  x: Tensor4,
): { loss: Float64Array; gInput: Tensor4; gBlocks: Tensor4[] } {
  const r = run(net, -1, x);
  const invK = 1 / bnLayerCount(net);
  const gBlocks: Tensor4[] = [];
  // Gradient arriving at the head BN input: its stats term only.
  let g = bnStatsLossGrad(r.last, net.headBn.runningMean, net.headBn.runningVar, invK);
  for (let j = net.blocks.length - 1; j >= 0; j--) {
    gBlocks[j] = g;
    const b = net.blocks[j], c = r.blocks[j];
    // Residual branch: out = BN3(conv2(PReLU(BN2(conv1(BN1(x)))))).
    const gc2 = bnWithLossBack(b.bn3, c.c2, g, invK);
    const gv2 = convBack(b.conv2, gc2, c.u2);
    const gu2 = preluBackward(c.u2, b.prelu, gv2);
    const gc1 = bnWithLossBack(b.bn2, c.c1, gu2, invK);
    const gu1 = convBack(b.conv1, gc1, c.x);
    let gx = bnWithLossBack(b.bn1, c.x, gu1, invK);
    // Shortcut: identity, or BN(conv1x1(x)).
    if (b.downsample && c.d) {
      const gd = bnWithLossBack(b.downsample.bn, c.d, g, invK);
      gx = add(gx, convBack(b.downsample.conv, gd, c.x));
    } else {
      gx = add(gx, g);
    }
    g = gx;
  }
  // Stem: x -> conv -> BN -> PReLU.
  const stemA = r.stemA!, stemS = r.stemS!;
  const gs = preluBackward(stemS, net.stemPrelu, g);
  const ga = bnWithLossBack(net.stemBn, stemA, gs, invK);
  const gInput = convBack(net.stemConv, ga, x);
  return { loss: r.loss, gInput, gBlocks };
}
