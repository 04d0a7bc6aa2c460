/**
 * `--resume` (src/pipeline/resume.ts, src/io/records.ts): records and their recovery, the folder-mode journal, and the
 * command killed with SIGKILL at random points, then resumed until done: the final output must
 * be byte-identical to an uninterrupted run's (no record lost, duplicated or torn).
 *
 * The command runs as a subprocess on the tiny 112x112 iResNet of
 * tests/fixtures/golden/iresnet112_tiny.
 */
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";
import {
  formatRecord,
  type ImageRecord,
  parseRecordLine,
  recordHeader,
} from "../src/io/records.ts";
import {
  checkRecordSettings,
  Journal,
  JOURNAL_NAME,
  JOURNAL_TAG,
  RECORD_SETTINGS_TAG,
  type RecordSettings,
  recoverRecordFile,
} from "../src/pipeline/resume.ts";
import { fnv1a64 } from "../src/io/hash.ts";
import { detectBackbone } from "../src/graph/model.ts";
import { readWeightsFile } from "../src/weights/read_file.ts";
import { convertWeights } from "../src/weights/convert.ts";

const MOD = new URL("../mod.ts", import.meta.url).pathname;
const FIX = new URL("./fixtures/golden/iresnet112_tiny/", import.meta.url).pathname;
const GROUPS = ["image", "block1", "block2", "block3", "block4"];
const OFFICIAL_FILES = [...GROUPS.map((g) => `GraFIQs_${g}.txt`), "GraFIQs_failed.txt"];
/** The command tests score images: they need a WebGPU adapter (see tests/gpu_util.ts). */
const GPU = gpuTestOptions("resume_test");

// ---------------------------------------------------------------------------------------------
// Units

const f32 = (x: number) => Math.fround(x);
const SAMPLE: ImageRecord[] = [
  { path: "a/b c.jpg", scores: [f32(7190.53515625), f32(0.0188), f32(1e-5), 3, 4], error: null },
  { path: "tab\there\\x\nnewline.jpg", scores: null, error: "cannot decode:\tbad\r\nstuff" },
  { path: "inf.jpg", scores: [Infinity, -Infinity, NaN, 0, -0], error: null },
];

Deno.test("records: TSV and JSONL lines round-trip, escapes, non-finite scores", () => {
  assertEquals(recordHeader("tsv", GROUPS), `path\t${GROUPS.join("\t")}\tstatus\terror\n`);
  assertEquals(recordHeader("jsonl", GROUPS), "");
  // The official score text of float32 values (Python's repr of the widened double).
  assertEquals(
    formatRecord("tsv", GROUPS, SAMPLE[0]),
    "a/b c.jpg\t7190.53515625\t0.018799999728798866\t9.999999747378752e-06\t3.0\t4.0\tok\t\n",
  );
  assertEquals(
    formatRecord("tsv", GROUPS, SAMPLE[1]),
    "tab\\there\\\\x\\nnewline.jpg\t\t\t\t\t\tfailed\tcannot decode:\\tbad\\r\\nstuff\n",
  );
  assertEquals(
    formatRecord("jsonl", GROUPS, SAMPLE[2]),
    '{"path":"inf.jpg","image":"inf","block1":"-inf","block2":"nan","block3":0,"block4":0,' +
      '"status":"ok","error":null}\n',
  );
  for (const format of ["tsv", "jsonl"] as const) {
    for (const r of SAMPLE) {
      const line = formatRecord(format, GROUPS, r);
      assertEquals(line.split("\n").length, 2, "one line per record");
      const back = parseRecordLine(format, GROUPS, line.slice(0, -1), "x:1");
      assertEquals(back.path, r.path);
      assertEquals(back.error, r.error);
      if (r.scores) {
        // -0 prints as 0 in JSON and "-0.0" in TSV; both read back as a zero.
        Array.from(r.scores).forEach((v, i) => {
          const b = back.scores![i];
          assert(Object.is(b, v) || (v === 0 && b === 0), `${format} ${i}: ${b} vs ${v}`);
        });
      } else assertEquals(back.scores, null);
    }
  }
  // The journal's embedding column: float32 bytes in base64, exact.
  const e = new Float32Array([1.5, -2.25e-7, 3.4028234663852886e38]);
  const line = formatRecord("tsv", GROUPS, { ...SAMPLE[0], embedding: e }, true);
  assertEquals(parseRecordLine("tsv", GROUPS, line.slice(0, -1), "x:1", true).embedding, e);
});

