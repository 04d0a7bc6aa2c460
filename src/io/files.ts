/**
 * General file helpers the whole project uses: the atomic file writer and its temporary files
 * (names, cleaning up after killed runs), writing a whole buffer, creating and checking an
 * output directory, and reading the complete lines of a file that a killed process may have
 * left with a torn last line.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Options of {@link atomicWriteFile}. */
export interface AtomicWriteOptions {
  /** Flush the temp file to stable storage before the rename (default true). */
  sync?: boolean;
  /** Permission bits for the new file, before the umask (default 0o666; ignored on Windows). */
  mode?: number;
  /**
   * Test hook, called after the temp file is complete and closed, just before the rename. When
   * it throws, the write is abandoned as if it had failed there: the temp file is removed, the
   * target is untouched and the error is rethrown (wrapped).
   */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

function randomTag(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The names of this project's temporary files: `.<name>.<pid>.<12 hex digits>.tmp`, where
 * `<name>` is the target's name cut to its first 100 characters and `<pid>` the writing
 * process (groups: name, pid). {@link atomicWriteFile}'s temp files, the file sets' staged
 * files and backups (file_set.ts) and the write probe all follow it.
 */
export const TEMP_NAME_PATTERN: RegExp = /^\.(.+)\.(\d+)\.[0-9a-f]{12}\.tmp$/s;

/**
 * A fresh temporary path beside `path`, in the {@link TEMP_NAME_PATTERN} form (unique: the
 * process id and 48 random bits; kept under the usual 255-byte name limit for long names).
 *
 * @param path the target file path
 * @returns `<dir>/.<name>.<pid>.<random>.tmp`
 */
export function tempPath(path: string): string {
  const stem = Array.from(basename(path)).slice(0, 100).join("");
  return join(dirname(path), `.${stem}.${Deno.pid}.${randomTag()}.tmp`);
}

/** Whether another process with this id runs now (Linux: /proc; elsewhere unknown: false). */
function processAlive(pid: number): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Remove the temporary files that earlier runs left in `dir` when they were killed: regular
 * files named in the {@link TEMP_NAME_PATTERN} form whose name part starts with `prefix` and
 * whose process is gone (on Linux a file of another live process is kept, as it may be
 * writing; elsewhere the process cannot be asked and every such file is removed). No other
 * file is touched.
 *
 * @param dir the folder (a missing folder has nothing to clean)
 * @param prefix the start of the target names, e.g. `GraFIQs_`
 * @param ownPid also remove files named with this process's id (true when this process has
 *   not started writing in `dir` yet: its id may be an earlier process's, e.g. in containers)
 * @returns the names removed
 * @throws Error naming the folder when it cannot be listed
 */
export async function removeStaleTemps(
  dir: string,
  prefix: string,
  ownPid: boolean,
): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = TEMP_NAME_PATTERN.exec(e.name);
      if (!m || !e.isFile || !m[1].startsWith(prefix)) continue;
      const pid = Number(m[2]);
      if (pid === Deno.pid ? !ownPid : processAlive(pid)) continue;
      try {
        await Deno.remove(join(dir, e.name));
        removed.push(e.name);
      } catch { /* gone already, or not ours to remove */ }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw new Error(`cannot list ${dir}: ${(e as Error).message}`, { cause: e });
  }
  return removed.sort();
}

/**
 * Flush a folder's entries (created, renamed, removed files) to stable storage, where the
 * system allows it (fsync of the folder; a no-op where folders cannot be opened or synced,
 * e.g. on Windows). Never throws.
 *
 * @param dir the folder
 */
export async function syncDirectory(dir: string): Promise<void> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(dir, { read: true });
    await f.sync();
  } catch {
    /* not supported here */
  } finally {
    try {
      f?.close();
    } catch { /* already closed */ }
  }
}

/**
 * Write a whole file atomically: readers see either the old content or the complete new
 * content, never a truncated file, even when the process dies mid-write.
 *
 * The data goes to a temp file in the same directory ({@link tempPath}:
 * `.<name>.<pid>.<random>.tmp`, with the name cut to its first 100 characters, created
 * exclusively), which is flushed with fsync (unless `sync: false`), closed and then renamed over
 * `path` (rename is atomic within one file system). On any error the temp file is removed. The
 * directory itself is not fsynced, so after a power loss the rename may be lost (the old file
 * stays). An existing `path` is replaced with a new file (its permissions are not kept; a
 * symlink at `path` is replaced, not followed). The parent directory must exist.
 *
 * @param path target file path
 * @param data bytes, or a string written as UTF-8
 * @param options see {@link AtomicWriteOptions}
 * @throws Error `cannot write <path>: <reason>` (the original error as `cause`) when the temp
 *   file cannot be created or written, or the rename fails.
 */
