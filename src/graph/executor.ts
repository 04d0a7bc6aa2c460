/**
 * The graph executor: uploads a network's weights once, plans memory and records every
 * dispatch once per batch size, then runs batches of images through the forward pass (with
 * BN statistics capture), the reverse pass (activation gradients only) and the per-group score
 * reductions, in one submit per batch.
 *
 * @module
 */
import {
  encodeDispatches,
  type Gpu,
  GpuError,
  type KernelChoice,
  type KernelFamily,
  resolveKernels,
} from "../gpu/gpu.ts";
import { bnParams, recordBnApply, recordBnBackward, recordBnStats } from "../kernels/batchnorm.ts";
import {
  backwardWeights,
  backwardWeightsFor,
  forwardWeights,
  forwardWeightsFor,
  paddedBias,
  recordConv2d,
  recordConv2dBackwardData,
  zeros,
} from "../kernels/conv2d.ts";
import {
  depthwiseBias,
  depthwiseWeights,
  recordDepthwiseBackwardData,
  recordDepthwiseConv2d,
  recordDepthwiseTiled,
  recordDepthwiseTiledBackwardData,
} from "../kernels/depthwise.ts";
import {
  recordConv3x3Tex,
  recordConv3x3TexGradient,
  tex3x3ConfigFor,
  tex3x3Size,
  tex3x3Weights,
} from "../kernels/conv3x3_tex.ts";
import {
  recordWinogradConv,
  recordWinogradWeights,
  winogradTileFor,
  type WinogradWeights,
} from "../kernels/winograd.ts";
import { Recorder } from "../kernels/recorder.ts";
import { recordConvTiled, recordConvTiledBackwardData } from "../kernels/conv_tiled.ts";
import {
  linearBn1dLayout,
  recordAbsSum,
  recordLinearBn1d,
  recordLinearBn1dTiled,
} from "../kernels/reduce.ts";
import { backwardRule, type ReversePlan, reversePlan } from "./grafiqs.ts";
import type { ConvNode, Graph, Node, TensorInfo } from "./ir.ts";
import type { GraphWeights } from "./weights.ts";

/** Result of one batch. */
export interface BatchResult {
  /** Scores, [count][groups.length] float32, in the order of the requested groups. */
  scores: Float32Array;
  /** Embeddings, [count][E] float32 (not normalised). */
  embeddings: Float32Array;
}

/** Options of {@link Executor.create}. */
export interface ExecutorOptions {
  /** Names of the groups φ to score, in output order (default: all of the graph's groups). */
  groups?: string[];
  /**
   * Kernel family ({@link KernelFamily}); "auto" (the default) takes "register" on a software
   * adapter and "tiled" on every other ({@link resolveKernels}). The tiled family runs every
   * dense and depthwise convolution, both directions, and the Linear + BatchNorm1d head on its
   * own workgroup-tiled kernels and takes the BN statistics with 256 lanes per plane; BN apply,
   * the reverse BN pass and the sums run on the same kernels in both families. "winograd" (never
   * taken by "auto") is the register family with the forward pass of the 3x3 stride-1 layers by
   * Winograd F(4x4) as well: faster on a CPU adapter, more memory, scores up to ~2e-4 from the
   * official float32 ones, as far from a float64 evaluation as those (kernels/winograd.ts
   * winogradTileFor).
   */
  kernels?: KernelChoice;
}

/**
 * A convolution's uploaded parameters, in the layouts of the kernels that serve it (chosen by
 * the layer shape only): "depthwise" ([C][K][K], one buffer for both directions), "tex3x3"
 * (3x3 stride-1 layers on the register and winograd families: the forward pass on the texture
 * kernels of kernels/conv3x3_tex.ts, or by Winograd on the winograd family; the input gradient by
 * Winograd; each direction on a texture kernel where winogradTileFor of kernels/winograd.ts
 * says Winograd does not serve the layer) or
 * "dense" (the forward and backward-data layouts of kernels/conv2d.ts: textures where the
 * register family's stride-2 kernels read them, forwardWeightsFor and backwardWeightsFor).
 */
type ConvParams =
  | { kind: "depthwise"; fwd: GPUBuffer; bwd: GPUBuffer; bias: GPUBuffer }
  | { kind: "dense"; fwd: GPUBuffer | GPUTexture; bwd: GPUBuffer | GPUTexture; bias: GPUBuffer }
  | {
    kind: "tex3x3";
    fwd: WinogradWeights | GPUTexture;
    bwd: WinogradWeights | GPUTexture;
    bias: GPUBuffer;
  };

