/**
 * Backbone registry: turns `--backbone` and `--weights` into a checked graph and its
 * float32 parameters, before any image is read.
 *
 * @module
 */
import { buildIResNet, detectIResNet, IRESNET_DEPTHS, standardIResNet } from "./iresnet.ts";
import type { Graph } from "./ir.ts";
import { buildMobileFaceNet, detectMobileFaceNet, standardMobileFaceNet } from "./mobilefacenet.ts";
import { extractWeights, type GraphWeights, WeightsMismatchError } from "./weights.ts";
import { weightsFingerprint } from "../io/hash.ts";
import type { LoadedWeights, Preprocess, StateDict } from "../weights/types.ts";

/**
 * Named architectures (without "auto"): the iResNets of docs/ALGORITHM.md#the-network and
 * MobileFaceNet.
 */
export const ARCHITECTURES = [...Object.keys(IRESNET_DEPTHS), "mobilefacenet"];

/** Backbone names accepted by `--backbone`. */
export const BACKBONES = [...ARCHITECTURES, "auto"];

/** A network ready for the executor. */
export interface LoadedModel {
  /** The backbone's graph, with the converted file's preprocessing and group names applied. */
  graph: Graph;
  /** Every parameter the graph needs, float32, shapes checked ({@link extractWeights}). */
  weights: GraphWeights;
  /** How the backbone was chosen, for the log ("iresnet50 (recognised from the checkpoint)"). */
  description: string;
  /** The weights file's {@link weightsFingerprint}, when `loadModel` was asked for it. */
  fingerprint?: string;
}

/**
 * The graph of a named architecture for a state_dict. Widths and depths are read from the
 * checkpoint when it has that architecture's layout (so non-standard widths work), else the
 * standard configuration is used and {@link extractWeights} reports the first mismatch.
 *
 * @throws {RangeError} for an unknown name.
 */
export function buildBackbone(name: string, sd: StateDict): Graph {
  if (name === "mobilefacenet") {
    return buildMobileFaceNet(detectMobileFaceNet(sd) ?? standardMobileFaceNet());
  }
  if (!(name in IRESNET_DEPTHS)) {
    throw new RangeError(`Unknown backbone "${name}"; choose one of ${BACKBONES.join(", ")}`);
  }
  const found = detectIResNet(sd);
  return buildIResNet(found?.name === name ? found : standardIResNet(name));
}

/**
 * Recognise the architecture of a state_dict from its keys and shapes: an iResNet (depth and
 * widths from the `layer*` keys) or a MobileFaceNet (MODEL.md key layout).
 *
 * @returns the graph, or undefined when no known architecture matches.
 */
export function detectBackbone(sd: StateDict): Graph | undefined {
  const ir = detectIResNet(sd);
  if (ir) return buildIResNet(ir);
  const mfn = detectMobileFaceNet(sd);
  if (mfn) return buildMobileFaceNet(mfn);
  return undefined;
}

/**
 * Smallest |std| accepted in a converted file's `meta.preprocess` (pixels are in units of
 * v/255, whose step is 0.004; the iResNets use 0.5).
 */
const MIN_PREPROCESS_STD = 1e-3;

function isTriple(v: unknown): v is [number, number, number] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number" && isFinite(x));
}

/**
 * Apply a converted file's model description (GFQW meta, weights/README.md) to a graph:
 * `preprocess` ({@link Preprocess}) replaces the architecture's default preprocessing, and
 * `groups` (string[], one name per group of the graph, in order) renames the groups, which
 * names the output files GraFIQs_<group>.txt. Absent fields leave the graph as built.
 *
 * @param file the weights file, for messages
 * @throws {WeightsMismatchError} naming the file and the field when a field is malformed (e.g. a
 *   mean or std that is not finite, or a std under 0.001 in size), the preprocessing size
 *   differs from the network input, or the group count differs.
 */
