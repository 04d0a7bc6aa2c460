/**
 * End-to-end executor tests against PyTorch golden fixtures (tools/make_golden_fixtures.py):
 * tiny iResNets with random weights, run on the real WebGPU kernels (Mesa's software adapter
 * in CI). Checks scores of every group, gradients, embeddings, batch invariance and the
 * early stop of the reverse pass.
 */
import { assert, assertAllClose, assertEquals } from "./assert.ts";
import { getGpu, gpuTestOptions } from "./gpu_util.ts";
import { Executor } from "../src/graph/executor.ts";
import { buildIResNet, detectIResNet } from "../src/graph/iresnet.ts";
import { extractWeights } from "../src/graph/weights.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";

interface Golden {
  config: {
    layers: number[];
    widths: number[];
    stemWidth: number;
    inputSize: number;
    embeddingSize: number;
  };
  inputs: number[][];
  groups: Record<string, { scores: number[] }>;
  groups64: Record<string, { scores: number[] }>;
  embeddings: number[][];
}

const GPU = gpuTestOptions("golden_test");
const dir = (name: string) => new URL(`./fixtures/golden/${name}/`, import.meta.url);

async function load(name: string, file = "model.pth") {
  const golden = JSON.parse(await Deno.readTextFile(new URL("expected.json", dir(name)))) as Golden;
  const w = await readWeightsFile(new URL(file, dir(name)).pathname);
  const cfg = detectIResNet(w.stateDict);
  assert(cfg, "fixture checkpoint should be recognised as an iResNet");
  const graph = buildIResNet(cfg);
  const weights = extractWeights(graph, w.stateDict, file);
  return { golden, graph, weights, cfg };
}

function flatInputs(g: Golden, idx: number[]): Float32Array {
  const per = g.inputs[0].length;
  const out = new Float32Array(idx.length * per);
  idx.forEach((k, j) => out.set(g.inputs[k], j * per));
  return out;
}

// Both kernel families (src/gpu/gpu.ts KernelFamily): "register" is what "auto" takes on the
// software adapter of CI; "tiled" is forced. Same bounds: they differ in float32 arithmetic only
// (summation order; the register family's Winograd input gradients, kernels/winograd.ts).
const FAMILIES = ["register", "tiled"] as const;

for (const [name, kernels] of ["tiny_a", "tiny_b"].flatMap((n) => FAMILIES.map((f) => [n, f]))) {
  const what = kernels === "register" ? name : `${name} (${kernels})`;
  Deno.test(`golden ${what}: scores of every group and embeddings match PyTorch`, GPU, async () => {
    const { golden, graph, weights, cfg } = await load(name);
    assertEquals(cfg.layers, golden.config.layers);
    const ex = await Executor.create(await getGpu(), graph, weights, {
      kernels: kernels as (typeof FAMILIES)[number],
    });
    assertEquals(ex.kernels, kernels);
    const n = golden.inputs.length;
    const r = await ex.run(flatInputs(golden, [...Array(n).keys()]), n);
    const G = ex.groups.length;
    for (const [gi, group] of ex.groups.entries()) {
      const got = Array.from({ length: n }, (_, k) => r.scores[k * G + gi]);
      // Float32 PyTorch vs float32 WebGPU: both differ from the float64 truth by rounding in
      // sums of up to ~1e4 terms through a few layers; 1e-4 relative bounds that with margin
      // (the measured worst is printed), far below the 1e-3 the issue asks for.
      const rep = assertAllClose(got, golden.groups[group].scores, 0, 1e-4, `${what} ${group}`);
      console.log(`${what} ${group}: max rel err vs torch f32 ${rep.maxRel.toExponential(2)}`);
    }
    const E = golden.config.embeddingSize;
    // Embeddings pass through ~10 layers in float32; 1e-4 relative + 1e-5 absolute.
    assertAllClose(r.embeddings, golden.embeddings.flat(), 1e-5, 1e-4, `${name} embeddings`);
    assertEquals(r.embeddings.length, n * E);
    ex.destroy();
  });
}

for (const kernels of FAMILIES) {
  Deno.test(
    `golden tiny_b: batch size and batch position do not change any bit (${kernels})`,
    GPU,
    async () => {
      const { golden, graph, weights } = await load("tiny_b");
      const ex = await Executor.create(await getGpu(), graph, weights, { kernels });
      const all = await ex.run(flatInputs(golden, [0, 1, 2, 0]), 4);
      // 3 images run on the plan for 4 (its last slot holds stale data, never read back); 2 and 1
      // get plans of their own (powers of two below the capacity).
      const three = await ex.run(flatInputs(golden, [1, 2, 0]), 3);
      const swapped = await ex.run(flatInputs(golden, [2, 0]), 2);
      const alone = await ex.run(flatInputs(golden, [2]), 1);
      const G = ex.groups.length;
      const image = (r: { scores: Float32Array }, k: number) =>
        Array.from(r.scores.slice(k * G, (k + 1) * G));
      assertEquals(image(alone, 0), image(all, 2));
      assertEquals(image(swapped, 0), image(all, 2));
      assertEquals(image(swapped, 1), image(all, 0));
      assertEquals(image(three, 0), image(all, 1));
      assertEquals(image(three, 2), image(all, 3));
      assertEquals(three.scores.length, 3 * G);
      ex.destroy();
    },
  );
}

Deno.test(
  "golden tiny_a: legacy-format checkpoint and a reverse pass stopped at block3",
  GPU,
  async () => {
    const { golden, graph, weights } = await load("tiny_a", "model_legacy.pth");
    const ex = await Executor.create(await getGpu(), graph, weights, {
      groups: ["block4", "block3"],
    });
    const r = await ex.run(flatInputs(golden, [0, 1]), 2);
    for (const [gi, group] of ["block4", "block3"].entries()) {
      const got = [r.scores[gi], r.scores[2 + gi]];
      assertAllClose(got, golden.groups[group].scores.slice(0, 2), 0, 1e-4, group);
    }
    ex.destroy();
  },
);