/** Whether a convolution node is depthwise (groups = input = output channels). */
function isDepthwise(node: ConvNode, t: TensorInfo[]): boolean {
  return node.groups > 1 && node.groups === t[node.input].c && node.groups === t[node.output].c;
}

/** Geometry of a dense convolution node for a batch of n. */
function denseGeometry(n: number, node: ConvNode, inT: TensorInfo, outT: TensorInfo) {
  return {
    n,
    cin: inT.c,
    hin: inT.h,
    win: inT.w,
    cout: outT.c,
    k: node.k,
    stride: node.stride,
    pad: node.pad,
  };
}

/** Geometry of a depthwise node for a batch of n. */
function dwGeometry(n: number, node: ConvNode, inT: TensorInfo) {
  return { n, c: inT.c, hin: inT.h, win: inT.w, k: node.k, stride: node.stride, pad: node.pad };
}

/** Byte-size-bucketed buffer pool used while planning; reuse follows dispatch order. */
class Pool {
  #free = new Map<number, GPUBuffer[]>();
  #all: GPUBuffer[] = [];
  #gpu: Gpu;
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }
  get(label: string, bytes: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const list = this.#free.get(size);
    if (list?.length) return list.pop()!;
    const b = this.#gpu.storage(label, size);
    this.#all.push(b);
    return b;
  }
  put(b: GPUBuffer): void {
    const list = this.#free.get(b.size) ?? [];
    list.push(b);
    this.#free.set(b.size, list);
  }
  /** Every buffer the pool created, in creation order. */
  get buffers(): readonly GPUBuffer[] {
    return this.#all;
  }
  destroy(): void {
    for (const b of this.#all) b.destroy();
  }
}

interface Plan {
  dispatches: import("../gpu/gpu.ts").Dispatch[];
  input: GPUBuffer;
  scores: GPUBuffer;
  embedding: GPUBuffer;
  readback: GPUBuffer;
  pool: Pool;
  extra: GPUBuffer[];
  uniforms: { destroy(): void };
}

/**
 * Scratch memory of one layer's dispatches (Winograd's V and M, the dilated input gradient's
 * zero-inserted gy): `scratch` takes a buffer of at least `bytes` from the pool while the layer
 * is recorded, `giveBack` returns all of them after it (reuse follows dispatch order).
 */
function layerScratch(pool: Pool): {
  scratch: (bytes: number) => GPUBuffer;
  giveBack: () => void;
} {
  const taken: GPUBuffer[] = [];
  return {
    scratch: (bytes) => {
      const b = pool.get("scratch", bytes);
      taken.push(b);
      return b;
    },
    giveBack: () => taken.splice(0).forEach((b) => pool.put(b)),
  };
}

/** When each forward activation may go back to the pool. */
interface Liveness {
  /** Per tensor: index of its last forward reader (input or residual), -1 when none. */
  lastForwardUse: number[];
  /**
   * Per tensor: how many backward steps still read it (decremented as the reverse pass is
   * recorded); a tensor with a count above 0 stays alive after the forward pass.
   */
  savedUses: number[];
}

/**
 * The forward readers of every tensor, and how many backward steps of `plan` read it
 * (the {@link backwardRule} `saved` tensors of each node whose backward runs).
 */
function forwardLiveness(g: Graph, plan: ReversePlan): Liveness {
  const lastForwardUse = new Array<number>(g.tensors.length).fill(-1);
  const savedUses = new Array<number>(g.tensors.length).fill(0);
  g.nodes.forEach((node, i) => {
    lastForwardUse[node.input] = i;
    if (node.kind === "bn" && node.residual !== undefined) lastForwardUse[node.residual] = i;
    if (!plan.runsBackward[i]) return;
    for (const t of backwardRule(node).saved(node)) savedUses[t]++;
  });
  return { lastForwardUse, savedUses };
}

/** Everything the recording steps of one plan share. */
interface PlanState {
  /** Batch size. */
  n: number;
  rec: Recorder;
  pool: Pool;
  /** Buffers outside the pool, destroyed with the plan. */
  extra: GPUBuffer[];
  /** Bytes of tensor `id` for the whole batch. */
  bytesOf: (id: number) => number;
  /** Per tensor: its activation buffer while alive. */
  act: (GPUBuffer | undefined)[];
  /** Per injected loss term (node index): its per-image statistics buffer. */
  stats: Map<number, GPUBuffer>;
  live: Liveness;
}

/**
 * Runs one network on one device. Create with {@link Executor.create}; call
 * {@link Executor.run} per batch; {@link Executor.destroy} when done.
 */