export function applyMeta(graph: Graph, meta: Record<string, unknown>, file: string): Graph {
  let out = graph;
  const pre = meta.preprocess;
  if (pre !== undefined) {
    const p = pre as Partial<Preprocess>;
    const bad = (what: string) =>
      new WeightsMismatchError(`${file}: meta.preprocess ${what} (got ${JSON.stringify(pre)})`);
    if (p === null || typeof p !== "object") throw bad("must be an object");
    if (p.channelOrder !== "rgb" && p.channelOrder !== "bgr") {
      throw bad('channelOrder must be "rgb" or "bgr"');
    }
    if (!isTriple(p.mean)) throw bad("mean must be three finite numbers");
    // A near-zero std scales the pixels past float32's range (inf, then NaN scores).
    if (!isTriple(p.std) || p.std.some((v) => !(Math.abs(v) >= MIN_PREPROCESS_STD))) {
      throw bad(
        `std must be three finite nonzero numbers, each at least ${MIN_PREPROCESS_STD} in size`,
      );
    }
    const size = graph.tensors[graph.input].h;
    if (p.size !== size) throw bad(`size must be the network input size ${size}`);
    out = {
      ...out,
      preprocess: {
        channelOrder: p.channelOrder,
        mean: [...p.mean],
        std: [...p.std],
        size,
      },
    };
  }
  const groups = meta.groups;
  if (groups !== undefined) {
    const ok = Array.isArray(groups) && groups.length === graph.groups.length &&
      groups.every((g) => typeof g === "string" && /^[A-Za-z0-9_.-]+$/.test(g)) &&
      new Set(groups).size === groups.length;
    if (!ok) {
      throw new WeightsMismatchError(
        `${file}: meta.groups must list ${graph.groups.length} distinct names (letters, digits, ` +
          `_ . -) for ${graph.groups.map((g) => g.name).join(", ")}; got ${JSON.stringify(groups)}`,
      );
    }
    out = {
      ...out,
      groups: graph.groups.map((g, i) => ({ ...g, name: (groups as string[])[i] })),
    };
  }
  return out;
}

/**
 * Build the backbone for weights already parsed (`parseWeights` in weights/pth.ts, or
 * `readWeightsFile` in weights/read_file.ts): the bytes side of `loadModel` (load_model.ts).
 * - "auto": a converted file's `meta.backbone` when it names a known architecture, else the
 *   architecture recognised from the checkpoint's keys and shapes ({@link detectBackbone}).
 * - A name: that architecture (widths read from the checkpoint when its layout matches).
 * A converted file's `meta.preprocess` and `meta.groups` then apply ({@link applyMeta}).
 * The description says which backbone was used and how it was found.
 *
 * No GPU is needed: the result is plain data, handed to `Executor.create` (executor.ts).
 *
 * @param backbone an architecture name ({@link ARCHITECTURES}) or "auto"
 * @param loaded the parsed weights (state_dict, meta and the file's bytes)
 * @param fileName the weights file's name, named in every error message
 * @param options `fingerprint: true` adds the file's {@link weightsFingerprint} (of
 *   `loaded.bytes`; the resume journal records it)
 * @throws {WeightsMismatchError} when the checkpoint does not fit the backbone, naming the
 *   tensor, the expected shape and the found shape; when "auto" recognises nothing; or for
 *   malformed meta.
 * @throws {InvalidWeightsError} when a tensor the backbone uses holds NaN or infinite values or
 *   a BN running variance is negative (naming the tensor, the first bad index and its value).
 * @throws {RangeError} for an unknown backbone name.
 */
export function modelFromWeights(
  backbone: string,
  loaded: LoadedWeights,
  fileName: string,
  options: { fingerprint?: boolean } = {},
): LoadedModel {
  if (!BACKBONES.includes(backbone)) {
    throw new RangeError(`Unknown backbone "${backbone}"; choose one of ${BACKBONES.join(", ")}`);
  }
  const sd = loaded.stateDict;
  const metaBackbone = typeof loaded.meta.backbone === "string" ? loaded.meta.backbone : undefined;
  let graph: Graph;
  let description: string;
  if (backbone !== "auto") {
    graph = buildBackbone(backbone, sd);
    description = graph.name;
  } else if (metaBackbone && ARCHITECTURES.includes(metaBackbone)) {
    graph = buildBackbone(metaBackbone, sd);
    description = `${graph.name} (named by the converted file)`;
  } else {
    const found = detectBackbone(sd);
    if (!found) {
      throw new WeightsMismatchError(
        `${fileName}: the checkpoint's keys do not match any known backbone ` +
          `(${ARCHITECTURES.join(", ")})`,
      );
    }
    graph = found;
    description = `${graph.name} (recognised from the checkpoint)`;
  }
  graph = applyMeta(graph, loaded.meta, fileName);
  try {
    const weights = extractWeights(graph, sd, fileName);
    const fingerprint = options.fingerprint ? weightsFingerprint(loaded.bytes) : undefined;
    return { graph, weights, description, fingerprint };
  } catch (e) {
    // A named backbone that does not fit: say which one the checkpoint looks like, if any.
    const other = backbone !== "auto" && e instanceof WeightsMismatchError
      ? detectBackbone(sd)
      : null;
    if (other && other.name !== graph.name) {
      const hint = ARCHITECTURES.includes(other.name)
        ? `The checkpoint looks like ${other.name}: pass --backbone ${other.name} or --backbone auto.`
        : `The checkpoint looks like a non-standard ${other.name}: --backbone auto reads it.`;
      throw new WeightsMismatchError(`${(e as Error).message}\n${hint}`);
    }
    throw e;
  }
}
