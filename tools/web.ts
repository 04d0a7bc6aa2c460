/**
 * `deno task web` and `deno task web:serve`: the static web page (web/) built into one folder
 * that any static file server can serve, and a small local server for it.
 *
 * ```sh
 * deno task web                          # dist/web/{index.html,app.js}
 * deno task web --output /srv/grafiqs    # another folder
 * deno task web:serve                    # build, then serve dist/web on http://127.0.0.1:8000/
 * deno task web:serve --port 9000 --no-build
 * ```
 *
 * The page's script is `deno bundle --platform browser` of web/main.ts: the project's own
 * modules (graph, kernels and their WGSL shaders as text imports, executor, weights readers,
 * image decoders with their WebAssembly inlined) and the npm packages they use, in one file.
 * The page loads nothing else: no CDN, no font, no remote data.
 *
 * @module
 */
import { extname, join, normalize } from "node:path";
import { parseToolArgs } from "./tool_args.ts";

const ROOT = new URL("../", import.meta.url);
/** The page's sources. */
export const WEB_DIR: string = new URL("web/", ROOT).pathname;
/** Default output folder of {@link buildWeb}. */
export const DEFAULT_WEB_OUT: string = new URL("dist/web/", ROOT).pathname;

/** The static files of web/ copied as they are (the script is bundled from web/main.ts). */
const STATIC_FILES = ["index.html", "style.css"];

/**
 * The `deno` arguments that bundle web/main.ts for the browser into `output`.
 *
 * @param output the script file to write
 */
export function webBundleArgs(output: string): string[] {
  return ["bundle", "--platform", "browser", "-o", output, join(WEB_DIR, "main.ts")];
}

/**
 * Build the page into `outDir`: index.html, style.css and app.js (the bundle). The bundle is
 * checked to import nothing (a leftover `node:` or npm import would make the browser fetch or
 * fail).
 *
 * @param outDir the folder to fill (created when missing)
 * @param deno the `deno` executable that bundles (default: the one running this)
 * @returns the files written, as paths
 * @throws Error when `deno bundle` fails or the bundle still imports a module
 */
export async function buildWeb(
  outDir: string = DEFAULT_WEB_OUT,
  deno: string = Deno.execPath(),
): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const script = join(outDir, "app.js");
  const out = await new Deno.Command(deno, {
    args: webBundleArgs(script),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `deno bundle failed (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const code = await Deno.readTextFile(script);
  const imports = [...code.matchAll(/^\s*import\s[^;]*?from\s*["']([^"']+)["']/gm)].map((m) =>
    m[1]
  );
  if (imports.length) {
    throw new Error(`${script} still imports ${imports.join(", ")}: the page must be one file`);
  }
  const files = [script];
  for (const f of STATIC_FILES) {
    await Deno.copyFile(join(WEB_DIR, f), join(outDir, f));
    files.push(join(outDir, f));
  }
  return files;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/**
 * Serve the files of `dir` over HTTP (GET and HEAD; `/` is index.html). Paths that leave `dir`
 * and files that are not there are 404.
 *
 * @param dir the built page's folder
 * @param port TCP port (0: any free one)
 * @param hostname interface to listen on (default 127.0.0.1: this machine only)
 * @returns the running server (its `addr.port` is the port chosen)
 */
export function serveWeb(
  dir: string,
  port: number,
  hostname = "127.0.0.1",
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ port, hostname, onListen: () => {} }, async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed", { status: 405 });
    }
    let rel = decodeURIComponent(new URL(req.url).pathname);
    if (rel.endsWith("/")) rel += "index.html";
    const path = normalize(join(dir, rel));
    if (!path.startsWith(normalize(dir + "/"))) return new Response("not found", { status: 404 });
    try {
      const body = await Deno.readFile(path);
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { "content-type": TYPES[extname(path)] ?? "application/octet-stream" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

const USAGE = `Usage: deno task web [--output DIR]
       deno task web:serve [--output DIR] [--port N] [--no-build]

Bundles the web page (web/) for the browser into one folder (default dist/web) that any static
file server can serve; web:serve also serves it on 127.0.0.1 (Ctrl-C stops).

  --output DIR   the folder to write (default dist/web)
  --port N       web:serve's port (default 8000; 0 picks a free one)
  --no-build     serve what DIR holds, without bundling again

Expected running time: about 10-20 s to bundle; web:serve runs until stopped.`;

/** The command line; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  const v = parseToolArgs("web", USAGE, args, {
    output: { type: "string", short: "o" },
    serve: { type: "boolean", default: false },
    port: { type: "string", default: "8000" },
    "no-build": { type: "boolean", default: false },
  });
  const outDir = v.output ?? DEFAULT_WEB_OUT;
  try {
    if (!v["no-build"]) {
      const files = await buildWeb(outDir);
      console.error(`web: built ${files.length} files in ${outDir}`);
    }
    if (v.serve) {
      const port = Number(v.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`--port must be 0..65535, got "${v.port}"`);
      }
      const server = serveWeb(outDir, port);
      console.error(
        `web: serving ${outDir} on http://127.0.0.1:${server.addr.port}/ (Ctrl-C stops)`,
      );
      await server.finished;
    }
    return 0;
  } catch (e) {
    console.error(`web: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
