/**
 * What every EDC input file shares: the error class, line splitting and strict number parsing.
 *
 * Every parse error is an {@link EdcInputError} whose message starts with `FILE:LINE:` (or
 * `FILE:` when no single line is at fault) and says what is wrong.
 *
 * @module
 */

/** A bad input file or option. The message names the file (and line) and what is wrong. */
export class EdcInputError extends Error {
  /** @param message the full message, starting with `FILE:LINE:` where one line is at fault. */
  constructor(message: string) {
    super(message);
    this.name = "EdcInputError";
  }
}

/**
 * Text lines of a file: CR LF and LF endings, a leading UTF-8 BOM dropped; 1-based numbers.
 *
 * @param text the whole file.
 * @returns the lines, without line ends (a final empty line is dropped).
 */
export function splitLines(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** A decimal number as Python's repr and JavaScript's toString write it. */
export const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** NaN and the infinities as text (`nan`, `inf`, `-Infinity`, any case). */
export const NONFINITE_RE = /^[+-]?(nan|inf|infinity)$/i;

/**
 * Parse a decimal number strictly (the forms Python's repr and JavaScript's toString write).
 *
 * @param text the field.
 * @param where `FILE:LINE` for the message.
 * @param what what the number is, e.g. "score".
 * @returns a finite double.
 * @throws EdcInputError for NaN, infinities and anything that is not a number.
 */
export function parseFiniteNumber(text: string, where: string, what: string): number {
  const t = text.trim();
  if (NUMBER_RE.test(t)) {
    const v = Number(t);
    if (Number.isFinite(v)) return v;
    throw new EdcInputError(`${where}: ${what} "${t}" overflows to ${v}`);
  }
  if (NONFINITE_RE.test(t)) {
    throw new EdcInputError(`${where}: ${what} "${t}" is not a finite number`);
  }
  throw new EdcInputError(`${where}: ${what} "${t}" is not a number`);
}
