/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The web page (web/index.html): GraFIQs on the user's own GPU through WebGPU, with the
 * project's own modules. The weights are parsed by `parseWeights`, the backbone built by
 * `modelFromWeights`, the images decoded by the command line's decoders (image/, not the
 * browser's, so the pixels are the same) and scored by the same executor and WGSL kernels
 * through the same streaming pipeline (`scoreStream`); the files the page offers for download
 * are written by the same formatters (`scoreFileTexts`, `failedListText`, `formatRecord`).
 *
 * The only platform-specific part is the {@link ImageReader} over the `File` objects the user
 * picked or dropped. Nothing is sent anywhere: the page has no network code.
 *
 * State for tests and tools: `document.body.dataset.state` is `starting`, `no-webgpu`, `idle`
 * (no model), `loading`, `ready`, `scoring` or `done`; each result row carries `data-path` and
 * `data-scores` (the scores as the score files print them, JSON).
 *
 * @module
 */
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import { Gpu } from "../src/gpu/gpu.ts";
import { Executor } from "../src/graph/executor.ts";
import { type LoadedModel, modelFromWeights } from "../src/graph/model.ts";
import { comparePathsPythonOrder } from "../src/io/path_order.ts";
import { formatRecord, recordHeader } from "../src/io/records.ts";
import {
  FAILED_FILE_NAME,
  failedListText,
  formatScore,
  scoreFileTexts,
  scorePathProblem,
} from "../src/io/scores.ts";
import type { ImageReader } from "../src/pipeline/batch.ts";
import { scoreStream } from "../src/pipeline/score_stream.ts";
import { arraySource } from "../src/pipeline/source.ts";
import { parseWeights } from "../src/weights/pth.ts";

/** Largest image file read: 256 MiB, the command line's default `--max-file-bytes`. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;
/** Images per GPU pass: the command line's default `--batch-size` (scores do not depend on it). */
const BATCH_SIZE = 8;
/** Name of the TSV records download (the record mode's `--format tsv` output). */
const RECORDS_FILE_NAME = "GraFIQs_records.tsv";
/** Weights files by name, for drag and drop. */
const WEIGHTS_NAME = /\.(pth|pt|gfqw)$/i;

/** A picked image: its path text (relative path in a folder, else the name) and its file. */
interface Picked {
  path: string;
  file: File;
}

/** One image's result, kept across runs until other weights are opened. */
interface Result {
  path: string;
  /** One float32 score per group, or null when the image failed. */
  scores: number[] | null;
  error: string | null;
  file: File;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let gpu: Gpu | null = null;
let executor: Executor | null = null;
let model: LoadedModel | null = null;
let groups: string[] = [];
const results = new Map<string, Result>();
const queue: Picked[][] = [];
let busy = false;
let urls: string[] = [];

function setState(s: string): void {
  document.body.dataset.state = s;
}

/** Show a message on the page (newest first); errors stay until the page is reloaded. */
function say(kind: "error" | "info", text: string): void {
  const p = document.createElement("p");
  p.className = kind;
  p.textContent = text;
  const box = $("messages");
  box.prepend(p);
  while (box.children.length > 8) box.lastElementChild!.remove();
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Start WebGPU and show the adapter; on failure say why (nothing can be scored then). */
async function startGpu(): Promise<Gpu | null> {
  if (gpu) return gpu;
  if (!("gpu" in navigator) || !navigator.gpu) {
    $("adapter").textContent = "none (no WebGPU)";
    setState("no-webgpu");
    say(
      "error",
      "This browser has no WebGPU (navigator.gpu is missing), so nothing can be scored here. " +
        "Use a browser with WebGPU enabled (Chrome or Edge 113+, Firefox 141+ on Windows, " +
        "Safari 26), or the command line.",
    );
    return null;
  }
  try {
    gpu = await Gpu.create();
    $("adapter").textContent = gpu.adapterDetails;
    return gpu;
  } catch (e) {
    $("adapter").textContent = "none";
    setState("no-webgpu");
    say("error", `WebGPU could not start: ${errorText(e)}`);
    return null;
  }
}

/**
 * Open a weights file. On success the earlier model is replaced and results of the earlier
 * weights are cleared (their groups may differ; download them first); on failure both stay.
 */
async function openWeights(file: File): Promise<void> {
  if (busy) {
    say("error", `${file.name}: wait until the images in progress are scored`);
    return;
  }
  const g = await startGpu();
  if (!g) return;
  busy = true;
  const before = document.body.dataset.state ?? "idle";
  setState("loading");
  $("model").textContent = `reading ${file.name}…`;
  try {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await file.arrayBuffer());
    } catch (e) {
      throw new Error(`${file.name}: cannot read the file: ${errorText(e)}`);
    }
    const m = modelFromWeights("auto", parseWeights(bytes, file.name), file.name);
    const ex = await Executor.create(g, m.graph, m.weights);
    executor?.destroy();
    executor = ex;
    model = m;
    if (results.size) {
      say("info", `New weights ${file.name}: the results of the earlier weights were cleared.`);
    }
    results.clear();
    groups = ex.groups;
    $("model").textContent = `${file.name}: ${m.description}, groups ${groups.join(", ")}`;
    $("kernels").textContent = `${ex.kernels} family: ` +
      Object.entries(ex.convKernelKinds).map(([k, n]) => `${k} (${n} layers)`).join(", ");
    render();
    setState("ready");
  } catch (e) {
    say("error", `Weights not loaded: ${errorText(e)}`);
    $("model").textContent = model ? `${model.description} (unchanged)` : "none";
    setState(before === "loading" ? "idle" : before);
  } finally {
    busy = false;
  }
  if (queue.length) void drain();
}

