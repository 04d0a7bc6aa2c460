/// <reference lib="dom" />
/**
 * `deno task web:reference`: the real iResNet-50 on the 24 aligned reference faces, scored in
 * the web page in headless Chromium (tools/web_driver.ts), compared with the official
 * implementation's scores (../shared/reference/iresnet50/aligned_bgr), and timed.
 *
 * ```sh
 * deno task web:reference                                  # compare and time
 * deno task web:reference --screenshot docs/web_page.png   # and take the README's picture
 * ```
 *
 * Prints the page's adapter and kernel families, the seconds from picking the images to the
 * last result, and the largest relative difference to the official scores per group.
 *
 * @module
 */
import { basename } from "node:path";
import { parseToolArgs } from "./tool_args.ts";
import { openPage } from "./web_driver.ts";
import { parseScoreFile } from "../src/io/scores.ts";
import { REFERENCE_DIR, referenceWeights } from "./parity.ts";

const USAGE = `Usage: deno task web:reference [--screenshot FILE.png] [--timeout SECONDS]

Scores the 24 aligned reference faces (../shared/reference) with the shared iResNet-50 in the web
page, in headless Chromium (WebGPU on its own adapter), and compares the page's score files with
the official outputs (exit 1 when a score is off by more than 1e-4 relative).

  --screenshot FILE.png   save a screenshot of the page with its results
  --timeout SECONDS       give up after this long (default 3600)

Expected running time: 5-7 min on a 2-core machine without a GPU (SwiftShader).`;

/** The command line; returns the exit status (1 when a score is off by more than 1e-4). */
export async function main(args: string[]): Promise<number> {
  const values = parseToolArgs("web:reference", USAGE, args, {
    screenshot: { type: "string" },
    timeout: { type: "string", default: "3600" },
  });
  const images = new URL("images/aligned/", REFERENCE_DIR).pathname;
  const names = [...Deno.readDirSync(images)].filter((e) => e.isFile).map((e) => e.name).sort();
  const weights = referenceWeights("iresnet50");
  const out = await Deno.makeTempDir({ prefix: "grafiqs_web_ref_" });
  const timeoutMs = Number(values.timeout) * 1000;
  const session = await openPage(out, { width: 1100, height: 1100 });
  try {
    await session.waitState(["idle"], 120_000);
    let t0 = performance.now();
    await session.openWeights(weights);
    await session.waitState(["ready"], timeoutMs);
    const loadSecs = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await session.addImages(names.map((n) => images + n));
    await session.waitState(["done"], timeoutMs);
    const scoreSecs = (performance.now() - t0) / 1000;
    const r = await session.results();
    console.log(`adapter: ${r.adapter}\nkernels: ${r.kernels}\nmodel: ${r.model}`);
    console.log(`weights loaded in ${loadSecs.toFixed(1)} s; ${r.progress}`);
    console.log(
      `scored ${r.rows.length} images, ${r.failures.length} failed, in ` +
        `${scoreSecs.toFixed(1)} s (${(r.rows.length / scoreSecs).toFixed(2)} images/s)`,
    );
    let worstAll = 0;
    for (const g of ["image", "block1", "block2", "block3", "block4"]) {
      const name = `GraFIQs_${g}.txt`;
      const ref = parseScoreFile(
        Deno.readTextFileSync(new URL(`iresnet50/aligned_bgr/${name}`, REFERENCE_DIR)),
        name,
      );
      const page = new Map(parseScoreFile(r.downloads[name], name).map((e) => [e.path, e.score]));
      let worst = 0;
      for (const e of ref) {
        const p = page.get(basename(e.path));
        if (p === undefined) throw new Error(`${name}: ${e.path} missing on the page`);
        worst = Math.max(worst, Math.abs(p - e.score) / Math.abs(e.score));
      }
      worstAll = Math.max(worstAll, worst);
      console.log(
        `${g}: largest relative difference to the official scores ${worst.toExponential(2)}`,
      );
    }
    assertLocalRequests(session.requests, session.origin);
    if (values.screenshot) {
      await session.page.evaluate(() => globalThis.scrollTo(0, 0));
      await session.page.screenshot({ path: values.screenshot, type: "png" });
      console.log(`screenshot: ${values.screenshot}`);
    }
    return worstAll <= 1e-4 ? 0 : 1;
  } finally {
    await session.close();
    await Deno.remove(out, { recursive: true });
  }
}

function assertLocalRequests(requests: string[], origin: string): void {
  const away = requests.filter((u) =>
    !u.startsWith(`${origin}/`) && !u.startsWith(`blob:${origin}/`) && !u.startsWith("data:")
  );
  if (away.length) throw new Error(`the page requested ${away.join(", ")}`);
  console.log(`requests: ${requests.length}, all on ${origin} (or blob:/data:)`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