export class Executor {
  /** The network. */
  readonly graph: Graph;
  /** Groups scored, in output order. */
  readonly groups: string[];
  /** Largest batch whose biggest tensor fits one storage binding. */
  readonly maxBatch: number;
  /**
   * The convolution kernel kinds this network runs on, with how many layers each serves:
   * "tex3x3" (3x3 stride-1 layers: texture kernels or Winograd forward, Winograd input gradient), "dense"
   * (buffer kernels) and "depthwise", e.g. `{ tex3x3: 4, dense: 3 }`; kinds that serve no layer are absent. Within the family
   * {@link Executor.kernels} (register, tiled or winograd). For display (the web page shows both beside
   * the adapter's name).
   */
  get convKernelKinds(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.#conv.values()) out[c.kind] = (out[c.kind] ?? 0) + 1;
    return out;
  }

  /** The kernel family this executor runs ({@link ExecutorOptions.kernels}, resolved). */
  readonly kernels: KernelFamily;
  #gpu: Gpu;
  /** The method's decisions for the requested groups (grafiqs.ts). */
  #reverse: ReversePlan;
  #conv = new Map<string, ConvParams>();
  #bn = new Map<string, GPUBuffer>();
  #head = new Map<string, { wt: GPUBuffer; prm: GPUBuffer }>();
  /** Plans by batch size: the capacity, and powers of two below it (see {@link run}). */
  #plans = new Map<number, Plan>();
  #capacity = 0;
  #last: Plan | undefined;

  private constructor(gpu: Gpu, graph: Graph, reverse: ReversePlan, kernels: KernelFamily) {
    this.#gpu = gpu;
    this.kernels = kernels;
    this.graph = graph;
    this.#reverse = reverse;
    this.groups = reverse.groups.map((g) => g.name);
    const perImage = Math.max(...graph.tensors.map((t) => t.c * t.h * t.w * 4));
    this.maxBatch = Math.max(1, Math.floor(gpu.maxBinding / perImage));
  }

  /**
   * Upload the weights of `graph` (already checked by `extractWeights`) in the kernels'
   * layouts, and plan the reverse pass for the requested groups ({@link reversePlan},
   * docs/ALGORITHM.md).
   *
   * @example Score the block2 and block4 groups of an iResNet checkpoint
   * ```ts
   * import { Executor, Gpu, loadModel } from "@grafiqs/grafiqs-webgpu";
   *
   * const gpu = await Gpu.create();
   * const model = await loadModel("auto", "backbone.pth");
   * const ex = await Executor.create(gpu, model.graph, model.weights, {
   *   groups: ["block2", "block4"],
   * });
   * console.log(ex.groups, ex.maxBatch); // ["block2", "block4"], the largest batch
   * ```
   *
   * @throws {RangeError} for an unknown or repeated group name, an empty group list, or a graph
   *   without loss layers.
   * @throws {GpuError} when WebGPU fails (e.g. out of memory).
   */
  static async create(
    gpu: Gpu,
    graph: Graph,
    weights: GraphWeights,
    opts: ExecutorOptions = {},
  ): Promise<Executor> {
    const kernels = resolveKernels(opts.kernels ?? "auto", gpu);
    const ex = new Executor(gpu, graph, reversePlan(graph, opts.groups), kernels);
    await gpu.scoped(`uploading ${graph.name} weights`, () => {
      ex.#upload(weights);
      // Hand the queued weight copies to the queue now, so they proceed while the caller
      // decodes images and the first plan is made, not at the first batch.
      gpu.device.queue.submit([]);
    });
    return ex;
  }

