/**
 * The GraFIQs method on the graph, without a GPU (src/graph/grafiqs.ts): loss layers and their
 * coefficients, the reverse plan for each choice of groups, group validation. Expected values
 * are counted and derived by hand from docs/ALGORITHM.md, not taken from the code's output.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { lossTerms, reversePlan } from "../src/graph/grafiqs.ts";
import { type Graph, GraphBuilder } from "../src/graph/ir.ts";
import { buildIResNet, type IResNetConfig, standardIResNet } from "../src/graph/iresnet.ts";
import { buildMobileFaceNet, standardMobileFaceNet } from "../src/graph/mobilefacenet.ts";

/** Relative difference, for coefficients computed in another order than the code's. */
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/**
 * One block per stage, widths 4/8/8/16, input 16x16. Every first block has stride 2, hence a
 * downsample. Node indices, counted from the builder's order (stem, then per block bn1, conv1,
 * bn2, conv2, downsample.0, downsample.1, bn3, then the head):
 *   0 conv1, 1 bn1 | 2..8 layer1.0 (bn3 = 8: block1) | 9..15 layer2.0 (block2 = 15) |
 *   16..22 layer3.0 (block3 = 22) | 23..29 layer4.0 (block4 = 29) | 30 bn2 | 31 fc+features.
 * Loss layers: stem 1 + 4 per block (bn1, bn2, downsample.1, bn3) x 4 + head 1 = 18.
 */
const TINY: IResNetConfig = {
  name: "tiny",
  layers: [1, 1, 1, 1],
  widths: [4, 8, 8, 16],
  stemWidth: 4,
  inputSize: 16,
  embeddingSize: 8,
};
const tiny = () => buildIResNet(TINY);
const names = (g: Graph, ids: number[]) => ids.map((i) => g.tensors[i].name);
const gradientSet = (g: Graph, flags: boolean[]) =>
  names(g, flags.flatMap((f, i) => f ? [i] : [])).sort();

Deno.test("loss layers: iresnet50 78, iresnet100 153, iresnet18 30, MobileFaceNet 51", () => {
  // iResNet: stem BN + 3 per block + one downsample BN per stage + head BN2d.
  // iresnet50 has 3+4+14+3 = 24 blocks, iresnet100 3+13+30+3 = 49, iresnet18 8.
  for (const [name, k] of [["iresnet50", 78], ["iresnet100", 153], ["iresnet18", 30]] as const) {
    const g = buildIResNet(standardIResNet(name));
    assertEquals(lossTerms(g).length, k, name);
    assertEquals(1 + 3 * { iresnet50: 24, iresnet100: 49, iresnet18: 8 }[name] + 4 + 1, k);
  }
  // MobileFaceNet: 3 stem BNs + 15 expanding blocks x 3 + conv2.1, gdconv.bn, bn.
  assertEquals(lossTerms(buildMobileFaceNet(standardMobileFaceNet())).length, 3 + 45 + 3);
});

Deno.test("loss layers: every BN2d, never the BatchNorm1d features", () => {
  const g = buildIResNet(standardIResNet("iresnet50"));
  const terms = lossTerms(g);
  const bnNames = terms.map((t) => t.node.name);
  assert(!bnNames.includes("features"));
  assertEquals(bnNames[0], "bn1");
  assertEquals(bnNames[bnNames.length - 1], "bn2");
  for (const s of [1, 2, 3, 4]) assert(bnNames.includes(`layer${s}.0.downsample.1`));
  assertEquals(terms.filter((t) => t.node.name.endsWith(".bn1")).length, 24);
  // The head node holds the BN1d and is not a loss term.
  const head = g.nodes[g.nodes.length - 1];
  assertEquals(head.kind, "linear_bn1d");
  assert(terms.every((t) => t.index < g.nodes.length - 1));
  // Terms are about the BN input: stem bn1 sees conv1's 64x112x112 output.
  assertEquals(g.tensors[terms[0].input].name, "conv1:out");
  assertEquals([terms[0].c, terms[0].n], [64, 112 * 112]);
});

