/**
 * Publishing several files in one folder as one set, under a manifest: a reader that checks
 * the manifest sees the old set or the new set, never a mix, whatever happens during the
 * write (a full disk, a file that cannot be replaced, a kill).
 *
 * POSIX renames one name at a time, so several files at fixed names cannot all change at one
 * instant. The set's validity therefore lives in one file, the manifest, which names every file
 * of the set with its size and SHA-256, is removed before the first file is replaced and put
 * in place (atomically) after the last one. The protocol ({@link publishFileSet}):
 * 1. write every new file, and the new manifest, to a temporary file beside its target
 *    (`.<name>.<pid>.<random>.tmp`, see files.ts) and flush each to stable storage; check that
 *    no target is a directory. A failure here leaves the old set and its manifest untouched.
 * 2. move the old manifest aside (from here until step 4 the folder holds no valid set);
 * 3. for each file: keep the old file under a temporary name (a hard link, so the official
 *    name never goes missing), rename the new one into place;
 * 4. flush the folder, rename the new manifest into place, flush the folder.
 * A failure in steps 2-4 puts every old file and the old manifest back (the old set is valid
 * again) and removes the new files. A process killed in steps 2-4 leaves no manifest: no valid
 * set until the next run, which also removes the killed run's temporary files
 * (`removeStaleTemps` in files.ts).
 *
 * A reader takes a set with {@link readFileSet}: the manifest must exist and every file named
 * in it must have the size and SHA-256 it lists. A mismatch means that a publish is in
 * progress (read again later) or was killed. Files not named in the manifest (e.g. an earlier
 * run's embeddings) are not part of the set.
 *
 * @module
 */
import { basename, join } from "node:path";
import { syncDirectory, tempPath, writeTempBeside } from "./files.ts";

/** The `format` field of a manifest written by {@link publishFileSet}. */
export const MANIFEST_FORMAT = "GraFIQs output set";

/** One file of a set as a manifest lists it. */
export interface ManifestEntry {
  /** The file name in the set's folder. */
  name: string;
  /** Its size in bytes. */
  bytes: number;
  /** The SHA-256 of its bytes, 64 lowercase hexadecimal digits. */
  sha256: string;
}

/** One file to publish with {@link publishFileSet}. */
export interface FileSetEntry {
  /** The file name in the folder (no path separators). */
  name: string;
  /**
   * Its content: bytes, a string written as UTF-8, or a function giving either, called when the
   * file is staged (so that only one large file need be in memory at a time).
   */
  data: Uint8Array | string | (() => Uint8Array | string);
}

/** Options of {@link publishFileSet}. */
export interface FileSetOptions {
  /** The manifest's file name in the folder, e.g. `GraFIQs_manifest.json`. */
  manifest: string;
  /** Flush the files and the folder to stable storage (default true). */
  sync?: boolean;
  /**
   * Test hook, called after every file is staged, before each file is put in place (with its
   * name; the manifest's last). When it throws, the publish fails there: the old set is put
   * back and the error rethrown (wrapped), as for any other failure of a rename.
   */
  beforePublish?: (name: string) => void | Promise<void>;
}

