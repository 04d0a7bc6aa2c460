/**
 * Helpers shared by the tests that run WebGPU kernels: one cached {@link Gpu}, recording and
 * submitting dispatches, sentinel-padded buffers, float32 test data and Higham's gamma_k
 * error constants.
 *
 * GPU absence. The kernels are tested on a real WebGPU adapter (Mesa's llvmpipe software
 * adapter in CI). A missing adapter is an error, not a pass: {@link getGpu} rejects with a
 * message naming the Mesa packages to install. Only when the environment variable
 * {@link ALLOW_NO_GPU_ENV} is "1" do the tests that need the GPU get skipped instead: a test
 * declared with the options from {@link gpuTestOptions} is then marked ignored (Deno lists it
 * as such) and the reason is printed once per test file.
 */
import { assert, assertEquals } from "./assert.ts";
import { encodeDispatches, Gpu } from "../src/gpu/gpu.ts";
import { ensureRuntimeDir } from "../src/gpu/runtime_dir.ts";
import { Recorder } from "../src/kernels/recorder.ts";
import { randomArray } from "../src/reference/cpu.ts";

/** Environment variable that, set to "1", turns a missing WebGPU adapter into skipped tests. */
export const ALLOW_NO_GPU_ENV = "GRAFIQS_ALLOW_NO_GPU";

/** Unit roundoff of float32, u = 2^-24. */
export const U = 2 ** -24;

/**
 * Higham's gamma_k = k u / (1 - k u) for float32 (u = 2^-24): the relative error bound of an
 * expression evaluated with at most k roundings along any path (Higham, Accuracy and Stability
 * of Numerical Algorithms, 2nd ed., section 3.1). Valid for k u < 1.
 */
export const gam = (k: number): number => (k * U) / (1 - k * U);

/**
 * gamma_terms times the largest element of `absSum`: the absolute error bound of a float32 sum
 * of `terms` terms whose magnitudes sum to at most max(absSum) (eq. 3.5 of Higham, op. cit.),
 * used as one atol for a whole tensor.
 */
export function gammaBound(terms: number, absSum: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < absSum.length; i++) m = Math.max(m, absSum[i]);
  return gam(terms) * m;
}

/**
 * Written into buffers beforehand (past the tensor, or everywhere in an output buffer); a
 * kernel must leave it wherever it may not write. -1234.5 is exact in float32 and far from any
 * value the tests produce.
 */
export const SENTINEL = -1234.5;

/** True when {@link ALLOW_NO_GPU_ENV} is "1" (needs --allow-env; false without it). */
function allowNoGpu(): boolean {
  try {
    return Deno.env.get(ALLOW_NO_GPU_ENV) === "1";
  } catch {
    return false;
  }
}

/**
 * Why no WebGPU adapter can be had, or null when one can. Only probed when absence is allowed:
 * otherwise {@link getGpu} fails loudly on its own and nothing needs skipping.
 */
const noAdapterReason: string | null = allowNoGpu() ? await probeAdapter() : null;

async function probeAdapter(): Promise<string | null> {
  if (!("gpu" in navigator) || !navigator.gpu) return "navigator.gpu is missing";
  ensureRuntimeDir();
  try {
    return (await navigator.gpu.requestAdapter()) ? null : "requestAdapter() returned null";
  } catch (e) {
    return `requestAdapter() failed: ${(e as Error).message}`;
  }
}

/**
 * Options for `Deno.test(name, gpuTestOptions(...), fn)` on a test that needs the GPU:
 * `ignore` is true only when no adapter exists and {@link ALLOW_NO_GPU_ENV}=1, in which case
 * the reason is printed once, prefixed by `who` (the test file's name).
 */
export function gpuTestOptions(who: string): { ignore: boolean } {
  if (noAdapterReason === null) return { ignore: false };
  console.warn(
    `${who}: GPU tests skipped (${ALLOW_NO_GPU_ENV}=1 and no WebGPU adapter: ${noAdapterReason})`,
  );
  return { ignore: true };
}

let gpuPromise: Promise<Gpu> | undefined;

/**
 * One {@link Gpu} (default adapter) shared by the tests of a test file, created on first use.
 *
 * @throws Error (as a rejection) "no WebGPU adapter: install Mesa ..." when no adapter or
 * device can be had, with {@link Gpu.create}'s own message appended. Tests that call this must
 * be declared with {@link gpuTestOptions}, so that they are skipped instead when
 * {@link ALLOW_NO_GPU_ENV}=1.
 */
