/**
 * `deno task compile` and `deno task bundle`: the tool as one standalone executable, or as one
 * JavaScript file.
 *
 * ```sh
 * deno task compile                      # dist/grafiqs (dist/grafiqs.exe on Windows)
 * deno task compile --output ~/bin/grafiqs --target aarch64-apple-darwin
 * DENORT_BIN=/opt/deno/denort deno task compile   # offline: a local runtime
 * deno task bundle                       # dist/grafiqs.js, run with `deno run -A grafiqs.js`
 * ```
 *
 * `deno compile` joins the program to a copy of denort, Deno's runtime without the tooling. It
 * takes denort from the file named by the environment variable DENORT_BIN, else from its cache
 * (DENO_DIR/dl/release/vVERSION/denort-TARGET.zip), else downloads it from Deno's release
 * server. Machines without that server (CI, clusters) set DENORT_BIN to a denort of the same
 * version as the `deno` doing the compiling; DENO_BIN picks that `deno` (default: the one
 * running this script). The WGSL shaders are text imports, so they are inside the program;
 * the executable runs from any folder with nothing beside it, with all permissions granted.
 *
 * The bundle is esbuild's single-file output of mod.ts with every npm package inlined. One
 * package is left out: @resvg/resvg-js, a native Node-API addon that only renders the optional
 * EDC figure as PNG; without it the `edc` command still writes the SVG and notes the skipped
 * PNG.
 *
 * After building, the result is smoke-tested (`--version`) from an empty temporary folder.
 *
 * @module
 */
import { dirname } from "node:path";
import { describeParseError, parseArgs } from "../src/cli/args.ts";
import { VERSION } from "../src/version.ts";

const ROOT = new URL("../", import.meta.url);
const ENTRY = new URL("mod.ts", ROOT).pathname;

/** npm packages left out of the bundle (native addons that esbuild cannot inline). */
export const BUNDLE_EXTERNAL = ["@resvg/resvg-js"];

/** The `deno` arguments that bundle mod.ts into `output` (one file, npm packages inlined). */
export function bundleArgs(output: string): string[] {
  return ["bundle", ...BUNDLE_EXTERNAL.flatMap((x) => ["--external", x]), "-o", output, ENTRY];
}

/** The `deno` arguments that compile mod.ts into the executable `output`. */
export function compileArgs(output: string, target?: string): string[] {
  return [
    "compile",
    "--allow-all",
    "--output",
    output,
    ...(target ? ["--target", target] : []),
    ENTRY,
  ];
}

/** Where the runtime for `deno compile` comes from. */
export interface DenortSource {
  /** "env": DENORT_BIN; "cache": the zip in Deno's cache; "download": neither was found. */
  kind: "env" | "cache" | "download";
  /** The file used (env, cache), or the cache path that was looked for (download). */
  path: string;
}

/**
 * Find the denort that `deno compile` will use for `target`, without downloading.
 *
 * @param deno the `deno` executable (for `deno info --json`, which names the cache folder)
 * @param target a Rust target triple, e.g. `x86_64-unknown-linux-gnu`
 * @param env environment lookup (default: the process's)
 * @throws Error naming DENORT_BIN when it is set but is not an existing file
 */
