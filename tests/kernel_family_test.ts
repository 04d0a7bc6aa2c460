/**
 * Choosing the kernel family (src/gpu/gpu.ts: isSoftwareAdapter, resolveKernels), the tiled
 * kernels' tile choice from adapter limits (src/kernels/conv_tiled.ts: tiledConfigFor), the
 * CLI's --kernels and --batch-size auto (src/cli/score_args.ts), and what the executor picks on
 * this machine's adapter (Executor.kernels, autoBatch).
 */
import { assertEquals, assertThrows } from "./assert.ts";
import { getGpu, gpuTestOptions } from "./gpu_util.ts";
import { isSoftwareAdapter, resolveKernels } from "../src/gpu/gpu.ts";
import { TILE_32, TILE_64, tileBytes, tiledConfigFor } from "../src/kernels/conv_tiled.ts";
import { parseScoreArgs } from "../src/cli/score_args.ts";
import { Executor } from "../src/graph/executor.ts";
import { buildIResNet, standardIResNet } from "../src/graph/iresnet.ts";
import { randomWeights } from "../tools/random_weights.ts";

const GPU = gpuTestOptions("kernel_family_test");

Deno.test("isSoftwareAdapter: fallback flag and the software rasterisers' names", () => {
  assertEquals(isSoftwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" }), true);
  assertEquals(
    isSoftwareAdapter({ description: "Intel(R) UHD 620", isFallbackAdapter: true }),
    true,
  );
  assertEquals(isSoftwareAdapter({ device: "lavapipe" }), true);
  assertEquals(isSoftwareAdapter({ description: "SwiftShader Device (Subzero)" }), true);
  assertEquals(isSoftwareAdapter({ description: "Microsoft Basic Render Driver" }), true);
  assertEquals(isSoftwareAdapter({ description: "NVIDIA H100 80GB HBM3" }), false);
  assertEquals(isSoftwareAdapter({ description: "AMD Radeon RX 7900 XTX (RADV NAVI31)" }), false);
  assertEquals(isSoftwareAdapter({}), false);
});

Deno.test("resolveKernels: auto is register on software, tiled on hardware; forced stays", () => {
  assertEquals(resolveKernels("auto", { software: true }), "register");
  assertEquals(resolveKernels("auto", { software: false }), "tiled");
  assertEquals(resolveKernels("tiled", { software: true }), "tiled");
  assertEquals(resolveKernels("register", { software: false }), "register");
  // "auto" never takes the winograd family (it trades parity for speed); forced, it stays.
  assertEquals(resolveKernels("winograd", { software: true }), "winograd");
  assertEquals(resolveKernels("winograd", { software: false }), "winograd");
});

Deno.test("tiledConfigFor: the 64x64 tile at WebGPU's default limits, else 32x32", () => {
  const defaults = {
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeWorkgroupSizeX: 256,
  };
  assertEquals(tiledConfigFor(defaults), TILE_64);
  assertEquals(tileBytes(TILE_64), 8192);
  assertEquals(tiledConfigFor({ ...defaults, maxComputeInvocationsPerWorkgroup: 128 }), TILE_32);
  assertEquals(tiledConfigFor({ ...defaults, maxComputeWorkgroupStorageSize: 8191 }), TILE_32);
  assertThrows(
    () => tiledConfigFor({ ...defaults, maxComputeWorkgroupStorageSize: 2048 }),
    /tiled kernels need at least 64 and 4096/,
  );
});

Deno.test("--kernels and --batch-size auto on the command line", () => {
  const base = ["--image-path", "d", "--weights", "w.pth"];
  const o = parseScoreArgs(base);
  if (o === "help") throw new Error("unexpected help");
  assertEquals([o.kernels, o.batchSize], ["auto", 8]);
  const t = parseScoreArgs([...base, "--kernels", "tiled", "--batch-size", "auto"]);
  if (t === "help") throw new Error("unexpected help");
  assertEquals([t.kernels, t.batchSize], ["tiled", "auto"]);
  const w = parseScoreArgs([...base, "--kernels", "winograd"]);
  if (w === "help") throw new Error("unexpected help");
  assertEquals(w.kernels, "winograd");
  assertThrows(
    () => parseScoreArgs([...base, "--kernels", "fast"]),
    /--kernels must be one of auto, register, tiled, winograd, got "fast"/,
  );
  assertThrows(
    () => parseScoreArgs([...base, "--batch-size", "0"]),
    /--batch-size must be a positive integer or auto/,
  );
});

Deno.test(
  "this adapter: auto resolves by its kind; autoBatch and the memory estimate",
  GPU,
  async () => {
    const gpu = await getGpu();
    const graph = buildIResNet(standardIResNet("iresnet18"));
    const ex = await Executor.create(gpu, graph, randomWeights(graph));
    assertEquals(ex.kernels, gpu.software ? "register" : "tiled");
    // iresnet18 keeps every BN input for the reverse pass; the largest tensor is 64 x 112 x 112.
    const T = graph.tensors;
    const largest = Math.max(...T.map((t) => t.c * t.h * t.w * 4));
    const perImage = ex.bytesPerImage();
    assertEquals(perImage > 3 * largest, true);
    const batch = ex.autoBatch();
    if (gpu.software) assertEquals(batch, Math.min(8, ex.maxBatch));
    else assertEquals(batch * perImage <= 4 * 2 ** 30 && batch <= ex.maxBatch, true);
    ex.destroy();
  },
);
