/**
 * Conversion of a PyTorch checkpoint (or an existing GFQW file) to the project's GFQW format,
 * and the listing that `tools/convert.ts --list` prints.
 *
 * @module
 */
import type { DType, LoadedWeights, StateDict } from "./types.ts";
import { encodeGfqw } from "./gfqw.ts";

/** Options of {@link convertWeights}. */
export interface ConvertOptions {
  /** Model description merged over the input's own meta (a GFQW input's; `{}` for .pth). */
  meta?: Record<string, unknown>;
  /** Backbone name stored as `meta.backbone` (wins over `meta.backbone`). */
  backbone?: string;
  /** Name of the input file stored as `meta.source` (its base name only; no directories). */
  sourceName?: string;
}

/** Per-dtype and total counts of a state_dict. */
export interface StateDictSummary {
  /** Number of tensors. */
  count: number;
  /** Number of elements over all tensors. */
  elements: number;
  /** Bytes of tensor data over all tensors (as stored, before any alignment padding). */
  bytes: number;
  /** The same counts per dtype, for the dtypes present. */
  byDtype: Partial<Record<DType, { count: number; elements: number; bytes: number }>>;
}

/** Count tensors, elements and data bytes of a state_dict, in total and per dtype. */
export function summarizeStateDict(sd: StateDict): StateDictSummary {
  const s: StateDictSummary = { count: 0, elements: 0, bytes: 0, byDtype: {} };
  for (const t of sd.values()) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    s.count++;
    s.elements += elements;
    s.bytes += t.data.byteLength;
    const d = s.byDtype[t.dtype] ??= { count: 0, elements: 0, bytes: 0 };
    d.count++;
    d.elements += elements;
    d.bytes += t.data.byteLength;
  }
  return s;
}

/** Human-readable byte count (binary units), e.g. "83.5 MiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/**
 * One line per tensor, `name<TAB>dtype<TAB>[d0, d1, ...]`, in state_dict order (what
 * `convert.ts --list` prints).
 */
export function listStateDict(sd: StateDict): string[] {
  return [...sd].map(([name, t]) => `${name}\t${t.dtype}\t[${t.shape.join(", ")}]`);
}

/** A multi-line description of a state_dict's totals (count, elements, bytes per dtype). */
export function describeSummary(s: StateDictSummary): string {
  const lines = [`${s.count} tensors, ${s.elements} elements, ${formatBytes(s.bytes)}`];
  for (const [dtype, d] of Object.entries(s.byDtype)) {
    lines.push(`  ${dtype}: ${d.count} tensors, ${d.elements} elements, ${formatBytes(d.bytes)}`);
  }
  return lines.join("\n");
}

/**
 * The GFQW meta of a conversion: the input's meta, then `options.meta`, then `source` and
 * `backbone` from the options when given.
 */
function conversionMeta(
  inputMeta: Record<string, unknown>,
  options: ConvertOptions = {},
): Record<string, unknown> {
  const meta: Record<string, unknown> = { ...inputMeta, ...(options.meta ?? {}) };
  if (options.sourceName !== undefined) meta.source = options.sourceName;
  if (options.backbone !== undefined) meta.backbone = options.backbone;
  return meta;
}

/**
 * Convert loaded weights to GFQW bytes, keeping every tensor's dtype (float16 stays float16).
 * @returns the encoded file and the meta stored in it.
 * @throws Error as {@link encodeGfqw} does (meta not JSON-serialisable, inconsistent tensor).
 */
export function convertWeights(
  weights: Omit<LoadedWeights, "bytes">,
  options: ConvertOptions = {},
): { bytes: Uint8Array; meta: Record<string, unknown> } {
  const meta = conversionMeta(weights.meta, options);
  return { bytes: encodeGfqw(weights.stateDict, meta), meta };
}
