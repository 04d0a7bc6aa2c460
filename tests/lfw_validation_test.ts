/**
 * Real-data validation (issue 4): the real MobileFaceNet (../shared/models/mobilefacenet) on
 * real faces, through our WebGPU executor, shows that GraFIQs scores carry signal.
 *
 * - LFW (../shared/data/lfw, 1583 deep-funneled 250x250 JPEGs, 1200 pairs): each image is
 *   centre-cropped to 140x140, resized to 112 with the project's antialiased bilinear resize,
 *   fed as RGB with ImageNet mean/std (MODEL.md). Comparison score: cosine of the embeddings.
 *   - Sanity: verification accuracy with the best single threshold on the same 1200 pairs
 *     (MODEL.md measured 95.5 % on the first 600 pairs with a plain centre crop; a random
 *     network gets ~55 %). Asserted >= 93 %.
 *   - FIQA: quality = -raw score (docs/ALGORITHM.md: lower raw = better); pair quality = min; the
 *     FNMR-EDC on the 600 mated pairs with starting error 0.05 (docs/EDC.md#definitions-exactly).
 *     Its pAUC at discard limit 0.20 for the `image` group must be at least 20 % below the mean
 *     pAUC of 100 random orderings (seeded, src/eval/edc.ts randomOrderBaseline).
 * - MagFace toy set (../shared/data/magface_toy: 10 aligned faces of one person with published
 *   MagFace qualities): the Spearman rank correlation between our quality and the MagFace
 *   quality is positive for every group.
 *
 * All measured figures are printed. Skipped with a message when ../shared is absent.
 */
import { assert, assertEquals } from "./assert.ts";
import { getGpu, gpuTestOptions } from "./gpu_util.ts";
import { Executor } from "../src/graph/executor.ts";
import { loadModel } from "../src/graph/load_model.ts";
import { type DecodedImage, decodeImage } from "../src/image/decode.ts";
import { imageToTensorInto } from "../src/image/normalize.ts";
import { pairImages } from "../src/eval/matching.ts";
import { parsePairs } from "../src/eval/pairs.ts";
import {
  bestAccuracy,
  cosine,
  groupPaucsVsRandom,
  paucVsRandomRow,
} from "../src/eval/verification.ts";

const SHARED = new URL("../../shared/", import.meta.url);
const MFN = new URL("models/mobilefacenet/mobilefacenet.pt", SHARED);
const LFW = new URL("data/lfw/", SHARED);
const TOY = new URL("data/magface_toy/", SHARED);

function exists(u: URL): boolean {
  try {
    Deno.statSync(u);
    return true;
  } catch {
    return false;
  }
}
const haveLfw = exists(MFN) && exists(new URL("pairs.txt", LFW));
const haveToy = exists(MFN) && exists(new URL("magnitudes.csv", TOY));
if (!haveLfw || !haveToy) {
  console.log(
    "lfw_validation_test: skipped parts, ../shared/models/mobilefacenet, ../shared/data/lfw or " +
      "../shared/data/magface_toy is absent",
  );
}
const GPU = gpuTestOptions("lfw_validation_test");

/** Images per GPU pass; one executor and one memory plan serve the whole set. */
const BATCH = 32;
/** Side of the centre crop taken from the 250x250 LFW images (issue 4). */
const CROP = 140;

/** The central `size` x `size` pixels of a decoded image. */
function centreCrop(img: DecodedImage, size: number): DecodedImage {
  if (img.width < size || img.height < size) {
    throw new RangeError(`image is ${img.width}x${img.height}, smaller than the ${size} crop`);
  }
  const x0 = Math.floor((img.width - size) / 2), y0 = Math.floor((img.height - size) / 2);
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const src = ((y0 + y) * img.width + x0) * 3;
    rgb.set(img.rgb.subarray(src, src + size * 3), y * size * 3);
  }
  return { ...img, width: size, height: size, rgb };
}

interface Scored {
  /** [N][G] raw scores, in the order of the executor's groups. */
  scores: Float32Array;
  /** [N][E] embeddings. */
  embeddings: Float32Array;
  groups: string[];
  seconds: number;
}

/**
 * Score `files` with the real MobileFaceNet in batches of {@link BATCH}; `crop` centre-crops
 * before the resize to 112. Decoding the next batch overlaps the GPU work of the current one.
 */
async function scoreFiles(files: URL[], crop: number | undefined): Promise<Scored> {
  const model = await loadModel("auto", MFN.pathname);
  const gpu = await getGpu();
  const ex = await Executor.create(gpu, model.graph, model.weights);
  const prep = model.graph.preprocess;
  const per = 3 * prep.size * prep.size;
  const G = ex.groups.length;
  const E = model.graph.tensors[model.graph.embedding].c;
  const scores = new Float32Array(files.length * G);
  const embeddings = new Float32Array(files.length * E);
  const prepare = async (start: number) => {
    const chunk = files.slice(start, start + BATCH);
    const input = new Float32Array(chunk.length * per);
    for (const [j, f] of chunk.entries()) {
      let img = await decodeImage(await Deno.readFile(f), f.pathname);
      if (crop !== undefined) img = centreCrop(img, crop);
      imageToTensorInto(img, prep, input, j * per);
    }
    return { input, count: chunk.length };
  };
  const t0 = performance.now();
  let next = prepare(0);
  for (let start = 0; start < files.length; start += BATCH) {
    const { input, count } = await next;
    const running = ex.run(input, count);
    if (start + BATCH < files.length) next = prepare(start + BATCH);
    const r = await running;
    scores.set(r.scores, start * G);
    embeddings.set(r.embeddings, start * E);
  }
  const seconds = (performance.now() - t0) / 1000;
  ex.destroy();
  return { scores, embeddings, groups: ex.groups, seconds };
}

