/**
 * A valid `XDG_RUNTIME_DIR` before WebGPU starts.
 *
 * Mesa's drivers (llvmpipe, lavapipe) look for a display when the adapter is requested and print
 * `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` on stderr when the variable
 * is unset or does not name a private folder of the user. The message is harmless (no display is
 * needed for compute) but alarming, so the tool points the variable at a private folder first.
 *
 * @module
 */

/** Name of the per-user folder created below the system's temporary folder. */
function privateDirName(uid: number): string {
  return `grafiqs-runtime-${uid}`;
}

/**
 * Whether `dir` is what the XDG Base Directory specification asks of a runtime folder: an
 * existing directory (not a symbolic link to one), owned by `uid`, with mode 0700.
 */
function isValidRuntimeDir(dir: string, uid: number): boolean {
  try {
    const st = Deno.lstatSync(dir);
    return st.isDirectory && st.uid === uid && st.mode !== null && (st.mode & 0o777) === 0o700;
  } catch {
    return false;
  }
}

function tempRoot(): string {
  const t = Deno.env.get("TMPDIR");
  return t && t.startsWith("/") ? t.replace(/\/+$/, "") || "/" : "/tmp";
}

/**
 * Make sure `XDG_RUNTIME_DIR` names a private folder (a directory owned by this user, mode
 * 0700) before the first WebGPU adapter is requested. When it is unset or invalid, the variable
 * is set for this process (and so for its child processes) to `$TMPDIR/grafiqs-runtime-UID`
 * (`/tmp` without TMPDIR), created with mode 0700 if missing. When that name is taken by
 * something that is not such a folder (another user's, a link, a file), a fresh private temporary
 * folder is used instead and removed when the process exits. A valid value is left as it is.
 * Nothing is done on Windows, or without the permissions to read and write the environment.
 *
 * Called before `Gpu.create` by the command line (`createGpu`, cli/setup.ts), the tools and the
 * tests; `Gpu.create` itself stays free of Deno APIs for the web page. Idempotent and cheap
 * after the first call.
 *
 * @returns the folder `XDG_RUNTIME_DIR` names afterwards, or null when nothing was done.
 */
export function ensureRuntimeDir(): string | null {
  if (Deno.build.os === "windows") return null;
  let uid: number | null;
  let current: string | undefined;
  try {
    uid = Deno.uid();
    current = Deno.env.get("XDG_RUNTIME_DIR");
  } catch {
    return null; // no --allow-env / --allow-sys: leave the environment alone
  }
  if (uid === null) return null;
  if (current && isValidRuntimeDir(current, uid)) return current;
  let dir = `${tempRoot()}/${privateDirName(uid)}`;
  try {
    try {
      Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.chmodSync(dir, 0o700); // the umask may have taken bits away
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    if (!isValidRuntimeDir(dir, uid)) {
      dir = Deno.makeTempDirSync({ prefix: "grafiqs-runtime-" });
      Deno.chmodSync(dir, 0o700);
      const made = dir;
      globalThis.addEventListener("unload", () => {
        try {
          Deno.removeSync(made, { recursive: true });
        } catch { /* already gone */ }
      });
    }
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    return dir;
  } catch {
    return null; // no write permission: Mesa prints its harmless line, nothing else changes
  }
}