Deno.test("recoverRecordFile: a torn last line is cut, done paths are counted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_recover_" });
  const ok = (p: string): ImageRecord => ({ path: p, scores: [1, 2, 3, 4, 5], error: null });
  const head = recordHeader("tsv", GROUPS);
  const body = [ok("x.png"), ok("y.png"), ok("x.png")].map((r) => formatRecord("tsv", GROUPS, r));
  const good = head + body.join("");
  const f = `${dir}/r.tsv`;
  await Deno.writeTextFile(f, good + body[1].slice(0, 9)); // killed mid-write
  const r = await recoverRecordFile(f, "tsv", GROUPS);
  assertEquals(r.done, new Map([["x.png", 2], ["y.png", 1]]));
  assertEquals([r.records, r.failed, r.tornBytes, r.needsHeader], [3, 0, 9, false]);
  assertEquals(await Deno.readTextFile(f), good, "the file ends with its last complete line");
  // A header cut in the middle: nothing done, the header is written again.
  await Deno.writeTextFile(f, head.slice(0, 7));
  const h = await recoverRecordFile(f, "tsv", GROUPS);
  assertEquals([h.records, h.tornBytes, h.needsHeader], [0, 7, true]);
  assertEquals(await Deno.readTextFile(f), "");
  // A missing file is an empty start; JSONL has no header.
  const m = await recoverRecordFile(`${dir}/none.jsonl`, "jsonl", GROUPS);
  assertEquals([m.records, m.needsHeader], [0, true]);
  await Deno.writeTextFile(`${dir}/j.jsonl`, formatRecord("jsonl", GROUPS, ok("z.png")) + "{");
  const j = await recoverRecordFile(`${dir}/j.jsonl`, "jsonl", GROUPS);
  assertEquals([j.records, j.tornBytes, [...j.done.keys()]], [1, 1, ["z.png"]]);
  // Another file, or other columns: refused, naming the file.
  await Deno.writeTextFile(f, "path\timage\tstatus\terror\n");
  await assertRejects(() => recoverRecordFile(f, "tsv", GROUPS), /r\.tsv:1: the header/);
  await Deno.writeTextFile(f, head + "only\ttwo\n");
  await assertRejects(() => recoverRecordFile(f, "tsv", GROUPS), /r\.tsv:2: 2 tab-separated/);
});

Deno.test("Journal: appends survive reopening, a torn line is cut, other settings refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_journal_" });
  const settings = {
    model: "iresnet50",
    weights: "0123456789abcdef",
    groups: GROUPS,
    channelOrder: "bgr" as const,
    embeddings: true,
  };
  const e = new Float32Array([0.25, -1]);
  const a = await Journal.open(dir, settings);
  assertEquals(a.done.size, 0);
  await a.journal.append([
    { path: "p1.jpg", scores: [1, 2, 3, 4, 5], error: null, embedding: e },
    { path: "p2.jpg", scores: null, error: "is a directory" },
  ]);
  a.journal.close();
  await Deno.writeTextFile(`${dir}/${JOURNAL_NAME}`, "p3.jpg\t1.0\t2", { append: true });
  const b = await Journal.open(dir, settings);
  assertEquals([...b.done.keys()], ["p1.jpg", "p2.jpg"]);
  assertEquals(b.done.get("p1.jpg")!.embedding, e);
  assertEquals(b.done.get("p2.jpg")!.error, "is a directory");
  await b.journal.append([{ path: "p3.jpg", scores: [5, 4, 3, 2, 1], error: null, embedding: e }]);
  b.journal.close();
  const text = await Deno.readTextFile(`${dir}/${JOURNAL_NAME}`);
  assertEquals(text.split("\n").length, 6, "tag, header, 3 records, final line feed");
  await assertRejects(
    () => Journal.open(dir, { ...settings, channelOrder: "rgb" }),
    /was written by a run with other settings/,
  );
  const c = await Journal.open(dir, settings);
  await c.journal.remove();
  await assertRejects(() => Deno.stat(`${dir}/${JOURNAL_NAME}`));
});