export async function findDenort(
  deno: string,
  target: string,
  env: (k: string) => string | undefined = (k) => Deno.env.get(k),
): Promise<DenortSource> {
  const fromEnv = env("DENORT_BIN");
  if (fromEnv !== undefined && fromEnv !== "") {
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.stat(fromEnv);
    } catch { /* reported below */ }
    if (!info?.isFile) {
      throw new Error(`DENORT_BIN=${fromEnv}: no such file (it must name a denort executable)`);
    }
    return { kind: "env", path: fromEnv };
  }
  let denoDir = env("DENO_DIR") ?? "";
  if (!denoDir) {
    const out = await new Deno.Command(deno, {
      args: ["info", "--json"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) denoDir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir ?? "";
  }
  const version = await denoVersion(deno);
  const cached = `${denoDir}/dl/release/v${version}/denort-${target}.zip`;
  try {
    if ((await Deno.stat(cached)).isFile) return { kind: "cache", path: cached };
  } catch { /* not cached */ }
  return { kind: "download", path: cached };
}

async function denoVersion(deno: string): Promise<string> {
  if (deno === Deno.execPath()) return Deno.version.deno;
  const out = await new Deno.Command(deno, { args: ["--version"], stdout: "piped" }).output();
  const m = /deno (\S+)/.exec(new TextDecoder().decode(out.stdout));
  if (!out.success || !m) throw new Error(`${deno} --version failed`);
  return m[1];
}

/**
 * Run a built artefact with `--version` from an empty temporary folder (no source tree, no
 * deno.json) and check what it prints.
 *
 * @param command the executable, or `deno` for a bundle
 * @param args arguments before `--version` (for a bundle: `run -A --no-config FILE`)
 * @throws Error when it fails or prints something else than `grafiqs VERSION`
 */
export async function smokeTest(command: string, args: string[]): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_smoke_" });
  try {
    const out = await new Deno.Command(command, {
      args: [...args, "--version"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success || text !== `grafiqs ${VERSION}`) {
      throw new Error(
        `smoke test failed: ${command} ${[...args, "--version"].join(" ")} printed ` +
          `${JSON.stringify(text)} (exit ${out.code}): ` +
          new TextDecoder().decode(out.stderr).slice(0, 2000),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runDeno(deno: string, args: string[], env?: Record<string, string>) {
  const st = await new Deno.Command(deno, { args, env, stdout: "inherit", stderr: "inherit" })
    .spawn().status;
  return st.code;
}

const USAGE = `Usage: deno task compile [--output FILE] [--target TRIPLE]
       deno task bundle  [--output FILE.js]

Builds dist/grafiqs, one executable with the shaders and npm packages inside (compile), or
dist/grafiqs.js, one JavaScript file for any Deno (--bundle), then runs it with --version.

Environment: DENORT_BIN (a local denort for offline compiles), DENO_BIN (the deno to use).
Running time: about 10 s for the bundle; 20-60 s for compile, plus the download of denort
(about 40 MB) the first time unless DENORT_BIN is set.`;

/** The command-line options, for `parseArgs`. */
const OPTIONS = {
  bundle: { type: "boolean", default: false },
  output: { type: "string", short: "o" },
  target: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** The command line; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: OPTIONS,
    }).values;
  } catch (e) {
    console.error(`compile: ${describeParseError(e, Object.keys(OPTIONS))}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const deno = Deno.env.get("DENO_BIN") || Deno.execPath();
  const exe = Deno.build.os === "windows" && !v.target ? ".exe" : "";
  const output = v.output ?? new URL(v.bundle ? "dist/grafiqs.js" : `dist/grafiqs${exe}`, ROOT)
    .pathname;
  await Deno.mkdir(dirname(output), { recursive: true });
  try {
    if (v.bundle) {
      if (v.target) throw new Error("--target applies to compile, not to the bundle");
      const code = await runDeno(deno, bundleArgs(output));
      if (code !== 0) throw new Error(`deno bundle failed (exit ${code})`);
      await smokeTest(deno, ["run", "-A", "--no-config", output]);
      console.error(`compile: ${output} (run it with: deno run -A ${output} ...)`);
      return 0;
    }
    const target = v.target ?? Deno.build.target;
    const src = await findDenort(deno, target);
    if (src.kind === "download") {
      console.error(
        `compile: no DENORT_BIN and no cached runtime at ${src.path}; deno compile will try ` +
          `to download it. Offline, set DENORT_BIN to a denort ${Deno.version.deno} for ${target}.`,
      );
    } else {console.error(
        `compile: runtime from ${src.kind === "env" ? "DENORT_BIN" : "cache"}: ${src.path}`,
      );}
    const env = src.kind === "env" ? { DENORT_BIN: src.path } : undefined;
    const code = await runDeno(deno, compileArgs(output, v.target), env);
    if (code !== 0) {
      throw new Error(
        `deno compile failed (exit ${code})` +
          (src.kind === "download" ? "; offline builds need DENORT_BIN (see above)" : ""),
      );
    }
    if (target === Deno.build.target) await smokeTest(output, []);
    console.error(`compile: ${output}`);
    return 0;
  } catch (e) {
    console.error(`compile: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
