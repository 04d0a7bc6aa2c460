/**
 * Text widths for laying out the EDC figure without a browser.
 *
 * Vega sizes titles and legends by measuring their text. Headless, without a canvas, it guesses
 * 0.8 em per character, about 40 % more than the DejaVu Sans the figure is drawn in (0.56 em per
 * lower-case letter on average), so a legend row or a title came out far wider than drawn and the
 * figure got an empty band on its right. This module measures with the font's advance widths
 * instead.
 *
 * @module
 */

/**
 * Advance widths in em of the printable ASCII characters U+0020..U+007E in DejaVu Sans (Book),
 * read from the font file with PIL's `ImageFont.getlength` at 1000 units per em, rounded to 3
 * digits. Other sans-serif fonts (Helvetica, Arial) are within about 10 % of these.
 */
const ASCII_EM = [
  0.318,
  0.401,
  0.46,
  0.838,
  0.636,
  0.95,
  0.78,
  0.275,
  0.39,
  0.39,
  0.5,
  0.838,
  0.318,
  0.361,
  0.318,
  0.337,
  0.636,
  0.636,
  0.636,
  0.636,
  0.636,
  0.636,
  0.636,
  0.636,
  0.636,
  0.636,
  0.337,
  0.337,
  0.838,
  0.838,
  0.838,
  0.531,
  1.0,
  0.684,
  0.686,
  0.698,
  0.77,
  0.632,
  0.575,
  0.775,
  0.752,
  0.295,
  0.295,
  0.656,
  0.557,
  0.863,
  0.748,
  0.787,
  0.603,
  0.787,
  0.695,
  0.635,
  0.611,
  0.732,
  0.684,
  0.989,
  0.685,
  0.611,
  0.685,
  0.39,
  0.337,
  0.39,
  0.838,
  0.5,
  0.5,
  0.613,
  0.635,
  0.55,
  0.635,
  0.615,
  0.352,
  0.635,
  0.634,
  0.278,
  0.278,
  0.579,
  0.278,
  0.974,
  0.634,
  0.612,
  0.635,
  0.635,
  0.411,
  0.521,
  0.392,
  0.634,
  0.592,
  0.818,
  0.592,
  0.592,
  0.525,
  0.636,
  0.337,
  0.636,
  0.838,
];

/** Width in em of a character outside ASCII (±, ≤, − are 0.838 em in DejaVu Sans). */
const OTHER_EM = 0.84;

/** DejaVu Sans Bold is about 11 % wider than Book on lower-case text (0.636 vs 0.563 em). */
const BOLD_FACTOR = 1.13;

/**
 * Width of one line of text in pixels.
 *
 * @param text the text (one line).
 * @param fontSize font size in px.
 * @param bold true for a bold weight.
 * @returns the width in px (the sum of the characters' advance widths).
 */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    em += c >= 0x20 && c <= 0x7e ? ASCII_EM[c - 0x20] : OTHER_EM;
  }
  return em * fontSize * (bold ? BOLD_FACTOR : 1);
}

/** The fields of a Vega text item that its width depends on. */
interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
  text?: unknown;
}

/**
 * A replacement for Vega's `textMetrics.width(item, text)` that measures with
 * {@link textWidth}: Vega's defaults (11 px, normal weight) apply to missing fields, and a
 * positive `limit` caps the width as Vega's truncation does.
 */
export function vegaTextWidth(item: TextItem, text?: unknown): number {
  const size = item.fontSize != null ? +item.fontSize || 0 : 11;
  const s = text == null ? "" : String(text).trim();
  const w = item.fontWeight;
  const bold = w === "bold" || w === "bolder" || (typeof w === "number" && w >= 600) ||
    (typeof w === "string" && Number(w) >= 600);
  const width = textWidth(s, size, bold);
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
}
