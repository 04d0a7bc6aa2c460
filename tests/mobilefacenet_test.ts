/**
 * MobileFaceNet end to end on the WebGPU executor:
 * - a tiny MobileFaceNet with seeded random weights against PyTorch (fixture
 *   tests/fixtures/golden/mfn_tiny from tools/torch_mobilefacenet.py): every group's score and
 *   the embedding, batch invariance, a reverse pass stopped early;
 * - parity with ../shared/reference/mobilefacenet (the real network on real faces): every group
 *   within 1e-3 relative on the 24 PNGs with embedding cosine >= 0.9999, within 1e-4 with
 *   cosine >= 0.99999 on the 10 JPEGs;
 * - the backbone registry (auto detection, --backbone mobilefacenet, mismatch errors), model
 *   descriptions carried by converted weights (meta.preprocess, meta.groups), and the main
 *   command's default channel order (the model's own: RGB here).
 */
import { assert, assertAllClose, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { getGpu, gpuTestOptions } from "./gpu_util.ts";
import { Executor } from "../src/graph/executor.ts";
import {
  buildMobileFaceNet,
  detectMobileFaceNet,
  type MobileFaceNetConfig,
  standardMobileFaceNet,
} from "../src/graph/mobilefacenet.ts";
import { extractWeights, WeightsMismatchError } from "../src/graph/weights.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";
import { encodeGfqw } from "../src/weights/gfqw.ts";
import { applyMeta } from "../src/graph/model.ts";
import { loadModel } from "../src/graph/load_model.ts";
import { main as convertMain } from "../tools/convert.ts";
import { haveReference, type ParityReport, parityTable, runParity } from "../tools/parity.ts";
import { parseScoreFile } from "../src/io/scores.ts";

const FIX = new URL("./fixtures/golden/mfn_tiny/", import.meta.url);
const SHARED = new URL("../../shared/", import.meta.url);
const MFN_PT = new URL("models/mobilefacenet/mobilefacenet.pt", SHARED).pathname;
const REF = new URL("reference/", SHARED);
const haveMfn = haveReference() && (() => {
  try {
    return Deno.statSync(MFN_PT).isFile;
  } catch {
    return false;
  }
})();
if (!haveMfn) {
  console.log(
    "mobilefacenet_test: shared-data tests skipped, ../shared/models/mobilefacenet absent",
  );
}

interface Golden {
  config: {
    stem: number;
    stages: [number, number, number, number][];
    head: number;
    embedding: number;
    inputSize: number;
  };
  bnLayers: number;
  inputs: number[][];
  groups: Record<string, { scores: number[] }>;
  embeddings: number[][];
}

const GPU = gpuTestOptions("mobilefacenet_test");

async function tiny() {
  const golden = JSON.parse(await Deno.readTextFile(new URL("expected.json", FIX))) as Golden;
  const c = golden.config;
  const cfg: MobileFaceNetConfig = {
    name: "mfn_tiny",
    stem: c.stem,
    stages: c.stages.map(([t, ch, n, s]) => ({ t, c: ch, n, s })),
    head: c.head,
    embeddingSize: c.embedding,
    inputSize: c.inputSize,
  };
  const w = await readWeightsFile(new URL("model.pth", FIX).pathname);
  const graph = buildMobileFaceNet(cfg);
  return {
    golden,
    graph,
    sd: w.stateDict,
    weights: extractWeights(graph, w.stateDict, "mfn_tiny"),
  };
}

function inputs(g: Golden, idx: number[]): Float32Array {
  const per = g.inputs[0].length;
  const out = new Float32Array(idx.length * per);
  idx.forEach((k, j) => out.set(g.inputs[k], j * per));
  return out;
}

Deno.test("tiny MobileFaceNet: graph has every BN2d of the PyTorch model in the loss", async () => {
  const { golden, graph } = await tiny();
  assertEquals(graph.lossLayers, golden.bnLayers);
  assertEquals(graph.groups.map((g) => g.name), Object.keys(golden.groups));
  // The stage layout (a t = 1 stage) is not the real network's, so it is not auto-detected.
  assertEquals(detectMobileFaceNet((await tiny()).sd), undefined);
});

// Both kernel families: "register" ("auto" on CI's software adapter) and "tiled" (forced; its
// dense and depthwise convolutions, both directions, run on the tiled kernels).
for (const kernels of ["register", "tiled"] as const) {
  Deno.test(
    `tiny MobileFaceNet: scores of every group and embeddings match PyTorch (${kernels})`,
    GPU,
    async () => {
      const { golden, graph, weights } = await tiny();
      const ex = await Executor.create(await getGpu(), graph, weights, { kernels });
      const n = golden.inputs.length;
      const r = await ex.run(inputs(golden, [0, 1, 2]), n);
      const G = ex.groups.length;
      for (const [gi, group] of ex.groups.entries()) {
        const got = Array.from({ length: n }, (_, k) => r.scores[k * G + gi]);
        // Float32 WebGPU vs float32 PyTorch, different summation orders through ~20 layers forward
        // and back: both sit within a few float32 ulps x sqrt(terms) of the exact value. Measured
        // <= 2e-7 relative; 1e-5 leaves margin and is 100x under the 1e-3.
        const rep = assertAllClose(got, golden.groups[group].scores, 0, 1e-5, `tiny ${group}`);
        console.log(`mfn_tiny ${group}: max rel err vs torch f32 ${rep.maxRel.toExponential(2)}`);
      }
      // Embeddings: ~20 layers of float32; 1e-5 absolute + 1e-5 relative on values of order 1.
      assertAllClose(r.embeddings, golden.embeddings.flat(), 1e-5, 1e-5, "tiny embeddings");
      ex.destroy();
    },
  );
}

for (const kernels of ["register", "tiled"] as const) {
  Deno.test(
    `tiny MobileFaceNet: batch size and position do not change a bit; early stop (${kernels})`,
    GPU,
    async () => {
      const { golden, graph, weights } = await tiny();
      const ex = await Executor.create(await getGpu(), graph, weights, { kernels });
      const all = await ex.run(inputs(golden, [0, 1, 2]), 3);
      const alone = await ex.run(inputs(golden, [1]), 1);
      const swapped = await ex.run(inputs(golden, [2, 1]), 2);
      const G = ex.groups.length, E = golden.embeddings[0].length;
      assertEquals(Array.from(alone.scores), Array.from(all.scores.slice(G, 2 * G)));
      assertEquals(Array.from(swapped.scores.slice(G)), Array.from(all.scores.slice(G, 2 * G)));
      assertEquals(Array.from(swapped.scores.slice(0, G)), Array.from(all.scores.slice(2 * G)));
      assertEquals(Array.from(alone.embeddings), Array.from(all.embeddings.slice(E, 2 * E)));
      ex.destroy();
      // Only stage2 and stage3: the reverse pass stops at stage2's producer; same values (bit
      // for bit, the kernels and their order up to there are the same).
      const ex2 = await Executor.create(await getGpu(), graph, weights, {
        groups: ["stage3", "stage2"],
        kernels,
      });
      const part = await ex2.run(inputs(golden, [0, 1, 2]), 3);
      for (let k = 0; k < 3; k++) {
        assertEquals(part.scores[k * 2], all.scores[k * G + 3]);
        assertEquals(part.scores[k * 2 + 1], all.scores[k * G + 2]);
      }
      ex2.destroy();
    },
  );
}

Deno.test("model description in converted weights: applyMeta checks and applies it", async () => {
  const { graph } = await tiny();
  const pre = { channelOrder: "bgr", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], size: 32 };
  const names = ["img", "s1", "s2", "s3"];
  const g = applyMeta(graph, { preprocess: pre, groups: names }, "x.gfqw");
  assertEquals(g.preprocess, pre);
  assertEquals(g.groups.map((x) => x.name), names);
  assertEquals(g.groups.map((x) => x.tensor), graph.groups.map((x) => x.tensor));
  assertEquals(applyMeta(graph, {}, "x.gfqw"), graph);
  const bad = (meta: Record<string, unknown>, re: RegExp) =>
    assertThrows(() => applyMeta(graph, meta, "x.gfqw"), re);
  bad({ preprocess: { ...pre, channelOrder: "rbg" } }, /x\.gfqw: meta\.preprocess channelOrder/);
  bad({ preprocess: { ...pre, std: [1, 0, 1] } }, /std must be three finite nonzero/);
  bad({ preprocess: { ...pre, size: 112 } }, /size must be the network input size 32/);
  bad({ preprocess: "rgb" }, /must be an object/);
  bad({ groups: ["a", "b"] }, /x\.gfqw: meta\.groups must list 4 distinct names/);
  bad({ groups: ["a", "a", "b", "c"] }, /distinct/);
  bad({ groups: ["a", "b/c", "d", "e"] }, /meta\.groups/);
});

