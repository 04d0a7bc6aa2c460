/**
 * iResNet builders (ArcFace definition, docs/ALGORITHM.md "The network") for
 * iresnet18/34/50/100/200, plus smaller custom widths for tests.
 *
 * @module
 */
import type { StateDict } from "../weights/types.ts";
import { type Graph, GraphBuilder } from "./ir.ts";

/** Blocks per stage of the standard iResNets (docs/ALGORITHM.md, "The network"). */
export const IRESNET_DEPTHS: Record<string, [number, number, number, number]> = {
  iresnet18: [2, 2, 2, 2],
  iresnet34: [3, 4, 6, 3],
  iresnet50: [3, 4, 14, 3],
  iresnet100: [3, 13, 30, 3],
  iresnet200: [6, 26, 60, 6],
};

/** Shape parameters of an iResNet. */
export interface IResNetConfig {
  /** Name reported to the user, e.g. "iresnet50". */
  name: string;
  /** IBasicBlocks per stage (layer1..layer4). */
  layers: [number, number, number, number];
  /** Output channels of layer1..layer4 (64, 128, 256, 512 for the standard nets). */
  widths: [number, number, number, number];
  /** Stem output channels (64 for the standard nets). */
  stemWidth: number;
  /** Square input size (112); the head sees widths[3] x (size/16)^2. */
  inputSize: number;
  /** Embedding size (512). */
  embeddingSize: number;
}

/** The standard configuration of a named iResNet. @throws {RangeError} for an unknown name. */
export function standardIResNet(name: string): IResNetConfig {
  const layers = IRESNET_DEPTHS[name];
  if (!layers) {
    throw new RangeError(
      `Unknown iResNet "${name}"; known: ${Object.keys(IRESNET_DEPTHS).join(", ")}`,
    );
  }
  return {
    name,
    layers,
    widths: [64, 128, 256, 512],
    stemWidth: 64,
    inputSize: 112,
    embeddingSize: 512,
  };
}

/**
 * Build the iResNet graph. Groups: image (the normalised input) and block1..block4 (the outputs of
 * layer1..layer4). Every BN2d (stem, block BN1/BN2/BN3, downsample, head bn2) is in the loss; the
 * BatchNorm1d `features` is not (docs/ALGORITHM.md, "The loss"). Preprocessing is the official one:
 * BGR, (v/255 - 0.5) / 0.5.
 */
export function buildIResNet(cfg: IResNetConfig): Graph {
  if (cfg.inputSize % 16 !== 0) {
    throw new RangeError(`iResNet input size must be a multiple of 16, got ${cfg.inputSize}`);
  }
  const b = new GraphBuilder();
  const input = b.tensor("input", 3, cfg.inputSize, cfg.inputSize);
  let x = b.conv("conv1", input, cfg.stemWidth, 3, 1, 1);
  x = b.bn("bn1", x, { act: "prelu", preluName: "prelu" });
  const groups = [{ name: "image", tensor: input }];
  let inC = cfg.stemWidth;
  for (let s = 0; s < 4; s++) {
    const width = cfg.widths[s];
    for (let j = 0; j < cfg.layers[s]; j++) {
      const p = `layer${s + 1}.${j}`;
      const stride = j === 0 ? 2 : 1;
      const blockIn = x;
      let out = b.bn(`${p}.bn1`, blockIn);
      out = b.conv(`${p}.conv1`, out, width, 3, 1, 1);
      out = b.bn(`${p}.bn2`, out, { act: "prelu", preluName: `${p}.prelu` });
      out = b.conv(`${p}.conv2`, out, width, 3, stride, 1);
      let identity = blockIn;
      if (stride !== 1 || inC !== width) {
        const d = b.conv(`${p}.downsample.0`, blockIn, width, 1, stride, 0);
        identity = b.bn(`${p}.downsample.1`, d);
      }
      x = b.bn(`${p}.bn3`, out, { residual: identity });
      inC = width;
    }
    groups.push({ name: `block${s + 1}`, tensor: x });
  }
  const head = b.bn("bn2", x);
  const emb = b.linearBn1d("fc", "features", head, cfg.embeddingSize);
  return b.finish({
    name: cfg.name,
    input,
    embedding: emb,
    groups,
    preprocess: {
      channelOrder: "bgr",
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
      size: cfg.inputSize,
    },
  });
}

/**
 * Recognise an iResNet from a state_dict's keys and shapes: block counts from the
 * `layer{i}.{j}.bn1` keys, widths from the conv weights, input size from the fc input.
 * Returns undefined when the keys are not an iResNet's.
 */
export function detectIResNet(sd: StateDict): IResNetConfig | undefined {
  const stem = sd.get("conv1.weight");
  const fc = sd.get("fc.weight");
  if (!stem || stem.shape.length !== 4 || stem.shape[1] !== 3 || !fc || fc.shape.length !== 2) {
    return undefined;
  }
  const layers: number[] = [];
  const widths: number[] = [];
  for (let s = 1; s <= 4; s++) {
    let j = 0;
    while (sd.has(`layer${s}.${j}.bn1.weight`)) j++;
    const conv = sd.get(`layer${s}.0.conv1.weight`);
    if (j === 0 || !conv) return undefined;
    layers.push(j);
    widths.push(conv.shape[0]);
  }
  const cells = fc.shape[1] / widths[3];
  const side = Math.round(Math.sqrt(cells));
  if (side * side !== cells) return undefined;
  let name = `iresnet(${layers.join(",")})`;
  const isStd = widths.join() === "64,128,256,512" && stem.shape[0] === 64 && side === 7;
  if (isStd) {
    for (const [k, v] of Object.entries(IRESNET_DEPTHS)) if (v.join() === layers.join()) name = k;
  }
  return {
    name,
    layers: layers as [number, number, number, number],
    widths: widths as [number, number, number, number],
    stemWidth: stem.shape[0],
    inputSize: side * 16,
    embeddingSize: fc.shape[0],
  };
}
