/**
 * Reading an image file with bounds: only regular files (after following symbolic links), and
 * at most a given number of bytes. A FIFO named `x.jpg` would block a plain read until a writer
 * comes, and a link to `/dev/zero` or a file that keeps growing would be read without end; both
 * are refused here instead, with a reason the failure list can show.
 *
 * @module
 */
import { FileReadError, readRegularFile } from "../io/files.ts";

/**
 * Default largest image file read, in bytes: 256 MiB (268,435,456), far above any photo.
 * The command's `--max-file-bytes` changes it.
 */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Thrown when an image file is not read: not a regular file, or larger than the cap. The
 * message starts with the path, then says what is wrong; `problem` is the same without the
 * path (for failure lists that already name the file).
 */
export class ImageReadError extends Error {
  /** The path given to {@link readImageFile}. */
  readonly fileName: string;
  /** What is wrong, in words, without the path. */
  readonly problem: string;

  /**
   * @param fileName the file the error is about
   * @param problem what is wrong, in words
   */
  constructor(fileName: string, problem: string) {
    super(`${fileName}: ${problem}`);
    this.name = "ImageReadError";
    this.fileName = fileName;
    this.problem = problem;
  }
}

/**
 * Read a whole image file, refusing what is not a regular file or is over `maxBytes`: the
 * shared bounded reader of io/files.ts ({@link readRegularFile}), with the command's
 * `--max-file-bytes` named in the reason.
 *
 * @param path the file to read
 * @param maxBytes the largest accepted size in bytes (a positive integer; default
 *   {@link DEFAULT_MAX_FILE_BYTES})
 * @returns the file's bytes
 * @throws ImageReadError "is a directory", "not a regular file (fifo | character device |
 *   block device | socket)", "file too large (N bytes, over --max-file-bytes M)", or a size
 *   change while reading
 * @throws Deno.errors.NotFound, Deno.errors.PermissionDenied and the other errors of
 *   `Deno.stat`, `Deno.open` and reading
 * @throws RangeError when `maxBytes` is not a positive integer
 */
export async function readImageFile(
  path: string,
  maxBytes: number = DEFAULT_MAX_FILE_BYTES,
): Promise<Uint8Array> {
  try {
    return await readRegularFile(
      path,
      maxBytes,
      (size) => `file too large (${size} bytes, over --max-file-bytes ${maxBytes})`,
    );
  } catch (e) {
    if (e instanceof FileReadError) throw new ImageReadError(path, e.problem);
    throw e;
  }
}

/**
 * The command line's side of the pipeline's image seam (`ImageReader`, pipeline/batch.ts):
 * listed paths are files, read with {@link readImageFile}. Its failure reasons are those of
 * the failure list: the {@link ImageReadError} problem ("is a directory", "file too large
 * ..."), "symbolic link loop", or the OS error without Deno's trailing `: readfile 'PATH'`.
 *
 * @example Score two files through the stream machinery
 * ```ts
 * import { arraySource, fileImageReader, scoreStream } from "@grafiqs/grafiqs-webgpu";
 * import type { Executor } from "@grafiqs/grafiqs-webgpu";
 *
 * declare const ex: Executor;
 * await scoreStream(ex, arraySource(["a.jpg", "b.jpg"]), {
 *   batchSize: 8,
 *   channelOrder: "rgb",
 *   reader: fileImageReader,
 * }, (records) => Promise.resolve(console.log(records.length)));
 * ```
 */
export const fileImageReader: {
  read(listed: string, maxBytes: number | undefined): Promise<Uint8Array>;
  failureReason(e: unknown): string;
} = {
  read: (listed, maxBytes) => readImageFile(listed, maxBytes),
  failureReason(e: unknown): string {
    if (e instanceof Deno.errors.IsADirectory) return "is a directory";
    if (e instanceof ImageReadError) return e.problem;
    const msg = (e as Error).message;
    if (e instanceof Deno.errors.FilesystemLoop) return "symbolic link loop";
    return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied
      ? msg.replace(/: (readfile|stat|open) '.*'$/s, "")
      : msg;
  },
};
