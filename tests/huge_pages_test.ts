/**
 * The in-place re-execution with transparent huge pages (src/cli/huge_pages.ts): when it is
 * planned, and that a real process re-executes once, keeps its arguments and exit status, and
 * then holds huge pages.
 */
import { assert, assertEquals } from "./assert.ts";
import { hugePagesPlan, HUGETLB_TUNABLE, relaunchForCommand } from "../src/cli/huge_pages.ts";

const MADVISE = "always [madvise] never\n";

Deno.test("hugePagesPlan: only Linux in madvise mode, once, and never when turned off", () => {
  const base = { os: "linux", thpMode: MADVISE, tunables: undefined, optOut: undefined };
  assertEquals(hugePagesPlan(base), HUGETLB_TUNABLE);
  // Other tunables are kept, ours appended with glibc's separator.
  assertEquals(
    hugePagesPlan({ ...base, tunables: "glibc.malloc.arena_max=2" }),
    `glibc.malloc.arena_max=2:${HUGETLB_TUNABLE}`,
  );
  // Already set (the re-executed process itself, or the user's own choice): no loop.
  assertEquals(hugePagesPlan({ ...base, tunables: HUGETLB_TUNABLE }), null);
  assertEquals(hugePagesPlan({ ...base, tunables: "glibc.malloc.hugetlb=0" }), null);
  // THP already on for everything, off, or absent: nothing to gain.
  assertEquals(hugePagesPlan({ ...base, thpMode: "[always] madvise never\n" }), null);
  assertEquals(hugePagesPlan({ ...base, thpMode: "always madvise [never]\n" }), null);
  assertEquals(hugePagesPlan({ ...base, thpMode: null }), null);
  assertEquals(hugePagesPlan({ ...base, optOut: "0" }), null);
  assertEquals(hugePagesPlan({ ...base, optOut: "1" }), HUGETLB_TUNABLE);
  assertEquals(hugePagesPlan({ ...base, os: "darwin" }), null);
});

Deno.test("relaunchForCommand: the commands without GPU work never re-execute", () => {
  // Were any of these re-executed, this test process would be replaced and the test lost.
  for (
    const args of [
      ["edc", "--pairs", "p.txt"],
      ["merge", "a.jsonl"],
      ["--version"],
      ["-V"],
      ["--help"],
      ["calibrate", "-h"],
      ["--image-path", "faces", "--help"],
    ]
  ) {
    assertEquals(relaunchForCommand(args), "not needed", args.join(" "));
  }
});

function thpMode(): string | null {
  try {
    return Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled");
  } catch {
    return null;
  }
}

Deno.test("relaunchWithHugePages: a real process re-executes in place once, keeps its arguments and exit status", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grafiqs_thp_" });
  try {
    const script = `${dir}/probe.ts`;
    const module = new URL("../src/cli/huge_pages.ts", import.meta.url).href;
    // Prints one line per start (a second start would print twice), then allocates 64 MiB
    // with malloc-backed memory and reports the process's AnonHugePages.
    await Deno.writeTextFile(
      script,
      `import { relaunchWithHugePages } from ${JSON.stringify(module)};
console.log(JSON.stringify(["start", Deno.pid, Deno.env.get("GLIBC_TUNABLES") ?? null]));
const why = relaunchWithHugePages();
const a = new Uint8Array(64 << 20); a.fill(1);
const huge = /AnonHugePages:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"));
console.log(JSON.stringify(["done", Deno.pid, why, Deno.args, huge ? Number(huge[1]) : -1, a[12345]]));
Deno.exit(7);`,
    );
    const run = async (env: Record<string, string>) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, "a b", "--x=1"],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, lines: new TextDecoder().decode(out.stdout).trim().split("\n") };
    };
    const planned = Deno.build.os === "linux" && hugePagesPlan({
          os: "linux",
          thpMode: thpMode(),
          tunables: undefined,
          optOut: undefined,
        }) !== null;

    const off = await run({ GRAFIQS_HUGE_PAGES: "0", GLIBC_TUNABLES: "" });
    assertEquals(off.code, 7);
    assertEquals(off.lines.length, 2, off.lines.join("\n"));
    assertEquals(JSON.parse(off.lines[1])[2], "not needed");

    const on = await run({ GLIBC_TUNABLES: "" });
    assertEquals(on.code, 7, "the exit status survives the re-execution");
    if (!planned) {
      console.log("THP mode is not madvise here: checked that nothing is re-executed");
      assertEquals(on.lines.length, 2, on.lines.join("\n"));
      return;
    }
    // Two starts (the second with the tunable), one end, all in the same process.
    assertEquals(on.lines.length, 3, on.lines.join("\n"));
    const [s1, s2, done] = on.lines.map((l) => JSON.parse(l));
    assertEquals([s1[0], s1[2]], ["start", ""]);
    assertEquals([s2[0], s2[2]], ["start", HUGETLB_TUNABLE]);
    assertEquals(s2[1], s1[1], "execve keeps the PID");
    assertEquals(done.slice(0, 4), ["done", s1[1], "not needed", ["a b", "--x=1"]]);
    assertEquals(done[5], 1);
    // A script read from stdin could not be read again: no re-execution.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "-"],
      env: { GLIBC_TUNABLES: "" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(await Deno.readTextFile(script)));
    await w.close();
    const piped = await child.output();
    const pipedLines = new TextDecoder().decode(piped.stdout).trim().split("\n");
    assertEquals(pipedLines.length, 2, pipedLines.join("\n"));
    assertEquals(JSON.parse(pipedLines[1])[2], "unavailable: the main module is not a file");
    // 64 MiB touched through malloc: in 2 MiB pages with the tunable, in none without it.
    assert(done[4] >= 32 * 1024, `AnonHugePages ${done[4]} kB with the tunable`);
    assertEquals(JSON.parse(off.lines[1])[4], 0, "AnonHugePages (kB) without the tunable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
