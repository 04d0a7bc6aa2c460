/**
 * Python-compatible text for floating-point numbers.
 *
 * The official GraFIQs implementation writes every score with `f"{path} {score}\n"`, where
 * `score` is a Python `float` (the float32 gradient sum widened to double). An f-string with an
 * empty format spec prints `repr(float)`, so the score files carry Python's repr text
 * (docs/ALGORITHM.md#score-files). This module reproduces that text exactly for every IEEE-754
 * double, so the project's score files are byte-identical to the official ones.
 *
 * Digits: Python's repr uses the shortest decimal string that reads back as the same double
 * (David Gay's dtoa, mode 0), and among the shortest candidates the one nearest the value.
 * ECMAScript's `Number#toString` is specified to choose the same digits (ECMA-262,
 * Number::toString, step 5 with the "closest" rule), so the digits are taken from it and only
 * the layout is redone. The fixture test compares against real Python output for many thousand
 * doubles, including random bit patterns, to confirm the two agree.
 *
 * @module
 */

/**
 * Shortest round-trip decimal digits of a finite, nonzero magnitude.
 *
 * @param abs a finite number > 0
 * @returns `digits` (no leading or trailing zeros, at least one digit) and `decpt`, the position
 *   of the decimal point counted from the left of `digits`: abs = 0.`digits` x 10^decpt.
 */
function shortestDigits(abs: number): { digits: string; decpt: number } {
  // toString writes e.g. "7190", "0.00012", "1e-7", "1.2345e+21", "123.456".
  const s = abs.toString();
  let mantissa = s;
  let exp = 0;
  const e = s.indexOf("e");
  if (e >= 0) {
    mantissa = s.slice(0, e);
    exp = Number(s.slice(e + 1));
  }
  const dot = mantissa.indexOf(".");
  const intPart = dot < 0 ? mantissa : mantissa.slice(0, dot);
  const fracPart = dot < 0 ? "" : mantissa.slice(dot + 1);
  let digits = intPart + fracPart;
  let decpt = intPart.length + exp;
  let lead = 0;
  while (lead < digits.length - 1 && digits.charCodeAt(lead) === 48 /* "0" */) lead++;
  digits = digits.slice(lead);
  decpt -= lead;
  let end = digits.length;
  while (end > 1 && digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  return { digits, decpt };
}

/**
 * Format a double exactly as Python 3's `repr(float(x))` (and `str`, and an f-string with no
 * format spec) prints it.
 *
 * Rules (CPython `float_repr_style == 'short'`, `format_float_short` with mode 'r'):
 * - the digits are the shortest round-trip digits (same as JavaScript's `Number#toString`);
 * - with the value written as d.ddd x 10^E: exponent notation when E < -4 or E >= 16, as
 *   `d.ddde-05` / `de+16`: the mantissa has no `.` when it is a single digit, the exponent
 *   always carries its sign and at least two digits (`1e+16`, `1.5e-07`, `5e-324`,
 *   `1.7976931348623157e+308`);
 * - otherwise positional notation; a whole number keeps `.0` (`7190.0`, `0.0001`,
 *   `9999999999999998.0`);
 * - zero is `0.0` or `-0.0`; infinities are `inf` / `-inf`; every NaN (any sign or payload) is
 *   `nan`.
 *
 * Source: docs/ALGORITHM.md#score-files (score text), CPython `Python/pystrtod.c`.
 *
 * @param x any JavaScript number (a double). To print a float32 score as the official code does,
 *   pass the float32 value itself (widening to double is exact).
 * @returns the Python repr text; never throws.
 */
export function formatPythonFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const { digits, decpt } = shortestDigits(Math.abs(x));
  const exp10 = decpt - 1; // value = d.ddd x 10^exp10
  if (exp10 < -4 || exp10 >= 16) {
    const mant = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    const expSign = exp10 < 0 ? "-" : "+";
    const expDigits = String(Math.abs(exp10)).padStart(2, "0");
    return `${sign}${mant}e${expSign}${expDigits}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** Python `float()` accepts these decimal forms (without underscores, which repr never writes). */
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parse float text as Python's `float(str)` reads the forms that `repr` writes: decimal and
 * exponent notation, `inf`, `-inf`, `+inf`, `infinity`, `nan` (case-insensitive), with optional
 * surrounding ASCII whitespace. Digit-group underscores (`1_000`) are not accepted.
 *
 * @param text the number text
 * @returns the double it denotes (correctly rounded, like Python)
 * @throws Error when the text is not a float literal; the message quotes the text.
 */
export function parsePythonFloat(text: string): number {
  const t = text.trim();
  const lower = t.toLowerCase();
  const body = lower.startsWith("-") || lower.startsWith("+") ? lower.slice(1) : lower;
  const neg = lower.startsWith("-");
  if (body === "inf" || body === "infinity") return neg ? -Infinity : Infinity;
  if (body === "nan") return NaN;
  if (!DECIMAL_RE.test(t)) throw new Error(`not a float literal: ${JSON.stringify(text)}`);
  return Number(t);
}
