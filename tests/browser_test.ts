/// <reference lib="dom" />
/**
 * The web page (web/) in real headless Chromium (`deno task test:browser`; tools/web_driver.ts
 * drives it over the DevTools protocol with puppeteer-core and the system's Chromium):
 * - a wrong weights file, then the tiny iResNet fixture, through the page's weights input; a
 *   folder of two PNGs, a JPEG and a file that is not an image through its folder input, then
 *   one more image through its image input;
 * - the page's table, failures and downloads against the command line on the same files (the
 *   folder mode's five score files and failure list, the record mode's TSV): the same paths in
 *   the same order, the same failures and reasons byte for byte, scores within a relative
 *   1e-4 (two WebGPU implementations: Chromium's SwiftShader and Deno's wgpu on Mesa);
 * - bad input after results (a wrong weights file) keeps the results on screen;
 * - without WebGPU the page says so;
 * - no request leaves the page's origin (blob: URLs of the page's own downloads and
 *   thumbnails, and data: URLs, are local).
 *
 * Needs Chromium (Debian: apt-get install chromium; or CHROMIUM_BIN); .ci/run installs it.
 *
 * @module
 */
import { assert, assertEquals } from "./assert.ts";
import { runTool, TINY_FIX } from "./cli_util.ts";
import { openPage, type PageResults } from "../tools/web_driver.ts";
import { FAILED_FILE_NAME, parseScoreFile } from "../src/io/scores.ts";
import { parseRecordLine } from "../src/io/records.ts";

const GROUPS = ["image", "block1", "block2", "block3", "block4"];
const JPEG = new URL("./fixtures/image/synthetic/baseline420.jpg", import.meta.url).pathname;
/**
 * Relative tolerance between the page's scores and the command line's, the bound for
 * two WebGPU implementations (SwiftShader in Chromium, wgpu on Mesa's llvmpipe in Deno): WGSL
 * lets each compile a multiply and an add into one fused operation or two, so the last bits of
 * the gradient sums may differ. Measured: bit for bit on this fixture (the test prints the
 * largest difference seen); 1.2e-7 for the real MobileFaceNet on one image (its depthwise
 * kernels), checked by hand.
 */
const REL_TOL = 1e-4;

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30);
}

/** Assert two score-file texts hold the same paths in order and scores within REL_TOL. */
function assertScoresClose(page: string, cli: string, what: string): number {
  const p = parseScoreFile(page, `page ${what}`);
  const c = parseScoreFile(cli, `cli ${what}`);
  assertEquals(p.map((e) => e.path), c.map((e) => e.path), `${what}: paths`);
  let worst = 0;
  p.forEach((e, i) => {
    const r = relErr(e.score, c[i].score);
    worst = Math.max(worst, r);
    assert(r <= REL_TOL, `${what} ${e.path}: page ${e.score}, cli ${c[i].score} (rel ${r})`);
  });
  return worst;
}

/** Every request stayed on the page's origin (or was a local blob:/data: URL). */
function assertLocal(requests: string[], origin: string): void {
  assert(requests.length > 0, "no request recorded: the recorder is broken");
  for (const u of requests) {
    const local = u.startsWith(`${origin}/`) || u.startsWith(`blob:${origin}/`) ||
      u.startsWith("data:");
    assert(local, `the page requested ${u}, outside its origin ${origin}`);
  }
}