Deno.test("loss coefficients: 1/K, 1/C and 2/(K C N) of docs/ALGORITHM.md", () => {
  const g = buildIResNet(standardIResNet("iresnet50"));
  const terms = lossTerms(g);
  const byName = new Map(terms.map((t) => [t.node.name, t]));
  // Head bn2: input 512 x 7 x 7. Stem bn1: 64 x 112 x 112. layer2.0.bn2: 128 x 56 x 56 (the
  // stride-2 conv of a block is its conv2, after bn2).
  const cases: [string, number, number][] = [
    ["bn2", 512, 49],
    ["bn1", 64, 12544],
    ["layer2.0.bn2", 128, 3136],
    ["layer3.5.bn3", 256, 196],
  ];
  for (const [name, c, n] of cases) {
    const t = byName.get(name)!;
    assertEquals([t.c, t.n], [c, n], name);
    assertEquals(t.layerWeight, 1 / 78);
    assertEquals(t.channelWeight, 1 / c);
    assert(rel(t.gradientCoefficient, 2 / (78 * c * n)) < 1e-15, name);
  }
  // The kernel gets 1/K as a double and rounds 2/(K C N) to float32 once: the exact value the
  // executor passed before grafiqs.ts existed is 1 / 78.
  assertEquals(byName.get("bn2")!.layerWeight, 0.01282051282051282);
  assertEquals(Math.fround(byName.get("bn2")!.gradientCoefficient), Math.fround(2 / 1956864));
});

Deno.test("reverse plan: all groups walk every node to the input", () => {
  const g = tiny();
  const p = reversePlan(g);
  assertEquals(p.stop, -1);
  assertEquals(p.walk, [...Array(32).keys()].reverse());
  assertEquals(p.groups.map((x) => [x.name, x.slot, x.producer]), [
    ["image", 0, -1],
    ["block1", 1, 8],
    ["block2", 2, 15],
    ["block3", 3, 22],
    ["block4", 4, 29],
  ]);
  // Every loss term is injected; the head (fc + features) never runs backward.
  assertEquals(p.injected.size, 18);
  assertEquals(p.layerWeight, 1 / 18);
  assertEquals(p.runsBackward, [...Array(31).fill(true), false]);
  // Every tensor but the head BN output (read only by the head) and the embedding.
  assertEquals(
    gradientSet(g, p.needsGradient),
    g.tensors.map((t) => t.name).filter((n) => n !== "bn2:out" && n !== "features:out").sort(),
  );
});

Deno.test("reverse plan: stop at the producer of the earliest requested group", () => {
  const g = tiny();
  for (
    const [groups, stop, injected] of [
      [["block1"], 8, 18 - 1 - 4], // everything after layer1: stem and layer1 terms skipped
      [["block3"], 22, 5], // layer4's 4 terms + head
      [["block4", "block2"], 15, 9], // the earliest of the two decides
      [["block4"], 29, 1], // only the head term is downstream of block4
      [["block2", "image"], -1, 18],
    ] as const
  ) {
    const p = reversePlan(g, groups);
    assertEquals(p.stop, stop, groups.join());
    assertEquals(p.walk[p.walk.length - 1], stop + 1);
    assertEquals(p.injected.size, injected, groups.join());
    assert([...p.injected.keys()].every((i) => i > stop));
    // K stays the whole network's, whatever is injected.
    assertEquals(p.layerWeight, 1 / 18);
    assertEquals(p.groups.map((x) => x.name), [...groups]);
    assertEquals(p.groups.map((x) => x.slot), groups.map((_, i) => i));
  }
});

