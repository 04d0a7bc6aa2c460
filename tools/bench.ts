/**
 * Speed benchmark: this project's main command next to the official-equivalent PyTorch
 * program, in one run, on the same machine and the same images, as whole processes and in the
 * steady state; with the ratios and the peak resident memory.
 *
 * ```
 * deno task bench [--backbones iresnet50,iresnet100] [--batches 8] [--threads 1,2] [--reps 1]
 *     [--image-dir DIR] [--image-extension png] [--no-torch] [--no-steady] [--json FILE]
 *     [--align [--raw-dir DIR]] [--kernels auto|register|tiled|winograd]
 * ```
 *
 * What runs, per backbone (each measurement a child process, `--reps` times; the best time
 * counts, all are printed raw):
 * - **Official** (tools/bench_torch.py `official`, Debian's /usr/bin/python3 with PyTorch, CPU,
 *   once per `--threads` value): the official program at batch size 1, one image at a time,
 *   gradients by `torch.autograd.grad` on the image and the four block outputs only (no weight
 *   gradients), five score files written. *Whole process*: the wall time from spawning python
 *   to its exit (interpreter start, torch import, model load, all images, score files).
 *   *Steady state*: images/s of its loop after the first image (timestamps taken in the loop).
 * - **Ours**, per `--batches` value: *whole process* is the wall time of the main command
 *   `deno run -A mod.ts --image-path DIR --image-extension EXT --weights FILE --backbone NAME
 *   --output-dir OUT --batch-size N` from spawn to exit. *Steady state* comes from a second
 *   child, tools/bench_probe.ts `--mode steady`: the same library pipeline in-process
 *   (`scorePaths`, what the main command's folder mode runs), on the images cycled to one first
 *   batch plus max(24, N) more images (whole batches), counting the batches after the first
 *   one. Its "first score" is the time from spawning it to the first batch's scores.
 * - `--kernels` (default auto) is passed to every run of ours, the main command and the probe
 *   alike; the tables name the family.
 * - **Shader cache**: every Deno child gets MESA_SHADER_CACHE_DIR set to a new empty folder per
 *   backbone. The first child is the main command at the first batch size, reported as "cold
 *   shader cache" (a first run on a machine: Mesa compiles every pipeline, tens of seconds on
 *   llvmpipe); it fills the cache, so every other figure is warm, as every later run on a
 *   machine is (pipelines do not depend on the batch size). On Mesa 22.3's lavapipe the second
 *   run still compiles part of its shaders (`deno task profile` shows it); here that is the
 *   first steady-state probe, whose first batch is not counted (with `--no-steady`, an untimed
 *   run of the main command), so the whole-process figures are all warm. `deno task profile` splits the start-up.
 * - **Peak RSS** of every process: GNU time's %M (/usr/bin/time), or VmHWM polled every 50 ms
 *   from /proc where GNU time is absent.
 *
 * **Detection + alignment** (`--align`, off by default; the official code has no such stage):
 * per backbone, after the figures above (so with a warm shader cache), the main command in the
 * folder mode at the first `--batches` size on the raw photos of `--raw-dir` (default
 * ../shared/reference/images/raw, 250x250 LFW JPEGs), once without `--align` (each photo
 * resized to 112x112) and once with it; each run's scoring loop time is the one its last line
 * prints ("scored N images in X s", after set-up: weights, GPU, detector models). Their
 * difference is the `--align` stage inside the loop (each run `--reps` times, the shortest loop
 * counts; on a loaded machine the difference can drown in the noise of the scoring loop). Once per run, tools/bench_probe.ts
 * `--mode align` times the stage alone in-process (`Aligner.align` on decoded photos; the
 * detector runs on the CPU through TFJS's WASM backend, not on the GPU), which is the figure to
 * trust when the stage is small against scoring.
 *
 * Inputs: the 24 aligned reference faces ../shared/reference/images/aligned (PNG, BGR default)
 * unless `--image-dir`. Weights: iresnet50 uses ../shared/reference/iresnet50/weights.pth;
 * other backbones use seeded random weights that bench_torch.py `save-random` writes once into
 * a temporary .pth, loaded by both implementations. Both write score files; their agreement is
 * printed (max relative difference per group) as a check that both did the same work.
 *
 * Ratios are ours / official (above 1: ours is faster), each against the official figure at
 * its better thread count: whole process (official wall / our wall, same images) and steady
 * state (our steady images/s / the official loop's images/s).
 *
 * Output: a Markdown table of the figures and one of the ratios, ready for the README, then
 * one JSON line per measurement (raw figures); `--json FILE` also writes them to FILE. With
 * `--align`, a third table (scoring and detection + alignment images/s) and its JSON lines.
 *
 * Duration on the 2-core llvmpipe machine (~0.5 images/s for iresnet50, ~0.3 for iresnet100):
 * per backbone, the official runs take 10-20 s each; ours takes one cold run (~1.8 min for
 * iresnet50, ~2.7 min for iresnet100) plus, per batch size and repetition, a steady-state probe
 * (batch + max(24, batch) images) and a whole-process run (24 images): about 2.2 min for
 * iresnet50 and 3.7 min for iresnet100 at batch 1 or 8, 3.5 and 6 min at batch 32. The default
 * (both backbones, batch 8, one repetition) takes about 12 min; `--batches 1,8,32` about 27.
 * `--align` adds two whole-process runs on the 8 raw photos per backbone (about 30 s each for
 * iresnet50 at batch 8) and a few seconds for the in-process probe.
 *
 * @module
 */