/** Ranks 1..n with ties given their average rank. */
function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Float64Array(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation: the Pearson correlation of the (tie-averaged) ranks. */
function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ra = ranks(a), rb = ranks(b);
  const n = ra.length, ma = (n + 1) / 2;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - ma) * (rb[i] - ma);
    saa += (ra[i] - ma) ** 2;
    sbb += (rb[i] - ma) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

Deno.test("spearman and best-threshold helpers on hand-checked cases", () => {
  assertEquals(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assertEquals(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // Ranks of [1, 1, 2] are [1.5, 1.5, 3]; of [3, 1, 2] are [3, 1, 2]: centred (-0.5, -0.5, 1)
  // and (1, -1, 0): covariance -0.5 + 0.5 + 0 = 0.
  assertEquals(spearman([1, 1, 2], [3, 1, 2]), 0);
  // Mated 0.9, 0.6; non-mated 0.7, 0.2: the best threshold (0.8 or 0.4) gets 3 of 4 right.
  const r = bestAccuracy(Float64Array.from([0.9, 0.6, 0.7, 0.2]), [true, true, false, false]);
  assertEquals(r.accuracy, 0.75);
  assertEquals(
    bestAccuracy(Float64Array.from([0.9, 0.8, 0.1]), [true, true, false]).accuracy,
    1,
  );
});

Deno.test({
  name: "LFW: verification accuracy, and GraFIQs (image) lowers the FNMR-EDC pAUC vs random",
  ignore: !haveLfw || GPU.ignore,
  fn: async () => {
    const pairsFile = new URL("pairs.txt", LFW);
    const list = parsePairs(await Deno.readTextFile(pairsFile), "pairs.txt");
    const pi = pairImages(list);
    assertEquals(list.pairs.length, 1200);
    assertEquals(pi.images.length, 1583);
    const files = pi.images.map((n) => new URL(`images/${n}`, LFW));
    console.log(
      `LFW: scoring ${files.length} images with MobileFaceNet, the longest test (minutes on a ` +
        `CPU adapter; Deno notes that it has been running for over 1m0s, 2m0s, ...)`,
    );
    const s = await scoreFiles(files, CROP);
    const G = s.groups.length, E = s.embeddings.length / files.length;
    console.log(
      `LFW: scored ${files.length} images in ${s.seconds.toFixed(1)} s ` +
        `(${(files.length / s.seconds).toFixed(2)} images/s, batch ${BATCH})`,
    );
    for (let i = 0; i < s.scores.length; i++) {
      assert(Number.isFinite(s.scores[i]) && s.scores[i] > 0, `score ${i} is ${s.scores[i]}`);
    }

    const sim = Float64Array.from(list.pairs, (_, k) => cosine(s.embeddings, E, pi.a[k], pi.b[k]));
    const mated = list.pairs.map((p) => p.mated);
    const acc = bestAccuracy(sim, mated);
    console.log(
      `LFW verification accuracy (best single threshold ${acc.t.toFixed(4)} on the same ` +
        `1200 pairs): ${(100 * acc.accuracy).toFixed(2)} %`,
    );
    // MODEL.md measured 95.5 % on 600 of these pairs; a random network gets ~55 %. 93 % leaves
    // room for the resize (ours vs the one MODEL.md used) while failing any broken network.
    assert(acc.accuracy >= 0.93, `accuracy ${acc.accuracy}`);

    const m = mated.flatMap((x, k) => x ? [k] : []);
    const a = m.map((k) => pi.a[k]), b = m.map((k) => pi.b[k]);
    const simM = m.map((k) => sim[k]);
    const edc = groupPaucsVsRandom(
      s.groups,
      (gi) => Float64Array.from({ length: files.length }, (_, i) => -s.scores[i * G + gi]),
      { a, b, sim: simM },
    );
    const t = edc.threshold;
    const lines = edc.rows.map(paucVsRandomRow);
    const image = edc.rows.find((r) => r.group === "image")!;
    const [imagePauc, imageRandom] = [image.pauc, image.random.mean];
    console.log(
      `FNMR-EDC (600 mated pairs, E0 = 0.05, t = ${t.toFixed(4)}), pAUC at discard 0.20:\n` +
        "| group | GraFIQs | random order (mean ± std, 100 shuffles) | below random |\n" +
        "|---|---|---|---|\n" + lines.join("\n"),
    );
    // Issue 4: at least 20 % below the random-order mean for the image group.
    assert(imagePauc <= 0.8 * imageRandom, `image pAUC ${imagePauc} vs random ${imageRandom}`);
  },
});

Deno.test({
  name: "MagFace toy set: our quality correlates positively with MagFace's for every group",
  ignore: !haveToy || GPU.ignore,
  fn: async () => {
    const csv = (await Deno.readTextFile(new URL("magnitudes.csv", TOY))).trim().split("\n");
    const rows = csv.slice(1).map((l) => l.split(","));
    assertEquals(rows.length, 10);
    const files = rows.map(([name]) => new URL(name, TOY));
    const magface = rows.map(([, v]) => Number(v));
    const s = await scoreFiles(files, undefined);
    const G = s.groups.length;
    const out: string[] = [];
    for (const [gi, g] of s.groups.entries()) {
      const q = files.map((_, i) => -s.scores[i * G + gi]);
      const rho = spearman(q, magface);
      out.push(`${g} ${rho.toFixed(3)}`);
      assert(rho > 0, `${g}: Spearman ${rho} is not positive`);
    }
    console.log(`Spearman(-raw GraFIQs, MagFace quality) on magface_toy: ${out.join(", ")}`);
  },
});
