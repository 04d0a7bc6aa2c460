/**
 * Image lists: a text file naming the images to score, one path per line (`--image-list FILE`).
 *
 * The format, chosen to read the lists users already have (LFW pair lists cut to paths,
 * `find` output, spreadsheets saved as text):
 * - lines end in `\n`; a `\r` before it is dropped (lists saved on Windows);
 * - whitespace around a path is dropped;
 * - a line that is blank, or whose first non-blank character is `#`, is a comment;
 * - a path keeps its text as written (it is what the score files print), relative paths being
 *   relative to the working directory, as in the official tool's folder argument;
 * - a path listed twice is scored once, at its first place; the later lines are reported.
 *   Two texts name the same path when pathlib's normalisation makes them equal (`./a.jpg` and
 *   `a.jpg`, `x//a.jpg` and `x/a.jpg`).
 *
 * A NUL character, a path over {@link MAX_LIST_LINE_CHARS} characters and a file that is not
 * valid UTF-8 are refused with the file and line named. The file is read with the project's
 * bounded reader ({@link readRegularFile}), so a FIFO or device is refused too.
 *
 * @module
 */
import { FileReadError, readProblem, readRegularFile } from "./files.ts";
import { pathlibNormalize } from "./select.ts";

/** The longest accepted path text in a list, in UTF-16 code units (Linux's PATH_MAX is 4096 bytes). */
export const MAX_LIST_LINE_CHARS = 4096;

/** The default size cap of a list file in bytes (1 GiB: about 20 million 50-byte paths). */
export const MAX_LIST_FILE_BYTES = 1 << 30;

/** A path that the list names more than once. */
export interface ListDuplicate {
  /** The path as first written (trimmed). */
  path: string;
  /** The 1-based line of the first occurrence, the one that is kept. */
  firstLine: number;
  /** The 1-based lines of the later occurrences, which are dropped. */
  laterLines: number[];
}

/** A parsed image list. */
export interface ImageList {
  /** The paths to score, in the list's order, each once (as written, trimmed). */
  paths: string[];
  /** The 1-based line of each entry of `paths`. */
  lines: number[];
  /** The paths listed more than once, in order of first occurrence. */
  duplicates: ListDuplicate[];
}

/**
 * Parse the text of an image list (the format is in this module's description).
 *
 * @param text the list's text, already decoded
 * @param source the list's name for messages (a path, or `-` for stdin)
 * @returns the paths, their lines and the duplicates
 * @throws {Error} `"<source>:<line>: ..."` for a NUL character or a path over
 *   {@link MAX_LIST_LINE_CHARS} characters
 * @example
 * ```ts
 * import { parseImageList } from "./image_list.ts";
 * const list = parseImageList("# faces\na.jpg\n\n./a.jpg\nb.png\r\n", "list.txt");
 * // list.paths: ["a.jpg", "b.png"]; list.duplicates: [{ path: "a.jpg", firstLine: 2, laterLines: [4] }]
 * ```
 */
export function parseImageList(text: string, source: string): ImageList {
  const paths: string[] = [];
  const lines: number[] = [];
  const seen = new Map<string, ListDuplicate>();
  const duplicates: ListDuplicate[] = [];
  const raw = text.split("\n");
  for (let i = 0; i < raw.length; i++) {
    const lineNo = i + 1;
    const line = raw[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.includes("\0")) throw new Error(`${source}:${lineNo}: the path holds a NUL character`);
    if (line.length > MAX_LIST_LINE_CHARS) {
      throw new Error(
        `${source}:${lineNo}: the path is ${line.length} characters long, over the ` +
          `${MAX_LIST_LINE_CHARS} accepted`,
      );
    }
    const key = pathlibNormalize(line);
    const first = seen.get(key);
    if (first) {
      if (first.laterLines.length === 0) duplicates.push(first);
      first.laterLines.push(lineNo);
      continue;
    }
    seen.set(key, { path: line, firstLine: lineNo, laterLines: [] });
    paths.push(line);
    lines.push(lineNo);
  }
  duplicates.sort((a, b) => a.firstLine - b.firstLine);
  return { paths, lines, duplicates };
}

/**
 * Read and parse an image list file.
 *
 * @param path the list file
 * @param maxBytes the largest accepted file size in bytes (default {@link MAX_LIST_FILE_BYTES})
 * @returns the parsed list
 * @throws {FileReadError} for a file that is not a readable regular file, is too large, or is
 *   not valid UTF-8 (the message names the file)
 * @throws {Error} the errors of {@link parseImageList}, and `Deno.errors.NotFound` etc. wrapped
 *   as FileReadError naming the file
 * @example
 * ```ts ignore
 * import { readImageList } from "./image_list.ts";
 * const list = await readImageList("faces.txt");
 * for (const d of list.duplicates) console.error(`${d.path} listed again on ${d.laterLines}`);
 * ```
 */
export async function readImageList(
  path: string,
  maxBytes: number = MAX_LIST_FILE_BYTES,
): Promise<ImageList> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(
      path,
      maxBytes,
      (size) => `the image list is ${size} bytes, over the ${maxBytes} accepted`,
    );
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw new FileReadError(path, readProblem(e));
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new FileReadError(path, "the image list is not valid UTF-8 text");
  }
  return parseImageList(text, path);
}
