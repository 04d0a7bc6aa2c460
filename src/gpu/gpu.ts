/**
 * WebGPU device setup, error capture, pipeline cache and the uniform arena shared by every
 * kernel.
 *
 * @module
 */
import { paramsMismatch, type UniformStruct } from "./uniforms.ts";

/** Options for {@link Gpu.create}. */
export interface GpuOptions {
  /**
   * Adapter choice, the closest WebGPU has to the official `--gpu N`: "high-performance" or
   * "low-power" map to the adapter power preference; "fallback" asks for the software
   * (fallback) adapter. Default: the system default adapter.
   */
  adapter?: "default" | "high-performance" | "low-power" | "fallback";
}

/**
 * A kernel family: "register" (today's kernels, shaped for software adapters such as Mesa's
 * llvmpipe: small workgroups, large per-invocation register blocks) or "tiled" (for hardware
 * GPUs: convolutions as implicit matrix products with workgroup tiles in workgroup memory,
 * kernels/conv_tiled.ts; depthwise convolutions and the Linear + BatchNorm1d head with their
 * inputs staged in workgroup memory, kernels/depthwise.ts and kernels/reduce.ts). Each family's results are bit-identical whatever the batch size;
 * the two families differ in float32 arithmetic only (summation order, and the register family's
 * Winograd input gradients of 3x3 stride-1 layers, kernels/winograd.ts).
 *
 * "winograd" is the register family with the forward pass of those layers by Winograd F(4x4, 3x3)
 * too (never chosen by "auto"): about 1.35-1.5x faster on llvmpipe, about 0.2 GB more memory for
 * iresnet50, and scores further from the official float32 ones (up to 1.8e-4 relative on the
 * shared reference faces, against 5.6e-5 for register). Not less accurate: against a float64
 * evaluation of the same algorithm, the official scores are up to 1.6e-4 off, register's 1.3e-4,
 * winograd's 1.1e-4 (README, "Kernel families").
 */
export type KernelFamily = (typeof KERNEL_FAMILIES)[number];

/** Every {@link KernelFamily}, in help order. */
export const KERNEL_FAMILIES = ["register", "tiled", "winograd"] as const;

/** Whether `v` names a {@link KernelFamily} (settings files are checked with it). */
export function isKernelFamily(v: unknown): v is KernelFamily {
  return (KERNEL_FAMILIES as readonly unknown[]).includes(v);
}

/** The family choice of the CLI (`--kernels`) and the library: "auto" or a family. */
export type KernelChoice = "auto" | KernelFamily;

/** The accepted {@link KernelChoice} values, in help order. */
export const KERNEL_CHOICES: readonly KernelChoice[] = ["auto", ...KERNEL_FAMILIES];

/**
 * Whether an adapter is a software rasteriser: one that reports itself as the fallback adapter,
 * or whose description names Mesa's llvmpipe or lavapipe, SwiftShader, or Microsoft's Basic
 * Render Driver (WARP).
 */