  #w(weights: GraphWeights, key: string): Float32Array {
    const v = weights.get(key);
    if (!v) throw new RangeError(`Weight ${key} was not extracted`);
    return v;
  }

  #upload(weights: GraphWeights): void {
    const gpu = this.#gpu;
    const t = this.graph.tensors;
    // One host array for the texels of every forward 3x3 texture (tex3x3Weights), grown to the
    // largest.
    let texelArray = new Float32Array(0);
    const texelsFor = (cout: number, cin: number) => {
      const floats = tex3x3Size(cout, cin, "forward").floats;
      if (texelArray.length < floats) texelArray = new Float32Array(floats);
      return texelArray;
    };
    // Weight transforms recorded for the Winograd layers, submitted at the end of the upload.
    const rec = new Recorder(gpu);
    const transient: GPUBuffer[] = [];
    for (const n of this.graph.nodes) {
      if (n.kind === "conv") {
        const cin = t[n.input].c, cout = t[n.output].c;
        const w = this.#w(weights, `${n.name}.weight`);
        const bias = n.bias ? this.#w(weights, `${n.name}.bias`) : undefined;
        if (isDepthwise(n, t)) {
          const dw = gpu.storageFrom(`${n.name}.weight:dw`, depthwiseWeights(w, cout, n.k));
          this.#conv.set(n.name, {
            kind: "depthwise",
            fwd: dw,
            bwd: dw,
            bias: gpu.storageFrom(`${n.name}.bias`, depthwiseBias(bias, cout)),
          });
          continue;
        }
        if (n.groups !== 1) {
          throw new RangeError(
            `${n.name}: grouped convolution with ${n.groups} groups of ${cin} -> ${cout} ` +
              "channels is not supported (only dense and depthwise)",
          );
        }
        const b = gpu.storageFrom(`${n.name}.bias`, paddedBias(bias, cout));
        const geo = { k: n.k, stride: n.stride, pad: n.pad, hin: t[n.input].h, win: t[n.input].w };
        if (this.kernels !== "tiled" && tex3x3ConfigFor(geo)) {
          // The input gradient (and on the winograd family the forward pass): by Winograd, from
          // the weights as they are (the queue transforms them, once per direction), or on a
          // texture of its own where Winograd does not serve the layer.
          const m = winogradTileFor({ ...geo, cin });
          let raw: GPUBuffer | undefined;
          const winograd = (tile: 2 | 4, direction: "forward" | "input-gradient") => {
            if (!raw) {
              raw = gpu.storageFrom(`${n.name}.weight`, w);
              transient.push(raw);
            }
            const label = `${n.name}:${direction === "forward" ? "fwd" : "bwd"}`;
            return recordWinogradWeights(rec, label, tile, raw, cout, cin, direction);
          };
          const forward = () => {
            if (m && this.kernels === "winograd") return winograd(m, "forward");
            const texels = texelsFor(cout, cin);
            return tex3x3Weights(gpu, `${n.name}.weight:tex`, w, cout, cin, "forward", texels);
          };
          const gradient = () => {
            if (m) return winograd(m, "input-gradient");
            return tex3x3Weights(gpu, `${n.name}.weight:tex-bwd`, w, cout, cin, "input-gradient");
          };
          this.#conv.set(n.name, { kind: "tex3x3", fwd: forward(), bwd: gradient(), bias: b });
          continue;
        }
        // The weights as the family's kernels read them (textures for the register family's
        // stride-2 kernels, conv2d.ts forwardWeightsFor and backwardWeightsFor).
        const [lf, lb] = [`${n.name}.weight:fwd`, `${n.name}.weight:bwd`];
        const g1 = { ...geo, n: 1, cin, cout };
        const tiled = this.kernels === "tiled";
        this.#conv.set(n.name, {
          kind: "dense",
          fwd: tiled
            ? gpu.storageFrom(lf, forwardWeights(w, cout, cin, n.k))
            : forwardWeightsFor(gpu, lf, w, g1),
          bwd: tiled
            ? gpu.storageFrom(lb, backwardWeights(w, cout, cin, n.k))
            : backwardWeightsFor(gpu, lb, w, g1),
          bias: b,
        });
      } else if (n.kind === "bn") {
        const p = (k: string) => this.#w(weights, `${n.name}.${k}`);
        const alpha = n.act === "prelu" ? this.#w(weights, `${n.preluName}.weight`) : undefined;
        const prm = bnParams(
          p("weight"),
          p("bias"),
          p("running_mean"),
          p("running_var"),
          1e-5,
          alpha,
        );
        this.#bn.set(n.name, gpu.storageFrom(`${n.name}:params`, prm));
      } else {
        const inT = t[n.input];
        const inF = inT.c * inT.h * inT.w, outF = t[n.output].c;
        const b = (k: string) => this.#w(weights, `${n.bnName}.${k}`);
        const { wt, prm } = linearBn1dLayout(
          this.#w(weights, `${n.fcName}.weight`),
          this.#w(weights, `${n.fcName}.bias`),
          b("weight"),
          b("bias"),
          b("running_mean"),
          b("running_var"),
          inF,
          outF,
        );
        this.#head.set(n.fcName, {
          wt: gpu.storageFrom(`${n.fcName}:wt`, wt),
          prm: gpu.storageFrom(`${n.fcName}:prm`, prm),
        });
      }
    }
    const dispatches = rec.finish();
    if (dispatches.length > 0) {
      const enc = gpu.device.createCommandEncoder({
        label: `${this.graph.name} weight transforms`,
      });
      encodeDispatches(enc, dispatches);
      gpu.device.queue.submit([enc.finish()]);
    }
    // Freed once the submitted transforms have run (WebGPU keeps them alive until then).
    for (const b of transient) b.destroy();
    rec.uniforms.destroy();
  }

  /**
   * Plan memory and record all dispatches for batches of `n` images, in three steps:
   * {@link forwardLiveness} (which buffers may be recycled when), {@link Executor.#recordForward}
   * and {@link Executor.#recordReverse}. Forward activations are kept only where the reverse
   * pass reads them (BN inputs); every other buffer returns to a pool after its last reader,
   * and gradient buffers reuse that pool.
   */
  #makePlan(n: number): Plan {
    const gpu = this.#gpu;
    const g = this.graph;
    const T = g.tensors;
    const G = this.groups.length;
    const embT = T[g.embedding];
    const st: PlanState = {
      n,
      rec: new Recorder(gpu),
      pool: new Pool(gpu),
      extra: [],
      bytesOf: (id) => n * T[id].c * T[id].h * T[id].w * 4,
      act: new Array(T.length),
      stats: new Map(),
      live: forwardLiveness(g, this.#reverse),
    };
    const input = gpu.storage("input", st.bytesOf(g.input));
    const scores = gpu.storage("scores", n * G * 4);
    const embedding = gpu.storage("embedding", n * embT.c * 4);
    st.extra.push(input, scores, embedding);
    st.act[g.input] = input;
    this.#recordForward(st, embedding);
    this.#recordReverse(st, scores);
    gpu.checkHealthy();
    // Clear the plan's new buffers now (WebGPU would clear them lazily at the first batch
    // anyway): the queue does it while the pipelines compile in finish(), which on a software
    // adapter overlaps its first touch of this memory (~1 GB for iresnet50 at batch 8) with
    // the compilation instead of adding it to the first batch.
    const clear = gpu.device.createCommandEncoder({ label: `${g.name} plan buffers` });
    for (const b of [...st.pool.buffers, ...st.extra]) clear.clearBuffer(b);
    gpu.device.queue.submit([clear.finish()]);
    const dispatches = st.rec.finish();
    const readBytes = n * G * 4 + n * embT.c * 4;
    const readback = gpu.device.createBuffer({
      label: "readback",
      size: Math.ceil(readBytes / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const { pool, extra } = st;
    return {
      dispatches,
      input,
      scores,
      embedding,
      readback,
      pool,
      extra,
      uniforms: st.rec.uniforms,
    };
  }

  /**
   * Record the forward pass: every node in order, with the BN statistics capture of the loss
   * terms the reverse pass injects ({@link ReversePlan.injected}). Each activation goes back to
   * the pool after its last forward reader unless the reverse pass reads it.
   */
  #recordForward(st: PlanState, embedding: GPUBuffer): void {
    const { n, rec, pool, act, live } = st;
    const { scratch, giveBack } = layerScratch(pool);
    const g = this.graph;
    const T = g.tensors;
    const release = (id: number) => {
      if (id !== g.input && act[id] && live.savedUses[id] === 0) {
        pool.put(act[id]!);
        act[id] = undefined;
      }
    };
    const outputBuffer = (id: number) =>
      id === g.embedding ? embedding : pool.get(T[id].name, st.bytesOf(id));
    g.nodes.forEach((node, i) => {
      const inT = T[node.input], outT = T[node.output];
      const x = act[node.input]!;
      if (node.kind === "conv") {
        const y = outputBuffer(node.output);
        const p = this.#conv.get(node.name)!;
        if (p.kind === "depthwise") {
          const dg = dwGeometry(n, node, inT);
          if (this.kernels === "tiled") {
            recordDepthwiseTiled(rec, node.name, dg, x, p.fwd, p.bias, y);
          } else recordDepthwiseConv2d(rec, node.name, dg, x, p.fwd, p.bias, y);
        } else if (p.kind === "tex3x3") {
          if (p.fwd instanceof GPUTexture) {
            const geo = denseGeometry(n, node, inT, outT);
            recordConv3x3Tex(rec, node.name, geo, x, p.fwd, p.bias, y);
          } else {
            recordWinogradConv(
              rec,
              node.name,
              n,
              inT.h,
              inT.w,
              x,
              p.fwd,
              p.bias,
              y,
              false,
              scratch,
            );
            giveBack();
          }
        } else if (this.kernels === "tiled") {
          const geo = denseGeometry(n, node, inT, outT);
          recordConvTiled(rec, node.name, geo, x, p.fwd as GPUBuffer, p.bias, y);
        } else {
          const geo = denseGeometry(n, node, inT, outT);
          recordConv2d(rec, node.name, geo, x, p.fwd, p.bias, y);
        }
        act[node.output] = y;
      } else if (node.kind === "bn") {
        const shape = { n, c: inT.c, h: inT.h, w: inT.w };
        if (this.#reverse.injected.has(i)) {
          const s = this.#gpu.storage(`${node.name}:stats`, n * inT.c * 8);
          st.extra.push(s);
          st.stats.set(i, s);
          recordBnStats(rec, `${node.name}:stats`, shape, x, s, this.kernels);
        }
        const y = outputBuffer(node.output);
        const r = node.residual !== undefined ? act[node.residual] : undefined;
        recordBnApply(rec, node.name, shape, node.act, x, this.#bn.get(node.name)!, r, y);
        act[node.output] = y;
      } else {
        const h = this.#head.get(node.fcName)!;
        const inF = inT.c * inT.h * inT.w;
        const head = this.kernels === "tiled" ? recordLinearBn1dTiled : recordLinearBn1d;
        head(rec, node.fcName, n, inF, outT.c, x, h.wt, h.prm, embedding);
        act[node.output] = embedding;
      }
      // Release inputs whose last forward reader this was and which the reverse pass skips.
      for (const id of [node.input, node.kind === "bn" ? node.residual : undefined]) {
        if (id !== undefined && live.lastForwardUse[id] === i) release(id);
      }
    });
    // Outputs nobody reads (other than the embedding) go back to the pool too.
    T.forEach((_t, id) => {
      if (live.lastForwardUse[id] === -1 && id !== g.embedding && act[id]) release(id);
    });
  }

  /**
   * Record the reverse pass of {@link ReversePlan}: its walk from the last node down to the
   * stop node, scoring each group when the walk reaches the group tensor's producer (its
   * gradient is complete then) and running the backward of the nodes that have one. Gradient
   * buffers are reference-counted (a residual shares its output gradient's buffer) and go back
   * to the pool after their last reader.
   */
  #recordReverse(st: PlanState, scores: GPUBuffer): void {
    const { n, rec, pool, act, live } = st;
    const { scratch, giveBack } = layerScratch(pool);
    const g = this.graph;
    const T = g.tensors;
    const plan = this.#reverse;
    const G = plan.groups.length;
    const grad: (GPUBuffer | undefined)[] = new Array(T.length);
    const refs = new Map<GPUBuffer, number>();
    const hold = (b: GPUBuffer) => refs.set(b, (refs.get(b) ?? 0) + 1);
    const drop = (b: GPUBuffer | undefined) => {
      if (!b) return;
      const r = (refs.get(b) ?? 1) - 1;
      refs.set(b, r);
      if (r === 0) pool.put(b);
    };
    const gradFor = (id: number): { buf: GPUBuffer; acc: boolean } => {
      const existing = grad[id];
      if (existing) return { buf: existing, acc: true };
      const b = pool.get(`${T[id].name}:grad`, st.bytesOf(id));
      hold(b);
      grad[id] = b;
      return { buf: b, acc: false };
    };
    // Score the groups produced by node `at` (-1: the graph input): Σ |g| per image.
    const scoreAt = (at: number) => {
      for (const grp of plan.groups) {
        if (grp.producer !== at) continue;
        const t = T[grp.tensor];
        const gb = grad[grp.tensor];
        if (!gb) throw new Error(`${g.name}: no gradient buffer for group ${grp.name}`);
        recordAbsSum(rec, `${grp.name}:score`, n, t.c * t.h * t.w, gb, scores, G, grp.slot);
      }
    };
    for (const i of plan.walk) {
      const node: Node = g.nodes[i];
      scoreAt(i);
      if (!plan.runsBackward[i]) {
        drop(grad[node.output]);
        continue;
      }
      const inT = T[node.input], outT = T[node.output];
      const gy = grad[node.output];
      if (node.kind === "conv") {
        const { buf, acc } = gradFor(node.input);
        const p = this.#conv.get(node.name)!;
        if (p.kind === "depthwise") {
          const dg = dwGeometry(n, node, inT);
          if (this.kernels === "tiled") {
            recordDepthwiseTiledBackwardData(rec, `${node.name}:bwd`, dg, gy!, p.bwd, buf, acc);
          } else recordDepthwiseBackwardData(rec, `${node.name}:bwd`, dg, gy!, p.bwd, buf, acc);
        } else if (p.kind === "tex3x3") {
          if (p.bwd instanceof GPUTexture) {
            const geo = denseGeometry(n, node, inT, outT);
            recordConv3x3TexGradient(rec, `${node.name}:bwd`, geo, gy!, p.bwd, buf, acc);
          } else {
            const zero = zeros(this.#gpu, inT.c);
            recordWinogradConv(
              rec,
              `${node.name}:bwd`,
              n,
              inT.h,
              inT.w,
              gy!,
              p.bwd,
              zero,
              buf,
              acc,
              scratch,
            );
            giveBack();
          }
        } else if (this.kernels === "tiled") {
          const geo = denseGeometry(n, node, inT, outT);
          recordConvTiledBackwardData(
            rec,
            `${node.name}:bwd`,
            geo,
            gy!,
            p.bwd as GPUBuffer,
            buf,
            acc,
          );
        } else {
          recordConv2dBackwardData(
            rec,
            `${node.name}:bwd`,
            denseGeometry(n, node, inT, outT),
            gy!,
            p.bwd,
            buf,
            acc,
            "auto",
            scratch,
          );
          giveBack();
        }
      } else if (node.kind === "bn") {
        const { buf, acc } = gradFor(node.input);
        recordBnBackward(
          rec,
          `${node.name}:bwd`,
          { n, c: inT.c, h: inT.h, w: inT.w },
          act[node.input]!,
          this.#bn.get(node.name)!,
          buf,
          {
            act: node.act,
            gy,
            // The statistics gradient enters here for the loss terms after the stop.
            stats: st.stats.get(i),
            invLayers: plan.layerWeight,
            accumulate: acc,
          },
        );
        live.savedUses[node.input]--;
        if (live.savedUses[node.input] === 0 && node.input !== g.input) {
          pool.put(act[node.input]!);
          act[node.input] = undefined;
        }
        if (node.residual !== undefined && gy) {
          if (grad[node.residual]) {
            throw new RangeError(
              `${node.name}: a residual source with several gradient paths is not supported`,
            );
          }
          // The residual's gradient is the output gradient itself: share the buffer.
          grad[node.residual] = gy;
          hold(gy);
        }
      }
      drop(grad[node.output]);
    }
    // The earliest requested group is the output of the node where the walk stopped.
    scoreAt(plan.stop);
  }

  /**
   * Score `count` images. `inputs` holds them back to back, each 3 x S x S float32 (CHW,
   * normalised as {@link Graph.preprocess} says). Each image's results are bit-identical
   * whatever the batch size or its neighbours: statistics and sums run per image, in a fixed
   * order.
   *
   * @example Score two image files on every group
   * ```ts
   * import { Executor, Gpu, loadModel, prepareImage } from "@grafiqs/grafiqs-webgpu";
   *
   * const model = await loadModel("auto", "backbone.pth");
   * const ex = await Executor.create(await Gpu.create(), model.graph, model.weights);
   * const files = ["a.png", "b.png"];
   * const size = model.graph.preprocess.size;
   * const inputs = new Float32Array(files.length * 3 * size * size);
   * for (const [k, f] of files.entries()) {
   *   const x = await prepareImage(await Deno.readFile(f), f, model.graph.preprocess);
   *   inputs.set(x, k * x.length);
   * }
   * const { scores, embeddings } = await ex.run(inputs, files.length);
   * // scores[k * ex.groups.length + j]: image k, group ex.groups[j] (lower = higher quality);
   * // embeddings: files.length rows of the embedding size.
   * ex.destroy();
   * ```
   *
   * @throws {RangeError} when `inputs` has the wrong length or count exceeds {@link maxBatch}.
   * @throws {GpuError} when WebGPU reports an error or loses the device.
   */
  async run(inputs: Float32Array, count: number): Promise<BatchResult> {
    const inT = this.graph.tensors[this.graph.input];
    const per = inT.c * inT.h * inT.w;
    if (inputs.length !== count * per) {
      throw new RangeError(`Expected ${count} x ${per} input values, got ${inputs.length}`);
    }
    if (count < 1 || count > this.maxBatch) {
      throw new RangeError(`Batch of ${count} images; this network allows 1..${this.maxBatch}`);
    }
    // Plans are made once per size and kept: one for the largest batch seen (the capacity)
    // and one per power of two below it, so a short batch (the last one, one that lost images
    // to decode failures, a partial batch of a stream) runs on a plan at most twice its size.
    // Its unused slots compute on whatever they held and are never read back; images never
    // influence each other. At most log2(capacity) + 1 plans, together under twice the
    // memory of the largest.
    if (count > this.#capacity) {
      this.#destroyPlans();
      this.#capacity = count;
    }
    const size = Math.min(this.#capacity, 2 ** Math.ceil(Math.log2(count)));
    let plan = this.#plans.get(size);
    if (!plan) {
      plan = await this.#gpu.scoped(
        `planning ${this.graph.name} for batch ${size}`,
        () => this.#makePlan(size),
      );
      this.#plans.set(size, plan);
    }
    this.#last = plan;
    const p = plan;
    const dev = this.#gpu.device;
    const G = this.groups.length;
    const E = this.graph.tensors[this.graph.embedding].c;
    dev.queue.writeBuffer(p.input, 0, inputs as Float32Array<ArrayBuffer>);
    const enc = dev.createCommandEncoder({ label: `${this.graph.name} batch` });
    enc.clearBuffer(p.scores);
    encodeDispatches(enc, p.dispatches);
    enc.copyBufferToBuffer(p.scores, 0, p.readback, 0, count * G * 4);
    enc.copyBufferToBuffer(p.embedding, 0, p.readback, count * G * 4, count * E * 4);
    dev.queue.submit([enc.finish()]);
    try {
      await p.readback.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.#gpu.checkHealthy();
      throw new GpuError(`Reading back results failed: ${(e as Error).message}`);
    }
    const all = new Float32Array(p.readback.getMappedRange().slice(0));
    p.readback.unmap();
    this.#gpu.checkHealthy();
    return {
      scores: all.slice(0, count * G),
      embeddings: all.slice(count * G, count * G + count * E),
    };
  }

  /**
   * Estimated device memory of a plan, in bytes per image: the forward activations the
   * reverse pass keeps (BN inputs) plus three tensors of the largest size (the working
   * buffers in flight). Weights and the per-plan constants are not counted.
   */
  bytesPerImage(): number {
    const T = this.graph.tensors;
    const bytes = (id: number) => T[id].c * T[id].h * T[id].w * 4;
    const live = forwardLiveness(this.graph, this.#reverse);
    let saved = 0;
    live.savedUses.forEach((u, id) => {
      if (u > 0) saved += bytes(id);
    });
    return saved + 3 * Math.max(...T.map((_t, id) => bytes(id)));
  }

  /**
   * The batch size `--batch-size auto` takes: 8 on a software adapter (its cost per image does
   * not fall with the batch), else the largest power of two up to 256 within {@link maxBatch}
   * whose {@link bytesPerImage} estimate fits `memoryBytes` (WebGPU does not report the
   * device's memory; the default assumes 4 GiB are free).
   */
  autoBatch(memoryBytes: number = 4 * 2 ** 30): number {
    if (this.#gpu.software) return Math.min(8, this.maxBatch);
    const fit = Math.min(256, this.maxBatch, Math.floor(memoryBytes / this.bytesPerImage()));
    return Math.max(1, 2 ** Math.floor(Math.log2(Math.max(1, fit))));
  }

  /**
   * The dispatches of the plan the last {@link run} used, in execution order, for profiling
   * tools (tools/profile.ts times each one). Labels are the kernels' record labels, e.g.
   * "layer1.0.conv1", "layer1.0.conv1:bwd[0:64]", "layer1.0.bn2:stats", "block1:score". The
   * plan's buffers keep the last batch's data; re-submitting these dispatches changes them,
   * but the next {@link run} recomputes everything it reads back.
   *
   * @throws {Error} before the first {@link run}.
   */
  plannedDispatches(): readonly import("../gpu/gpu.ts").Dispatch[] {
    if (!this.#last) throw new Error("Executor.plannedDispatches(): call run() first");
    return this.#last.dispatches;
  }

  #destroyPlans(): void {
    for (const p of this.#plans.values()) {
      p.pool.destroy();
      for (const b of p.extra) b.destroy();
      p.readback.destroy();
      p.uniforms.destroy();
    }
    this.#plans.clear();
    this.#last = undefined;
    this.#capacity = 0;
  }

  /** Release every GPU buffer of this executor. */
  destroy(): void {
    this.#destroyPlans();
    for (const c of this.#conv.values()) {
      const own = (p: GPUBuffer | GPUTexture | WinogradWeights) =>
        p instanceof GPUTexture || p instanceof GPUBuffer ? p : p.u;
      new Set([own(c.fwd), own(c.bwd), c.bias]).forEach((b) => b.destroy());
    }
    for (const b of this.#bn.values()) b.destroy();
    for (const h of this.#head.values()) [h.wt, h.prm].forEach((b) => b.destroy());
  }
}