/** Assert that `fn` rejects with an Error whose message includes `text`. */
async function rejectsIncluding(fn: () => Promise<unknown>, text: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert((e as Error).message.includes(text), `${(e as Error).message}\nlacks: ${text}`);
    return;
  }
  throw new Error(`not refused (expected: ${text})`);
}

Deno.test("Journal: the kernel family is a setting; one without it (older) is register", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_journal_kernels_" });
  const base = {
    model: "iresnet50",
    weights: "0123456789abcdef",
    groups: GROUPS,
    channelOrder: "bgr" as const,
    embeddings: false,
  };
  const a = await Journal.open(dir, { ...base, kernels: "tiled" });
  await a.journal.append([{ path: "p1.jpg", scores: [1, 2, 3, 4, 5], error: null }]);
  a.journal.close();
  const path = `${dir}/${JOURNAL_NAME}`;
  const tiled = await Deno.readTextFile(path);
  assert(tiled.startsWith(`${JOURNAL_TAG}\t${JSON.stringify({ ...base, kernels: "tiled" })}\n`));
  await rejectsIncluding(
    () => Journal.open(dir, { ...base, kernels: "register" }),
    `${path} was made with the tiled kernels (its first line) but this run uses the register ` +
      "kernels; their scores differ in float32 rounding, so the two are not mixed: " +
      "resume with --kernels tiled, or delete the journal to start over",
  );
  assertEquals(await Deno.readTextFile(path), tiled, "the refused journal is untouched");
  // Another setting besides the family: the general message, naming both settings.
  await rejectsIncluding(
    () => Journal.open(dir, { ...base, kernels: "register", embeddings: true }),
    'was written by a run with other settings ({"model"',
  );
  // A journal written before the family was recorded (no "kernels" key) is a register one.
  const old = tiled.replace(`,"kernels":"tiled"`, "");
  assert(old !== tiled && !old.includes("kernels"));
  await Deno.writeTextFile(path, old);
  const b = await Journal.open(dir, { ...base, kernels: "register" });
  assertEquals([...b.done.keys()], ["p1.jpg"]);
  b.journal.close();
  await rejectsIncluding(
    () => Journal.open(dir, { ...base, kernels: "tiled" }),
    "was made with the register kernels (its first line) but this run uses the tiled kernels;" +
      " their scores differ in float32 rounding, so the two are not mixed: resume with " +
      "--kernels register,",
  );
});

Deno.test("record settings: the kernel family is checked; one without it (older) is register", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_settings_kernels_" });
  const f = `${dir}/r.tsv`;
  const sp = `${f}.settings`;
  const run = (kernels: "register" | "tiled" | "winograd"): RecordSettings => ({
    model: "iresnet50",
    weights: "0123456789abcdef",
    groups: GROUPS,
    channelOrder: "bgr",
    kernels,
    format: "tsv",
  });
  const fail = () => {
    throw new Error("no warning expected");
  };
  await checkRecordSettings(f, run("tiled"), false, false, fail);
  const tiledLine = `${RECORD_SETTINGS_TAG}\t${JSON.stringify(run("tiled"))}\n`;
  assertEquals(await Deno.readTextFile(sp), tiledLine);
  assert(tiledLine.includes('"channelOrder":"bgr","kernels":"tiled","format":"tsv"'), tiledLine);
  await rejectsIncluding(
    () => checkRecordSettings(f, run("register"), true, true, fail),
    `${f} was made with the tiled kernels (${sp}) but this run uses the register kernels; ` +
      "their scores differ in float32 rounding, so the two are not mixed: resume with " +
      "--kernels tiled, or choose another --output",
  );
  assertEquals(await Deno.readTextFile(sp), tiledLine, "the refused settings are untouched");
  await checkRecordSettings(f, run("tiled"), true, true, fail);
  // A settings file written before the family was recorded: register, rewritten with it.
  const { kernels: _, ...older } = run("register");
  await Deno.writeTextFile(sp, `${RECORD_SETTINGS_TAG}\t${JSON.stringify(older)}\n`);
  await rejectsIncluding(
    () => checkRecordSettings(f, run("tiled"), true, true, fail),
    "was made with the register kernels",
  );
  await checkRecordSettings(f, run("register"), true, true, fail);
  assertEquals(
    await Deno.readTextFile(sp),
    `${RECORD_SETTINGS_TAG}\t${JSON.stringify(run("register"))}\n`,
  );
  // The winograd family is a family like the others: refused with the family message.
  await rejectsIncluding(
    () => checkRecordSettings(f, run("winograd"), true, true, fail),
    "was made with the register kernels (" + sp + ") but this run uses the winograd kernels; " +
      "their scores differ in float32 rounding, so the two are not mixed: resume with " +
      "--kernels register,",
  );
  // A family that is not one, or another setting as well: the general message.
  await Deno.writeTextFile(
    sp,
    `${RECORD_SETTINGS_TAG}\t${JSON.stringify({ ...run("register"), kernels: "fast" })}\n`,
  );
  await rejectsIncluding(
    () => checkRecordSettings(f, run("register"), true, true, fail),
    "was written with other settings",
  );
});

