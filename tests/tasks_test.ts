/**
 * What a new user meets first: every `deno task` with a tool answers `--help` with its usage and
 * expected running time, and a WebGPU start prints no Mesa `XDG_RUNTIME_DIR` error line.
 */
import { assert, assertEquals } from "./assert.ts";
import { gpuTestOptions } from "./gpu_util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const GPU = gpuTestOptions("tasks_test");

/** The tasks of deno.json, but those that run Deno's own test runner (`test`, `test:browser`). */
function toolTasks(): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks as Record<
    string,
    string
  >;
  return Object.keys(tasks).filter((t) => !/(^|&& )deno test /.test(tasks[t]));
}

Deno.test("every deno task answers --help with its usage and running time, exit 0", async () => {
  const tasks = toolTasks();
  // The tools of the issue that threw a TypeError on --help, and the others.
  for (const t of ["bench", "lfw", "parity:full", "profile", "convert", "edc", "bundle"]) {
    assert(tasks.includes(t), `deno.json lacks the task ${t}`);
  }
  for (const task of tasks) {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", task, "--help"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    const err = new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 0, `deno task ${task} --help: exit ${r.code}\n${err}`);
    assert(/usage/i.test(out), `deno task ${task} --help prints no usage:\n${out}`);
    assert(/running time/i.test(out), `deno task ${task} --help gives no running time:\n${out}`);
    assert(!/error|uncaught|^\s+at /im.test(err), `deno task ${task} --help wrote:\n${err}`);
  }
});

Deno.test(
  "WebGPU start-up: XDG_RUNTIME_DIR unset or invalid gets a private 0700 folder; no Mesa line",
  GPU,
  async () => {
    const tmp = await Deno.makeTempDir({ prefix: "grafiqs_xdg_" });
    try {
      const script = `${tmp}/probe.ts`;
      // The command line's way to the device (cli/setup.ts createGpu: ensureRuntimeDir, then
      // Gpu.create, which itself stays free of Deno APIs for the web page).
      const setupModule = new URL("../src/cli/setup.ts", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `import { createGpu } from ${JSON.stringify(setupModule)};\n` +
          `await createGpu(undefined);\nconsole.log(Deno.env.get("XDG_RUNTIME_DIR") ?? "");\n`,
      );
      const env = Deno.env.toObject();
      delete env.XDG_RUNTIME_DIR;
      const uid = Deno.uid();
      const run = async (extra: Record<string, string>) => {
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--config", `${ROOT}deno.json`, script],
          env: { ...env, TMPDIR: tmp, ...extra },
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(r.stderr);
        assertEquals(r.code, 0, err);
        assert(!err.includes("XDG_RUNTIME_DIR"), `Mesa still complains:\n${err}`);
        return new TextDecoder().decode(r.stdout).trim();
      };
      const own = `${tmp}/grafiqs-runtime-${uid}`;
      // Unset: the per-user folder below TMPDIR, created with mode 0700.
      assertEquals(await run({}), own);
      const st = Deno.lstatSync(own);
      assert(st.isDirectory && st.uid === uid, "not our directory");
      assertEquals(st.mode! & 0o777, 0o700);
      // Invalid (missing folder, or one others may read): replaced by the same folder.
      assertEquals(await run({ XDG_RUNTIME_DIR: `${tmp}/nowhere` }), own);
      await Deno.mkdir(`${tmp}/open`, { mode: 0o755 });
      Deno.chmodSync(`${tmp}/open`, 0o755);
      assertEquals(await run({ XDG_RUNTIME_DIR: `${tmp}/open` }), own);
      // A valid one is kept.
      await Deno.mkdir(`${tmp}/mine`);
      Deno.chmodSync(`${tmp}/mine`, 0o700);
      assertEquals(await run({ XDG_RUNTIME_DIR: `${tmp}/mine` }), `${tmp}/mine`);
      // The per-user name taken by a file: a fresh private folder, removed at exit.
      await Deno.remove(own);
      await Deno.writeTextFile(own, "not a folder");
      const fresh = await run({});
      assert(fresh.startsWith(`${tmp}/grafiqs-runtime-`) && fresh !== own, fresh);
      let gone = false;
      try {
        Deno.lstatSync(fresh);
      } catch {
        gone = true;
      }
      assert(gone, `${fresh} left behind`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
);