/** Whether a file name is a plain name in a folder. */
function checkName(name: string): void {
  if (name === "" || name === "." || name === ".." || /[/\\\0]/.test(name)) {
    throw new Error(`bad file name ${JSON.stringify(name)} in a file set`);
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The manifest text of a set: JSON, two-space indented, with a final line feed:
 * `{"format": "GraFIQs output set", "version": 1, "files": [{"name", "bytes", "sha256"}...]}`,
 * the files in the given order. Deterministic: the same files give the same bytes.
 *
 * @param entries the files of the set
 */
export function manifestText(entries: readonly ManifestEntry[]): string {
  const files = entries.map((e) => ({ name: e.name, bytes: e.bytes, sha256: e.sha256 }));
  return JSON.stringify({ format: MANIFEST_FORMAT, version: 1, files }, null, 2) + "\n";
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch { /* already gone */ }
}

/**
 * Keep the content of an existing `target` under a temporary name: as a second hard link when
 * `inPlace` (the target stays where it is until it is replaced; a rename where links are not
 * supported), else by renaming it away. Returns the temporary path, or null when there is no
 * target.
 */
async function keepAside(target: string, inPlace: boolean): Promise<string | null> {
  try {
    await Deno.lstat(target);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const backup = tempPath(target);
  if (inPlace) {
    try {
      await Deno.link(target, backup);
      return backup;
    } catch { /* no hard links here: rename */ }
  }
  await Deno.rename(target, backup);
  return backup;
}

/**
 * Publish `files` in `dir` as one set with a manifest (see the module comment for the
 * protocol and what a reader sees). Each file ends up at `dir/<name>` with exactly the given
 * bytes; the manifest `dir/<options.manifest>` lists them ({@link manifestText}). Files of
 * `dir` that are not in `files` are left alone.
 *
 * @param dir the folder (must exist)
 * @param files the files of the new set, in manifest order; unique plain names, not the
 *   manifest's
 * @param options the manifest's name; see {@link FileSetOptions}
 * @returns the manifest's entries
 * @throws Error for a bad or repeated name; `cannot write <path>: <reason>` (the original error
 *   as `cause`) when a file cannot be staged, a target is a directory, or a rename fails. On
 *   every error the old set (files and manifest) is as it was and no temporary file is left;
 *   when even putting an old file back fails, the message says which.
 */
export async function publishFileSet(
  dir: string,
  files: readonly FileSetEntry[],
  options: FileSetOptions,
): Promise<ManifestEntry[]> {
  const sync = options.sync ?? true;
  checkName(options.manifest);
  const seen = new Set([options.manifest]);
  for (const f of files) {
    checkName(f.name);
    if (seen.has(f.name)) throw new Error(`file ${JSON.stringify(f.name)} given twice in a set`);
    seen.add(f.name);
  }
  const encoder = new TextEncoder();
  const bytesOf = (d: Uint8Array | string) => (typeof d === "string" ? encoder.encode(d) : d);

  // 1. Stage every file, then the manifest; nothing visible changes yet.
  const entries: ManifestEntry[] = [];
  const staged: { name: string; target: string; temp: string }[] = [];
  try {
    for (const f of files) {
      const target = join(dir, f.name);
      const bytes = bytesOf(typeof f.data === "function" ? f.data() : f.data);
      entries.push({ name: f.name, bytes: bytes.length, sha256: await sha256Hex(bytes) });
      staged.push({ name: f.name, target, temp: await writeTempBeside(target, bytes, sync) });
    }
    const target = join(dir, options.manifest);
    const bytes = encoder.encode(manifestText(entries));
    staged.push({
      name: options.manifest,
      target,
      temp: await writeTempBeside(target, bytes, sync),
    });
    for (const s of staged) {
      let info: Deno.FileInfo | undefined;
      try {
        info = await Deno.lstat(s.target);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw new Error(`cannot write ${s.target}: ${(e as Error).message}`, { cause: e });
        }
      }
      if (info?.isDirectory) throw new Error(`cannot write ${s.target}: it is a directory`);
    }
  } catch (e) {
    for (const s of staged) await removeQuietly(s.temp);
    throw e;
  }

  // 2-4. Publish: old manifest aside, each file swapped, new manifest in place.
  const man = staged[staged.length - 1];
  const moves: { target: string; backup: string | null; placed: boolean }[] = [];
  let current = man.target;
  try {
    moves.push({ target: man.target, backup: await keepAside(man.target, false), placed: false });
    if (sync) await syncDirectory(dir);
    for (const s of staged.slice(0, -1)) {
      current = s.target;
      await options.beforePublish?.(s.name);
      const move = { target: s.target, backup: await keepAside(s.target, true), placed: false };
      moves.push(move);
      await Deno.rename(s.temp, s.target);
      move.placed = true;
    }
    if (sync) await syncDirectory(dir);
    current = man.target;
    await options.beforePublish?.(man.name);
    await Deno.rename(man.temp, man.target);
    moves[0].placed = true;
  } catch (e) {
    // Put the old set back, the manifest last, and drop the new files.
    const problems: string[] = [];
    for (const m of moves.slice(1).reverse().concat(moves.slice(0, 1))) {
      try {
        if (m.backup) await Deno.rename(m.backup, m.target);
        else if (m.placed) await Deno.remove(m.target);
      } catch (r) {
        problems.push(
          `${basename(m.target)}${m.backup ? ` (old content in ${m.backup})` : ""}: ` +
            (r as Error).message,
        );
      }
    }
    for (const s of staged) await removeQuietly(s.temp);
    if (sync) await syncDirectory(dir);
    throw new Error(
      `cannot write ${current}: ${(e as Error).message}; ` +
        (problems.length
          ? `putting the earlier files back failed too: ${problems.join("; ")}`
          : "the earlier files are kept as they were"),
      { cause: e },
    );
  }
  if (sync) await syncDirectory(dir);
  for (const m of moves) if (m.backup) await removeQuietly(m.backup);
  return entries;
}

/** A file of a set as {@link readFileSet} returns it: its manifest entry and its bytes. */
export interface FileSetFile extends ManifestEntry {
  /** The file's bytes, as checked against the manifest. */
  data: Uint8Array;
}

/**
 * Read the set published in `dir` under the manifest `manifest`, checked: the manifest must
 * exist and be a manifest of {@link MANIFEST_FORMAT} version 1, and every file it names must
 * have the listed size and SHA-256. The bytes returned are the ones checked, so they are one
 * consistent set even when a publish starts meanwhile (the check then fails instead: read
 * again).
 *
 * @param dir the folder
 * @param manifest the manifest's file name, e.g. `GraFIQs_manifest.json`
 * @returns the files of the set, in manifest order, with their bytes
 * @throws Error naming the manifest or the file that is missing, malformed or different (a
 *   publish in progress or killed, or a file edited since)
 */
export async function readFileSet(dir: string, manifest: string): Promise<FileSetFile[]> {
  const path = join(dir, manifest);
  let m: { format?: unknown; version?: unknown; files?: unknown };
  try {
    m = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`no complete file set in ${dir}: ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (m?.format !== MANIFEST_FORMAT || m.version !== 1 || !Array.isArray(m.files)) {
    throw new Error(`${path}: not a version 1 "${MANIFEST_FORMAT}" manifest`);
  }
  const out: FileSetFile[] = [];
  for (const f of m.files as ManifestEntry[]) {
    if (
      typeof f?.name !== "string" || typeof f.bytes !== "number" || typeof f.sha256 !== "string"
    ) {
      throw new Error(`${path}: a file entry without name, bytes and sha256`);
    }
    checkName(f.name);
    const fp = join(dir, f.name);
    let data: Uint8Array;
    try {
      data = await Deno.readFile(fp);
    } catch (e) {
      throw new Error(`${fp}: named in ${path} but cannot be read: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (data.length !== f.bytes || (await sha256Hex(data)) !== f.sha256) {
      throw new Error(
        `${fp} is not the file ${path} names (${data.length} bytes, listed ${f.bytes}; ` +
          "SHA-256 differs or a publish is in progress)",
      );
    }
    out.push({ name: f.name, bytes: f.bytes, sha256: f.sha256, data });
  }
  return out;
}
