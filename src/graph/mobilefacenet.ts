/**
 * MobileFaceNet builder (../shared/models/mobilefacenet/MODEL.md): the real 1.02 M-parameter
 * face recognition network, and smaller variants of the same layout for tests. Plus recognition
 * of its checkpoints from their keys and shapes.
 *
 * @module
 */
import type { StateDict } from "../weights/types.ts";
import { type Graph, GraphBuilder } from "./ir.ts";

/** One stage of inverted-residual blocks: expansion t, output channels c, repeats n, stride s. */
export interface MobileFaceNetStage {
  /** Expansion factor (hidden = in * t); 1 means no expand convolution. */
  t: number;
  /** Output channels of every block of the stage. */
  c: number;
  /** Number of blocks. */
  n: number;
  /** Stride of the first block (the others have stride 1). */
  s: number;
}

/** Shape parameters of a MobileFaceNet. */
export interface MobileFaceNetConfig {
  /** Name reported to the user ("mobilefacenet"). */
  name: string;
  /** Channels of conv1 and dw_conv (64). */
  stem: number;
  /** The stages of `features` (five in the real network). */
  stages: MobileFaceNetStage[];
  /** Channels of conv2 and gdconv (512). */
  head: number;
  /** Embedding size, the channels of conv3 and bn (128). */
  embeddingSize: number;
  /** Square input side (112); gdconv's kernel is the side of the last feature map (7). */
  inputSize: number;
}

/** The stages of the real network (MODEL.md step 3). */
export const MOBILEFACENET_STAGES: readonly MobileFaceNetStage[] = Object.freeze([
  { t: 2, c: 64, n: 5, s: 2 },
  { t: 4, c: 128, n: 1, s: 2 },
  { t: 2, c: 128, n: 6, s: 1 },
  { t: 4, c: 128, n: 1, s: 2 },
  { t: 2, c: 128, n: 2, s: 1 },
]);

/** The configuration of the real network of MODEL.md. */
export function standardMobileFaceNet(): MobileFaceNetConfig {
  return {
    name: "mobilefacenet",
    stem: 64,
    stages: MOBILEFACENET_STAGES.map((s) => ({ ...s })),
    head: 512,
    embeddingSize: 128,
    inputSize: 112,
  };
}

/** Side after a 3x3 convolution with padding 1 and the given stride: floor((n - 1) / s) + 1. */
function down(n: number, s: number): number {
  return Math.floor((n - 1) / s) + 1;
}

/** Side of the last feature map (gdconv's kernel size) for a configuration. */
function mobileFaceNetFinalSide(cfg: MobileFaceNetConfig): number {
  let side = down(cfg.inputSize, 2);
  for (const st of cfg.stages) side = down(side, st.s);
  return side;
}

/**
 * Build the MobileFaceNet graph (MODEL.md "Forward graph"), naming every layer by its
 * state-dict prefix:
 * - conv1.0 (3x3 stride 2), BN conv1.1, ReLU6;
 * - dw_conv.depthwise (3x3), BN dw_conv.bn1, ReLU; dw_conv.pointwise (1x1), BN dw_conv.bn2, ReLU;
 * - features.i.conv: [expand 1x1, BN, ReLU6] (when t != 1), depthwise 3x3 stride s, BN, ReLU6,
 *   project 1x1, BN, + the block input when stride 1 and in == out. The sub-indices follow the
 *   PyTorch Sequential: with expansion 0.0/0.1, 1.0/1.1, 2, 3; without it 0.0/0.1, 1, 2;
 * - conv2.0 (1x1), BN conv2.1, ReLU6; gdconv.depthwise (side x side, no padding), BN gdconv.bn;
 * - conv3 (1x1, with bias), BatchNorm2d bn: its output, C x 1 x 1, is the embedding.
 *
 * Every BatchNorm2d is in the loss, bn included (MODEL.md: 51 layers in the real network).
 * Groups: image (the normalised input) and stage1..stageN, the outputs of each stage's last
 * block. Preprocessing: RGB, v/255, ImageNet mean (0.485, 0.456, 0.406) and std
 * (0.229, 0.224, 0.225) (MODEL.md "Preprocessing").
 *
 * @throws {RangeError} for non-positive sizes, an expansion or stride below 1, or an input too
 *   small for the strides.
 */