Deno.test("reverse plan: the gradient set for block3", () => {
  const g = tiny();
  const p = reversePlan(g, ["block3"]);
  // block3 itself and every tensor of layer4; the head BN output and the embedding get none.
  assertEquals(
    gradientSet(g, p.needsGradient),
    [
      "layer3.0.bn3:out",
      "layer4.0.bn1:out",
      "layer4.0.conv1:out",
      "layer4.0.bn2:out",
      "layer4.0.conv2:out",
      "layer4.0.downsample.0:out",
      "layer4.0.downsample.1:out",
      "layer4.0.bn3:out",
    ].sort(),
  );
  assertEquals(
    p.runsBackward.flatMap((r, i) => r ? [i] : []),
    [23, 24, 25, 26, 27, 28, 29, 30],
  );
  // The statistics gradient enters at layer4's BNs and the head BN2d.
  assertEquals(
    [...p.injected.values()].map((t) => t.node.name).sort(),
    ["bn2", "layer4.0.bn1", "layer4.0.bn2", "layer4.0.bn3", "layer4.0.downsample.1"],
  );
});

Deno.test("reverse plan: a BN outside the loss passes gradients but injects none", () => {
  // input -> conv a -> BN p (not in loss) -> conv b -> BN q (in loss) -> conv c -> BN r (not in
  // loss). Node indices 0..5. K = 1. r gets no gradient (nothing downstream is in the loss),
  // so c does not run; q injects; p passes q's gradient back to a.
  const b = new GraphBuilder();
  const input = b.tensor("input", 2, 4, 4);
  let x = b.conv("a", input, 3, 3, 1, 1);
  x = b.bn("p", x, { inLoss: false });
  const group = x;
  x = b.conv("b", x, 3, 1, 1, 0);
  x = b.bn("q", x);
  x = b.conv("c", x, 3, 1, 1, 0);
  x = b.bn("r", x, { inLoss: false });
  const g = b.finish({
    name: "toy",
    input,
    embedding: x,
    groups: [{ name: "image", tensor: input }, { name: "mid", tensor: group }],
    preprocess: { channelOrder: "rgb", mean: [0, 0, 0], std: [1, 1, 1], size: 4 },
  });
  const terms = lossTerms(g);
  assertEquals(terms.map((t) => [t.node.name, t.index, t.c, t.n]), [["q", 3, 3, 16]]);
  assertEquals(terms[0].gradientCoefficient, 2 / 48);
  const all = reversePlan(g);
  assertEquals(all.runsBackward, [true, true, true, true, false, false]);
  assertEquals(gradientSet(g, all.needsGradient), ["a:out", "b:out", "input", "p:out"]);
  const mid = reversePlan(g, ["mid"]);
  assertEquals([mid.stop, mid.walk], [1, [5, 4, 3, 2]]);
  assertEquals([...mid.injected.keys()], [3]);
});

Deno.test("group validation: unknown, repeated and empty lists are RangeErrors", () => {
  const g = tiny();
  const isRange = (fn: () => unknown, re: RegExp) => {
    assert.throws(fn, RangeError);
    assertThrows(fn, re);
  };
  isRange(
    () => reversePlan(g, ["block5"]),
    /Unknown group "block5" for tiny; known: image, block1, block2, block3, block4/,
  );
  isRange(() => reversePlan(g, []), /At least one group must be requested/);
  isRange(() => reversePlan(g, ["block1", "block1"]), /Group "block1" is requested twice/);
  isRange(
    () => lossTerms({ ...g, lossLayers: 17 }),
    /tiny: lossLayers says 17 but 18 BatchNorm2d nodes are in the loss/,
  );
});

Deno.test("reverse plan: a loss layer after the embedding head is refused", () => {
  const b = new GraphBuilder();
  const input = b.tensor("input", 2, 2, 2);
  const x = b.conv("a", input, 2, 1, 1, 0);
  const e = b.linearBn1d("fc", "features", x, 3);
  const y = b.bn("after", e);
  const g = b.finish({
    name: "toy",
    input,
    embedding: y,
    groups: [{ name: "image", tensor: input }],
    preprocess: { channelOrder: "rgb", mean: [0, 0, 0], std: [1, 1, 1], size: 2 },
  });
  assertThrows(() => reversePlan(g), /toy: a gradient reaches the output of linear_bn1d node 1/);
});
