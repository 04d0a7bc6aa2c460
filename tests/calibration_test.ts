/**
 * The calibrated quality scale (src/io/calibration.ts): quantiles against numpy, the
 * interpolated distribution and its monotonicity, the file format and its refusals. No GPU.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  buildCalibration,
  calibratedCdf,
  calibratedQuality,
  CALIBRATION_FORMAT,
  calibrationFor,
  calibrationText,
  formatQuality,
  parseCalibration,
  qualityFileText,
  quantileSummary,
} from "../src/io/calibration.ts";
import { readCalibration } from "../src/io/calibration_file.ts";
import { formatRecord, parseRecordLine, recordHeader } from "../src/io/records.ts";
import { VERSION } from "../src/version.ts";

/** `fn` throws an error whose message contains `text`. */
function throwsWith(fn: () => unknown, text: string): void {
  assertThrows(fn, new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
}

Deno.test("quantileSummary: numpy's linear quantiles at i/1000; all sorted scores when fewer", () => {
  // Expected values: numpy 1.24 `np.quantile(x, np.linspace(0, 1, 1001))` for x = i^2,
  // i = 0..1999 (printed with repr): index 1 -> 3.9970000000000003, 500 -> 999000.5,
  // 999 -> 3988012.995, 1000 -> 3996001.0. One or two roundings apart at most.
  const x = Array.from({ length: 2000 }, (_, i) => i * i);
  const q = quantileSummary(x.reverse());
  assertEquals(q.length, 1001);
  assertEquals(q[0], 0);
  assertEquals(q[1000], 3996001);
  // (n-1)p with p = i/1000 and the interpolation each round once: a few ulps of the value.
  for (const [i, want] of [[1, 3.9970000000000003], [500, 999000.5], [999, 3988012.995]]) {
    assert(Math.abs(q[i] - want) <= 4 * Number.EPSILON * want, `q[${i}] = ${q[i]} vs ${want}`);
  }
  assertEquals(quantileSummary([3.5, 1.25, 9, 2, 7.75]), [1.25, 2, 3.5, 7.75, 9]);
  assertEquals(quantileSummary([0, 10, 20, 30, 40], 3), [0, 20, 40]);
  assertEquals(quantileSummary([]), []);
});

Deno.test("calibrated quality: 100 x (1 - F), interpolated, clamped, never increasing", () => {
  const q = [0, 10, 20, 30, 40]; // probabilities 0, 0.25, 0.5, 0.75, 1
  // By hand: 15 lies halfway between 10 (p 0.25) and 20 (p 0.5): F = 0.375, quality 62.5.
  assertEquals(calibratedCdf(15, q), 0.375);
  assertEquals(calibratedQuality(15, q), 62.5);
  assertEquals(calibratedQuality(-5, q), 100, "below every reference score");
  assertEquals(calibratedQuality(0, q), 100, "the best reference score");
  assertEquals(calibratedQuality(40, q), 0, "the worst reference score");
  assertEquals(calibratedQuality(1e30, q), 0);
  assertEquals(calibratedQuality(-Infinity, q), 100);
  assertEquals(calibratedQuality(Infinity, q), 0);
  assert(Number.isNaN(calibratedQuality(NaN, q)));
  assertEquals([formatQuality(62.5), formatQuality(100), formatQuality(NaN)], [
    "62.50",
    "100.00",
    "",
  ]);
  // Ties: F jumps over the tied probabilities at the tied value (the upper one there).
  const t = [1, 2, 2, 2, 5];
  assertEquals(calibratedCdf(2, t), 0.75);
  assertEquals(calibratedCdf(1.5, t), 0.125);
  assertEquals(calibratedCdf(3.5, t), 0.875);
  // One reference score: below it 100, from it on 0.
  assertEquals([calibratedQuality(0.5, [1]), calibratedQuality(1, [1])], [100, 0]);
  // Monotone: on a dense grid through random quantiles with ties, quality never increases as
  // the raw score grows, stays in 0..100, and meets both ends.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let trial = 0; trial < 20; trial++) {
    const values = Array.from(
      { length: 1 + Math.floor(rand() * 3000) },
      () => Math.round(rand() * 50) * 10 + (rand() < 0.5 ? rand() : 0),
    );
    const qs = quantileSummary(values);
    let prev = Infinity;
    for (let x = -20; x <= 540; x += 0.0625) {
      const v = calibratedQuality(x, qs);
      assert(v >= 0 && v <= 100, `${v}`);
      assert(v <= prev, `trial ${trial}: quality rose from ${prev} to ${v} at raw ${x}`);
      prev = v;
    }
    assertEquals([calibratedQuality(-20, qs), calibratedQuality(540, qs)], [100, 0]);
  }
});

const PRE = {
  channelOrder: "bgr" as const,
  size: 112,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
};
const MODEL = { architecture: "iresnet50", weightsFingerprint: "0123456789abcdef" };