export function buildMobileFaceNet(cfg: MobileFaceNetConfig): Graph {
  const positive = [cfg.stem, cfg.head, cfg.embeddingSize, cfg.inputSize];
  for (const st of cfg.stages) positive.push(st.t, st.c, st.n, st.s);
  if (!positive.every((v) => Number.isInteger(v) && v >= 1) || cfg.stages.length === 0) {
    throw new RangeError(`MobileFaceNet ${cfg.name}: every size must be a positive integer`);
  }
  const b = new GraphBuilder();
  const input = b.tensor("input", 3, cfg.inputSize, cfg.inputSize);
  let x = b.conv("conv1.0", input, cfg.stem, 3, 2, 1);
  x = b.bn("conv1.1", x, { act: "relu6" });
  x = b.conv("dw_conv.depthwise", x, cfg.stem, 3, 1, 1, { groups: cfg.stem });
  x = b.bn("dw_conv.bn1", x, { act: "relu" });
  x = b.conv("dw_conv.pointwise", x, cfg.stem, 1, 1, 0);
  x = b.bn("dw_conv.bn2", x, { act: "relu" });
  const groups = [{ name: "image", tensor: input }];
  let cin = cfg.stem;
  let block = 0;
  cfg.stages.forEach((st, si) => {
    for (let i = 0; i < st.n; i++, block++) {
      const stride = i === 0 ? st.s : 1;
      const p = `features.${block}.conv`;
      const hidden = cin * st.t;
      const blockIn = x;
      let y = blockIn;
      let j = 0;
      if (st.t !== 1) {
        y = b.conv(`${p}.0.0`, y, hidden, 1, 1, 0);
        y = b.bn(`${p}.0.1`, y, { act: "relu6" });
        j = 1;
      }
      y = b.conv(`${p}.${j}.0`, y, hidden, 3, stride, 1, { groups: hidden });
      y = b.bn(`${p}.${j}.1`, y, { act: "relu6" });
      y = b.conv(`${p}.${j + 1}`, y, st.c, 1, 1, 0);
      const residual = stride === 1 && cin === st.c ? blockIn : undefined;
      x = b.bn(`${p}.${j + 2}`, y, { residual });
      cin = st.c;
    }
    groups.push({ name: `stage${si + 1}`, tensor: x });
  });
  x = b.conv("conv2.0", x, cfg.head, 1, 1, 0);
  x = b.bn("conv2.1", x, { act: "relu6" });
  const side = b.tensors[x].h;
  if (side < 1 || b.tensors[x].w !== side) {
    throw new RangeError(`MobileFaceNet ${cfg.name}: input ${cfg.inputSize} is too small`);
  }
  x = b.conv("gdconv.depthwise", x, cfg.head, side, 1, 0, { groups: cfg.head });
  x = b.bn("gdconv.bn", x);
  x = b.conv("conv3", x, cfg.embeddingSize, 1, 1, 0, { bias: true });
  const emb = b.bn("bn", x);
  return b.finish({
    name: cfg.name,
    input,
    embedding: emb,
    groups,
    preprocess: {
      channelOrder: "rgb",
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      size: cfg.inputSize,
    },
  });
}

/**
 * Recognise a MobileFaceNet checkpoint from its keys and shapes (MODEL.md key layout). Block
 * widths and expansions are read from the weights, and consecutive blocks with the same
 * (expansion, output channels) form a stage. Strides are not stored in a checkpoint: they are
 * taken from the real network, so the run of stages must have the real network's shape (five
 * stages with its expansions and block counts; the widths may differ). The input side is
 * 16 times gdconv's kernel (112 for 7).
 *
 * @returns the configuration, or undefined when the keys are not a MobileFaceNet's or the
 *   stage layout differs from the real network's.
 */
export function detectMobileFaceNet(sd: StateDict): MobileFaceNetConfig | undefined {
  const shape = (k: string) => sd.get(k)?.shape;
  const stem = shape("conv1.0.weight");
  const gd = shape("gdconv.depthwise.weight");
  const c3 = shape("conv3.weight");
  if (
    !stem || stem.length !== 4 || stem[1] !== 3 || !shape("dw_conv.depthwise.weight") ||
    !gd || gd.length !== 4 || gd[1] !== 1 || !c3 || c3.length !== 4 || !sd.has("bn.weight")
  ) {
    return undefined;
  }
  const blocks: { t: number; c: number }[] = [];
  let cin = stem[0];
  for (let i = 0; sd.has(`features.${i}.conv.0.0.weight`); i++) {
    const first = shape(`features.${i}.conv.0.0.weight`)!;
    const depthwiseFirst = first[1] === 1 && first[2] === 3;
    const proj = shape(`features.${i}.conv.${depthwiseFirst ? 1 : 2}.weight`);
    if (!proj || proj.length !== 4) return undefined;
    const hidden = first[0];
    const t = depthwiseFirst ? 1 : hidden / cin;
    if (!Number.isInteger(t)) return undefined;
    blocks.push({ t, c: proj[0] });
    cin = proj[0];
  }
  const stages: MobileFaceNetStage[] = [];
  for (const bl of blocks) {
    const last = stages[stages.length - 1];
    if (last && last.t === bl.t && last.c === bl.c) last.n++;
    else stages.push({ t: bl.t, c: bl.c, n: 1, s: 1 });
  }
  if (
    stages.length !== MOBILEFACENET_STAGES.length ||
    !stages.every((s, i) => s.t === MOBILEFACENET_STAGES[i].t && s.n === MOBILEFACENET_STAGES[i].n)
  ) {
    return undefined;
  }
  stages.forEach((s, i) => s.s = MOBILEFACENET_STAGES[i].s);
  const cfg = {
    name: "mobilefacenet",
    stem: stem[0],
    stages,
    head: gd[0],
    embeddingSize: c3[0],
    inputSize: gd[2] * 16,
  };
  return mobileFaceNetFinalSide(cfg) === gd[2] ? cfg : undefined;
}