/** Queue picked images and score them when a model is ready. */
function addImages(picked: Picked[]): void {
  if (picked.length === 0) return;
  queue.push(picked);
  if (!executor) {
    say("info", `${picked.length} image(s) waiting: open a weights file to score them.`);
    return;
  }
  void drain();
}

async function drain(): Promise<void> {
  if (busy || !executor) return;
  busy = true;
  try {
    while (queue.length) await score(queue.shift()!);
  } finally {
    busy = false;
  }
}

/** The page's side of the pipeline's image seam: picked files by path text. */
function fileReader(byPath: Map<string, File>): ImageReader {
  return {
    async read(listed, maxBytes) {
      const f = byPath.get(listed)!;
      const cap = maxBytes ?? MAX_FILE_BYTES;
      if (f.size > cap) throw new Error(`file too large (${f.size} bytes, over ${cap})`);
      return new Uint8Array(await f.arrayBuffer());
    },
    failureReason: (e) => `cannot read the file: ${errorText(e)}`,
  };
}

/** Score one pick: in Python's path order, as the command line lists a folder. */
async function score(picked: Picked[]): Promise<void> {
  const ex = executor!;
  const byPath = new Map<string, File>();
  for (const p of picked) byPath.set(p.path, p.file);
  const paths = [...byPath.keys()].sort(comparePathsPythonOrder);
  const bar = $<HTMLProgressElement>("progress");
  bar.max = paths.length;
  bar.value = 0;
  $("progress-text").textContent = `0 of ${paths.length} images`;
  setState("scoring");
  const channelOrder = $<HTMLInputElement>("bgr2rgb").checked
    ? "rgb"
    : model!.graph.preprocess.channelOrder;
  let done = 0;
  const t0 = performance.now();
  try {
    await scoreStream(ex, arraySource(paths), {
      batchSize: BATCH_SIZE,
      channelOrder,
      reader: fileReader(byPath),
      pathProblem: scorePathProblem,
      maxFileBytes: MAX_FILE_BYTES,
    }, (records) => {
      for (const r of records) {
        results.set(r.path, {
          path: r.path,
          scores: r.scores ? Array.from(r.scores) : null,
          error: r.error,
          file: byPath.get(r.listed)!,
        });
      }
      done += records.length;
      bar.value = done;
      $("progress-text").textContent = `${done} of ${paths.length} images`;
      return Promise.resolve();
    });
    const secs = (performance.now() - t0) / 1000;
    $("progress-text").textContent = `${done} of ${paths.length} images in ${secs.toFixed(1)} s`;
  } catch (e) {
    say("error", `Scoring stopped: ${errorText(e)}. The results so far are kept.`);
  }
  render();
  setState("done");
}

/** All results in Python's path order (the order of the score files). */
function ordered(): Result[] {
  return [...results.values()].sort((a, b) => comparePathsPythonOrder(a.path, b.path));
}

/** The downloads: the five official score files, the failure list and the TSV records. */
function outputFiles(all: Result[]): { name: string; data: string }[] {
  const scored = all.filter((r) => r.scores);
  const files = scoreFileTexts(
    groups,
    scored.map((r) => ({ path: r.path, scores: r.scores! })),
  );
  files.push({
    name: FAILED_FILE_NAME,
    data: failedListText(
      all.filter((r) => !r.scores).map((r) => ({
        path: r.path,
        reason: r.error ?? "",
      })),
    ),
  });
  let records = recordHeader("tsv", groups);
  for (const r of all) records += formatRecord("tsv", groups, r);
  files.push({ name: RECORDS_FILE_NAME, data: records });
  return files;
}

