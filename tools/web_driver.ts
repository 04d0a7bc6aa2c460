/// <reference lib="dom" />
/**
 * Driving the web page (web/) in real headless Chromium over the DevTools protocol, with
 * puppeteer-core and the system's Chromium (no browser download): the harness of
 * tests/browser_test.ts and tools/web_reference.ts.
 *
 * Chromium runs with `--headless=new --enable-unsafe-webgpu`; on a machine without a GPU its
 * WebGPU runs on the bundled SwiftShader adapter. The page is built ({@link buildWeb}) and
 * served from 127.0.0.1 on a free port; every request the page makes is recorded, so that a
 * caller can check that none left the page's origin.
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { buildWeb, serveWeb } from "./web.ts";

/** Where Chromium is looked for when CHROMIUM_BIN is not set. */
export const CHROMIUM_CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
];

/**
 * The Chromium executable: CHROMIUM_BIN when set, else the first of
 * {@link CHROMIUM_CANDIDATES} that exists.
 *
 * @throws Error saying how to install it when none is found
 */
export function findChromium(): string {
  const env = Deno.env.get("CHROMIUM_BIN");
  if (env) return env;
  for (const c of CHROMIUM_CANDIDATES) {
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* next */ }
  }
  throw new Error(
    `no Chromium found (looked at ${CHROMIUM_CANDIDATES.join(", ")}); install it ` +
      "(Debian: apt-get install chromium) or set CHROMIUM_BIN",
  );
}

/** What the page shows after a run, read from its DOM. */
export interface PageResults {
  /** `document.body.dataset.state` (see web/main.ts). */
  state: string;
  /** The adapter's name as shown. */
  adapter: string;
  /** The kernel families as shown. */
  kernels: string;
  /** The model line as shown. */
  model: string;
  /** The scored images, in the table's order (sorted by the first group's score). */
  rows: { path: string; scores: string[] }[];
  /** The failures as listed. */
  failures: { path: string; reason: string }[];
  /** The messages on screen, newest first. */
  messages: { kind: string; text: string }[];
  /** The downloads offered: file name to content. */
  downloads: Record<string, string>;
  /** The progress text, e.g. `3 of 3 images in 1.2 s`. */
  progress: string;
}

/** A page loaded in headless Chromium (see {@link openPage}). */
export interface PageSession {
  /** The puppeteer page. */
  page: Page;
  /** The page's origin, e.g. `http://127.0.0.1:40123`. */
  origin: string;
  /** Every URL the page requested, in order. */
  requests: string[];
  /** Console messages and page errors, for diagnostics. */
  log: string[];
  /** Pick a weights file with the page's weights input. */
  openWeights(path: string): Promise<void>;
  /** Pick images with the page's image input (their names become the path texts). */
  addImages(paths: string[]): Promise<void>;
  /** Pick a folder with the page's folder input (paths become `FOLDER/NAME`). */
  addFolder(path: string): Promise<void>;
  /**
   * Wait until the page's state is one of `states`.
   * @throws Error with the page's messages when `timeoutMs` passes first
   */
  waitState(states: string[], timeoutMs: number): Promise<string>;
  /** Read what the page shows, and the contents of its downloads. */
  results(): Promise<PageResults>;
  /** Close the browser and stop the server. */
  close(): Promise<void>;
}

/**
 * Build the page into `outDir`, serve it and open it in headless Chromium.
 *
 * @param outDir where the page is built (a temporary folder is fine)
 * @param opts `build: false` serves `outDir` as it is
 * @returns the session; call `close()` when done
 * @throws Error when Chromium is missing, the build fails, or the page does not start
 */
export async function openPage(
  outDir: string,
  opts: { build?: boolean; width?: number; height?: number } = {},
): Promise<PageSession> {
  const chromium = findChromium();
  if (opts.build !== false) await buildWeb(outDir);
  const server = serveWeb(outDir, 0);
  const origin = `http://127.0.0.1:${server.addr.port}`;
  let browser: Browser | undefined;
  try {
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      args: ["--headless=new", "--enable-unsafe-webgpu", "--no-sandbox", "--no-first-run"],
      defaultViewport: { width: opts.width ?? 1200, height: opts.height ?? 900 },
    });
    const page = await browser.newPage();
    const requests: string[] = [];
    const log: string[] = [];
    page.on("request", (r) => void requests.push(r.url()));
    page.on("console", (m) => void log.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => void log.push(`pageerror: ${(e as Error).message}`));
    await page.goto(`${origin}/`, { waitUntil: "load" });
    const b = browser;
    const session: PageSession = {
      page,
      origin,
      requests,
      log,
      async openWeights(path) {
        const input = (await page.$("#weights"))!;
        // deno-lint-ignore no-explicit-any
        await (input as any).uploadFile(path);
      },
      async addImages(paths) {
        const input = (await page.$("#images"))!;
        // deno-lint-ignore no-explicit-any
        await (input as any).uploadFile(...paths);
      },
      async addFolder(path) {
        const input = (await page.$("#folder"))!;
        // deno-lint-ignore no-explicit-any
        await (input as any).uploadFile(path);
      },
      async waitState(states, timeoutMs) {
        // Polled from here: one long waitForFunction would run into the DevTools protocol's
        // own timeout (3 minutes) on a long run.
        const deadline = performance.now() + timeoutMs;
        for (;;) {
          const state = await page.evaluate(() => document.body.dataset.state ?? "");
          if (states.includes(state)) return state;
          if (performance.now() > deadline) break;
          await new Promise((ok) => setTimeout(ok, 200));
        }
        const r = await session.results();
        throw new Error(
          `the page did not reach ${states.join(" or ")} within ${timeoutMs} ms (state ` +
            `${r.state}; messages: ${JSON.stringify(r.messages)}; log: ${log.join(" | ")})`,
        );
      },
      results: () =>
        page.evaluate(async () => {
          const text = (id: string) => document.getElementById(id)?.textContent ?? "";
          const downloads: Record<string, string> = {};
          for (const a of document.querySelectorAll<HTMLAnchorElement>("#downloads a")) {
            downloads[a.download] = await (await fetch(a.href)).text();
          }
          return {
            state: document.body.dataset.state ?? "",
            adapter: text("adapter"),
            kernels: text("kernels"),
            model: text("model"),
            rows: [...document.querySelectorAll<HTMLElement>("#scores tbody tr")].map((tr) => ({
              path: tr.dataset.path ?? "",
              scores: JSON.parse(tr.dataset.scores ?? "[]") as string[],
            })),
            failures: [...document.querySelectorAll<HTMLTableRowElement>("#failures tbody tr")]
              .map((tr) => ({
                path: tr.cells[0].textContent ?? "",
                reason: tr.cells[1].textContent ?? "",
              })),
            messages: [...document.querySelectorAll<HTMLElement>("#messages p")].map((p) => ({
              kind: p.className,
              text: p.textContent ?? "",
            })),
            downloads,
            progress: text("progress-text"),
          };
        }),
      async close() {
        await b.close();
        await server.shutdown();
      },
    };
    return session;
  } catch (e) {
    await browser?.close();
    await server.shutdown();
    throw e;
  }
}