Deno.test({
  name: "registry: auto recognises the real MobileFaceNet; a wrong backbone names the tensor",
  ignore: !haveMfn,
  fn: async () => {
    const sd = (await readWeightsFile(MFN_PT)).stateDict;
    assertEquals(detectMobileFaceNet(sd), standardMobileFaceNet());
    const auto = await loadModel("auto", MFN_PT);
    assertEquals(auto.description, "mobilefacenet (recognised from the checkpoint)");
    assertEquals(auto.graph.lossLayers, 51); // MODEL.md: 51 BatchNorm2d layers, all in the loss
    assertEquals(auto.graph.preprocess.channelOrder, "rgb");
    const named = await loadModel("mobilefacenet", MFN_PT);
    assertEquals(named.description, "mobilefacenet");
    await assertRejects(
      () => loadModel("iresnet50", MFN_PT),
      /mobilefacenet\.pt: tensor conv1\.weight is missing; iresnet50 needs it/,
    );
    const golden = new URL("./fixtures/golden/tiny_a/model.pth", import.meta.url).pathname;
    await assertRejects(
      () => loadModel("mobilefacenet", golden),
      /model\.pth: tensor conv1\.0\.weight is missing; mobilefacenet needs it with shape \[64,3,3,3\]/,
    );
    try {
      await loadModel("mobilefacenet", golden);
    } catch (e) {
      assert(e instanceof WeightsMismatchError);
    }
  },
});