import { parseToolArgs } from "./tool_args.ts";
import { listImageFiles, type ProbeReport } from "./bench_probe.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
const SHARED = decodeURIComponent(new URL("../../shared/reference/", import.meta.url).pathname);
const REFERENCE_WEIGHTS = `${SHARED}iresnet50/weights.pth`;
const PYTHON = "/usr/bin/python3";

/** One child process run. */
interface Measured {
  /** Epoch ms at spawn. */
  spawn: number;
  /** Wall seconds from spawn to exit. */
  wall: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident set in KiB, or null when it could not be measured. */
  maxRssKiB: number | null;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

let gnuTime: boolean | undefined;

/** Whether /usr/bin/time is GNU time (takes -f and -o). */
async function hasGnuTime(): Promise<boolean> {
  if (gnuTime === undefined) {
    try {
      const out = await new Deno.Command("/usr/bin/time", {
        args: ["-f", "%M", "-o", "/dev/null", "true"],
        stdout: "null",
        stderr: "null",
      }).output();
      gnuTime = out.success;
    } catch {
      gnuTime = false;
    }
  }
  return gnuTime;
}

/** Run `cmd args` in the repository root; wall time and peak RSS. */
async function measure(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Measured> {
  const dec = new TextDecoder();
  const gnu = await hasGnuTime();
  const rssFile = gnu ? await Deno.makeTempFile({ prefix: "bench_rss_" }) : "";
  const spawn = performance.timeOrigin + performance.now();
  const child = new Deno.Command(gnu ? "/usr/bin/time" : cmd, {
    args: gnu ? ["-f", "%M", "-o", rssFile, cmd, ...args] : args,
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let polled = null as number | null;
  const timer = gnu ? undefined : setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`));
      if (m) polled = Math.max(polled ?? 0, Number(m[1]));
    } catch { /* exited, or no /proc */ }
  }, 50);
  const out = await child.output();
  const wall = (performance.timeOrigin + performance.now() - spawn) / 1000;
  clearInterval(timer);
  let maxRssKiB: number | null = polled;
  if (gnu) {
    const lines = (await Deno.readTextFile(rssFile)).trim().split("\n");
    maxRssKiB = Number(lines[lines.length - 1]) || null;
    await Deno.remove(rssFile);
  }
  return {
    spawn,
    wall,
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    maxRssKiB,
  };
}

function lastJson<T>(text: string, what: string): T {
  const lines = text.trim().split("\n").filter((l) => l.startsWith("{"));
  if (!lines.length) throw new Error(`bench: ${what} printed no JSON line`);
  return JSON.parse(lines[lines.length - 1]) as T;
}

function failed(what: string, m: Measured): Error {
  const err = m.stderr.split("\n").filter((l) => !l.includes("XDG_RUNTIME_DIR")).join("\n");
  return new Error(`bench: ${what} exited with status ${m.code}:\n${err.trim()}`);
}

/** Official timestamps printed by bench_torch.py official. */
interface TorchStamps {
  threads: number;
  images: number;
  t_start: number;
  t_imported: number;
  t_model: number;
  t_images: number[];
  t_written: number;
  peak_rss_kib: number;
  torch: string;
}

/** One `--align` part run: the main command on the raw photos, with or without `--align`. */
interface AlignMeasurement {
  backbone: string;
  impl: "ours-raw" | "ours-raw-align";
  /** Batch size. */
  setting: number;
  rep: number;
  images: number;
  /** Images scored and failed, as the run's last line counts them. */
  scored: number;
  failed: number;
  wholeS: number;
  /** The scoring loop's seconds, as the run's last line prints them (after set-up). */
  loopS: number;
  peakRssMiB: number | null;
}

/** One measurement, as printed raw. */
interface Measurement {
  backbone: string;
  /** "ours-cold": the first run of the main command with an empty shader cache. */
  impl: "official" | "ours" | "ours-cold";
  /** Threads (official) or batch size (ours). */
  setting: number;
  rep: number;
  images: number;
  wholeS: number;
  wholeImagesPerS: number;
  steadyImagesPerS: number | null;
  firstScoreS: number | null;
  peakRssMiB: number | null;
  /** Start-up parts and other figures of this run, in seconds or MiB. */
  detail: { [key: string]: number | null };
}

/** Scores of the five files in `dir` by file name: group -> name -> score. */
function readScores(dir: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const e of Deno.readDirSync(dir)) {
    const m = /^GraFIQs_(.+)\.txt$/.exec(e.name);
    if (!m || m[1] === "failed") continue;
    const per = new Map<string, number>();
    for (const line of Deno.readTextFileSync(`${dir}/${e.name}`).split("\n")) {
      const i = line.lastIndexOf(" ");
      if (i > 0) per.set(line.slice(0, i).split("/").pop()!, Number(line.slice(i + 1)));
    }
    out.set(m[1], per);
  }
  return out;
}

/** Max relative difference per group between two score folders (text for the report). */
function compareScores(a: string, b: string): string {
  const sa = readScores(a), sb = readScores(b);
  const parts: string[] = [];
  for (const [g, pa] of sa) {
    const pb = sb.get(g);
    if (!pb) return `group ${g} missing in ${b}`;
    let worst = 0;
    for (const [name, v] of pa) {
      const w = pb.get(name);
      if (w === undefined) return `${name} missing in ${b}/GraFIQs_${g}.txt`;
      worst = Math.max(worst, Math.abs(v - w) / Math.abs(w));
    }
    if (pa.size !== pb.size) return `${g}: ${pa.size} vs ${pb.size} images`;
    parts.push(`${g} ${worst.toExponential(1)}`);
  }
  return parts.join(", ");
}

function best<T>(xs: T[], key: (x: T) => number): T {
  return xs.reduce((a, b) => (key(b) > key(a) ? b : a));
}

const fmt = (v: number | null | undefined, d: number) =>
  v === null || v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(d);

/** Help text of `deno task bench`. */
export const BENCH_USAGE =
  `bench: our main command next to the official PyTorch program, same machine, same images:
whole process and steady state, images/s, peak memory, and the ratios

usage: deno task bench [--backbones iresnet50,iresnet100] [--batches 8] [--threads 1,2] [--reps 1]
                       [--image-dir DIR] [--image-extension png] [--no-torch] [--no-steady]
                       [--json FILE] [--align [--raw-dir DIR]]

  --backbones A,B   networks to time (iresnet50 uses ../shared/reference/iresnet50/weights.pth,
                    others seeded random weights)
  --batches N,M     our batch sizes (default 8)
  --threads N,M     PyTorch thread counts of the official program (default 1,2)
  --reps N          repetitions of each measurement; the best counts (default 1)
  --image-dir DIR   images to score (default: the 24 aligned reference faces)
  --no-torch        skip the official program; --no-steady: skip the steady-state probes
  --json FILE       also write the raw figures as JSON lines
  --align           also time detection + alignment: the main command on raw photos with
                    --align and without (first --batches size), and the align stage alone
                    in-process (tools/bench_probe.ts --mode align); prints its images/s beside
                    scoring images/s. Off by default
  --raw-dir DIR     the raw photos for --align (default: ../shared/reference/images/raw,
                    8 LFW 250x250 JPEGs); each run --reps times, the shortest loop counts
  --kernels K       the kernel family of every run of ours (auto, register, tiled or
                    winograd; default auto)

Needs /usr/bin/python3 with PyTorch for the official program (tools/README.md).
Running time on a 2-core machine with Mesa's CPU adapter: about 12 min for the default
(both backbones, batch 8, one repetition), about 27 min with --batches 1,8,32; --align adds
about 1 min per backbone (8 raw photos scored twice).`;

async function main(): Promise<number> {
  const values = parseToolArgs("bench", BENCH_USAGE, Deno.args, {
    backbones: { type: "string", default: "iresnet50,iresnet100" },
    batches: { type: "string", default: "8" },
    threads: { type: "string", default: "1,2" },
    reps: { type: "string", default: "1" },
    "image-dir": { type: "string" },
    "image-extension": { type: "string", default: "png" },
    "no-torch": { type: "boolean", default: false },
    "no-steady": { type: "boolean", default: false },
    json: { type: "string" },
    align: { type: "boolean", default: false },
    "raw-dir": { type: "string" },
    kernels: { type: "string", default: "auto" },
  });
  const kernelsArgs = ["--kernels", values.kernels!];
  const ints = (s: string, what: string) =>
    s.split(",").map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`bench: ${what} ${x}: not an integer >= 1`);
      }
      return n;
    });
  const backbones = values.backbones!.split(",");
  const batches = ints(values.batches!, "--batches");
  const threads = ints(values.threads!, "--threads");
  const [reps] = ints(values.reps!, "--reps");
  const ext = values["image-extension"]!;
  const imageDir = values["image-dir"] ?? `${SHARED}images/aligned`;
  if (!exists(imageDir)) {
    console.error(
      `bench: skipped: ${imageDir} is absent (../shared is not there); pass --image-dir`,
    );
    return 0;
  }
  const images = listImageFiles(imageDir).filter((p) => p.endsWith(`.${ext}`));
  if (!images.length) throw new Error(`bench: ${imageDir}: no *.${ext} images`);
  const rawDir = values["raw-dir"] ?? `${SHARED}images/raw`;
  if (values.align && !exists(rawDir)) {
    throw new Error(`bench: --align: ${rawDir} is absent; pass --raw-dir`);
  }
  const rawImages = values.align ? listImageFiles(rawDir) : [];
  const alignRecords: AlignMeasurement[] = [];
  let alignProbe: ProbeReport | undefined;

  const tmp = await Deno.makeTempDir({ prefix: "grafiqs_bench_" });
  const records: Measurement[] = [];
  const notes: string[] = [];
  let torchVersion = "", adapter = "";
  try {
    if (!values["no-torch"]) {
      // Untimed: brings python, torch and OpenCV into the page cache.
      await measure(PYTHON, ["-c", "import torch, cv2"]);
    }
    for (const backbone of backbones) {
      let weights: string;
      if (backbone === "iresnet50") {
        if (!exists(REFERENCE_WEIGHTS)) {
          console.error(`bench: iresnet50 skipped: ${REFERENCE_WEIGHTS} is absent`);
          continue;
        }
        weights = REFERENCE_WEIGHTS;
      } else {
        weights = `${tmp}/${backbone}_random.pth`;
        const m = await measure(PYTHON, [
          "tools/bench_torch.py",
          "save-random",
          "--backbone",
          backbone,
          "--out",
          weights,
        ]);
        if (m.code !== 0) throw failed(`bench_torch.py save-random --backbone ${backbone}`, m);
      }
      let torchOut: string | undefined;
      for (const n of values["no-torch"] ? [] : threads) {
        for (let rep = 1; rep <= reps; rep++) {
          const out = `${tmp}/official_${backbone}_${n}`;
          console.error(`bench: ${backbone}: official, ${n} thread(s), repetition ${rep} ...`);
          const m = await measure(PYTHON, [
            "tools/bench_torch.py",
            "official",
            "--backbone",
            backbone,
            "--weights",
            weights,
            "--image-path",
            imageDir,
            "--image-extension",
            ext,
            "--output-dir",
            out,
            "--threads",
            String(n),
          ]);
          if (m.code !== 0) throw failed(`bench_torch.py official (${backbone}, ${n} threads)`, m);
          const s = lastJson<TorchStamps>(m.stdout, "bench_torch.py official");
          torchOut ??= out;
          torchVersion = s.torch;
          const ti = s.t_images;
          const spawnS = m.spawn / 1000;
          records.push({
            backbone,
            impl: "official",
            setting: n,
            rep,
            images: s.images,
            wholeS: m.wall,
            wholeImagesPerS: s.images / m.wall,
            steadyImagesPerS: ti.length > 1 ? (ti.length - 1) / (ti[ti.length - 1] - ti[0]) : null,
            firstScoreS: ti[0] - spawnS,
            peakRssMiB: m.maxRssKiB === null ? null : m.maxRssKiB / 1024,
            detail: {
              launchS: s.t_start - spawnS,
              importS: s.t_imported - s.t_start,
              modelLoadS: s.t_model - s.t_imported,
              firstImageS: ti[0] - s.t_model,
              writeS: s.t_written - ti[ti.length - 1],
            },
          });
        }
      }
      // Our main command as a child; a fresh shader cache per backbone, so its first run is
      // cold (reported) and warms the cache for the others.
      const denoEnv = { MESA_SHADER_CACHE_DIR: `${tmp}/shader_cache_${backbone}` };
      const mainCommand = async (b: number, what: string) => {
        console.error(`bench: ${backbone}: ours, batch ${b}, whole process, ${what} ...`);
        const out = `${tmp}/ours_${backbone}_${b}`;
        const m = await measure(Deno.execPath(), [
          "run",
          "-A",
          "mod.ts",
          "--image-path",
          imageDir,
          "--image-extension",
          ext,
          "--weights",
          weights,
          "--backbone",
          backbone,
          "--output-dir",
          out,
          "--batch-size",
          String(b),
          ...kernelsArgs,
        ], denoEnv);
        if (m.code !== 0) throw failed(`the main command (${backbone}, batch ${b})`, m);
        return { m, out };
      };
      const cold = await mainCommand(batches[0], "cold shader cache");
      if (values["no-steady"]) {
        // Mesa 22.3's second run after a cold one still compiles part of its shaders; without
        // the steady-state probe to absorb that, one untimed run of the main command does.
        await mainCommand(batches[0], "second run, not counted");
      }
      records.push({
        backbone,
        impl: "ours-cold",
        setting: batches[0],
        rep: 1,
        images: images.length,
        wholeS: cold.m.wall,
        wholeImagesPerS: images.length / cold.m.wall,
        steadyImagesPerS: null,
        firstScoreS: null,
        peakRssMiB: cold.m.maxRssKiB === null ? null : cold.m.maxRssKiB / 1024,
        detail: {},
      });
      for (let rep = 1; rep <= (values.align ? reps : 0); rep++) {
        const b = batches[0];
        for (const withAlign of [false, true]) {
          const what = withAlign ? "with --align" : "without --align";
          console.error(
            `bench: ${backbone}: ours, raw photos ${what}, batch ${b}, repetition ${rep} ...`,
          );
          const m = await measure(Deno.execPath(), [
            "run",
            "-A",
            "mod.ts",
            "--image-path",
            rawDir,
            "--image-extension",
            "jpg,jpeg,png",
            "--weights",
            weights,
            "--backbone",
            backbone,
            "--output-dir",
            `${tmp}/raw_${backbone}_${withAlign ? "align" : "plain"}`,
            "--batch-size",
            String(b),
            ...kernelsArgs,
            ...(withAlign ? ["--align"] : []),
          ], denoEnv);
          if (m.code !== 0 && m.code !== 3) {
            throw failed(`the main command on ${rawDir} (${backbone}, ${what})`, m);
          }
          const last = /scored (\d+) images in ([\d.]+) s .*; (\d+) failed;/.exec(m.stderr);
          if (!last) throw failed(`the main command's last line (${backbone}, ${what})`, m);
          alignRecords.push({
            backbone,
            impl: withAlign ? "ours-raw-align" : "ours-raw",
            setting: b,
            rep,
            images: rawImages.length,
            scored: Number(last[1]),
            failed: Number(last[3]),
            wholeS: m.wall,
            loopS: Number(last[2]),
            peakRssMiB: m.maxRssKiB === null ? null : m.maxRssKiB / 1024,
          });
        }
      }
      for (const b of batches) {
        for (let rep = 1; rep <= reps; rep++) {
          let steady: ProbeReport | undefined;
          let steadyM: Measured | undefined;
          if (!values["no-steady"]) {
            console.error(`bench: ${backbone}: ours, batch ${b}, steady state, rep ${rep} ...`);
            steadyM = await measure(Deno.execPath(), [
              "run",
              "-A",
              "tools/bench_probe.ts",
              "--mode",
              "steady",
              "--backbone",
              backbone,
              "--weights",
              weights,
              "--batch",
              String(b),
              "--image-dir",
              imageDir,
              "--steady-images",
              String(Math.max(24, b)),
              ...kernelsArgs,
            ], denoEnv);
            if (steadyM.code !== 0) {
              throw failed(`bench_probe.ts (${backbone}, batch ${b})`, steadyM);
            }
            steady = lastJson<ProbeReport>(steadyM.stdout, "bench_probe.ts");
            adapter = steady.adapter;
          }
          const { m, out } = await mainCommand(b, `repetition ${rep}`);
          if (torchOut && rep === 1) {
            notes.push(
              `${backbone}, batch ${b}: scores ours vs official (max relative difference): ` +
                compareScores(out, torchOut),
            );
          }
          const ph = steady?.phases ?? {};
          records.push({
            backbone,
            impl: "ours",
            setting: b,
            rep,
            images: images.length,
            wholeS: m.wall,
            wholeImagesPerS: images.length / m.wall,
            steadyImagesPerS: steady?.steadyImagesPerS ?? null,
            firstScoreS: steady && steadyM
              ? (steady.timeOrigin + steady.firstScoreAt - steadyM.spawn) / 1000
              : null,
            peakRssMiB: m.maxRssKiB === null ? null : m.maxRssKiB / 1024,
            detail: {
              steadyProbeImages: steady?.batches?.at(-1)?.[0] ?? null,
              steadyProbePeakRssMiB: steadyM?.maxRssKiB ? steadyM.maxRssKiB / 1024 : null,
              launchS: steady && steadyM
                ? (steady.timeOrigin + steady.scriptStart - steadyM.spawn) / 1000
                : null,
              importS: ph.import !== undefined ? ph.import / 1000 : null,
              weightsS: ph.weightsRead !== undefined
                ? (ph.weightsRead + ph.weightsExtract) / 1000
                : null,
              uploadS: ph.upload !== undefined ? (ph.gpu + ph.upload) / 1000 : null,
              firstBatchS: ph.firstBatch !== undefined ? ph.firstBatch / 1000 : null,
            },
          });
        }
      }
    }
    if (values.align) {
      console.error("bench: the align stage alone (tools/bench_probe.ts --mode align) ...");
      const m = await measure(Deno.execPath(), [
        "run",
        "-A",
        "tools/bench_probe.ts",
        "--mode",
        "align",
        "--image-dir",
        rawDir,
        "--steady-images",
        String(Math.max(24, rawImages.length)),
      ]);
      if (m.code !== 0) throw failed("bench_probe.ts --mode align", m);
      alignProbe = lastJson<ProbeReport>(m.stdout, "bench_probe.ts --mode align");
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }

  // ---- report ----
  const cpu = navigator.hardwareConcurrency;
  console.log(
    `\n### Speed: ${images.length} images of ${imageDir}, ${cpu} CPU threads, best of ${reps}\n`,
  );
  console.log(
    "| backbone | implementation | setting | whole process, s | whole process, images/s | " +
      "steady state, images/s | first score, s | peak RSS, MiB |",
  );
  console.log("|---|---|---|---:|---:|---:|---:|---:|");
  const groups = new Map<string, Measurement[]>();
  for (const r of records) {
    const k = `${r.backbone}|${r.impl}|${r.setting}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const summary = new Map<string, { whole: number; steady: number | null }>();
  for (const [k, rs] of groups) {
    const [backbone, impl, setting] = k.split("|");
    const w = best(rs, (r) => -r.wholeS);
    const st = rs.map((r) => r.steadyImagesPerS).filter((v): v is number => v !== null);
    const steady = st.length ? Math.max(...st) : null;
    const first = Math.min(...rs.map((r) => r.firstScoreS ?? Infinity));
    const rss = Math.max(...rs.map((r) => r.peakRssMiB ?? -Infinity));
    summary.set(k, { whole: w.wholeImagesPerS, steady });
    const label = impl === "official"
      ? `official, PyTorch ${torchVersion} CPU, batch 1`
      : `ours, WebGPU${adapter ? ` (${adapter})` : ""}` +
        (values.kernels === "auto" ? "" : `, --kernels ${values.kernels}`) +
        (impl === "ours-cold" ? ", cold shader cache" : "");
    const set = impl === "official"
      ? `${setting} thread${setting === "1" ? "" : "s"}`
      : `batch ${setting}`;
    console.log(
      `| ${backbone} | ${label} | ${set} | ${fmt(w.wholeS, 1)} | ${fmt(w.wholeImagesPerS, 3)} | ` +
        `${fmt(steady, 3)} | ${fmt(first, 1)} | ${fmt(rss, 0)} |`,
    );
  }
  if (records.some((r) => r.impl === "official")) {
    console.log(
      "\n| backbone | our batch | whole process: ours / official | steady state: ours / official |",
    );
    console.log("|---|---:|---:|---:|");
  }
  for (const backbone of backbones) {
    const off = [...summary].filter(([k]) => k.startsWith(`${backbone}|official|`)).map(([, v]) =>
      v
    );
    if (!off.length) continue;
    const offWhole = Math.max(...off.map((v) => v.whole));
    const offSteady = Math.max(...off.map((v) => v.steady ?? -Infinity));
    for (const b of batches) {
      const o = summary.get(`${backbone}|ours|${b}`);
      if (!o) continue;
      console.log(
        `| ${backbone} | ${b} | ${fmt(o.whole / offWhole, 2)} | ` +
          `${fmt(o.steady !== null ? o.steady / offSteady : null, 2)} |`,
      );
    }
  }
  console.log(
    "\nOfficial: tools/bench_torch.py official (activation gradients by torch.autograd.grad); " +
      "ratios against its better thread count. Steady state: official loop after the first " +
      "image; ours after the first batch (tools/bench_probe.ts). Peak RSS of the whole process.",
  );
  for (const n of notes) console.log(`- ${n}`);
  if (values.align) printAlign(rawDir, alignRecords, alignProbe);
  console.log("\nRaw figures (one JSON line per measurement):");
  const raw = [...records, ...alignRecords, ...(alignProbe ? [alignProbe] : [])]
    .map((r) => JSON.stringify(r)).join("\n");
  console.log(raw);
  if (values.json) await Deno.writeTextFile(values.json, raw + "\n");
  return 0;
}

/** The `--align` part's table: scoring and detection + alignment images/s. */
function printAlign(rawDir: string, runs: AlignMeasurement[], probe: ProbeReport | undefined) {
  console.log(
    `\n### Detection + alignment (\`--align\`): ${runs[0]?.images ?? 0} raw photos of ${rawDir}\n`,
  );
  console.log(
    "| backbone | run | batch | whole process, s | scoring loop, s | loop, images/s | " +
      "failed | peak RSS, MiB |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|");
  // Per backbone and run, the repetition with the shortest scoring loop.
  const bestRuns = [...Map.groupBy(runs, (r) => `${r.backbone}|${r.impl}`).values()]
    .map((rs) => best(rs, (r) => -r.loopS));
  for (const r of bestRuns) {
    const n = r.scored + r.failed;
    console.log(
      `| ${r.backbone} | ${r.impl === "ours-raw" ? "without --align (resized)" : "--align"} | ` +
        `${r.setting} | ${fmt(r.wholeS, 1)} | ${fmt(r.loopS, 1)} | ${fmt(n / r.loopS, 3)} | ` +
        `${r.failed} | ${fmt(r.peakRssMiB, 0)} |`,
    );
  }
  console.log("");
  for (const plain of bestRuns.filter((r) => r.impl === "ours-raw")) {
    const al = bestRuns.find((r) => r.impl === "ours-raw-align" && r.backbone === plain.backbone);
    if (!al) continue;
    const n = plain.scored + plain.failed;
    const extra = al.loopS - plain.loopS;
    console.log(
      `- ${plain.backbone}: scoring ${fmt(n / plain.loopS, 3)} images/s; the --align stage ` +
        `inside the loop (difference of the loops) ${fmt(extra, 1)} s, ` +
        (extra > 0 ? `${fmt(n / extra, 1)} images/s` : "below the loops' noise") +
        `; whole processes: --align minus without ${fmt(al.wholeS - plain.wholeS, 1)} s ` +
        `(detector models loaded too)`,
    );
  }
  if (probe?.alignImagesPerS !== undefined) {
    const ph = probe.phases;
    console.log(
      `- detection + alignment alone (tools/bench_probe.ts --mode align, CPU, TFJS WASM): ` +
        `${fmt(probe.alignImagesPerS, 1)} images/s over ${probe.alignImages} images ` +
        `(${probe.alignFailed} without a face); models loaded in ${fmt(ph.alignLoad / 1000, 2)} ` +
        `s, first image ${fmt(ph.firstAlign / 1000, 2)} s`,
    );
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
