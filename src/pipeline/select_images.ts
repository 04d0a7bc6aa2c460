/**
 * Which images a run scores: the official glob of a directory, several extensions, the
 * recursive walk, one image file, an image list, and the shard filter.
 *
 * @module
 */
import { readImageList } from "../io/image_list.ts";
import { comparePathsPythonOrder, listImages, listImagesRecursive } from "../io/select.ts";
import { inShard, type Shard } from "./shard.ts";

/** What {@link selectImages} selects by (the main command's options of the same names). */
export interface ImageSelection {
  /** The directory or the one image file (`--image-path DIR|FILE`); unused with `imageList`. */
  imagePath: string;
  /** Extensions without the dot (`--image-extension`), e.g. `["jpg"]`. */
  imageExtensions: string[];
  /** An image list file (`--image-list FILE`, io/image_list.ts) to read instead; null or absent: none. */
  imageList?: string | null;
  /** Walk the folders below DIR too, extensions case-insensitive (`--recursive`). */
  recursive: boolean;
  /** Only the paths of this shard (`--shard K/N`), or null for all. */
  shard: Shard | null;
}

/** Raised by {@link selectImages} when a folder or list selects no image at all. */
export class NoImagesError extends Error {
  /** @param message what was searched and what was found instead */
  constructor(message: string) {
    super(message);
    this.name = "NoImagesError";
  }
}

/**
 * The images a run scores, in the order the output lists them:
 * - `imageList` given: the list's paths as written, in its order, each once (a path listed
 *   again is reported through `warn`, one line per path, naming its lines);
 * - `imagePath` a file (anything that exists and is not a directory): that one file, its path
 *   text exactly as given, whatever its extension;
 * - `imagePath` a directory: the official `sorted(Path(DIR).glob("*.EXT"))`, case-sensitive
 *   ({@link listImages}); with several extensions, the union of each one's matches;
 *   `recursive`: every folder below DIR too, extensions case-insensitive
 *   ({@link listImagesRecursive});
 * - then `shard`: only the paths of shard K ({@link inShard}).
 *
 * A folder or list that selects nothing is an error (the official tool writes five empty files
 * without a word): the message names the folder and patterns, and the extensions the folder
 * does hold. A shard that happens to select nothing of a non-empty selection is not.
 *
 * @param o what to select
 * @param warn where the duplicate reports of a list, and the hint for a FILE that looks like a
 *   list (`.txt`, `.lst`, `.list`, `.csv`, `.tsv`), go (default: stderr)
 * @returns path texts: the list's or the given file's as written; a folder's in Python's
 *   sorted order (by components, code points)
 * @throws {NoImagesError} when the folder or list selects no image
 * @throws Error naming the path when it does not exist or cannot be listed, `--recursive`
 *   with a file, a bad extension, or what {@link readImageList} throws (naming the list)
 */
export async function selectImages(
  o: ImageSelection,
  warn: (message: string) => void = (m) => console.error(m),
): Promise<string[]> {
  let paths: string[];
  if (o.imageList) {
    const list = await readImageList(o.imageList);
    for (const d of list.duplicates) {
      warn(
        `grafiqs: ${o.imageList}: ${JSON.stringify(d.path)} (line ${d.firstLine}) is listed ` +
          `again on line${d.laterLines.length > 1 ? "s" : ""} ${d.laterLines.join(", ")}; ` +
          `scored once`,
      );
    }
    if (list.paths.length === 0) {
      throw new NoImagesError(
        `image list ${o.imageList} names no image (it holds only blank or # comment lines)`,
      );
    }
    paths = list.paths;
  } else if (await isFile(o.imagePath)) {
    if (o.recursive) {
      throw new Error(`--recursive walks a folder; --image-path ${o.imagePath} is a file`);
    }
    paths = [o.imagePath];
    if (/\.(txt|lst|list|csv|tsv)$/i.test(o.imagePath)) {
      warn(
        `grafiqs: warning: --image-path ${o.imagePath} is scored as one image; for a list of ` +
          `image paths use --image-list ${o.imagePath}`,
      );
    }
  } else paths = await selectFromDirectory(o);
  return o.shard ? paths.filter((p) => inShard(p, o.shard)) : paths;
}

/** Whether `path` exists and is not a directory (links followed). */
async function isFile(path: string): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `--image-path ${JSON.stringify(path)} does not exist (neither folder nor file)`,
      );
    }
    return false; // listImages reports what is wrong with it
  }
  return !info.isDirectory;
}

/** A directory's images (see {@link selectImages}); throws {@link NoImagesError} for none. */
async function selectFromDirectory(o: ImageSelection): Promise<string[]> {
  let paths: string[];
  if (o.recursive) paths = await listImagesRecursive(o.imagePath, o.imageExtensions);
  else if (o.imageExtensions.length === 1) {
    paths = await listImages(o.imagePath, o.imageExtensions[0]);
  } else {
    const all = new Set<string>();
    for (const ext of o.imageExtensions) {
      for (const p of await listImages(o.imagePath, ext)) all.add(p);
    }
    paths = [...all].sort(comparePathsPythonOrder);
  }
  if (paths.length === 0) {
    const pattern = o.imageExtensions.map((e) => `*.${e}`).join(", ");
    throw new NoImagesError(
      `no file in ${o.imagePath} matches ${pattern} ` +
        (o.recursive
          ? "(searched recursively, extensions case-insensitive)"
          : "(extensions are case-sensitive, as in the official tool)") +
        `; ${await extensionSummary(o.imagePath)}. Choose one with --image-extension ` +
        `(several: jpg,png)` + (o.recursive ? "" : ", or add --recursive for subfolders"),
    );
  }
  return paths;
}

/**
 * What a folder holds, for the message of an empty selection: the extensions of the files
 * directly in it with their counts, most common first (at most 8), and how many subfolders.
 */
async function extensionSummary(dir: string): Promise<string> {
  const counts = new Map<string, number>();
  let folders = 0;
  let files = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) {
        folders++;
        continue;
      }
      files++;
      const dot = e.name.lastIndexOf(".");
      const ext = dot > 0 ? e.name.slice(dot + 1) : "";
      counts.set(ext, (counts.get(ext) ?? 0) + 1);
    }
  } catch {
    return "its entries cannot be listed";
  }
  const sub = folders ? ` and ${folders} subfolder${folders > 1 ? "s" : ""}` : "";
  if (files === 0) return `it holds no file${sub}`;
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = top.slice(0, 8).map(([x, n]) => `${x === "" ? "(no extension)" : "." + x} (${n})`);
  if (top.length > 8) shown.push(`${top.length - 8} more`);
  return `it holds ${files} file${files > 1 ? "s" : ""}${sub}: ${shown.join(", ")}`;
}
