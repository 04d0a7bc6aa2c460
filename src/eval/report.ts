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
import { textWidth, vegaTextWidth } from "./text_width.ts";

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
  /**
   * Figure title. Default: "Error-versus-Discard Characteristic", then ": MODEL" and " on DATA"
   * when {@link PlotOptions.model} and {@link PlotOptions.data} are given.
   */
  title?: string;
  /** The FR model whose embeddings (and, for GraFIQs, whose gradients) made the scores. */
  model?: string;
  /** The data set the pairs come from, e.g. "LFW, 200 pairs". */
  data?: string;
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
 * Groups of methods whose curves coincide where the figure shows them: both the FNMR-EDC and the
 * FMR-EDC have the same points (discard and error fractions, exactly) up to the plot's right
 * end, so the later ones are drawn over the first and hide it.
 *
 * @param ev the evaluation.
 * @param maxX the right end of the plotted discard range.
 * @returns each group as method names in evaluation order (groups of two or more only).
 */
export function coincidingCurves(ev: EdcEvaluation, maxX = 1): string[][] {
  const key = (m: MethodEdc) =>
    m.curves.map((c) => {
      const pts: string[] = [];
      for (let j = 0; j < c.discardFractions.length; j++) {
        pts.push(`${c.discardFractions[j]}:${c.errorFractions[j]}`);
        if (c.discardFractions[j] > maxX) break;
      }
      return pts.join(",");
    }).join("|");
  const groups = new Map<string, string[]>();
  for (const m of ev.methods) {
    const k = key(m);
    const g = groups.get(k);
    if (g) g.push(m.name);
    else groups.set(k, [m.name]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/**
 * The right end of the figure's discard axis: `options.maxDiscard`, else twice the largest
 * limit, at most 1.
 *
 * @throws {RangeError} when it is outside (0, 1].
 */
function plotMaxDiscard(ev: EdcEvaluation, options: PlotOptions): number {
  const maxX = options.maxDiscard ?? Math.min(1, 2 * Math.max(...ev.limits));
  if (!(maxX > 0 && maxX <= 1)) {
    throw new RangeError(`plot discard range ${maxX} is outside (0, 1]`);
  }
  return maxX;
}

/** The figure's title from {@link PlotOptions}. */
function plotTitle(options: PlotOptions): string {
  if (options.title !== undefined) return options.title;
  let t = "Error-versus-Discard Characteristic";
  if (options.model) t += `: ${options.model}`;
  if (options.data) t += ` on ${options.data}`;
  return t;
}

const LEGEND_FONT_SIZE = 11;
/** Legend symbol, its gap to the label and the gap between columns, in px (Vega's defaults). */
const LEGEND_ENTRY_EXTRA = 16 + 4 + 10;

/**
 * The most legend columns whose rows fit in `rowWidth`: entries fill the grid row by row and
 * each column is as wide as its widest entry (Vega's legend grid, `gridAlign: "each"`).
 *
 * @param entries width of each entry in px (symbol, label and gaps).
 * @param rowWidth the width available in px.
 * @returns a column count from 1 to `entries.length`.
 */
export function legendColumns(entries: number[], rowWidth: number): number {
  for (let c = entries.length; c > 1; c--) {
    const cols = new Array<number>(c).fill(0);
    entries.forEach((w, i) => cols[i % c] = Math.max(cols[i % c], w));
    if (cols.reduce((a, b) => a + b, 0) <= rowWidth) return c;
  }
  return 1;
}

/**
 * The Vega-Lite specification of the EDC figure: two panels (FNMR-EDC on mated, FMR-EDC on
 * non-mated comparisons) side by side; per panel the step curves of all methods, the pAUC region
 * up to the largest limit as a pale yellow background with a dashed rule at every limit, and the
 * random-order baseline (mean of all methods' shuffles as a dashed grey step line, ± 1 sd as a
 * grey band). Axis titles: "Comparisons discarded (fraction)" and "FNMR" / "FMR".
 *
 * Layout: the discard axis ends at `maxDiscard`; the error axis spans what is drawn (curves and
 * band) with a little margin, not from 0, so that the curves use the panel's height (each panel
 * has its own range). The legend wraps into as many rows as needed to stay within the panels'
 * width. Methods whose curves coincide ({@link coincidingCurves}) are labelled so in the legend
 * ("B (= A, coincide)"), since only the last one drawn is visible.
 *
 * @param ev the evaluation.
 * @param options see {@link PlotOptions}.
 * @returns a Vega-Lite v6 top-level specification (plain JSON).
 * @throws {RangeError} when `maxDiscard` is outside (0, 1].
 */
export function edcPlotSpec(ev: EdcEvaluation, options: PlotOptions = {}): Record<string, unknown> {
  const maxLimit = Math.max(...ev.limits);
  const maxX = plotMaxDiscard(ev, options);
  const same = new Map<string, string>();
  for (const g of coincidingCurves(ev, maxX)) {
    for (const n of g.slice(1)) same.set(n, g[0]);
  }
  const label = (name: string) => same.has(name) ? `${name} (= ${same.get(name)}, coincide)` : name;
  const names = ev.methods.map((m) => label(m.name));
  const withBaseline = ev.shuffles > 0 && ev.methods.length > 0;
  const RANDOM_LABEL = `random order, ${ev.shuffles} shuffles (mean ± 1 sd)`;
  const colorDomain = withBaseline ? [...names, RANDOM_LABEL] : names;
  const colorRange = [
    ...names.map((_, i) => PALETTE[i % PALETTE.length]),
    ...(withBaseline ? ["#6e6e6e"] : []),
  ];
  const dashRange = [...names.map(() => [1, 0]), ...(withBaseline ? [[5, 3]] : [])];
  const width = options.width ?? 430;
  // Both panels, the second one's axis and the spacing: what the legend may span.
  const rowWidth = 2 * width + 36 + 60;
  const columns = legendColumns(
    colorDomain.map((d) => textWidth(d, LEGEND_FONT_SIZE) + LEGEND_ENTRY_EXTRA),
    rowWidth,
  );
  const panel = (et: ErrorType, ei: number) => {
    const lines: Record<string, unknown>[] = [];
    let lo = Infinity, hi = -Infinity;
    for (const m of ev.methods) {
      const c = m.curves[ei];
      const series = label(m.name);
      for (let j = 0; j < c.discardFractions.length; j++) {
        const x = c.discardFractions[j];
        if (x > maxX) {
          // carry the step that crosses the right edge up to it
          lines.push({ series, x: maxX, y: c.errorFractions[j - 1] });
          break;
        }
        const y = c.errorFractions[j];
        lines.push({ series, x, y });
        lo = Math.min(lo, y);
        hi = Math.max(hi, y);
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
    for (const b of base) {
      lo = Math.min(lo, b.lo);
      hi = Math.max(hi, b.hi);
    }
    // 5 % of the drawn range as margin (at least 0.001), never below 0.
    const pad = Math.max(0.05 * (hi - lo), 1e-3);
    const yDomain = [Math.max(0, lo - pad), hi + pad];
    const n = et === "FNMR" ? ev.mated : ev.nonMated;
    const xEnc = {
      field: "x",
      type: "quantitative",
      title: "Comparisons discarded (fraction)",
      scale: { domain: [0, maxX], nice: false },
      axis: { tickCount: Math.max(2, Math.round(width / 70)) },
    };
    const yEnc = {
      field: "y",
      type: "quantitative",
      title: et,
      scale: { domain: yDomain, zero: false, nice: false },
    };
    const series = {
      field: "series",
      type: "nominal",
      title: null,
      scale: { domain: colorDomain, range: colorRange },
      legend: {
        orient: "bottom",
        columns,
        labelFontSize: LEGEND_FONT_SIZE,
        labelLimit: rowWidth,
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
      width,
      height: options.height ?? 310,
      layer: [
        {
          data: { values: [{ x: 0, x2: Math.min(maxLimit, maxX) }] },
          mark: { type: "rect", color: PAUC_FILL, opacity: 1 },
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
              mark: { type: "rule", color: "#b08d00", strokeDash: [2, 2] },
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
                color: "#7a6200",
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
            color: "#8c8c8c",
            opacity: 0.35,
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
      text: plotTitle(options),
      subtitle: `Lower is better. Yellow: the pAUC region up to ${maxLimit}` +
        (withBaseline ? "; grey band: random order ± 1 sd." : "."),
      anchor: "start",
    },
    background: "white",
    padding: 12,
    config: { font: FONT, view: { stroke: "#cccccc" }, axis: { grid: true, gridColor: "#ececec" } },
    hconcat: [panel("FNMR", 0), panel("FMR", 1)],
    spacing: 36,
    resolve: {
      scale: { color: "shared", strokeDash: "shared", y: "independent" },
      legend: { color: "shared" },
    },
  };
}

/** Fill of the pAUC region: a pale yellow, unlike the grey random-order band. */
const PAUC_FILL = "#fbf3cf";

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
  // Vega's headless guess of text widths (0.8 em a character) made the figure too wide.
  // textMetrics is exported by vega (from vega-scenegraph) but missing from its typings.
  const metrics = (vega as unknown as { textMetrics: { width: unknown } }).textMetrics;
  const guess = metrics.width;
  metrics.width = vegaTextWidth;
  try {
    return await view.toSVG();
  } finally {
    metrics.width = guess;
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
    // One line: a failed import's message carries a stack fragment on its next lines.
    const why = String((e as Error)?.message ?? e).split("\n")[0].trim();
    return `PNG skipped (the SVG is written): resvg could not be loaded or run: ${why}`;
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
  for (const g of coincidingCurves(ev, plotMaxDiscard(ev, options))) {
    notes.push(`the curves of ${g.join(" and ")} coincide (drawn on top of each other)`);
  }
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