// ---------------------------------------------------------------------------------------------
// Killed at random points

/** 35 images copied from the fixture's two PNGs under other names, and one corrupt file. */
async function workDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_resume_" });
  await Deno.mkdir(`${dir}/imgs`);
  for (let i = 0; i < 35; i++) {
    const name = `face_${String(i).padStart(2, "0")}.png`;
    await Deno.copyFile(
      `${FIX}/images/smooth_${"ab"[i % 3 === 0 ? 1 : 0]}.png`,
      `${dir}/imgs/${name}`,
    );
  }
  await Deno.writeTextFile(`${dir}/imgs/face_11b.png`, "not a PNG");
  await Deno.copyFile(`${FIX}/model.pth`, `${dir}/model.pth`);
  return dir;
}

function spawn(args: string[], cwd: string, input?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MOD, ...args],
    cwd,
    stdin: input === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    (async () => {
      const w = child.stdin.getWriter();
      try {
        await w.write(new TextEncoder().encode(input));
        await w.close();
      } catch { /* killed before reading it all */ }
    })();
  }
  return child;
}

async function finish(child: Deno.ChildProcess) {
  const [status, err] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, signal: status.signal, stderr: err };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return -1;
  }
}

/** A seeded generator (LCG), so the kill points are the same on every run of the test. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * Start `args` (with --resume) again and again, each time SIGKILLing it at a random moment
 * after it made progress (the watched file grew), `kills` times; then let it finish.
 * `afterKill` may damage the output as a kill mid-write would.
 */
async function killAndResume(
  dir: string,
  args: string[],
  watched: string,
  kills: number,
  seed: number,
  input?: string,
  afterKill?: (round: number) => Promise<void>,
): Promise<{ killed: number; last: { code: number; stderr: string } }> {
  const rnd = prng(seed);
  let killed = 0;
  for (let round = 0; round < kills; round++) {
    const before = await sizeOf(watched);
    const child = spawn(args, dir, input);
    let exited = false;
    const done = finish(child).then((r) => {
      exited = true;
      return r;
    });
    // Wait for progress (the file grew), then a random 0..200 ms: inside a batch on the GPU,
    // during decoding, or while a record is written.
    const deadline = performance.now() + 60_000;
    while (!exited && (await sizeOf(watched)) <= before && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, rnd() * 200));
    if (exited) {
      const r = await done;
      return { killed, last: r };
    }
    try {
      child.kill("SIGKILL");
    } catch { /* it has just exited */ }
    const r = await done;
    if (r.signal !== "SIGKILL") return { killed, last: r }; // it finished before the kill
    killed++;
    await afterKill?.(round);
  }
  const last = await finish(spawn(args, dir, input));
  return { killed, last };
}