export async function atomicWriteFile(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = await writeTempBeside(path, bytes, options.sync ?? true, options.mode);
  try {
    if (options.beforeRename) await options.beforeRename(tmp);
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      await Deno.remove(tmp);
    } catch { /* already gone */ }
    throw new Error(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Write `bytes` to a fresh temporary file beside `target` ({@link tempPath}), flushed to disk
 * when `sync`; returns its path. The first half of an atomic write, shared by
 * {@link atomicWriteFile} and the file sets of file_set.ts. On failure nothing is left behind.
 *
 * @throws Error `cannot write <target>: <reason>` (the original error as `cause`)
 */
export async function writeTempBeside(
  target: string,
  bytes: Uint8Array,
  sync: boolean,
  mode = 0o666,
): Promise<string> {
  const tmp = tempPath(target);
  let file: Deno.FsFile | undefined;
  let created = false;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true, mode });
    created = true;
    await writeAll(file, bytes);
    if (sync) await file.sync();
    file.close();
    file = undefined;
    return tmp;
  } catch (e) {
    if (file) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    if (created) {
      try {
        await Deno.remove(tmp);
      } catch { /* already gone */ }
    }
    throw new Error(`cannot write ${target}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Write all of `bytes` to `w` (a file, stdout): `write` may take fewer bytes than offered.
 *
 * @throws what `w.write` throws
 */
export async function writeAll(
  w: { write(b: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await w.write(bytes.subarray(off));
}

/**
 * Create `dir` and its parents if missing (`mkdir -p`); a clear error when it is not a directory.
 *
 * @throws Error `cannot create output directory DIR: ...` or `output path DIR exists and is not
 *   a directory`
 */
export async function ensureDirectory(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create output directory ${dir}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const info = await Deno.stat(dir);
  if (!info.isDirectory) throw new Error(`output path ${dir} exists and is not a directory`);
}

/**
 * Check, before a long run, that files can be written in `dir`: create it with its parents when
 * missing (`mkdir -p`), then create, write and remove a probe file with a unique name
 * (`.GraFIQs_write_probe.<pid>.<random>.tmp`). A folder that is read-only, on a read-only
 * file system, below a regular file, or not a folder at all is found here, in
 * milliseconds, instead of after hours of scoring.
 *
 * @param dir the folder the run will write into
 * @param what what the folder is, for the message (default `output directory`)
 * @returns the folders this call created, innermost first (empty when `dir` existed), for
 *   {@link removeEmptyDirectories} when the run then fails before writing anything; on an
 *   error they are removed again
 * @throws Error `cannot write to <what> <dir>: <OS error>` (the original error as `cause`)
 */
export async function checkWritableDirectory(
  dir: string,
  what = "output directory",
): Promise<string[]> {
  const created: string[] = [];
  const fail = async (e: unknown): Promise<never> => {
    await removeEmptyDirectories(created);
    throw new Error(`cannot write to ${what} ${dir}: ${(e as Error).message}`, { cause: e });
  };
  for (let p = dir;;) {
    try {
      await Deno.lstat(p);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) break;
    }
    created.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    await fail(e);
  }
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    await fail(e);
  }
  if (!info!.isDirectory) await fail(new Error("it exists and is not a directory"));
  const probe = tempPath(join(dir, "GraFIQs_write_probe"));
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(probe, { write: true, createNew: true });
    await writeAll(file, new TextEncoder().encode("GraFIQs write probe\n"));
    await file.sync();
    file.close();
    file = undefined;
    await Deno.remove(probe);
  } catch (e) {
    if (file) {
      try {
        file.close();
      } catch { /* already closed */ }
      try {
        await Deno.remove(probe);
      } catch { /* reported below */ }
    }
    await fail(e);
  }
  return created;
}

/**
 * Remove folders that are empty, in the given order (innermost first), e.g. the ones
 * {@link checkWritableDirectory} created for a run that then failed before writing anything.
 * A folder that is not empty, or gone, is left as it is; never throws.
 *
 * @param dirs the folders, innermost first
 */
export async function removeEmptyDirectories(dirs: readonly string[]): Promise<void> {
  for (const d of dirs) {
    try {
      await Deno.remove(d); // not recursive: fails on a folder that holds anything
    } catch { /* not empty, or gone */ }
  }
}

/**
 * Read the complete lines of a file one at a time without holding the file in memory, and cut
 * off a torn last line (bytes after the last line feed, left by a process killed mid-write):
 * the file is truncated to its complete lines before this returns.
 *
 * @param path the file
 * @param onLine called with each complete line (without the line feed) and its 1-based number
 * @returns the number of complete lines and how many torn bytes were cut (0 when none)
 * @throws Error naming the file when it cannot be read or truncated or is not UTF-8; whatever
 *   `onLine` throws
 */
export async function readCompleteLines(
  path: string,
  onLine: (line: string, lineNo: number) => void,
): Promise<{ lines: number; tornBytes: number }> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let complete = 0; // bytes up to and including the last line feed seen
  let total = 0;
  let lines = 0;
  const buf = new Uint8Array(1 << 16);
  try {
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      let start = 0;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, start)) {
        const part = chunk.subarray(start, i);
        let bytes = part;
        if (pendingBytes) {
          bytes = new Uint8Array(pendingBytes + part.length);
          let o = 0;
          for (const p of pending) bytes.set(p, (o += p.length) - p.length);
          bytes.set(part, o);
          pending = [];
          pendingBytes = 0;
        }
        let text: string;
        try {
          text = decoder.decode(bytes);
        } catch {
          throw new Error(`${path}:${lines + 1}: not valid UTF-8`);
        }
        onLine(text, ++lines);
        start = i + 1;
        complete = total + start;
      }
      if (start < n) {
        pending.push(chunk.slice(start));
        pendingBytes += n - start;
      }
      total += n;
    }
  } finally {
    file.close();
  }
  if (total > complete) {
    try {
      await Deno.truncate(path, complete);
    } catch (e) {
      throw new Error(`cannot cut the torn last line of ${path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  return { lines, tornBytes: total - complete };
}

/**
 * Thrown by {@link readRegularFile} when a file is not read. The message starts with the path;
 * `problem` says what is wrong without it (for failure lists that already name the file).
 */
export class FileReadError extends Error {
  /** What is wrong, in words, without the path. */
  readonly problem: string;

  /**
   * @param path the file the error is about
   * @param problem what is wrong, in words
   */
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "FileReadError";
    this.problem = problem;
  }
}

/**
 * The problem, in words and without the path, of a failed {@link readRegularFile}: a
 * {@link FileReadError}'s problem, "no such file", "permission denied", or the error's message.
 * For callers that put the path (and what the file is for) in front themselves.
 *
 * @param e what readRegularFile threw
 * @returns the problem text
 */
export function readProblem(e: unknown): string {
  if (e instanceof FileReadError) return e.problem;
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  return e instanceof Error ? e.message : String(e);
}

/** What a non-regular file system object is, in words ("fifo", "character device", ...). */
function fileKind(info: Deno.FileInfo): string {
  if (info.isFifo) return "fifo";
  if (info.isCharDevice) return "character device";
  if (info.isBlockDevice) return "block device";
  if (info.isSocket) return "socket";
  if (info.isSymlink) return "symbolic link";
  return "not a file";
}

/**
 * Read a whole regular file of at most `maxBytes` bytes, never more than its size at open time:
 * the bounded read of untrusted inputs (images, weights).
 *
 * The path is checked with `Deno.stat`, which follows symbolic links and opens nothing, so a
 * FIFO, a device such as /dev/zero or a socket is refused before it could block or be read
 * without end; the open file is checked again (`fstat`) and read into a buffer of the size it
 * had then. A file that grows or shrinks while it is read is refused.
 *
 * @param path the file to read
 * @param maxBytes the largest accepted size in bytes (a positive integer)
 * @param tooLarge the problem text for a file of `size` bytes over the cap (names the option
 *   or limit the caller applies)
 * @returns exactly the file's bytes
 * @throws {FileReadError} "is a directory", "not a regular file (fifo | character device |
 *   block device | socket | ...)", `tooLarge(size)`, or "it changed size while being read"
 * @throws {RangeError} when `maxBytes` is not a positive integer
 * @throws the errors of `Deno.stat`, `Deno.open` and reading (e.g. `Deno.errors.NotFound`)
 */
export async function readRegularFile(
  path: string,
  maxBytes: number,
  tooLarge: (size: number) => string,
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
  }
  const check = (info: Deno.FileInfo) => {
    if (info.isDirectory) throw new FileReadError(path, "is a directory");
    if (!info.isFile) throw new FileReadError(path, `not a regular file (${fileKind(info)})`);
    if (info.size > maxBytes) throw new FileReadError(path, tooLarge(info.size));
  };
  check(await Deno.stat(path));
  const file = await Deno.open(path, { read: true });
  try {
    // Checked again on the open file, in case it was replaced after the stat (a FIFO put there
    // in between could still block the open itself; Deno has no non-blocking open).
    const info = await file.stat();
    check(info);
    const bytes = new Uint8Array(info.size);
    let off = 0;
    while (off < bytes.byteLength) {
      const n = await file.read(bytes.subarray(off));
      if (n === null) {
        throw new FileReadError(path, `it shrank from ${info.size} to ${off} bytes while read`);
      }
      off += n;
    }
    if (await file.read(new Uint8Array(1)) !== null) {
      throw new FileReadError(path, `it grew past ${info.size} bytes while read`);
    }
    return bytes;
  } finally {
    file.close();
  }
}
