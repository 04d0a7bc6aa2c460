/**
 * Parity with the official implementation (../shared/reference/iresnet50) on the real
 * WebGPU path, for the subset that fits CI: 6 aligned PNGs in both channel orders, 2 raw
 * JPEGs (resize path) and 2 magface JPEGs. `deno task parity:full` runs every image.
 */
import { assert, assertEquals } from "./assert.ts";
import { getGpu, gpuTestOptions } from "./gpu_util.ts";
import {
  haveReference,
  type ParityReport,
  parityTable,
  REFERENCE_DIR,
  runParity,
} from "../tools/parity.ts";
import { loadModel } from "../src/graph/load_model.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { Executor } from "../src/graph/executor.ts";
import type { KernelFamily } from "../src/gpu/gpu.ts";

const ok = haveReference();
if (!ok) console.log("parity_test: skipped, ../shared/reference is absent");
const GPU = gpuTestOptions("parity_test");

/**
 * Tolerances. PNG and JPEG inputs both decode bit-exactly like OpenCV's `cv2.imread` (JPEG by
 * the same libjpeg-turbo, tests/image_test.ts), so the only difference is float32 summation
 * order through ~50 layers of forward and reverse pass. PNG: the issue's bound of 1e-3
 * relative (measured on all 24 aligned PNGs, both orders: at most 5.6e-5; cosine 1.0000000).
 * JPEG: issue 12's bound, 1e-4 relative and embedding cosine 0.99999 (measured on the full raw
 * and magface sets, both orders, `deno task parity:full`: at most 3.5e-5, cosine 1.0000000;
 * README, "Parity with the official implementation"). Before the decoder was bit-exact the
 * JPEG sets were off by up to 1.7e-2.
 */
const PNG_REL = 1e-3;
const JPEG_REL = 1e-4;
const MIN_COSINE_PNG = 0.9999;
const MIN_COSINE_JPEG = 0.99999;

/** An executor of the reference iresnet50 checkpoint on `kernels`, checked to run that family. */
async function referenceExecutor(kernels: KernelFamily): Promise<Executor> {
  const model = await loadModel(
    "iresnet50",
    new URL("iresnet50/weights.pth", REFERENCE_DIR).pathname,
  );
  const ex = await Executor.create(await getGpu(), model.graph, model.weights, { kernels });
  assert(ex.kernels === kernels, `kernels ${ex.kernels}`);
  return ex;
}

Deno.test({
  name: "parity with the official iresnet50 outputs (CI subset, both channel orders)",
  ignore: !ok || GPU.ignore,
  fn: async () => {
    const ex = await referenceExecutor("register");
    const aligned = [
      "Andrew_Gilligan_0001.png",
      "Arnold_Palmer_0002.png",
      "Bobby_Robson_0001.png",
      "Jim_Otto_0001.png",
      "Kristin_Davis_0001.png",
      "Osama_bin_Laden_0004.png",
    ];
    const reports: ParityReport[] = [];
    reports.push(await runParity(ex, "iresnet50", "aligned", "bgr", aligned, 3));
    reports.push(await runParity(ex, "iresnet50", "aligned", "rgb", aligned, 3));
    reports.push(
      await runParity(
        ex,
        "iresnet50",
        "raw",
        "rgb",
        ["Fred_Durst_0001.jpg", "Roy_Moore_0006.jpg"],
        2,
      ),
    );
    reports.push(await runParity(ex, "iresnet50", "magface", "bgr", ["0.jpg", "7.jpg"], 2));
    ex.destroy();
    console.log(parityTable(reports));
    for (const r of reports) {
      const png = r.set === "aligned";
      for (const [g, e] of Object.entries(r.maxRel)) {
        assert(e <= (png ? PNG_REL : JPEG_REL), `${r.set} ${r.order} ${g}: relative error ${e}`);
      }
      const minCos = png ? MIN_COSINE_PNG : MIN_COSINE_JPEG;
      assert(r.minCosine >= minCos, `${r.set} ${r.order}: embedding cosine ${r.minCosine}`);
    }
  },
});