export function getGpu(): Promise<Gpu> {
  // Gpu.create stays free of Deno APIs (the web page shares it); on Deno, the command line and
  // the tests point XDG_RUNTIME_DIR at a private folder first, so Mesa prints no error line.
  ensureRuntimeDir();
  gpuPromise ??= Gpu.create().catch((e) => {
    throw new Error(
      "no WebGPU adapter: install Mesa (libgl1-mesa-dri libegl-mesa0) for the software " +
        `adapter, or set ${ALLOW_NO_GPU_ENV}=1 to skip the GPU tests ` +
        `(Gpu.create: ${(e as Error).message})`,
      { cause: e },
    );
  });
  return gpuPromise;
}

/**
 * Record with `record` on a fresh {@link Recorder}, then submit all its dispatches in one
 * command buffer. Recording and submission each run in {@link Gpu.scoped}.
 *
 * @throws GpuError when WebGPU reports a validation or out-of-memory error.
 */
export async function submit(gpu: Gpu, record: (rec: Recorder) => void): Promise<void> {
  const dispatches = await gpu.scoped("test record", () => {
    const rec = new Recorder(gpu);
    record(rec);
    return rec.finish();
  });
  await gpu.scoped("test submit", () => {
    const enc = gpu.device.createCommandEncoder();
    encodeDispatches(enc, dispatches);
    gpu.device.queue.submit([enc.finish()]);
  });
}

/**
 * {@link submit}, then read `out` back: its first `floats` values, or the whole buffer
 * (including the padding to 16 bytes) when `floats` is omitted.
 *
 * @throws GpuError as {@link submit}.
 */
export async function run(
  gpu: Gpu,
  record: (rec: Recorder) => void,
  out: GPUBuffer,
  floats?: number,
): Promise<Float32Array> {
  await submit(gpu, record);
  return floats === undefined ? gpu.read(out) : gpu.read(out, floats * 4);
}

/**
 * A storage buffer holding `v` as float32, its padding (to 16 bytes) filled with
 * {@link SENTINEL}.
 */
export function upload(gpu: Gpu, label: string, v: ArrayLike<number>): GPUBuffer {
  const b = gpu.storage(label, v.length * 4);
  const host = new Float32Array(b.size / 4).fill(SENTINEL);
  host.set(Float32Array.from(v));
  gpu.device.queue.writeBuffer(b, 0, host);
  return b;
}

/** A buffer of `floats` float32 values (plus padding), every one {@link SENTINEL}. */
export function sentinelBuffer(gpu: Gpu, label: string, floats: number): GPUBuffer {
  return upload(gpu, label, new Float32Array(floats).fill(SENTINEL));
}

/** Assert `out[i]` is still {@link SENTINEL} for every i from `from` on. */
export function assertPadding(out: ArrayLike<number>, from: number, what: string): void {
  for (let i = from; i < out.length; i++) {
    assertEquals(out[i], SENTINEL, `${what}: element ${i} past the output was overwritten`);
  }
}

/**
 * Assert |actual_i - expected_i| <= bound_i for every i < expected.length (per-element
 * bounds); logs the worst element as a fraction of its bound and returns that fraction.
 * `actual` may be longer than `expected`: the rest must still hold {@link SENTINEL} (the
 * kernel wrote nothing past the tensor).
 *
 * @throws AssertionError naming `what`, the worst element, its value, the expected value and bound.
 */
export function assertWithin(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: ArrayLike<number>,
  what: string,
): number {
  assert(actual.length >= expected.length, `${what}: read ${actual.length} < ${expected.length}`);
  let worst = 0, wi = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const r = d === 0 ? 0 : d / bound[i];
    if (!(r <= worst)) {
      worst = r;
      wi = i;
    }
  }
  const err = Math.abs(actual[wi] - expected[wi]);
  if (!(worst <= 1)) {
    assert.fail(
      `${what}: element ${wi} is ${actual[wi]}, expected ${expected[wi]} ` +
        `(|err| ${err} > bound ${bound[wi]})`,
    );
  }
  assertPadding(actual, expected.length, what);
  console.log(
    `${what}: worst |err| ${err.toExponential(2)} at ${wi} ` +
      `(${(worst * 100).toFixed(1)}% of its bound ${Number(bound[wi]).toExponential(2)})`,
  );
  return worst;
}

/** `n` float32-representable uniform values in [lo, hi) (default [-1, 1)), as float64. */
export function f32Values(
  rand: () => number,
  n: number,
  lo = -1,
  hi = 1,
): Float64Array {
  return Float64Array.from(Float32Array.from(randomArray(rand, n, lo, hi)));
}

/**
 * `n` multiples of 2^-bits, uniform in [lo, hi) (rounded down to the grid): short binary
 * fractions whose float32 sums stay exact while they fit 24 bits.
 */
export function dyadicValues(
  rand: () => number,
  n: number,
  lo: number,
  hi: number,
  bits: number,
): Float64Array {
  const q = 2 ** bits;
  return randomArray(rand, n, lo, hi).map((v) => Math.floor(v * q) / q);
}