export function isSoftwareAdapter(info: {
  description?: string;
  device?: string;
  vendor?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  const text = `${info.description ?? ""} ${info.device ?? ""} ${info.vendor ?? ""}`;
  return /llvmpipe|lavapipe|swiftshader|basic render|software rasterizer/i.test(text);
}

/**
 * The family `choice` means on `gpu`: "auto" is "register" on a software adapter
 * ({@link Gpu.software}) and "tiled" on every other adapter.
 */
export function resolveKernels(choice: KernelChoice, gpu: { software: boolean }): KernelFamily {
  if (choice !== "auto") return choice;
  return gpu.software ? "register" : "tiled";
}

/** Raised when WebGPU reports a validation, out-of-memory or internal error, or loses the device. */
export class GpuError extends Error {
  /**
   * A GPU failure.
   *
   * @param message what failed, with the WebGPU message
   */
  constructor(message: string) {
    super(message);
    this.name = "GpuError";
  }
}

/**
 * One binding of a kernel, in binding-index order: a uniform buffer, a read-only or
 * read-write storage buffer, or a sampled 2-D float texture read with `textureLoad`
 * (`texture_2d<f32>`, unfilterable: rgba32float).
 */
export type BindingKind = "uniform" | "read" | "rw" | "texture";

/**
 * A compute kernel's source, its bind group layout (group 0, bindings 0..n-1) and the
 * declaration of its uniform `struct Params` (bound at binding 0).
 */
export interface KernelSource<P extends UniformStruct = UniformStruct> {
  /** Stable name, used in labels and cache keys. */
  name: string;
  /** WGSL source text; constants marked `// @specialize` may be substituted. */
  code: string;
  /** The kind of each binding, binding 0 first. */
  bindings: BindingKind[];
  /**
   * The fields of the code's `struct Params`, in order, with their WGSL types; dispatches
   * pass values by these names (see uniforms.ts).
   */
  params: P;
}

/** A compiled pipeline with its explicit bind group layout and its kernel's uniform struct. */
export interface Pipeline<P extends UniformStruct = UniformStruct> {
  /**
   * The compiled compute pipeline (entry point `main`), compiled when first read (a
   * {@link Gpu.pipeline} call only creates the shader module and the layout).
   */
  readonly pipeline: GPUComputePipeline;
  /** Its bind group layout (group 0): one entry per {@link KernelSource.bindings} element. */
  layout: GPUBindGroupLayout;
  /**
   * Cache key: `name|consts|overrides`, each list its sorted `k=v` pairs joined by commas,
   * booleans as 0/1 (e.g. `bn_stats|WG=64|VEC4=1`); also the shader module's label.
   */
  key: string;
  /** Name of the kernel (its {@link KernelSource.name}). */
  kernel: string;
  /** The kernel's uniform struct declaration ({@link KernelSource.params}). */
  params: P;
}

/**
 * Replace the integer literal of each `const NAME: T = <literal>; // @specialize` line named in
 * `values`. Only whitelisted names are touched and values must be finite integers, so no WGSL
 * logic is ever generated from strings.
 *
 * @throws {RangeError} when a name has no `@specialize` line or a value is not an integer.
 */
export function specialize(code: string, values: Record<string, number>): string {
  let out = code;
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value)) {
      throw new RangeError(`Specialization constant ${name} must be an integer, got ${value}`);
    }
    const re = new RegExp(`(const ${name}: (u32|i32) = )(-?\\d+)(u?;\\s*// @specialize)`);
    const m = re.exec(out);
    if (!m) throw new RangeError(`No @specialize constant named ${name}`);
    if (m[2] === "u32" && value < 0) {
      throw new RangeError(`Specialization constant ${name} is u32 but got ${value}`);
    }
    out = out.replace(re, `$1${value}$4`);
  }
  return out;
}

/** Minimum uniform-slot alignment we request and use (WebGPU's default minimum). */
const UNIFORM_ALIGN = 256;

/**
 * Holds the WebGPU device, a pipeline cache keyed by every compile-time choice, and helpers
 * that label every buffer.
 */
export class Gpu {
  /** The device all kernels run on. */
  readonly device: GPUDevice;
  /** Human-readable adapter description (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"). */
  readonly adapterName: string;
  /**
   * Every non-empty, distinct field of the adapter's info: vendor, architecture, device and
   * description (e.g. "google swiftshader" in headless Chromium, whose description is empty).
   */
  readonly adapterDetails: string;
  /** Largest storage binding in bytes (caps the batch size). */
  readonly maxBinding: number;
  /** Whether the adapter is a software rasteriser ({@link isSoftwareAdapter}). */
  readonly software: boolean;
  #pipelines = new Map<string, Pipeline>();
  #lost: string | undefined;
  #uncaptured: string[] = [];

  private constructor(
    device: GPUDevice,
    adapterName: string,
    adapterDetails: string,
    software: boolean,
  ) {
    this.device = device;
    this.adapterName = adapterName;
    this.adapterDetails = adapterDetails;
    this.software = software;
    this.maxBinding = device.limits.maxStorageBufferBindingSize;
    device.lost.then((info) => {
      this.#lost = `${info.reason}: ${info.message}`;
    });
    device.addEventListener("uncapturederror", (ev) => {
      this.#uncaptured.push((ev as GPUUncapturedErrorEvent).error.message);
    });
  }

