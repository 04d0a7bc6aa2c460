/**
 * Image selection compatible with the official GraFIQs command line, and the path text it
 * prints.
 *
 * The official `extract_grafiqs.py` selects `sorted(Path(DIR).glob("*." + ext))` and writes
 * `str(path)` (after an optional `str.replace`) into the score files
 * (docs/ALGORITHM.md#score-files). This module reproduces, for POSIX paths:
 * - pathlib's normalisation of DIR: empty and `.` components are dropped (so a leading `./`, a
 *   trailing `/`, `/./` and doubled `//` vanish), `..` is kept, exactly two leading slashes are
 *   kept as the root `//` (three or more become `/`), and an empty result is `.`;
 * - the text of a child: `name` under `.`, `/name` under `/`, `//name` under `//`, else
 *   `DIR/name` (so `Path(".").glob("*.jpg")` yields `x.jpg`, without a `./` prefix);
 * - the matches: every entry directly in DIR (files, directories, symlinks, also broken ones,
 *   and dot-files: pathlib's `*` matches a leading dot) whose name ends in "." + ext,
 *   case-sensitively;
 * - the order: by path components, each compared by Unicode code points.
 *
 * Verified with CPython 3.10.13, 3.11.2/3.11.7, 3.12.1 and 3.13.0, which agree on all of the
 * above; tests/fixtures/io/select.json (tools/make_select_fixture.py) holds pathlib's real
 * output for a tricky directory layout.
 *
 * Deliberate differences from the official code, each reported as a clear error instead of a
 * silent or confusing result:
 * - a DIR that does not exist or is not a directory throws (pathlib yields nothing, and the
 *   official code then writes five empty files);
 * - an extension holding glob metacharacters `*`, `?`, `[` throws (pathlib would treat it as a
 *   pattern), and so does one holding `/` or NUL;
 * - file names that are not valid UTF-8 reach JavaScript with U+FFFD replacement characters (Deno
 *   decodes them lossily), where Python keeps surrogate escapes; the official code cannot write
 *   such names either (its text-mode write raises UnicodeEncodeError).
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { comparePathsPythonOrder } from "./path_order.ts";

export { compareCodePoints, comparePathsPythonOrder } from "./path_order.ts";

/**
 * Normalise a directory string the way POSIX `pathlib.PurePath(dir)` does, and return its text.
 *
 * Examples (checked against CPython 3.10-3.13): `"./a//b/"` -> `"a/b"`, `""` and `"./"` -> `"."`,
 * `"a/./b/."` -> `"a/b"`, `"./../x"` -> `"../x"`, `"//x"` -> `"//x"`, `"///x"` -> `"/x"`,
 * `"/"` -> `"/"`, `"//"` -> `"//"`.
 *
 * @param dir a POSIX path text
 * @returns the normalised text, never empty
 */
export function pathlibNormalize(dir: string): string {
  let root = "";
  if (dir.startsWith("//") && !dir.startsWith("///")) root = "//";
  else if (dir.startsWith("/")) root = "/";
  const parts = dir.split("/").filter((p) => p !== "" && p !== ".");
  const text = root + parts.join("/");
  return text === "" ? "." : text;
}

/**
 * The text of `Path(normDir) / name` for a normalised directory text and one path component.
 *
 * @param normDir output of {@link pathlibNormalize}
 * @param name one component (no `/`)
 * @returns `name` under `.`, `rootname` under `/` or `//`, else `normDir/name`
 */
export function pathlibChild(normDir: string, name: string): string {
  if (normDir === ".") return name;
  if (normDir.endsWith("/")) return normDir + name; // the roots "/" and "//"
  return `${normDir}/${name}`;
}

/** Options of {@link listImages} and {@link listImagesRecursive}. */
export interface ListOptions {
  /**
   * Directory that a relative DIR is resolved against for reading the file system (default: the
   * process's working directory). The returned texts are unaffected: they stay relative, as
   * pathlib prints them. For tests and embedding; the caller must open the returned paths
   * relative to the same directory.
   */
  cwd?: string;
}

function checkExtension(ext: string, what: string): void {
  if (ext.includes("/")) throw new Error(`${what} ${JSON.stringify(ext)} must not contain "/"`);
  if (ext.includes("\0")) throw new Error(`${what} ${JSON.stringify(ext)} must not contain NUL`);
}

function fsPathOf(text: string, cwd: string | undefined): string {
  return cwd !== undefined && !isAbsolute(text) ? join(cwd, text) : text;
}

