/**
 * Which images of a directory a run scores: the official glob, several extensions, the
 * recursive walk and the shard filter.
 *
 * @module
 */
import { comparePathsPythonOrder, listImages, listImagesRecursive } from "../io/select.ts";
import { inShard, type Shard } from "./shard.ts";

/** What {@link selectImages} selects by (the main command's options of the same names). */
export interface ImageSelection {
  /** The directory (`--image-path DIR`). */
  imagePath: string;
  /** Extensions without the dot (`--image-extension`), e.g. `["jpg"]`. */
  imageExtensions: string[];
  /** Walk the folders below DIR too, extensions case-insensitive (`--recursive`). */
  recursive: boolean;
  /** Only the paths of this shard (`--shard K/N`), or null for all. */
  shard: Shard | null;
}

/**
 * The images of a directory as the folder mode selects them, plus the pipeline options:
 * - default: the official `sorted(Path(DIR).glob("*.EXT"))`, case-sensitive
 *   ({@link listImages}); with several extensions, the union of each one's matches;
 * - `--recursive`: every folder below DIR too, extensions case-insensitive
 *   ({@link listImagesRecursive});
 * - `--shard K/N`: only the paths of shard K ({@link inShard}).
 *
 * When nothing matches, a warning naming DIR and the patterns goes to stderr.
 *
 * @returns path texts in Python's sorted order (by components, code points)
 * @throws Error naming DIR when it does not exist or cannot be listed, or a bad extension
 */
export async function selectImages(o: ImageSelection): Promise<string[]> {
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
    // The official tool writes five empty files here without a word; a mistyped extension
    // deserves one. The run itself goes on the same way (exit status 0, empty score files).
    const pattern = o.imageExtensions.map((e) => `*.${e}`).join(", ");
    console.error(
      `grafiqs: warning: no file in ${o.imagePath} matches ${pattern} ` +
        (o.recursive
          ? "(searched recursively, extensions case-insensitive)"
          : "(extensions are case-sensitive, as in the official tool; see --image-extension " +
            "and --recursive)"),
    );
  }
  return o.shard ? paths.filter((p) => inShard(p, o.shard)) : paths;
}
