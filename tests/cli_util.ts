/**
 * Helpers shared by the tests that run the tool as a user does, in a subprocess
 * (cli_test, stream_test, bundle_test).
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

/**
 * Run `command args` in `cwd` to the end, with `input` on stdin (stdin closed when undefined).
 */
export async function runCommand(
  command: string,
  args: string[],
  cwd: string,
  input?: string,
): Promise<ProcessResult> {
  const child = new Deno.Command(command, {
    args,
    cwd,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Run the source tree's tool (`deno run -A mod.ts args`) in `cwd`; see {@link runCommand}. */
export function runTool(args: string[], cwd: string, input?: string): Promise<ProcessResult> {
  return runCommand(Deno.execPath(), ["run", "-A", MOD, ...args], cwd, input);
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
