/**
 * Records dispatches for a whole network pass before the uniform arena is uploaded, then
 * creates every bind group once. Plans are built once per batch size and replayed per batch.
 *
 * @module
 */
import { type Dispatch, type Gpu, type Pipeline, UniformArena } from "../gpu/gpu.ts";
import { packUniforms, type UniformStruct, type UniformValues } from "../gpu/uniforms.ts";

interface Pending {
  label: string;
  pipe: Pipeline;
  slot: { index: number; size: number };
  buffers: (GPUBuffer | GPUTexture)[];
  workgroups: [number, number, number];
}

/** Collects kernel dispatches in execution order (see {@link Recorder.finish}). */
export class Recorder {
  /** The device the recorded kernels run on. */
  readonly gpu: Gpu;
  /** Uniform slots of the recorded dispatches. */
  readonly uniforms: UniformArena;
  #pending: Pending[] = [];

  /** @param gpu the device */
  constructor(gpu: Gpu) {
    this.gpu = gpu;
    this.uniforms = new UniformArena(gpu);
  }

  /**
   * Record one dispatch. `buffers` (storage buffers, or textures bound as a view of the whole
   * texture) bind to bindings 1..n in order; binding 0 is the uniform
   * slot holding `params`, one value per field of the kernel's `struct Params`, by name.
   *
   * @throws {RangeError} for a workgroup count outside 1..65535, or `params` that do not fit
   *   the kernel's declaration (see packUniforms in uniforms.ts).
   */
  add<P extends UniformStruct>(
    label: string,
    pipe: Pipeline<P>,
    params: UniformValues<P>,
    buffers: (GPUBuffer | GPUTexture)[],
    workgroups: [number, number, number],
  ): void {
    for (const w of workgroups) {
      if (!(Number.isInteger(w) && w >= 1 && w <= 65535)) {
        throw new RangeError(`Dispatch ${label}: workgroup count ${w} out of range 1..65535`);
      }
    }
    const bytes = packUniforms(`${pipe.kernel} (dispatch ${label})`, pipe.params, params);
    this.#pending.push({ label, pipe, slot: this.uniforms.add(bytes), buffers, workgroups });
  }

  /** Upload the uniforms and create the bind groups; returns the dispatches in order. */
  finish(): Dispatch[] {
    this.uniforms.finish();
    const dev = this.gpu.device;
    return this.#pending.map((p) => ({
      label: p.label,
      pipeline: p.pipe.pipeline,
      workgroups: p.workgroups,
      bindGroup: dev.createBindGroup({
        label: p.label,
        layout: p.pipe.layout,
        entries: [
          { binding: 0, resource: this.uniforms.binding(p.slot) },
          ...p.buffers.map((b, i) => ({
            binding: i + 1,
            resource: b instanceof GPUTexture ? b.createView() : { buffer: b },
          })),
        ],
      }),
    }));
  }
}
