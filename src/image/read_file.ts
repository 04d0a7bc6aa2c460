/**
 * Reading an image file with bounds: only regular files (after following symbolic links), and
 * at most a given number of bytes. A FIFO named `x.jpg` would block a plain read until a writer
 * comes, and a link to `/dev/zero` or a file that keeps growing would be read without end; both
 * are refused here instead, with a reason the failure list can show.
 *
 * @module
 */

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

/** What a non-regular file is, in words (for "not a regular file (...)"). */
function kindOf(info: Deno.FileInfo): string {
  if (info.isFifo) return "fifo";
  if (info.isCharDevice) return "character device";
  if (info.isBlockDevice) return "block device";
  if (info.isSocket) return "socket";
  return "not a file, a directory or a link";
}

/**
 * Read a whole image file, refusing what is not a regular file or is over `maxBytes`.
 *
 * The file is checked with `Deno.stat` (which follows symbolic links and never opens the
 * file) before it is opened, so a FIFO, a device or a socket is never opened for reading;
 * once open, its type is checked again. The read itself stops after `maxBytes + 1` bytes,
 * so a file that grows while it is read is refused too.
 *
 * @param path the file to read
 * @param maxBytes the largest accepted size in bytes (a positive integer; default
 *   {@link DEFAULT_MAX_FILE_BYTES})
 * @returns the file's bytes
 * @throws ImageReadError "is a directory", "not a regular file (fifo | character device |
 *   block device | socket)", or "file too large (N bytes, over --max-file-bytes M)"
 * @throws Deno.errors.NotFound, Deno.errors.PermissionDenied and the other errors of
 *   `Deno.stat`, `Deno.open` and reading
 * @throws RangeError when `maxBytes` is not a positive integer
 */
export async function readImageFile(
  path: string,
  maxBytes: number = DEFAULT_MAX_FILE_BYTES,
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  const check = (info: Deno.FileInfo) => {
    if (info.isDirectory) throw new ImageReadError(path, "is a directory");
    if (!info.isFile) throw new ImageReadError(path, `not a regular file (${kindOf(info)})`);
    if (info.size > maxBytes) {
      throw new ImageReadError(
        path,
        `file too large (${info.size} bytes, over --max-file-bytes ${maxBytes})`,
      );
    }
  };
  check(await Deno.stat(path));
  const file = await Deno.open(path, { read: true });
  try {
    // Checked again on the open file, in case it was replaced after the stat (a FIFO put
    // there in between could still block the open itself; nothing here can prevent that).
    const info = await file.stat();
    check(info);
    // One byte more than the size, to see the end of the file (or that it grew) at once.
    let buf = new Uint8Array(info.size + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) {
          throw new ImageReadError(
            path,
            `file too large (more than ${maxBytes} bytes, over --max-file-bytes ${maxBytes})`,
          );
        }
        const grown = new Uint8Array(Math.min(maxBytes + 1, Math.max(2 * n, 65536)));
        grown.set(buf);
        buf = grown;
      }
      const r = await file.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    return buf.slice(0, n); // a buffer of exactly the file's bytes, as Deno.readFile gives
  } finally {
    file.close();
  }
}
