/**
 * Outputs of the EDC evaluation: the pAUC table (TSV, Markdown), the curves as data (CSV, JSON),
 * and a plot of all methods on one figure (Vega-Lite compiled to Vega, rendered to SVG without a
 * browser; PNG through resvg). Every file is written atomically (temporary file + rename).
 *
 * @module
 */
import * as path from "node:path";
import * as vega from "vega";
import { atomicWriteFile } from "../io/files.ts";
import * as vegaLite from "vega-lite";
import type { EdcEvaluation, MethodEdc } from "./evaluate.ts";
import type { ErrorType, MeanStd } from "./edc.ts";

const ERROR_TYPES: ErrorType[] = ["FNMR", "FMR"];

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function tsvField(v: string | number): string {
  if (typeof v === "number" && Number.isNaN(v)) return "";
  return String(v).replace(/[\t\n\r]/g, " ");
}

/**
 * The pAUC table as TSV: a header, then one row per method, error type and limit with full
 * (round-trip) precision. Columns: method, error, threshold, limit, pauc, best_area,
 * pauc_minus_best, random_pauc_mean, random_pauc_std, shuffles.
 */
export function paucTsv(ev: EdcEvaluation): string {
  const rows = [[
    "method",
    "error",
    "threshold",
    "limit",
    "pauc",
    "best_area",
    "pauc_minus_best",
    "random_pauc_mean",
    "random_pauc_std",
    "shuffles",
  ].join("\t")];
  for (const m of ev.methods) {
    for (const p of m.pauc) {
      rows.push(
        [
          m.name,
          p.errorType,
          ev.thresholds[p.errorType],
          p.limit,
          p.pauc,
          p.bestArea,
          p.paucMinusBest,
          p.randomMean,
          p.randomStd,
          ev.shuffles,
        ].map(tsvField).join("\t"),
      );
    }
  }
  return rows.join("\n") + "\n";
}

function sig(v: number, digits = 4): string {
  if (v === 0) return "0";
  return Number(v.toPrecision(digits)).toString();
}

function mdCell(s: string): string {
  return s.replaceAll("|", "\\|");
}

/**
 * The pAUC table as Markdown: one table per error type, a row per method and, per limit, the
 * pAUC, pAUC minus the theoretical-best area, and the random-order pAUC (mean ± sd). Values to 4
 * significant digits.
 */
export function paucMarkdown(ev: EdcEvaluation): string {
  const out: string[] = [];
  const rule = describeThreshold(ev);
  for (const et of ERROR_TYPES) {
    const n = et === "FNMR" ? ev.mated : ev.nonMated;
    out.push(
      `**${et}-EDC** (${n} ${et === "FNMR" ? "mated" : "non-mated"} comparisons, ` +
        `threshold ${sig(ev.thresholds[et], 6)}, ${rule}). pAUC up to each discard limit; ` +
        `lower is better.`,
      "",
    );
    const head = ["method"];
    for (const l of ev.limits) {
      head.push(`pAUC ≤ ${l}`, `− best ≤ ${l}`, `random ≤ ${l} (mean ± sd)`);
    }
    out.push(
      `| ${head.join(" | ")} |`,
      `|${head.map((_, i) => i === 0 ? " --- " : " ---: ").join("|")}|`,
    );
    for (const m of ev.methods) {
      const cells = [mdCell(m.name)];
      for (const p of m.pauc.filter((p) => p.errorType === et)) {
        const random = Number.isNaN(p.randomMean)
          ? "n/a"
          : `${sig(p.randomMean)} ± ${sig(p.randomStd, 2)}`;
        cells.push(sig(p.pauc), sig(p.paucMinusBest), random);
      }
      out.push(`| ${cells.join(" | ")} |`);
    }
    out.push("");
  }
  if (ev.shuffles > 0) {
    out.push(
      `Random order: the method's per-image qualities shuffled ${ev.shuffles} times ` +
        `(mulberry32, seed ${ev.seed}).`,
      "",
    );
  }
  return out.join("\n");
}

function describeThreshold(ev: EdcEvaluation): string {
  const t = ev.threshold;
  if (t.kind === "starting-error") return `starting error ${t.value}`;
  if (t.kind === "quantile") return `similarity quantile ${t.value}`;
  return `threshold value ${t.value}`;
}

/**
 * The EDC curves as CSV, one row per point: method, error, threshold, discard_count, remaining,
 * error_count, discard_fraction, error_fraction (full precision). The last point of each curve
 * is the closing point (1, 0).
 */
