/**
 * Python's order of path texts (`sorted()` on `pathlib.PurePosixPath`), on strings only: the
 * order in which the folder mode lists images (select.ts) and the web page sorts picked files.
 *
 * @module
 */

/**
 * Compare two strings by Unicode code points, as Python compares `str` (JavaScript's `<` and
 * default sort compare UTF-16 code units, which differs when a character outside the BMP meets
 * one in U+E000..U+FFFF). Lone surrogates count as their own code points, as in Python.
 *
 * @returns negative, zero or positive, like a sort comparator
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  // Step back onto the start of a surrogate pair that differs only in its low half.
  if (i > 0) {
    const prev = a.charCodeAt(i - 1);
    if (prev >= 0xd800 && prev <= 0xdbff) i--;
  }
  const ca = a.codePointAt(i)!;
  const cb = b.codePointAt(i)!;
  return ca - cb;
}

/**
 * Compare two POSIX path texts as Python sorts `PurePosixPath` objects: component by component
 * (the root `/` or `//` counts as the first component, `.` has none), each component compared by
 * code points, a proper prefix first. Texts from `pathlibNormalize`/`pathlibChild` (select.ts)
 * are expected. This is the order of CPython 3.10, 3.11 and 3.13; 3.12 compares the text split
 * on `/` instead, which differs only when `.` or different roots meet, never within one listing.
 *
 * @returns negative, zero or positive, like a sort comparator
 */
export function comparePathsPythonOrder(a: string, b: string): number {
  const pa = splitForSort(a);
  const pb = splitForSort(b);
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const c = compareCodePoints(pa[i], pb[i]);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function splitForSort(p: string): string[] {
  let root = "";
  if (p.startsWith("//") && !p.startsWith("///")) root = "//";
  else if (p.startsWith("/")) root = "/";
  const parts = p.slice(root.length).split("/").filter((s) => s !== "" && s !== ".");
  return root ? [root, ...parts] : parts;
}
