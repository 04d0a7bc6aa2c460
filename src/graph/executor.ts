/**
 * The graph executor: uploads a network's weights once, plans memory and records every
 * dispatch once per batch size, then runs batches of images through the forward pass (with
 * BN statistics capture), the reverse pass (activation gradients only) and the per-group score
 * reductions, in one submit per batch.
 *
 * @module
 */
import { encodeDispatches, type Gpu, GpuError } from "../gpu/gpu.ts";
import { bnParams, recordBnApply, recordBnBackward, recordBnStats } from "../kernels/batchnorm.ts";
import {
  backwardWeights,
  forwardWeights,
  paddedBias,
  recordConv2d,
  recordConv2dBackwardData,
} from "../kernels/conv2d.ts";
import {
  depthwiseBias,
  depthwiseWeights,
  recordDepthwiseBackwardData,
  recordDepthwiseConv2d,
} from "../kernels/depthwise.ts";
import { Recorder } from "../kernels/recorder.ts";
import { linearBn1dLayout, recordAbsSum, recordLinearBn1d } from "../kernels/reduce.ts";
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
}

interface ConvParams {
  /** Dense: the forward layout; depthwise: [C][K][K], used by both directions. */
  fwd: GPUBuffer;
  /** Dense: the backward-data layout; depthwise: the same buffer as `fwd`. */
  bwd: GPUBuffer;
  bias: GPUBuffer;
  depthwise: boolean;
}

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
  #gpu: Gpu;
  #conv = new Map<string, ConvParams>();
  #bn = new Map<string, GPUBuffer>();
  #head = new Map<string, { wt: GPUBuffer; prm: GPUBuffer }>();
  /** Plans by batch size: the capacity, and powers of two below it (see {@link run}). */
  #plans = new Map<number, Plan>();
  #capacity = 0;
  #last: Plan | undefined;

  private constructor(gpu: Gpu, graph: Graph, groups: string[]) {
    this.#gpu = gpu;
    this.graph = graph;
    this.groups = groups;
    const perImage = Math.max(...graph.tensors.map((t) => t.c * t.h * t.w * 4));
    this.maxBatch = Math.max(1, Math.floor(gpu.maxBinding / perImage));
  }

  /**
   * Upload the weights of `graph` (already checked by `extractWeights`) in the kernels'
   * layouts.
   *
   * @throws {RangeError} for an unknown group name.
   * @throws {GpuError} when WebGPU fails (e.g. out of memory).
   */
  static async create(
    gpu: Gpu,
    graph: Graph,
    weights: GraphWeights,
    opts: ExecutorOptions = {},
  ): Promise<Executor> {
    const known = graph.groups.map((g) => g.name);
    const groups = opts.groups ?? known;
    for (const g of groups) {
      if (!known.includes(g)) {
        throw new RangeError(`Unknown group "${g}" for ${graph.name}; known: ${known.join(", ")}`);
      }
    }
    if (groups.length === 0) throw new RangeError("At least one group must be requested");
    const ex = new Executor(gpu, graph, groups);
    await gpu.scoped(`uploading ${graph.name} weights`, () => ex.#upload(weights));
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
    for (const n of this.graph.nodes) {
      if (n.kind === "conv") {
        const cin = t[n.input].c, cout = t[n.output].c;
        const w = this.#w(weights, `${n.name}.weight`);
        const bias = n.bias ? this.#w(weights, `${n.name}.bias`) : undefined;
        if (isDepthwise(n, t)) {
          const dw = gpu.storageFrom(`${n.name}.weight:dw`, depthwiseWeights(w, cout, n.k));
          this.#conv.set(n.name, {
            fwd: dw,
            bwd: dw,
            bias: gpu.storageFrom(`${n.name}.bias`, depthwiseBias(bias, cout)),
            depthwise: true,
          });
          continue;
        }
        if (n.groups !== 1) {
          throw new RangeError(
            `${n.name}: grouped convolution with ${n.groups} groups of ${cin} -> ${cout} ` +
              "channels is not supported (only dense and depthwise)",
          );
        }
        this.#conv.set(n.name, {
          fwd: gpu.storageFrom(`${n.name}.weight:fwd`, forwardWeights(w, cout, cin, n.k)),
          bwd: gpu.storageFrom(`${n.name}.weight:bwd`, backwardWeights(w, cout, cin, n.k)),
          bias: gpu.storageFrom(`${n.name}.bias`, paddedBias(bias, cout)),
          depthwise: false,
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
  }

  /**
   * Plan memory and record all dispatches for batches of `n` images. Forward activations are
   * kept only where the reverse pass needs them (BN inputs); every other buffer returns to a
   * pool after its last reader, and gradient buffers reuse that pool.
   */
  #makePlan(n: number): Plan {
    const gpu = this.#gpu;
    const g = this.graph;
    const T = g.tensors;
    const bytesOf = (t: TensorInfo) => n * t.c * t.h * t.w * 4;
    const rec = new Recorder(gpu);
    const pool = new Pool(gpu);
    const extra: GPUBuffer[] = [];
    const G = this.groups.length;

    const input = gpu.storage("input", bytesOf(T[g.input]));
    const scores = gpu.storage("scores", n * G * 4);
    const embT = T[g.embedding];
    const embedding = gpu.storage("embedding", n * embT.c * 4);
    extra.push(input, scores, embedding);

    // Where the reverse pass stops: the producer of the earliest requested group's tensor.
    const groupTensor = new Map(g.groups.map((x) => [x.tensor, x.name]));
    const requested = g.groups.filter((x) => this.groups.includes(x.name));
    const producer = new Map<number, number>();
    g.nodes.forEach((node, i) => producer.set(node.output, i));
    const stopIndex = Math.min(...requested.map((x) => producer.get(x.tensor) ?? -1));

    // Which tensors receive a gradient (reverse reachability from the loss).
    const hasGrad = new Array<boolean>(T.length).fill(false);
    for (let i = g.nodes.length - 1; i > stopIndex; i--) {
      const node = g.nodes[i];
      if (node.kind === "bn") {
        if (node.inLoss || hasGrad[node.output]) hasGrad[node.input] = true;
        if (node.residual !== undefined && hasGrad[node.output]) hasGrad[node.residual] = true;
      } else if (node.kind === "conv" && hasGrad[node.output]) hasGrad[node.input] = true;
    }
    const needsBackward = (i: number) => {
      const node = g.nodes[i];
      return i > stopIndex && node.kind !== "linear_bn1d" && hasGrad[node.input];
    };

    // Forward-pass readers of each tensor, and whether the reverse pass reads it.
    const lastForwardUse = new Array<number>(T.length).fill(-1);
    const backwardUses = new Array<number>(T.length).fill(0);
    g.nodes.forEach((node, i) => {
      lastForwardUse[node.input] = i;
      if (node.kind === "bn" && node.residual !== undefined) lastForwardUse[node.residual] = i;
      if (node.kind === "bn" && needsBackward(i)) backwardUses[node.input]++;
    });

    // ---- forward ----
    const act: (GPUBuffer | undefined)[] = new Array(T.length);
    act[g.input] = input;
    const stats = new Map<string, GPUBuffer>();
    const release = (id: number) => {
      if (id !== g.input && act[id] && backwardUses[id] === 0) {
        pool.put(act[id]!);
        act[id] = undefined;
      }
    };
    g.nodes.forEach((node, i) => {
      const inT = T[node.input], outT = T[node.output];
      const x = act[node.input]!;
      if (node.kind === "conv") {
        const y = node.output === g.embedding ? embedding : pool.get(outT.name, bytesOf(outT));
        const p = this.#conv.get(node.name)!;
        if (p.depthwise) {
          const dg = dwGeometry(n, node, inT);
          recordDepthwiseConv2d(rec, node.name, dg, x, p.fwd, p.bias, y);
        } else {
          recordConv2d(
            rec,
            node.name,
            denseGeometry(n, node, inT, outT),
            x,
            p.fwd,
            p.bias,
            y,
          );
        }
        act[node.output] = y;
      } else if (node.kind === "bn") {
        const shape = { n, c: inT.c, h: inT.h, w: inT.w };
        if (node.inLoss && needsBackward(i)) {
          const s = gpu.storage(`${node.name}:stats`, n * inT.c * 8);
          extra.push(s);
          stats.set(node.name, s);
          recordBnStats(rec, `${node.name}:stats`, shape, x, s);
        }
        const y = node.output === g.embedding ? embedding : pool.get(outT.name, bytesOf(outT));
        const r = node.residual !== undefined ? act[node.residual] : undefined;
        recordBnApply(rec, node.name, shape, node.act, x, this.#bn.get(node.name)!, r, y);
        act[node.output] = y;
      } else {
        const h = this.#head.get(node.fcName)!;
        recordLinearBn1d(
          rec,
          node.fcName,
          n,
          inT.c * inT.h * inT.w,
          outT.c,
          x,
          h.wt,
          h.prm,
          embedding,
        );
        act[node.output] = embedding;
      }
      // Release inputs whose last forward reader this was and which the reverse pass skips.
      for (const id of [node.input, node.kind === "bn" ? node.residual : undefined]) {
        if (id !== undefined && lastForwardUse[id] === i) release(id);
      }
    });
    // Outputs nobody reads (other than the embedding) go back to the pool too.
    T.forEach((_t, id) => {
      if (lastForwardUse[id] === -1 && id !== g.embedding && act[id]) release(id);
    });

    // ---- reverse ----
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
      const b = pool.get(`${T[id].name}:grad`, bytesOf(T[id]));
      hold(b);
      grad[id] = b;
      return { buf: b, acc: false };
    };
    const slotOf = (name: string) => this.groups.indexOf(name);
    const scoreGroup = (id: number) => {
      const name = groupTensor.get(id);
      if (name === undefined || slotOf(name) < 0 || !grad[id]) return;
      const t = T[id];
      recordAbsSum(rec, `${name}:score`, n, t.c * t.h * t.w, grad[id]!, scores, G, slotOf(name));
    };
    for (let i = g.nodes.length - 1; i > stopIndex; i--) {
      const node: Node = g.nodes[i];
      scoreGroup(node.output);
      if (!needsBackward(i)) {
        drop(grad[node.output]);
        continue;
      }
      const inT = T[node.input], outT = T[node.output];
      const gy = grad[node.output];
      if (node.kind === "conv") {
        if (gy) {
          const { buf, acc } = gradFor(node.input);
          const p = this.#conv.get(node.name)!;
          if (p.depthwise) {
            const dg = dwGeometry(n, node, inT);
            recordDepthwiseBackwardData(rec, `${node.name}:bwd`, dg, gy, p.bwd, buf, acc);
          } else {
            recordConv2dBackwardData(
              rec,
              `${node.name}:bwd`,
              denseGeometry(n, node, inT, outT),
              gy,
              p.bwd,
              buf,
              acc,
              "auto",
              (bytes) => {
                // Scratch for this dispatch sequence only: back to the pool at once, since
                // reuse follows dispatch order.
                const s = pool.get(`${node.name}:scratch`, bytes);
                pool.put(s);
                return s;
              },
            );
          }
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
            stats: stats.get(node.name),
            invLayers: 1 / g.lossLayers,
            accumulate: acc,
          },
        );
        backwardUses[node.input]--;
        if (backwardUses[node.input] === 0 && node.input !== g.input) {
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
    // The earliest requested group is the output of the node where the reverse pass stopped.
    scoreGroup(stopIndex >= 0 ? g.nodes[stopIndex].output : g.input);
    rec.gpu.checkHealthy();
    const dispatches = rec.finish();
    const readBytes = n * G * 4 + n * embT.c * 4;
    const readback = gpu.device.createBuffer({
      label: "readback",
      size: Math.ceil(readBytes / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const uniforms = rec.uniforms;
    return { dispatches, input, scores, embedding, readback, pool, extra, uniforms };
  }

  /**
   * Score `count` images. `inputs` holds them back to back, each 3 x S x S float32 (CHW,
   * normalised as {@link Graph.preprocess} says). Each image's results are bit-identical
   * whatever the batch size or its neighbours: statistics and sums run per image, in a fixed
   * order.
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
   * Time every recorded dispatch of the current plan on its own (one submit each, so the
   * absolute figures include ~0.1-10 ms of submit overhead per dispatch; compare kernels, not
   * totals). Returns seconds per dispatch label prefix (the text before the first ':' or '['),
   * grouped by kernel pipeline name, for the plan of the last {@link run}.
   */
  async profile(): Promise<Map<string, { seconds: number; count: number }>> {
    const p = this.#last;
    if (!p) throw new Error("Executor.profile(): call run() first");
    const dev = this.#gpu.device;
    const out = new Map<string, { seconds: number; count: number }>();
    for (const d of p.dispatches) {
      const enc = dev.createCommandEncoder();
      encodeDispatches(enc, [d]);
      const t0 = performance.now();
      dev.queue.submit([enc.finish()]);
      await dev.queue.onSubmittedWorkDone();
      const key = d.pipeline.label.split("|").slice(0, 2).join("|");
      const e = out.get(key) ?? { seconds: 0, count: 0 };
      e.seconds += (performance.now() - t0) / 1000;
      e.count++;
      out.set(key, e);
    }
    return out;
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
      new Set([c.fwd, c.bwd, c.bias]).forEach((b) => b.destroy());
    }
    for (const b of this.#bn.values()) b.destroy();
    for (const h of this.#head.values()) [h.wt, h.prm].forEach((b) => b.destroy());
  }
}