function cell(row: HTMLTableRowElement, text: string, cls?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function render(): void {
  for (const u of urls) URL.revokeObjectURL(u);
  urls = [];
  const all = ordered();
  $("results").hidden = all.length === 0;
  const scored = all.filter((r) => r.scores);
  const failed = all.filter((r) => !r.scores);
  $("summary").textContent = `${scored.length} scored, ${failed.length} failed` +
    (model ? ` with ${model.description}` : "");

  const dl = $("downloads");
  dl.replaceChildren();
  if (all.length) {
    for (const f of outputFiles(all)) {
      const a = document.createElement("a");
      const url = URL.createObjectURL(new Blob([f.data], { type: "text/plain;charset=utf-8" }));
      urls.push(url);
      a.href = url;
      a.download = f.name;
      a.className = "download";
      a.dataset.name = f.name;
      a.textContent = f.name;
      dl.append(a);
    }
  }

  const select = $<HTMLSelectElement>("sort-group");
  const keep = select.value;
  select.replaceChildren(...groups.map((g) => new Option(g, g)));
  if (groups.includes(keep)) select.value = keep;
  const gi = Math.max(0, groups.indexOf(select.value));

  const table = $<HTMLTableElement>("scores");
  const head = table.tHead!;
  head.replaceChildren();
  const hr = head.insertRow();
  for (const h of ["#", "", "Image", ...groups]) {
    const th = document.createElement("th");
    th.textContent = h;
    hr.append(th);
  }
  const body = table.tBodies[0];
  body.replaceChildren();
  const sorted = [...scored].sort((a, b) => a.scores![gi] - b.scores![gi]);
  sorted.forEach((r, i) => {
    const row = body.insertRow();
    row.dataset.path = r.path;
    row.dataset.scores = JSON.stringify(r.scores!.map(formatScore));
    cell(row, String(i + 1), "num");
    const img = document.createElement("img");
    const url = URL.createObjectURL(r.file);
    urls.push(url);
    img.src = url;
    img.alt = "";
    img.loading = "lazy";
    row.insertCell().append(img);
    cell(row, r.path);
    for (const s of r.scores!) cell(row, formatScore(s), "num");
  });

  const fbody = $<HTMLTableElement>("failures").tBodies[0];
  fbody.replaceChildren();
  for (const r of failed) {
    const row = fbody.insertRow();
    row.dataset.path = r.path;
    cell(row, r.path);
    cell(row, r.error ?? "");
  }
  void renderHistograms(scored);
}

/** One histogram of the scores per group (vega-lite, rendered to SVG in the page). */
async function renderHistograms(scored: Result[]): Promise<void> {
  const box = $("histograms");
  box.replaceChildren();
  if (!scored.length) return;
  for (let g = 0; g < groups.length; g++) {
    const spec = {
      width: 150,
      height: 70,
      title: `${groups[g]} (${scored.length} images)`,
      data: { values: scored.map((r) => ({ score: r.scores![g] })) },
      mark: { type: "bar", color: "#1565c0" },
      encoding: {
        x: { field: "score", type: "quantitative", bin: { maxbins: 20 }, title: "score" },
        y: { aggregate: "count", type: "quantitative", title: "images" },
      },
    };
    try {
      // deno-lint-ignore no-explicit-any
      const compiled = vegaLite.compile(spec as any).spec;
      const view = new vega.View(vega.parse(compiled), { renderer: "none" });
      const div = document.createElement("div");
      div.className = "histogram";
      div.dataset.group = groups[g];
      div.innerHTML = await view.toSVG();
      view.finalize();
      box.append(div);
    } catch (e) {
      say("error", `The histogram of ${groups[g]} could not be drawn: ${errorText(e)}`);
    }
  }
}

function fromInput(input: HTMLInputElement): Picked[] {
  const out = [...(input.files ?? [])].map((f) => ({
    path: f.webkitRelativePath || f.name,
    file: f,
  }));
  input.value = "";
  return out;
}

/** Every file below a dropped entry, with its path relative to the drop. */
async function walk(entry: FileSystemEntry, out: Picked[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, fail) =>
      (entry as FileSystemFileEntry).file(ok, fail)
    );
    out.push({ path: entry.fullPath.replace(/^\//, ""), file });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((ok, fail) =>
        reader.readEntries(ok, fail)
      );
      if (!batch.length) break;
      for (const e of batch) await walk(e, out);
    }
  }
}

async function onDrop(ev: DragEvent): Promise<void> {
  ev.preventDefault();
  $("drop").classList.remove("over");
  const dt = ev.dataTransfer;
  if (!dt) return;
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry()).filter((e) => e !== null);
  const picked: Picked[] = [];
  try {
    if (entries.length) { for (const e of entries) await walk(e, picked); }
    else for (const f of dt.files) picked.push({ path: f.name, file: f });
  } catch (e) {
    say("error", `The dropped files could not be read: ${errorText(e)}`);
  }
  if (picked.length === 1 && WEIGHTS_NAME.test(picked[0].path)) {
    await openWeights(picked[0].file);
    return;
  }
  addImages(picked);
}

function main(): void {
  const weights = $<HTMLInputElement>("weights");
  weights.addEventListener("change", () => {
    const f = weights.files?.[0];
    weights.value = "";
    if (f) void openWeights(f);
  });
  for (const id of ["images", "folder"]) {
    const input = $<HTMLInputElement>(id);
    input.addEventListener("change", () => addImages(fromInput(input)));
  }
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => void onDrop(ev));
  $("sort-group").addEventListener("change", () => render());
  // A file dropped outside the zone must not make the browser navigate away from the results.
  globalThis.addEventListener("dragover", (ev) => ev.preventDefault());
  globalThis.addEventListener("drop", (ev) => ev.preventDefault());
  void startGpu().then((g) => {
    if (g) setState("idle");
  });
}

main();