export function curvesCsv(ev: EdcEvaluation): string {
  const rows = [
    "method,error,threshold,discard_count,remaining,error_count,discard_fraction,error_fraction",
  ];
  for (const m of ev.methods) {
    for (const c of m.curves) {
      for (let j = 0; j < c.discardCounts.length; j++) {
        rows.push(
          [
            m.name,
            c.errorType,
            c.threshold,
            c.discardCounts[j],
            c.comparisons - c.discardCounts[j],
            c.errorCounts[j],
            c.discardFractions[j],
            c.errorFractions[j],
          ].map(csvField).join(","),
        );
      }
    }
  }
  return rows.join("\n") + "\n";
}

/**
 * The random-order baselines as CSV on their grid, one row per method, error type and grid
 * point: method, error, discard_fraction, error_mean, error_std.
 */
export function baselineCsv(ev: EdcEvaluation): string {
  const rows = ["method,error,discard_fraction,error_mean,error_std"];
  for (const m of ev.methods) {
    for (const b of m.baseline) {
      b.grid.forEach((x, g) =>
        rows.push(
          [m.name, b.errorType, x, b.curve[g].mean, b.curve[g].std].map(csvField).join(","),
        )
      );
    }
  }
  return rows.join("\n") + "\n";
}

/** Everything as one JSON document (curves, pAUC, baselines, settings). */
export function curvesJson(ev: EdcEvaluation, extra: Record<string, unknown> = {}): string {
  const doc = {
    ...extra,
    threshold_rule: ev.threshold,
    thresholds: ev.thresholds,
    comparisons: { mated: ev.mated, non_mated: ev.nonMated },
    pair_quality: "min",
    limits: ev.limits,
    random_order: { shuffles: ev.shuffles, seed: ev.seed, prng: "mulberry32", std: "sample (n-1)" },
    methods: ev.methods.map((m) => ({
      name: m.name,
      file: m.file,
      higher_is_better: m.higherIsBetter,
      curves: Object.fromEntries(m.curves.map((c) => [c.errorType, {
        threshold: c.threshold,
        comparisons: c.comparisons,
        discard_counts: c.discardCounts,
        error_counts: c.errorCounts,
        discard_fractions: c.discardFractions,
        error_fractions: c.errorFractions,
      }])),
      pauc: m.pauc.map((p) => ({
        error: p.errorType,
        limit: p.limit,
        pauc: p.pauc,
        best_area: p.bestArea,
        pauc_minus_best: p.paucMinusBest,
        random_pauc_mean: p.randomMean,
        random_pauc_std: p.randomStd,
      })),
      random_order: Object.fromEntries(m.baseline.map((b) => [b.errorType, {
        grid: b.grid,
        error_mean: b.curve.map((c) => c.mean),
        error_std: b.curve.map((c) => c.std),
      }])),
    })),
  };
  return JSON.stringify(doc, null, 1) + "\n";
}

/**
 * Pool the baselines of all methods for one error type: mean and sample std over all
 * shuffles × methods at each grid point (exact pooling of the per-method means and stds).
 */
function pooledBaseline(methods: MethodEdc[], ei: number): { grid: number[]; curve: MeanStd[] } {
  const grid = methods[0].baseline[ei].grid;
  const s = methods[0].baseline[ei].shuffles;
  const curve = grid.map((_, g) => {
    const parts = methods.map((m) => m.baseline[ei].curve[g]);
    const mean = parts.reduce((acc, p) => acc + p.mean, 0) / parts.length;
    const total = s * parts.length;
    if (total < 2) return { mean, std: 0 };
    const ss = parts.reduce(
      (acc, p) => acc + (s - 1) * p.std * p.std + s * (p.mean - mean) * (p.mean - mean),
      0,
    );
    return { mean, std: Math.sqrt(ss / (total - 1)) };
  });
  return { grid, curve };
}

/** Options of the plot. */
export interface PlotOptions {
  /** Right end of the discard axis, in (0, 1] (default min(1, 2 × the largest limit)). */
  maxDiscard?: number;
  /** Figure title (default "Error-versus-Discard Characteristic"). */
  title?: string;
  /** Width of each of the two panels in px (default 430). */
  width?: number;
  /** Height of the panels in px (default 310). */
  height?: number;
}

const PALETTE = [
  "#4c78a8",
  "#f58518",
  "#54a24b",
  "#e45756",
  "#72b7b2",
  "#b279a2",
  "#eeca3b",
  "#9d755d",
  "#ff9da6",
  "#bab0ac",
];
const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