Deno.test({
  name: "convert --backbone mobilefacenet stores preprocessing and groups; loadModel honours meta",
  ignore: !haveMfn,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_mfn_meta_" });
    const log = console.log;
    try {
      console.log = () => {};
      const out = `${dir}/mfn.gfqw`;
      assertEquals(await convertMain([MFN_PT, out, "--backbone", "mobilefacenet"]), 0);
      assertEquals(await convertMain([MFN_PT, `${dir}/x.gfqw`, "--backbone", "iresnet50"]), 1);
      console.log = log;
      const w = await readWeightsFile(out);
      assertEquals(w.meta, {
        preprocess: {
          channelOrder: "rgb",
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
          size: 112,
        },
        groups: ["image", "stage1", "stage2", "stage3", "stage4", "stage5"],
        source: "mobilefacenet.pt",
        backbone: "mobilefacenet",
      });
      const m = await loadModel("auto", out);
      assertEquals(m.description, "mobilefacenet (named by the converted file)");
      // A hand-written description: BGR and other group names.
      const custom = `${dir}/custom.gfqw`;
      const names = ["img", "a", "b", "c", "d", "e"];
      const pre = { channelOrder: "bgr", mean: [0.4, 0.5, 0.6], std: [0.2, 0.2, 0.2], size: 112 };
      await Deno.writeFile(
        custom,
        encodeGfqw(w.stateDict, { backbone: "mobilefacenet", preprocess: pre, groups: names }),
      );
      const c = await loadModel("auto", custom);
      assertEquals(c.graph.preprocess, pre);
      assertEquals(c.graph.groups.map((g) => g.name), names);
      await Deno.writeFile(`${dir}/bad.gfqw`, encodeGfqw(w.stateDict, { groups: ["x"] }));
      await assertRejects(() => loadModel("auto", `${dir}/bad.gfqw`), /bad\.gfqw: meta\.groups/);
    } finally {
      console.log = log;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Tolerances of the reference parity. PNGs and JPEGs both decode bit-exactly like OpenCV's
 * `cv2.imread` (JPEG by the same libjpeg-turbo), so only float32 summation order differs.
 * PNGs (measured: 3.7e-5 relative on the image group, <= 6.5e-7 on the stages, cosine
 * 1 - 1e-7): the issue's 1e-3 applies. JPEGs: issue 12's bound, 1e-4 relative and cosine
 * 0.99999 (measured over the 10 magface JPEGs: at most 2.7e-5, cosine 1.0000000; before the
 * decoder was bit-exact, 1.17e-2 and 0.99990). A real regression (wrong channel order:
 * > 10 %) fails either.
 */
const PNG_REL = 1e-3;
const JPEG_REL = 1e-4;
const PNG_COS = 0.9999;
const JPEG_COS = 0.99999;

Deno.test({
  name: "parity with ../shared/reference/mobilefacenet: 24 PNGs and 10 JPEGs, every group",
  ignore: !haveMfn || GPU.ignore,
  fn: async () => {
    const model = await loadModel("auto", MFN_PT);
    const ex = await Executor.create(await getGpu(), model.graph, model.weights);
    const order = model.graph.preprocess.channelOrder;
    const reports: ParityReport[] = [
      await runParity(ex, "mobilefacenet", "aligned", order, undefined, 12, "aligned"),
      await runParity(ex, "mobilefacenet", "magface", order, undefined, 12, "magface"),
    ];
    ex.destroy();
    console.log(parityTable(reports));
    for (const r of reports) {
      const png = r.set === "aligned";
      assertEquals(r.images.length, png ? 24 : 10);
      for (const [g, e] of Object.entries(r.maxRel)) {
        assert(e <= (png ? PNG_REL : JPEG_REL), `${r.set} ${g}: relative error ${e}`);
      }
      assert(r.minCosine >= (png ? PNG_COS : JPEG_COS), `${r.set}: cosine ${r.minCosine}`);
    }
  },
});

Deno.test({
  name:
    "parity with ../shared/reference/mobilefacenet on the tiled kernel family (3 PNGs, batch 3)",
  ignore: !haveMfn || GPU.ignore,
  fn: async () => {
    // The tiled family (dense and depthwise convolutions on kernels/conv_tiled.ts and the
    // tiled depthwise kernel of kernels/depthwise.ts) differs from the register family in
    // float32 arithmetic only. Bound: issue 14's 1e-4 relative on PNGs (tighter than
    // PNG_REL) and PNG_COS. Three images in one batch keep the llvmpipe run short.
    const model = await loadModel("auto", MFN_PT);
    const gpu = await getGpu();
    const ex = await Executor.create(gpu, model.graph, model.weights, { kernels: "tiled" });
    assert(ex.kernels === "tiled", `kernels ${ex.kernels}`);
    const images = [
      "Andrew_Gilligan_0001.png",
      "Anna_Kournikova_0007.png",
      "Arnold_Palmer_0002.png",
    ];
    const order = model.graph.preprocess.channelOrder;
    const r = await runParity(ex, "mobilefacenet", "aligned", order, images, 3, "aligned");
    console.log(parityTable([r]));
    assertEquals(r.images.length, 3);
    for (const [g, e] of Object.entries(r.maxRel)) {
      assert(e <= 1e-4, `tiled: aligned ${g}: relative error ${e}`);
    }
    assert(r.minCosine >= PNG_COS, `tiled: embedding cosine ${r.minCosine}`);
    // Batch invariance on the real network: an image alone and second in a batch of 2 give
    // the same scores and embedding, bit for bit (the depthwise tiles of 56x56 planes are
    // partial, 14x14 and 7x7 planes fit one tile).
    const per = 3 * 112 * 112;
    const x = new Float32Array(2 * per).map((_, i) => Math.sin(i * 0.37) * 1.5);
    const both = await ex.run(x, 2);
    const alone = await ex.run(x.subarray(per), 1);
    const G = ex.groups.length, E = alone.embeddings.length;
    assertEquals(Array.from(alone.scores), Array.from(both.scores.subarray(G)));
    assertEquals(Array.from(alone.embeddings), Array.from(both.embeddings.subarray(E)));
    ex.destroy();
  },
});

Deno.test({
  name: "main command: MobileFaceNet files follow its groups; RGB by default and with --bgr2rgb",
  ignore: !haveMfn || GPU.ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_mfn_cli_" });
    const names = ["Bob_Graham_0005.png", "Jim_Otto_0001.png"];
    try {
      await Deno.mkdir(`${dir}/images/aligned`, { recursive: true });
      for (const n of names) {
        await Deno.copyFile(new URL(`images/aligned/${n}`, REF), `${dir}/images/aligned/${n}`);
      }
      const mod = new URL("../mod.ts", import.meta.url).pathname;
      for (const extra of [[], ["--bgr2rgb"]]) {
        const out = `${dir}/out${extra.length}`;
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", mod, "--image-path", "images/aligned", "--image-extension", "png"]
            .concat(["--weights", MFN_PT, "--output-dir", out, ...extra]),
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(r.stderr);
        assertEquals(r.code, 0, err);
        assert(err.includes("mobilefacenet (recognised from the checkpoint), RGB input"), err);
        const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
        assertEquals(files, [
          "GraFIQs_failed.txt",
          "GraFIQs_image.txt",
          "GraFIQs_manifest.json",
          "GraFIQs_stage1.txt",
          "GraFIQs_stage2.txt",
          "GraFIQs_stage3.txt",
          "GraFIQs_stage4.txt",
          "GraFIQs_stage5.txt",
        ]);
        for (const g of ["image", "stage1", "stage2", "stage3", "stage4", "stage5"]) {
          const ref = new Map(
            parseScoreFile(
              await Deno.readTextFile(new URL(`mobilefacenet/aligned/GraFIQs_${g}.txt`, REF)),
              g,
            ).map((e) => [e.path, e.score]),
          );
          const got = parseScoreFile(await Deno.readTextFile(`${out}/GraFIQs_${g}.txt`), g);
          assertEquals(got.map((e) => e.path), names.map((n) => `images/aligned/${n}`));
          for (const e of got) {
            const want = ref.get(e.path)!;
            assert(Math.abs(e.score - want) <= PNG_REL * want, `${g} ${e.path}: ${e.score}`);
          }
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