Deno.test(
  "--resume, record mode (stdin, JSONL): killed 4 times, the file equals an uninterrupted run",
  GPU,
  async () => {
    const dir = await workDir();
    const names = [...Deno.readDirSync(`${dir}/imgs`)].map((e) => `imgs/${e.name}`).sort();
    // Input order is not sorted, and one path comes twice (it gets two records).
    const input = [...names.slice(12), ...names.slice(0, 12), names[3]].join("\n") + "\n";
    const common = ["--weights", "model.pth", "--batch-size", "3"];
    const ref = await finish(spawn([...common, "--output", "ref.jsonl"], dir, input));
    assertEquals(ref.code, 3, ref.stderr);
    const want = await Deno.readFile(`${dir}/ref.jsonl`);
    const out = `${dir}/out.jsonl`;
    const t0 = performance.now();
    const { killed, last } = await killAndResume(
      dir,
      [...common, "--output", "out.jsonl", "--resume"],
      out,
      4,
      20240607,
      input,
      async (round) => {
        // As if killed in the middle of writing a record: half a line at the end.
        if (round === 1) await Deno.writeTextFile(out, '{"path":"imgs/fa', { append: true });
      },
    );
    assertEquals(last.code, 3, last.stderr);
    assert(killed >= 3, `only ${killed} kills landed before the run finished`);
    assertEquals(await Deno.readFile(out), want, "byte-identical to the uninterrupted run");
    console.log(`  ${killed} kills, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  },
);

Deno.test(
  "--resume, folder mode (journal): killed 4 times, the five files equal a plain run",
  GPU,
  async () => {
    const dir = await workDir();
    const common = [
      "--weights",
      "model.pth",
      "--image-path",
      "imgs",
      "--image-extension",
      "png",
      "--batch-size",
      "2",
    ];
    const plain = await finish(spawn([...common, "--output-dir", "ref"], dir));
    assertEquals(plain.code, 3, plain.stderr);
    const journal = `${dir}/out/${JOURNAL_NAME}`;
    const t0 = performance.now();
    const { killed, last } = await killAndResume(
      dir,
      [...common, "--output-dir", "out", "--resume"],
      journal,
      4,
      77,
      undefined,
      async (round) => {
        if (round === 2) await Deno.writeTextFile(journal, "imgs/face_0", { append: true });
      },
    );
    assertEquals(last.code, 3, last.stderr);
    assert(killed >= 3, `only ${killed} kills landed before the run finished`);
    for (const f of OFFICIAL_FILES) {
      assertEquals(
        await Deno.readTextFile(`${dir}/out/${f}`),
        await Deno.readTextFile(`${dir}/ref/${f}`),
        `${f} equals the uninterrupted run's`,
      );
    }
    assertEquals(await sizeOf(journal), -1, "the journal is removed at the end");
    console.log(`  ${killed} kills, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  },
);

Deno.test(
  "--resume, folder mode: the journal is tied to the weights file's bytes",
  GPU,
  async () => {
    const dir = await workDir();
    const loaded = await readWeightsFile(`${dir}/model.pth`);
    // The same tensors in another file (GFQW): equal scores, but other bytes.
    await Deno.writeFile(`${dir}/model.gfqw`, convertWeights(loaded).bytes);
    // A journal as a killed run with model.pth would have left it, with one (made-up) result.
    // Its fingerprint is computed here from the file, independently of the tool's own loading.
    const fingerprint = fnv1a64(await Deno.readFile(`${dir}/model.pth`)).toString(16)
      .padStart(16, "0");
    await Deno.mkdir(`${dir}/out`);
    const { journal } = await Journal.open(`${dir}/out`, {
      model: detectBackbone(loaded.stateDict)!.name,
      weights: fingerprint,
      groups: GROUPS,
      channelOrder: "bgr",
      embeddings: false,
    });
    await journal.append([{ path: "imgs/face_00.png", scores: [1, 2, 3, 4, 5], error: null }]);
    journal.close();
    const args = ["--image-path", "imgs", "--image-extension", "png", "--output-dir", "out"];
    const other = await finish(spawn(["--weights", "model.gfqw", ...args, "--resume"], dir));
    assertEquals(other.code, 1, other.stderr);
    assert(/was written by a run with other settings/.test(other.stderr), other.stderr);
    const same = await finish(spawn(["--weights", "model.pth", ...args, "--resume"], dir));
    assertEquals(same.code, 3, same.stderr);
    const image = await Deno.readTextFile(`${dir}/out/GraFIQs_image.txt`);
    assert(image.startsWith("imgs/face_00.png 1.0\nimgs/face_01.png "), "resumed from the journal");
  },
);