Deno.test("calibration file: written, read back, and checked against the run", async () => {
  const rows = [[3, 30], [1, 10], [2, NaN]];
  const c = buildCalibration(MODEL, PRE, ["image", "block1"], rows, 4);
  assertEquals(c.format, CALIBRATION_FORMAT);
  assertEquals(c.tool, `grafiqs ${VERSION}`);
  assertEquals(c.reference, { scored: 3, failed: 4 });
  assertEquals(c.groups, [
    { name: "image", count: 3, quantiles: [1, 2, 3] },
    { name: "block1", count: 2, quantiles: [10, 30] }, // NaN left out
  ]);
  const text = calibrationText(c);
  assert(text.includes('"quantiles": [1, 2, 3]'), text);
  assertEquals(parseCalibration(text, "c.json"), c);
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_cal_" });
  await Deno.writeTextFile(`${dir}/c.json`, text);
  assertEquals(await readCalibration(`${dir}/c.json`), c);
  const run = {
    weightsFingerprint: MODEL.weightsFingerprint,
    groups: ["block1"],
    preprocessing: PRE,
  };
  assertEquals(calibrationFor(c, "c.json", run), [[10, 30]]);
  throwsWith(
    () => calibrationFor(c, "c.json", { ...run, weightsFingerprint: "fedcba9876543210" }),
    "c.json was made with other weights (fingerprint 0123456789abcdef, iresnet50); this " +
      "run's weights have fingerprint fedcba9876543210",
  );
  throwsWith(
    () => calibrationFor(c, "c.json", { ...run, preprocessing: { ...PRE, channelOrder: "rgb" } }),
    "made with BGR input; this run feeds RGB",
  );
  throwsWith(
    () => calibrationFor(c, "c.json", { ...run, groups: ["block9"] }),
    "no group block9",
  );
  throwsWith(
    () => buildCalibration(MODEL, PRE, ["image"], [[NaN]], 0),
    "no finite raw score",
  );
});

Deno.test("calibration file: malformed files are refused naming the file and the fault", async () => {
  const good = JSON.parse(calibrationText(buildCalibration(MODEL, PRE, ["image"], [[1], [2]], 0)));
  const bad: [unknown, string][] = [
    ["{", "not JSON"],
    [{ ...good, format: "x" }, "not a calibration file"],
    [{ ...good, formatVersion: 2 }, "formatVersion 2, expected 1"],
    [{ ...good, model: { ...good.model, weightsFingerprint: "xyz" } }, "16 lowercase hex"],
    [{ ...good, preprocessing: { ...good.preprocessing, channelOrder: "gbr" } }, "channelOrder"],
    [{ ...good, groups: [] }, '"groups" must be a non-empty list'],
    [{ ...good, groups: [{ name: "image", count: 2, quantiles: [2, 1] }] }, "decrease at index 1"],
    [{ ...good, groups: [{ name: "image", count: 3, quantiles: [1, 2] }] }, "2 values, expected 3"],
    [{ ...good, groups: [{ name: "image", count: 2, quantiles: [1, "2"] }] }, "finite numbers"],
    [{ ...good, groups: [good.groups[0], good.groups[0]] }, "listed twice"],
    [{ ...good, reference: { scored: 0, failed: 0 } }, "reference.scored must be an integer >= 1"],
  ];
  for (const [o, msg] of bad) {
    const text = typeof o === "string" ? o : JSON.stringify(o);
    throwsWith(() => parseCalibration(text, "c.json"), msg);
    throwsWith(() => parseCalibration(text, "c.json"), "calibration c.json: ");
  }
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_cal_" });
  await readCalibration(`${dir}/none.json`).then(
    () => assert(false, "read"),
    (e) => assertEquals(e.message, `calibration ${dir}/none.json: no such file`),
  );
  await Deno.writeFile(`${dir}/bin.json`, new Uint8Array([0xff, 0xfe, 0x7b]));
  await readCalibration(`${dir}/bin.json`).then(
    () => assert(false, "read"),
    (e) => assertEquals(e.message, `calibration ${dir}/bin.json: not UTF-8 text`),
  );
  await readCalibration(dir).then(
    () => assert(false, "read"),
    (e) => assertEquals(e.message, `calibration ${dir}: is a directory`),
  );
});

Deno.test("quality columns: GraFIQs_quality.tsv and records; resume reads records with them", () => {
  const q = [[0, 10, 20, 30, 40]];
  assertEquals(
    qualityFileText(["image"], [{ path: "a\tb.jpg", scores: [15] }, {
      path: "c.jpg",
      scores: [50],
    }], q),
    "path\tquality_image\na\\tb.jpg\t62.50\nc.jpg\t0.00\n",
  );
  const groups = ["image"];
  assertEquals(
    recordHeader("tsv", groups, ["quality_image"]),
    "path\timage\tstatus\terror\tquality_image\n",
  );
  const ok = { path: "a.jpg", scores: [15], error: null, quality: [62.5] };
  const failed = { path: "b.jpg", scores: null, error: "not an image", quality: null };
  assertEquals(formatRecord("tsv", groups, ok), "a.jpg\t15.0\tok\t\t62.50\n");
  assertEquals(formatRecord("tsv", groups, failed), "b.jpg\t\tfailed\tnot an image\t\n");
  assertEquals(
    formatRecord("jsonl", groups, ok),
    '{"path":"a.jpg","image":15,"status":"ok","error":null,"quality_image":62.5}\n',
  );
  assertEquals(
    formatRecord("jsonl", groups, failed),
    '{"path":"b.jpg","image":null,"status":"failed","error":"not an image","quality_image":null}\n',
  );
  // Without a calibration the records are exactly as before.
  assertEquals(
    formatRecord("tsv", groups, { path: "a.jpg", scores: [15], error: null }),
    "a.jpg\t15.0\tok\t\n",
  );
  const back = parseRecordLine("tsv", groups, "a.jpg\t15.0\tok\t\t62.50", "r.tsv:2", false, 1);
  assertEquals([back.path, Array.from(back.scores!)], ["a.jpg", [15]]);
  throwsWith(
    () => parseRecordLine("tsv", groups, "a.jpg\t15.0\tok\t\t62.50", "r.tsv:2"),
    "5 tab-separated fields, expected 4",
  );
});