Deno.test({
  name: "browser: the page scores the tiny iResNet like the command line, locally",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grafiqs_browser_" });
    try {
      const img = `${dir}/images`;
      await Deno.mkdir(img);
      await Deno.copyFile(`${TINY_FIX}/images/smooth_a.png`, `${img}/smooth_a.png`);
      await Deno.copyFile(`${TINY_FIX}/images/smooth_b.png`, `${img}/smooth_b.png`);
      await Deno.copyFile(JPEG, `${img}/face.jpg`);
      await Deno.writeTextFile(`${img}/notes.jpg`, "these are notes, not a JPEG\n");
      await Deno.copyFile(`${TINY_FIX}/model.pth`, `${dir}/model.pth`);
      // The command line on the same files: the folder mode and the record mode (TSV).
      // `--image-path images` prints `images/NAME`, as the page names a picked folder's files.
      const common = ["--image-path", "images", "--image-extension", "jpg,png", "--weights"];
      const folder = await runTool([...common, "model.pth", "--output-dir", "out"], dir);
      assertEquals(folder.code, 3, folder.stderr); // some images failed
      const rec = await runTool(
        [...common, "model.pth", "--output", "records.tsv", "--format", "tsv"],
        dir,
      );
      assertEquals(rec.code, 3, rec.stderr);

      const session = await openPage(`${dir}/web`);
      try {
        const { page } = session;
        assertEquals(await session.waitState(["idle", "no-webgpu"], 120_000), "idle");

        // A wrong weights file: a clear message naming it; no model.
        await session.openWeights(`${img}/notes.jpg`);
        await page.waitForFunction(() => document.querySelectorAll("#messages p").length === 1);
        let r = await session.results();
        assertEquals(r.state, "idle");
        assertEquals(r.messages.length, 1, JSON.stringify(r.messages));
        assertEquals(r.messages[0].kind, "error");
        assert(
          r.messages[0].text.startsWith("Weights not loaded: notes.jpg: not a weights file"),
          r.messages[0].text,
        );

        await session.openWeights(`${dir}/model.pth`);
        await session.waitState(["ready"], 120_000);
        await session.addFolder(img);
        await session.waitState(["done"], 300_000);
        r = await session.results();
        assertEquals(r.messages.length, 1, JSON.stringify(r.messages)); // the earlier one only
        assert(r.adapter !== "" && !r.adapter.startsWith("none"), `adapter: ${r.adapter}`);
        assert(/tex3x3 \(\d+ layers\)/.test(r.kernels), `kernels: ${r.kernels}`);
        assertEquals(r.progress.startsWith("4 of 4 images"), true, r.progress);
        await checkAgainstCli(r, dir);

        // Bad input after results: the results stay.
        await session.openWeights(`${img}/smooth_a.png`);
        await page.waitForFunction(() => document.querySelectorAll("#messages p").length === 2);
        const after = await session.results();
        assertEquals(after.messages[0].kind, "error");
        assert(after.messages[0].text.includes("smooth_a.png: not a weights file"));
        assertEquals(after.rows, r.rows);
        assertEquals(after.downloads, r.downloads);
        assertEquals(after.state, "done");

        // One more image through the image input: scored on its own (by name), added to the
        // results; a copy of smooth_a.png scores exactly as smooth_a.png did.
        await Deno.copyFile(`${img}/smooth_a.png`, `${dir}/copy_of_a.png`);
        await session.addImages([`${dir}/copy_of_a.png`]);
        await page.waitForFunction(() =>
          document.querySelectorAll("#scores tbody tr").length === 4
        );
        await session.waitState(["done"], 300_000);
        const more = await session.results();
        const byPath = new Map(more.rows.map((x) => [x.path, x.scores]));
        assertEquals(byPath.get("copy_of_a.png"), byPath.get("images/smooth_a.png"));
        for (const row of r.rows) assertEquals(byPath.get(row.path), row.scores);

        // Without WebGPU: a clear message.
        const bare = await page.browser().newPage();
        bare.on("request", (q) => void session.requests.push(q.url()));
        await bare.evaluateOnNewDocument(() => {
          delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
        });
        await bare.goto(`${session.origin}/`, { waitUntil: "load" });
        await bare.waitForFunction(() => document.body.dataset.state === "no-webgpu");
        const msg = await bare.evaluate(() => document.querySelector("#messages p")?.textContent);
        assert(msg?.startsWith("This browser has no WebGPU"), String(msg));
        await bare.close();

        assertLocal(session.requests, session.origin);
      } finally {
        await session.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The page's results against the command line's files in `dir` (out/, records.tsv). */
async function checkAgainstCli(r: PageResults, dir: string): Promise<void> {
  // The five official files and the failure list.
  let worst = 0;
  for (const g of GROUPS) {
    const name = `GraFIQs_${g}.txt`;
    const cli = await Deno.readTextFile(`${dir}/out/${name}`);
    worst = Math.max(worst, assertScoresClose(r.downloads[name], cli, name));
  }
  const cliFailed = await Deno.readTextFile(`${dir}/out/${FAILED_FILE_NAME}`);
  assertEquals(r.downloads[FAILED_FILE_NAME], cliFailed);
  assertEquals(
    r.failures,
    [{ path: "images/notes.jpg", reason: cliFailed.split("\n")[1].split("\t")[1] }],
  );

  // The table: every scored image, sorted by the first group's score, the same numbers.
  const image = parseScoreFile(r.downloads["GraFIQs_image.txt"], "page");
  assertEquals(
    r.rows.map((x) => x.path),
    [...image].sort((a, b) => a.score - b.score).map((e) => e.path),
  );
  for (const row of r.rows) {
    GROUPS.forEach((g, i) => {
      const file = parseScoreFile(r.downloads[`GraFIQs_${g}.txt`], g);
      assertEquals(row.scores[i], String(file.find((e) => e.path === row.path)!.score));
    });
  }

  // The TSV records: the same lines, scores within the tolerance.
  const page = r.downloads["GraFIQs_records.tsv"].split("\n");
  const cli = (await Deno.readTextFile(`${dir}/records.tsv`)).split("\n");
  assertEquals(page[0], cli[0], "records header");
  assertEquals(page.length, cli.length, "record count");
  for (let i = 1; i < cli.length - 1; i++) {
    const p = parseRecordLine("tsv", GROUPS, page[i], `page:${i + 1}`);
    const c = parseRecordLine("tsv", GROUPS, cli[i], `cli:${i + 1}`);
    assertEquals([p.path, p.error], [c.path, c.error]);
    assertEquals(p.scores === null, c.scores === null);
    for (let g = 0; g < GROUPS.length && c.scores; g++) {
      const e = relErr(p.scores![g], c.scores[g]);
      worst = Math.max(worst, e);
      assert(e <= REL_TOL, `record ${c.path} ${GROUPS[g]}: rel ${e}`);
    }
  }
  console.log(`browser: largest relative difference to the command line ${worst.toExponential(2)}`);
}