  /**
   * Request an adapter and a device with the largest storage-binding, buffer and compute
   * workgroup limits the adapter offers (large batches need large bindings; the tiled kernels
   * choose their tile from the workgroup limits). Platform-neutral (the web page uses it too):
   * in Deno, call `ensureRuntimeDir()` (runtime_dir.ts) first, which keeps Mesa's drivers from
   * printing an `XDG_RUNTIME_DIR` error line; the command line does (`createGpu`, cli/setup.ts).
   *
   * @throws {GpuError} when WebGPU is unavailable or no adapter matches.
   */
  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    if (!("gpu" in navigator) || !navigator.gpu) {
      throw new GpuError("WebGPU is not available in this Deno (navigator.gpu is missing)");
    }
    const choice = opts.adapter ?? "default";
    const req: GPURequestAdapterOptions = {};
    if (choice === "high-performance" || choice === "low-power") req.powerPreference = choice;
    if (choice === "fallback") req.forceFallbackAdapter = true;
    const adapter = await navigator.gpu.requestAdapter(req);
    if (!adapter) {
      throw new GpuError(
        `No WebGPU adapter found (requested: ${choice}). On a machine without a GPU, install ` +
          "Mesa's software drivers (Debian: libgl1-mesa-dri, or mesa-vulkan-drivers).",
      );
    }
    const l = adapter.limits;
    const device = await adapter.requestDevice({
      label: "grafiqs",
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(8, l.maxStorageBuffersPerShaderStage),
        maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      },
    });
    const info = adapter.info;
    const name = info?.description || info?.device || info?.vendor || "unknown adapter";
    const parts = [info?.vendor, info?.architecture, info?.device, info?.description];
    const details = [...new Set(parts.filter((x) => x))].join(" ") || name;
    return new Gpu(device, name, details, isSoftwareAdapter(info ?? {}));
  }

  /** Fails with a {@link GpuError} when the device was lost or reported an uncaptured error. */
  checkHealthy(): void {
    if (this.#lost !== undefined) throw new GpuError(`WebGPU device lost (${this.#lost})`);
    if (this.#uncaptured.length) {
      const msg = this.#uncaptured.splice(0).join("; ");
      throw new GpuError(`WebGPU error: ${msg}`);
    }
  }

  /**
   * Run `fn` inside validation and out-of-memory error scopes.
   *
   * @throws {GpuError} naming `what` when WebGPU reports an error.
   */
  async scoped<T>(what: string, fn: () => T): Promise<T> {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    let result: T | undefined;
    let thrown: unknown;
    try {
      result = fn();
    } catch (e) {
      thrown = e;
    }
    // The scopes are popped whether or not fn threw; a WebGPU error is the more telling one.
    const v = await this.device.popErrorScope();
    const m = await this.device.popErrorScope();
    const err = v ?? m;
    if (err) throw new GpuError(`${what}: ${err.message}`);
    if (thrown !== undefined) throw thrown;
    return result as T;
  }

  /**
   * A compute pipeline for `src` with integer constants substituted and pipeline-overridable
   * constants set. Cached by a key naming every one of those choices.
   *
   * @throws {Error} when `src.params` does not match the code's `struct Params`.
   */
  pipeline<P extends UniformStruct>(
    src: KernelSource<P>,
    consts: Record<string, number> = {},
    overrides: Record<string, number | boolean> = {},
  ): Pipeline<P> {
    const ck = Object.entries(consts).sort().map(([k, v]) => `${k}=${v}`).join(",");
    const ok = Object.entries(overrides).sort().map(([k, v]) => `${k}=${Number(v)}`).join(",");
    const key = `${src.name}|${ck}|${ok}`;
    const hit = this.#pipelines.get(key);
    if (hit) return hit as Pipeline<P>;
    const mismatch = paramsMismatch(src.name, src.params, src.code);
    if (mismatch) throw new Error(mismatch);
    const module = this.device.createShaderModule({
      label: key,
      code: specialize(src.code, consts),
    });
    const layout = this.device.createBindGroupLayout({
      label: src.name,
      entries: src.bindings.map((kind, binding): GPUBindGroupLayoutEntry =>
        kind === "texture"
          ? {
            binding,
            visibility: GPUShaderStage.COMPUTE,
            texture: { sampleType: "unfilterable-float", viewDimension: "2d" },
          }
          : {
            binding,
            visibility: GPUShaderStage.COMPUTE,
            buffer: {
              type: kind === "uniform"
                ? "uniform"
                : kind === "read"
                ? "read-only-storage"
                : "storage",
            },
          }
      ),
    });
    const constants: Record<string, number> = {};
    for (const [k, v] of Object.entries(overrides)) constants[k] = Number(v);
    // Compiled on first use (Recorder.finish), not here: a plan records its dispatches, has the
    // queue clear its new buffers, and only then compiles, so that on a software adapter the
    // queue's first touch of that memory overlaps the compilation (Executor.#makePlan).
    const device = this.device;
    let compiled: GPUComputePipeline | undefined;
    const p: Pipeline<P> = {
      get pipeline(): GPUComputePipeline {
        compiled ??= device.createComputePipeline({
          label: key,
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: "main", constants },
        });
        return compiled;
      },
      layout,
      key,
      kernel: src.name,
      params: src.params,
    };
    this.#pipelines.set(key, p);
    return p;
  }

  /** A labelled storage buffer of `bytes` (rounded up to 16), usable as copy source/target. */
  storage(label: string, bytes: number): GPUBuffer {
    if (bytes > this.maxBinding) {
      throw new GpuError(
        `Buffer ${label} needs ${bytes} bytes, over this adapter's storage binding limit of ` +
          `${this.maxBinding} bytes; use a smaller batch size`,
      );
    }
    return this.device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(bytes / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
  }

  /** A labelled storage buffer initialised with `data`. */
  storageFrom(label: string, data: Float32Array): GPUBuffer {
    const buf = this.storage(label, data.byteLength);
    this.device.queue.writeBuffer(buf, 0, data as Float32Array<ArrayBuffer>);
    return buf;
  }

  /**
   * A labelled rgba32float texture of `width` x `height` texels initialised with `data`
   * (row-major, 4 floats per texel), for kernels that read it with `textureLoad`.
   *
   * @throws {RangeError} when `data` does not hold width x height x 4 floats.
   * @throws {GpuError} when a side exceeds the device's maxTextureDimension2D.
   */
  texture(label: string, data: Float32Array, width: number, height: number): GPUTexture {
    if (data.length !== width * height * 4) {
      throw new RangeError(
        `Texture ${label}: ${data.length} floats for ${width} x ${height} rgba texels`,
      );
    }
    const max = this.device.limits.maxTextureDimension2D;
    if (width > max || height > max) {
      throw new GpuError(
        `Texture ${label} of ${width} x ${height} texels exceeds this adapter's limit of ${max}`,
      );
    }
    const texture = this.device.createTexture({
      label,
      size: [width, height],
      format: "rgba32float",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
    });
    this.device.queue.writeTexture(
      { texture },
      data as Float32Array<ArrayBuffer>,
      { bytesPerRow: width * 16, rowsPerImage: height },
      [width, height],
    );
    return texture;
  }

  /** Copy a whole buffer back to the host as float32. */
  async read(buf: GPUBuffer, bytes = buf.size): Promise<Float32Array> {
    const staging = this.device.createBuffer({
      label: `${buf.label}:readback`,
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    this.checkHealthy();
    return out;
  }
}

/** One recorded dispatch: pipeline, bind group and workgroup counts. */
export interface Dispatch {
  /** Names the layer and pass it belongs to (e.g. `layer3.0.conv1:bwd`), for errors and profiles. */
  label: string;
  /** The compiled kernel. */
  pipeline: GPUComputePipeline;
  /** Its uniforms, buffers and textures (group 0). */
  bindGroup: GPUBindGroup;
  /** Workgroup counts along x, y and z, each 1..65535. */
  workgroups: [number, number, number];
}

/**
 * Uniform data for many dispatches in one buffer, one 256-byte-aligned slot each. The bytes of
 * a slot come from packUniforms (uniforms.ts), which lays out a kernel's named fields.
 */
export class UniformArena {
  #data: ArrayBuffer[] = [];
  #buffer: GPUBuffer | undefined;
  #gpu: Gpu;

  /** @param gpu the device the arena's buffer is created on */
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  /**
   * Reserve a slot holding `bytes`, one packed uniform struct; the slot is bound with exactly
   * that size.
   *
   * @throws {RangeError} when `bytes` is empty, over 256 bytes or not a multiple of 16.
   */
  add(bytes: ArrayBuffer): { index: number; size: number } {
    const n = bytes.byteLength;
    if (n === 0 || n > UNIFORM_ALIGN || n % 16 !== 0) {
      throw new RangeError(`Uniform slot of ${n} bytes; expected 16..${UNIFORM_ALIGN}, by 16`);
    }
    this.#data.push(bytes);
    return { index: this.#data.length - 1, size: n };
  }

  /** Upload all slots; call once after the last {@link add}. */
  finish(): GPUBuffer {
    const total = Math.max(UNIFORM_ALIGN, this.#data.length * UNIFORM_ALIGN);
    const all = new Uint8Array(total);
    this.#data.forEach((d, i) => all.set(new Uint8Array(d), i * UNIFORM_ALIGN));
    this.#buffer = this.#gpu.device.createBuffer({
      label: "uniforms",
      size: total,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.#gpu.device.queue.writeBuffer(this.#buffer, 0, all);
    return this.#buffer;
  }

  /** The binding resource for slot `index` (valid after {@link finish}). */
  binding(slot: { index: number; size: number }): GPUBufferBinding {
    if (!this.#buffer) throw new Error("UniformArena.finish() was not called");
    return { buffer: this.#buffer, offset: slot.index * UNIFORM_ALIGN, size: slot.size };
  }

  /** Release the arena's buffer. */
  destroy(): void {
    this.#buffer?.destroy();
  }
}

/**
 * Split a workgroup count over x and y so neither exceeds 65535 (WebGPU's default limit).
 * Kernels rebuild the linear index as `wid.x + wid.y * fold`.
 */
export function foldWorkgroups(count: number): { x: number; y: number; fold: number } {
  const MAX = 65535;
  if (count <= MAX) return { x: Math.max(1, count), y: 1, fold: Math.max(1, count) };
  const y = Math.ceil(count / MAX);
  const x = Math.ceil(count / y);
  return { x, y, fold: x };
}

/** Encode `dispatches` in order into one compute pass of `encoder`. */
export function encodeDispatches(encoder: GPUCommandEncoder, dispatches: Dispatch[]): void {
  const pass = encoder.beginComputePass({ label: "grafiqs" });
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
  pass.end();
}
