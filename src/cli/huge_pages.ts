/**
 * Transparent huge pages for the software adapter's memory: the command re-executes itself in
 * place (same process, same arguments) with glibc's `glibc.malloc.hugetlb=1` tunable, so that
 * malloc asks the kernel for 2 MiB pages (`madvise(MADV_HUGEPAGE)`) where the system's THP mode
 * is `madvise`.
 *
 * Why: on a software adapter (Mesa's lavapipe/llvmpipe) device memory is ordinary malloc'd host
 * memory, and a run first-touches about 1.5 GB of it (weights, their staging copies, the
 * batch's activations). With 4 KiB pages that is ~400 000 page faults; on the project's
 * 2-core virtual machine they cost about 2 s of a 26 s iresnet50 run of 24 images
 * (`deno task profile --startup-only`: weight read + extraction + upload 3.1 s -> 0.5 s, the
 * first batch's set-up 6.0 s -> 4.1 s). glibc reads its tunables only when a process starts,
 * hence the re-execution; it happens before anything is read or written, so nothing is done
 * twice.
 *
 * In place means `execve(2)` (through Deno's FFI), not a child process: the process keeps its
 * PID, process group, standard streams and exit status, so SIGINT from a terminal, `kill`,
 * Slurm's signals and pipes behave exactly as without it.
 *
 * It is skipped, silently, unless every condition holds: Linux with glibc; THP mode `madvise`
 * (with `always` the pages are huge already, with `never` it cannot help); the tunable not
 * already set; `GRAFIQS_HUGE_PAGES` not `0` (the opt-out); and FFI, reading
 * `/proc/self/cmdline` and the environment already granted (never prompted for). Any failure
 * of the re-execution leaves the run going as before.
 *
 * Deno-only (FFI, /proc): the CLI layer calls it; the library and the web page never do.
 *
 * @module
 */

/** The environment variable that turns the re-execution off when set to `0`. */
export const HUGE_PAGES_ENV = "GRAFIQS_HUGE_PAGES";

/** The glibc tunable that makes malloc request transparent huge pages (glibc >= 2.35). */
export const HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1";

/** What decides the re-execution, gathered from the system (see {@link hugePagesPlan}). */
export interface HugePagesFacts {
  /** `Deno.build.os`. */
  readonly os: string;
  /** Contents of /sys/kernel/mm/transparent_hugepage/enabled, or null when unreadable. */
  readonly thpMode: string | null;
  /** The current `GLIBC_TUNABLES`, or undefined. */
  readonly tunables: string | undefined;
  /** The current value of {@link HUGE_PAGES_ENV}, or undefined. */
  readonly optOut: string | undefined;
}

/**
 * Whether to re-execute with huge pages, and with which `GLIBC_TUNABLES` value; the pure part
 * of {@link relaunchWithHugePages}.
 *
 * @returns the new `GLIBC_TUNABLES` value (the tunable appended to what was there, `:`
 *   separated), or null when the re-execution would not help or was turned off
 * @example
 * ```ts
 * import { hugePagesPlan } from "./huge_pages.ts";
 * hugePagesPlan({ os: "linux", thpMode: "always [madvise] never\n", tunables: undefined,
 *   optOut: undefined }); // "glibc.malloc.hugetlb=1"
 * ```
 */
export function hugePagesPlan(f: HugePagesFacts): string | null {
  if (f.os !== "linux" || f.optOut === "0") return null;
  if (f.thpMode === null || !f.thpMode.includes("[madvise]")) return null;
  if (f.tunables?.includes("glibc.malloc.hugetlb")) return null;
  return f.tunables ? `${f.tunables}:${HUGETLB_TUNABLE}` : HUGETLB_TUNABLE;
}

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/** NUL-terminated UTF-8 bytes of `s`. */
function cString(s: string): Uint8Array<ArrayBuffer> {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/**
 * Re-execute this process in place with {@link HUGETLB_TUNABLE} when {@link hugePagesPlan}
 * says it helps (see the module documentation for when and why). Call it first thing, before
 * any input is read or output written. On success it does not return (the process image is
 * replaced and starts again from the beginning, this time with the tunable set, so the call
 * then returns at once); when skipped or when the re-execution fails it returns and the run
 * goes on with normal pages.
 *
 * @returns why it did not re-execute (for tests and debugging): `"not needed"` or
 *   `"unavailable: <reason>"`
 */
export function relaunchWithHugePages(): string {
  if (Deno.build.os !== "linux") return "not needed";
  const path = "/sys/kernel/mm/transparent_hugepage/enabled";
  if (
    !granted({ name: "env" }) || !granted({ name: "ffi" }) ||
    !granted({ name: "read", path: "/proc/self/cmdline" }) || !granted({ name: "read", path })
  ) {
    return "unavailable: permissions";
  }
  let thpMode: string | null = null;
  try {
    thpMode = Deno.readTextFileSync(path);
  } catch { /* no THP support: nothing to gain */ }
  const tunables = hugePagesPlan({
    os: Deno.build.os,
    thpMode,
    tunables: Deno.env.get("GLIBC_TUNABLES"),
    optOut: Deno.env.get(HUGE_PAGES_ENV),
  });
  if (tunables === null) return "not needed";
  // A script read from stdin (`deno run -`) could not be read a second time.
  const main = Deno.mainModule;
  if (!main.startsWith("file:") || main.includes("$deno$")) {
    return "unavailable: the main module is not a file";
  }
  let argv: string[];
  try {
    argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0");
  } catch (e) {
    return `unavailable: ${(e as Error).message}`;
  }
  if (argv.at(-1) === "") argv.pop();
  if (argv.length === 0) return "unavailable: empty command line";
  let libc: Deno.DynamicLibrary<{ execve: Deno.ForeignFunction }> | undefined;
  try {
    libc = Deno.dlopen(
      "libc.so.6",
      {
        execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
      } as const,
    );
  } catch (e) {
    return `unavailable: ${(e as Error).message}`;
  }
  const env = { ...Deno.env.toObject(), GLIBC_TUNABLES: tunables };
  const keep: Uint8Array[] = []; // the strings must outlive the call
  const table = (items: string[]) => {
    const ptrs = new BigUint64Array(items.length + 1);
    items.forEach((s, i) => {
      const c = cString(s);
      keep.push(c);
      ptrs[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(c)));
    });
    return ptrs;
  };
  const argvTable = table(argv);
  const envTable = table(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  // Only returns on failure (errno is not reachable from here; the run goes on without).
  libc.symbols.execve(cString(Deno.execPath()), argvTable, envTable);
  libc.close();
  return "unavailable: execve failed";
}

/**
 * The entry points' call (mod.ts, and the bundle's and binary's generated entry): re-execute
 * with huge pages ({@link relaunchWithHugePages}) for the commands that run the network, the
 * main command and `calibrate`; not for `edc`, `merge`, `--version` or `--help`, which need no
 * GPU memory.
 *
 * @param args the command line after the program (`Deno.args`)
 * @returns as {@link relaunchWithHugePages}, or `"not needed"` for the light commands
 */
export function relaunchForCommand(args: readonly string[]): string {
  const light = ["edc", "merge", "--version", "-V"].includes(args[0] ?? "") ||
    args.some((a) => a === "--help" || a === "-h");
  return light ? "not needed" : relaunchWithHugePages();
}
