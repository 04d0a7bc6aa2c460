/**
 * The project's one choice of assertion library. The Deno std module `@std/assert` lives on
 * JSR, which these build machines cannot reach, so the tests use Node's built-in `node:assert`
 * (shipped inside Deno, nothing to download) through this module. Switching back to
 * `@std/assert` later means editing this file only.
 *
 * @module
 */
import assert from "node:assert/strict";

export { assert };

/** Assert strict equality (`Object.is` semantics for primitives). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assert.deepStrictEqual(actual, expected, message);
}

/** Assert that `fn` throws, and that the message matches `pattern` when given. */
export function assertThrows(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, pattern ?? Error);
}

/** Assert that the promise rejects, and that the message matches `pattern` when given. */
export async function assertRejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<void> {
  await assert.rejects(fn, pattern ?? Error);
}

/** Result of {@link compareArrays}: the worst element by the tolerance ratio. */
export interface CompareReport {
  /** Index of the element with the largest |a - e| / (atol + rtol |e|). */
  worstIndex: number;
  /** Largest absolute error. */
  maxAbs: number;
  /** Largest relative error |a - e| / |e| over elements with e != 0. */
  maxRel: number;
  /** Largest |a - e| / (atol + rtol |e|); <= 1 means within tolerance. */
  worstRatio: number;
}

/** Compare two arrays elementwise; returns the worst element (no assertion). */
export function compareArrays(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): CompareReport {
  assert.equal(actual.length, expected.length, "array lengths differ");
  let worstIndex = -1, maxAbs = 0, maxRel = 0, worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    const d = Math.abs(a - e);
    if (!Number.isFinite(a) || Number.isNaN(d)) {
      return { worstIndex: i, maxAbs: Infinity, maxRel: Infinity, worstRatio: Infinity };
    }
    if (d > maxAbs) maxAbs = d;
    if (e !== 0 && d / Math.abs(e) > maxRel) maxRel = d / Math.abs(e);
    const r = d / (atol + rtol * Math.abs(e));
    if (r > worstRatio || worstIndex < 0) {
      worstRatio = r;
      worstIndex = i;
    }
  }
  return { worstIndex, maxAbs, maxRel, worstRatio };
}

/**
 * Assert |a - e| <= atol + rtol |e| for every element; the failure message names the worst
 * element, its two values and the tolerance.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what = "values",
): CompareReport {
  const r = compareArrays(actual, expected, atol, rtol);
  if (!(r.worstRatio <= 1)) {
    const i = r.worstIndex;
    throw new assert.AssertionError({
      message: `${what}: element ${i} is ${actual[i]}, expected ${expected[i]} ` +
        `(atol ${atol}, rtol ${rtol}; max abs ${r.maxAbs}, max rel ${r.maxRel})`,
    });
  }
  return r;
}