/**
 * The Vega-Lite specification of the EDC figure: two panels (FNMR-EDC on mated, FMR-EDC on
 * non-mated comparisons) side by side; per panel the step curves of all methods, the pAUC region
 * shaded up to the largest limit with a dashed rule at every limit, and the random-order baseline
 * (mean of all methods' shuffles as a dashed grey step line, ± 1 sd as a grey band). Axis titles:
 * "Comparisons discarded (fraction)" and "FNMR" / "FMR".
 *
 * @param ev the evaluation.
 * @param options see {@link PlotOptions}.
 * @returns a Vega-Lite v6 top-level specification (plain JSON).
 */
export function edcPlotSpec(ev: EdcEvaluation, options: PlotOptions = {}): Record<string, unknown> {
  const maxLimit = Math.max(...ev.limits);
  const maxX = options.maxDiscard ?? Math.min(1, 2 * maxLimit);
  if (!(maxX > 0 && maxX <= 1)) {
    throw new RangeError(`plot discard range ${maxX} is outside (0, 1]`);
  }
  const names = ev.methods.map((m) => m.name);
  const withBaseline = ev.shuffles > 0 && ev.methods.length > 0;
  const RANDOM_LABEL = `random order, ${ev.shuffles} shuffles (mean ± 1 sd)`;
  const colorDomain = withBaseline ? [...names, RANDOM_LABEL] : names;
  const colorRange = [
    ...names.map((_, i) => PALETTE[i % PALETTE.length]),
    ...(withBaseline ? ["#6e6e6e"] : []),
  ];
  const dashRange = [...names.map(() => [1, 0]), ...(withBaseline ? [[5, 3]] : [])];
  const panel = (et: ErrorType, ei: number) => {
    const lines: Record<string, unknown>[] = [];
    for (const m of ev.methods) {
      const c = m.curves[ei];
      for (let j = 0; j < c.discardFractions.length; j++) {
        const x = c.discardFractions[j];
        if (x > maxX) {
          // carry the step that crosses the right edge up to it
          lines.push({ series: m.name, x: maxX, y: c.errorFractions[j - 1] });
          break;
        }
        lines.push({ series: m.name, x, y: c.errorFractions[j] });
      }
    }
    const pooled = withBaseline ? pooledBaseline(ev.methods, ei) : { grid: [], curve: [] };
    const base = pooled.grid.flatMap((x, g) =>
      x > maxX + 1e-12 ? [] : [{
        series: RANDOM_LABEL,
        x,
        y: pooled.curve[g].mean,
        lo: Math.max(0, pooled.curve[g].mean - pooled.curve[g].std),
        hi: pooled.curve[g].mean + pooled.curve[g].std,
      }]
    );
    const n = et === "FNMR" ? ev.mated : ev.nonMated;
    const xEnc = {
      field: "x",
      type: "quantitative",
      title: "Comparisons discarded (fraction)",
      scale: { domain: [0, maxX], nice: false },
    };
    const yEnc = {
      field: "y",
      type: "quantitative",
      title: et,
      scale: { domainMin: 0, zero: true },
    };
    const series = {
      field: "series",
      type: "nominal",
      title: null,
      scale: { domain: colorDomain, range: colorRange },
      legend: {
        orient: "bottom",
        columns: colorDomain.length <= 7 ? colorDomain.length : 4,
        labelLimit: 600,
        symbolStrokeWidth: 2.5,
      },
    };
    const dash = {
      field: "series",
      type: "nominal",
      title: null,
      scale: { domain: colorDomain, range: dashRange },
    };
    return {
      title: {
        text: `${et}-EDC, ${n} ${et === "FNMR" ? "mated" : "non-mated"} comparisons`,
        subtitle: `threshold ${sig(ev.thresholds[et], 5)} (${describeThreshold(ev)})`,
      },
      width: options.width ?? 430,
      height: options.height ?? 310,
      layer: [
        {
          data: { values: [{ x: 0, x2: Math.min(maxLimit, maxX) }] },
          mark: { type: "rect", color: "#000000", opacity: 0.06 },
          encoding: {
            x: { ...xEnc, field: "x" },
            x2: { field: "x2" },
          },
        },
        {
          data: {
            values: ev.limits.filter((l) => l <= maxX).map((l) => ({ x: l, label: `pAUC ≤ ${l}` })),
          },
          layer: [
            {
              mark: { type: "rule", color: "#888888", strokeDash: [2, 2] },
              encoding: { x: xEnc },
            },
            {
              mark: {
                type: "text",
                align: "left",
                baseline: "bottom",
                dx: 3,
                y: { expr: "height - 3" },
                fontSize: 10,
                color: "#555555",
              },
              encoding: { x: xEnc, text: { field: "label" } },
            },
          ],
        },
        {
          data: { values: base },
          mark: {
            type: "area",
            interpolate: "step-after",
            color: "#9e9e9e",
            opacity: 0.3,
            clip: true,
          },
          encoding: { x: xEnc, y: { ...yEnc, field: "lo" }, y2: { field: "hi" } },
        },
        {
          data: { values: [...base, ...lines] },
          mark: { type: "line", interpolate: "step-after", strokeWidth: 1.6, clip: true },
          encoding: { x: xEnc, y: yEnc, color: series, strokeDash: dash },
        },
      ],
    };
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: options.title ?? "Error-versus-Discard Characteristic",
      subtitle: `Lower is better. Shaded: pAUC region up to ${maxLimit}.`,
      anchor: "start",
    },
    background: "white",
    padding: 12,
    config: { font: FONT, view: { stroke: "#cccccc" }, axis: { grid: true, gridColor: "#ececec" } },
    hconcat: [panel("FNMR", 0), panel("FMR", 1)],
    spacing: 36,
    resolve: { scale: { color: "shared", strokeDash: "shared" }, legend: { color: "shared" } },
  };
}