Deno.test({
  name: "parity with the official iresnet50 outputs on the tiled kernel family (2 PNGs, batch 2)",
  ignore: !ok || GPU.ignore,
  fn: async () => {
    // The tiled family (kernels/conv_tiled.ts) differs from the register family in float32
    // arithmetic only (summation order; the register family's Winograd input gradients). Bound: 1e-4 relative on PNGs (issue 14), tighter than PNG_REL;
    // measured at most 3.6e-5 on three aligned PNGs. Two images in one batch keep the llvmpipe
    // run short (the tiled kernels are shaped for hardware GPUs).
    const ex = await referenceExecutor("tiled");
    const images = ["Andrew_Gilligan_0001.png", "Osama_bin_Laden_0004.png"];
    const r = await runParity(ex, "iresnet50", "aligned", "bgr", images, 2);
    ex.destroy();
    console.log(parityTable([r]));
    for (const [g, e] of Object.entries(r.maxRel)) {
      assert(e <= 1e-4, `tiled: aligned bgr ${g}: relative error ${e}`);
    }
    assert(r.minCosine >= MIN_COSINE_PNG, `tiled: embedding cosine ${r.minCosine}`);
  },
});

Deno.test({
  name: "winograd kernel family: near the official outputs and float64, batch-invariant",
  ignore: !ok || GPU.ignore,
  fn: async () => {
    // The winograd family also runs the forward 3x3 stride-1 convolutions by Winograd F(4x4),
    // another float32 arithmetic than the official direct convolutions. Bounds, chosen from
    // measurements (README, "Kernel families"):
    // - against the official float32 scores, 2.5e-4 relative: `deno task parity:full --kernels
    //   winograd` gave at most 1.8e-4 over every reference face in both orders (the raw face
    //   Charles_Kartman_0002, RGB), at most 8.2e-5 on the PNGs;
    // - against a float64 evaluation of the same algorithm on the same inputs
    //   (tests/fixtures/float64/iresnet50.json, tools/make_float64_fixture.py), 5e-5: measured
    //   at most 2.2e-5 on these four faces (1.1e-4 over all reference faces, where the official
    //   scores are up to 1.6e-4 and the register family's 1.3e-4 from float64). On
    //   Charles_Kartman_0002 the official image score itself is 1.6e-4 from float64, which the
    //   test checks too: there the family is 1.8e-4 from the official scores, 1.6e-5 from exact.
    const fixture = JSON.parse(
      await Deno.readTextFile(new URL("./fixtures/float64/iresnet50.json", import.meta.url)),
    ) as { groups: string[]; sets: Record<string, Record<string, number[]>> };
    const ex = await referenceExecutor("winograd");
    assert(ex.groups.join() === fixture.groups.join(), `groups ${ex.groups}`);
    const reports: ParityReport[] = [];
    for (const [set, order] of [["raw", "rgb"], ["aligned", "bgr"]] as const) {
      const names = Object.keys(fixture.sets[`${set}_${order}`]);
      reports.push(await runParity(ex, "iresnet50", set, order, names, 2));
    }
    // Batch invariance with Winograd forward passes: a face alone gives the same bits.
    const alone = await runParity(ex, "iresnet50", "raw", "rgb", ["Charles_Kartman_0002.jpg"], 1);
    ex.destroy();
    assertEquals(
      alone.scores["Charles_Kartman_0002.jpg"],
      reports[0].scores["Charles_Kartman_0002.jpg"],
    );
    console.log(parityTable(reports));
    let worst = 0;
    for (const r of reports) {
      for (const [g, e] of Object.entries(r.maxRel)) {
        assert(e <= 2.5e-4, `winograd: ${r.set} ${r.order} ${g}: relative error ${e}`);
      }
      assert(r.minCosine >= MIN_COSINE_JPEG, `winograd: embedding cosine ${r.minCosine}`);
      const exact = fixture.sets[`${r.set}_${r.order}`];
      for (const [name, ours] of Object.entries(r.scores)) {
        ours.forEach((s, gi) => {
          const e = Math.abs(s - exact[name][gi]) / exact[name][gi];
          worst = Math.max(worst, e);
          assert(e <= 5e-5, `winograd vs float64: ${name} ${fixture.groups[gi]}: ${e}`);
        });
      }
    }
    console.log(`winograd family vs float64: at most ${worst.toExponential(2)} relative`);
    // The official image score of that face, against float64.
    const official = parseScoreFile(
      await Deno.readTextFile(new URL("iresnet50/raw_rgb/GraFIQs_image.txt", REFERENCE_DIR)),
      "raw_rgb/GraFIQs_image.txt",
    ).find((e) => e.path.endsWith("/Charles_Kartman_0002.jpg"))!.score;
    const exactImage = fixture.sets.raw_rgb["Charles_Kartman_0002.jpg"][0];
    const offBy = Math.abs(official - exactImage) / exactImage;
    assert(offBy > 1e-4, `official vs float64 on Charles_Kartman_0002: ${offBy}`);
  },
});