async function requireDirectory(fsPath: string, shown: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(fsPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`image directory ${JSON.stringify(shown)} does not exist`);
    }
    throw new Error(
      `image directory ${JSON.stringify(shown)} cannot be read: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!info.isDirectory) {
    throw new Error(`image directory ${JSON.stringify(shown)} is not a directory`);
  }
}

async function readNames(fsPath: string, shown: string): Promise<Deno.DirEntry[]> {
  const out: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(fsPath)) out.push(e);
  } catch (e) {
    throw new Error(`cannot list directory ${JSON.stringify(shown)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return out;
}

/**
 * The official image selection, `sorted(Path(dir).glob("*." + ext))`, as the path texts the
 * official code prints (docs/ALGORITHM.md#score-files).
 *
 * Non-recursive; every entry directly in `dir` whose name ends in "." + `ext` (case-sensitive),
 * including dot-files, directories (e.g. a directory `d.jpg`, on which the official code
 * crashes; the caller reports it as a failure) and symlinks (also broken ones). `ext` may be
 * empty (then names ending in "." match) and may contain dots (`jpg.png`).
 *
 * @param dir the `--image-path` text, as given on the command line (POSIX syntax)
 * @param ext the `--image-extension` text, without a leading dot
 * @param options see {@link ListOptions}
 * @returns path texts, sorted by components and code points, e.g. `["imgs/a.jpg", ...]`
 * @throws Error naming the directory when it does not exist, is not a directory or cannot be
 *   listed; Error naming the extension when it holds a glob metacharacter (`*`, `?`, `[`), `/`
 *   or NUL.
 */
export async function listImages(
  dir: string,
  ext: string,
  options: ListOptions = {},
): Promise<string[]> {
  checkExtension(ext, "image extension");
  if (/[*?[]/.test(ext)) {
    throw new Error(
      `image extension ${JSON.stringify(ext)} contains a glob metacharacter (*, ? or [); ` +
        `give a literal extension such as "jpg"`,
    );
  }
  const norm = pathlibNormalize(dir);
  const fsDir = fsPathOf(norm, options.cwd);
  await requireDirectory(fsDir, dir);
  const suffix = "." + ext;
  const out: string[] = [];
  for (const e of await readNames(fsDir, dir)) {
    if (e.name.endsWith(suffix)) out.push(pathlibChild(norm, e.name));
  }
  return out.sort(comparePathsPythonOrder);
}

/**
 * Recursive selection (for the project's own `--recursive` mode; the official tool has none).
 *
 * Walks `dir` and every directory below it, like Python's `os.walk(dir)` (symlinks to
 * directories are neither descended into nor listed; dot-directories are descended into), and
 * selects every non-directory entry (files, symlinks to files, broken symlinks) whose name ends
 * in "." + one of `exts`, compared case-insensitively (`toLowerCase` on both sides). Path texts
 * are formed as pathlib forms them (see {@link listImages}); the order is by path components,
 * each compared by code points, so `a/x.jpg` comes before `a-b/x.jpg` (component `a` < `a-b`),
 * although `"a/"` > `"a-"` as plain strings.
 *
 * @param dir the root directory text (POSIX syntax)
 * @param exts one or more extensions without the leading dot, e.g. `["jpg", "jpeg", "png"]`
 * @param options see {@link ListOptions}
 * @returns path texts, sorted by components and code points
 * @throws Error when `exts` is empty or an extension is empty or holds `/` or NUL; Error naming
 *   the directory when `dir` does not exist, is not a directory, or a directory below it cannot
 *   be listed.
 */
export async function listImagesRecursive(
  dir: string,
  exts: string[],
  options: ListOptions = {},
): Promise<string[]> {
  if (exts.length === 0) throw new Error("no image extensions given");
  for (const x of exts) {
    if (x === "") throw new Error("an image extension is empty");
    checkExtension(x, "image extension");
  }
  const suffixes = exts.map((x) => "." + x.toLowerCase());
  const norm = pathlibNormalize(dir);
  await requireDirectory(fsPathOf(norm, options.cwd), dir);
  const out: string[] = [];
  const stack = [norm];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const e of await readNames(fsPathOf(d, options.cwd), d)) {
      const text = pathlibChild(d, e.name);
      if (e.isDirectory) {
        stack.push(text);
        continue;
      }
      if (e.isSymlink) {
        // os.walk classifies by the link's target: a link to a directory is a directory
        // (not descended into without followlinks), a broken link is a file.
        let targetIsDir = false;
        try {
          targetIsDir = (await Deno.stat(fsPathOf(text, options.cwd))).isDirectory;
        } catch {
          targetIsDir = false;
        }
        if (targetIsDir) continue;
      }
      const lower = e.name.toLowerCase();
      if (suffixes.some((s) => lower.endsWith(s))) out.push(text);
    }
  }
  return out.sort(comparePathsPythonOrder);
}

/**
 * Python's `str.replace(a, b)` (every occurrence, left to right, non-overlapping), which the
 * official code applies to each path text when both `--path-replace A` and
 * `--path-replace-with B` are given (its help text promises a prefix replacement, but the code
 * replaces everywhere; docs/ALGORITHM.md#score-files).
 *
 * Replicated exactly, including the empty-`a` case, where Python inserts `b` before every code
 * point and at the end (`"ab".replace("", "-")` is `"-a-b-"`, `"".replace("", "-")` is `"-"`).
 * The command line should refuse that case with {@link checkPathReplaceArgs}. `$` patterns in
 * `b` have no special meaning (unlike JavaScript's `String#replace`).
 *
 * @param path the path text
 * @param a the text to replace
 * @param b its replacement
 * @returns the replaced text
 */
export function applyPathReplace(path: string, a: string, b: string): string {
  if (a === "") {
    if (path === "") return b;
    return b + Array.from(path).join(b) + b; // Array.from iterates code points
  }
  return path.split(a).join(b);
}

/**
 * Validate the `--path-replace` / `--path-replace-with` pair for the command line.
 *
 * The official code replaces only when both options are given and silently ignores a lone one,
 * and an empty A makes Python insert B between every character. Both are user mistakes, so this
 * project refuses them with a clear message instead.
 *
 * @param a value of `--path-replace`, or undefined when absent
 * @param b value of `--path-replace-with`, or undefined when absent (may be empty: removes A)
 * @returns `{ a, b }` to pass to {@link applyPathReplace}, or null when neither is given
 * @throws Error when only one of the two is given, or when A is empty
 */
export function checkPathReplaceArgs(
  a: string | undefined,
  b: string | undefined,
): { a: string; b: string } | null {
  if (a === undefined && b === undefined) return null;
  if (a === undefined) throw new Error("--path-replace-with needs --path-replace");
  if (b === undefined) throw new Error("--path-replace needs --path-replace-with");
  if (a === "") {
    throw new Error(
      "--path-replace must not be empty (Python's str.replace would insert the replacement " +
        "between every character of each path)",
    );
  }
  return { a, b };
}