/**
 * Render a Vega-Lite specification to SVG text, headless (Vega's scenegraph SVG renderer; no
 * browser or DOM needed).
 *
 * @throws whatever Vega-Lite or Vega throws for an invalid specification.
 */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  // deno-lint-ignore no-explicit-any
  const compiled = vegaLite.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterise SVG text to PNG with resvg (a Rust renderer shipped as a native Node-API addon).
 *
 * @param svg SVG text.
 * @param scale pixel density (2 gives a sharp image on high-DPI screens).
 * @returns the PNG bytes, or a message saying why resvg could not be loaded or run.
 */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array | string> {
  try {
    const { Resvg } = await import("@resvg/resvg-js");
    const r = new Resvg(svg, {
      fitTo: { mode: "zoom", value: scale },
      font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
      background: "white",
    });
    return new Uint8Array(r.render().asPng());
  } catch (e) {
    return `PNG skipped: resvg could not render (${(e as Error).message})`;
  }
}

/** What {@link writeEdcReport} wrote. */
export interface ReportFiles {
  /** Paths written, in order. */
  written: string[];
  /** Messages about outputs that were skipped (e.g. PNG when resvg cannot load). */
  notes: string[];
}

/**
 * Write all outputs into `outDir` (created when missing): `pauc.tsv`, `pauc.md`, `curves.csv`,
 * `random_order.csv`, `edc.json`, `edc.vl.json` (the Vega-Lite spec, to restyle the plot),
 * `edc.svg` and, when resvg loads, `edc.png`. Each file is written atomically.
 *
 * @param ev the evaluation.
 * @param outDir output directory.
 * @param options plot options, `png` (default true) and `extra` fields for edc.json.
 * @throws the Deno error when a file cannot be written.
 */
export async function writeEdcReport(
  ev: EdcEvaluation,
  outDir: string,
  options: PlotOptions & { png?: boolean; extra?: Record<string, unknown> } = {},
): Promise<ReportFiles> {
  await Deno.mkdir(outDir, { recursive: true });
  const written: string[] = [], notes: string[] = [];
  const put = async (name: string, data: string | Uint8Array) => {
    const f = path.join(outDir, name);
    await atomicWriteFile(f, data);
    written.push(f);
  };
  await put("pauc.tsv", paucTsv(ev));
  await put("pauc.md", paucMarkdown(ev));
  await put("curves.csv", curvesCsv(ev));
  await put("random_order.csv", baselineCsv(ev));
  await put("edc.json", curvesJson(ev, options.extra));
  const spec = edcPlotSpec(ev, options);
  await put("edc.vl.json", JSON.stringify(spec) + "\n");
  const svg = await renderSvg(spec);
  await put("edc.svg", svg);
  if (options.png ?? true) {
    const png = await svgToPng(svg);
    if (typeof png === "string") notes.push(png);
    else await put("edc.png", png);
  }
  return { written, notes };
}
