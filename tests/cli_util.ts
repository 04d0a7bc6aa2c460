/**
 * Helpers shared by the tests that run the tool as a user does, in a subprocess
 * (cli_test, stream_test, bundle_test, the hostile_*_test files).
 */

/** The entry point `deno run -A mod.ts` runs. */
export const MOD = new URL("../mod.ts", import.meta.url).pathname;
/** The tiny 112x112 iResNet fixture (model.pth, images/, official-equivalent scores). */
export const TINY_FIX = new URL("./fixtures/golden/iresnet112_tiny/", import.meta.url).pathname;

/** What a finished subprocess left: exit status and its whole stdout and stderr as text. */
export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Limits and input of {@link runGuarded} and {@link runProcess}. */
export interface GuardOptions {
  /**
   * What to write on stdin, then close it (stdin is closed from the start when undefined).
   * Several pieces are written 30 ms apart, so that the tool reads them separately.
   */
  input?: string | string[];
  /** SIGKILL the process once it has run this many milliseconds (no limit when undefined). */
  limitMs?: number;
  /**
   * SIGKILL the process once its peak resident memory (VmHWM of /proc/<pid>/status, polled every
   * 20 ms) passes this many MiB; no limit and no polling when undefined, or where there is no
   * /proc (not Linux).
   */
  rssLimitMiB?: number;
}

/** A {@link ProcessResult} with what the guard saw of the run. */
export interface GuardedResult extends ProcessResult {
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
  /** Highest peak resident memory (VmHWM, MiB) read while it ran; 0 if never read. */
  peakMiB: number;
  /** Why it was killed ("still running after …", "peak resident memory …"), "" if not. */
  killed: string;
}

/**
 * Run `command args` in `cwd` to the end, with `opts.input` on stdin, killed (SIGKILL) when it
 * passes `opts.limitMs` or `opts.rssLimitMiB`. A stdin the process closed early (it exited) is
 * not an error: its status and stderr tell why. Nothing is thrown for a non-zero status.
 */
export async function runProcess(
  command: string,
  args: string[],
  cwd: string,
  opts: GuardOptions = {},
): Promise<GuardedResult> {
  const { input, limitMs, rssLimitMiB } = opts;
  const t0 = performance.now();
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = "";
  const kill = (why: string) => {
    if (killed) return;
    killed = why;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  const timer = limitMs === undefined
    ? undefined
    : setTimeout(() => kill(`still running after ${limitMs} ms`), limitMs);
  let peakMiB = 0;
  let done = false;
  const watch = rssLimitMiB === undefined ? Promise.resolve() : (async () => {
    while (!done && !killed) {
      try {
        const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
        const m = /VmHWM:\s+(\d+) kB/.exec(status);
        if (m) peakMiB = Math.max(peakMiB, Number(m[1]) / 1024);
      } catch { /* exited, or no /proc */ }
      if (peakMiB > rssLimitMiB && !done) {
        kill(`peak resident memory ${peakMiB.toFixed(0)} MiB, over ${rssLimitMiB} MiB`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    if (input !== undefined) {
      const w = child.stdin.getWriter();
      try {
        for (const [i, piece] of (typeof input === "string" ? [input] : input).entries()) {
          if (i) await new Promise((r) => setTimeout(r, 30));
          await w.write(new TextEncoder().encode(piece));
        }
        await w.close();
      } catch (e) {
        if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
      }
    }
    const out = await child.output();
    const ms = performance.now() - t0;
    done = true;
    await watch;
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
      ms,
      peakMiB,
      killed,
    };
  } finally {
    done = true;
    clearTimeout(timer);
  }
}

/**
 * Run `command args` in `cwd` to the end, with `input` on stdin (stdin closed when undefined);
 * no limits (see {@link runProcess}).
 */
export async function runCommand(
  command: string,
  args: string[],
  cwd: string,
  input?: string,
): Promise<ProcessResult> {
  const { code, stdout, stderr } = await runProcess(command, args, cwd, { input });
  return { code, stdout, stderr };
}

/** Run the source tree's tool (`deno run -A mod.ts args`) in `cwd`; see {@link runCommand}. */
export function runTool(args: string[], cwd: string, input?: string): Promise<ProcessResult> {
  return runCommand(Deno.execPath(), ["run", "-A", MOD, ...args], cwd, input);
}

/**
 * Run the source tree's tool (`deno run -A mod.ts args`) in `cwd` under a time and/or
 * peak-memory limit, so that a hang or a runaway allocation fails a test instead of the
 * machine; see {@link runProcess}.
 *
 * @example
 * const r = await runGuarded(["--weights", "model.pth"], dir, {
 *   input: "a.png\n",
 *   limitMs: 60_000,
 *   rssLimitMiB: 2048,
 * });
 * assertEquals(r.killed, "", r.stderr);
 */
export function runGuarded(
  args: string[],
  cwd: string,
  opts: GuardOptions = {},
): Promise<GuardedResult> {
  return runProcess(Deno.execPath(), ["run", "-A", MOD, ...args], cwd, opts);
}

/**
 * A fresh temporary folder holding model.pth (the tiny fixture) and images/ with
 * smooth_{a,b}.png, a corrupt broken.png and a directory named folder.png.
 */
export async function tinyWorkDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.mkdir(`${dir}/images`);
  for (const n of ["smooth_a.png", "smooth_b.png"]) {
    await Deno.copyFile(`${TINY_FIX}/images/${n}`, `${dir}/images/${n}`);
  }
  await Deno.writeTextFile(`${dir}/images/broken.png`, "this is not a PNG");
  await Deno.mkdir(`${dir}/images/folder.png`);
  await Deno.copyFile(`${TINY_FIX}/model.pth`, `${dir}/model.pth`);
  return dir;
}
