/**
 * What `deno task test:slurm` and `deno task test:parallel` share: the commands they run come
 * from docs/PIPELINE.md (so the documentation shows exactly what was tested), a work folder
 * laid out as those commands expect (`faces/`, `w.pth`, `grafiqs` on PATH), Debian packages
 * installed when missing, and the byte-for-byte comparison with one folder-mode run.
 *
 * The work folder: `faces` is a link to ../shared/reference/images (42 reference faces, PNG and
 * JPEG, in three subfolders), `w.pth` a copy of the real MobileFaceNet
 * (../shared/models/mobilefacenet), and `bin/grafiqs` runs this checkout's mod.ts.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { selectImages } from "../src/pipeline/select_images.ts";
import { shardOf } from "../src/pipeline/shard.ts";

/** The repository root. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** docs/PIPELINE.md, where the tested commands live. */
export const PIPELINE_DOC: string = join(ROOT, "docs", "PIPELINE.md");

/** The options of the documented commands that select the images (see docs/PIPELINE.md). */
export const SELECT_ARGS = [
  "--image-path",
  "faces",
  "--recursive",
  "--image-extension",
  "jpg,png",
];

/**
 * The text of the fenced code block that follows the line `<!-- MARKER: ... -->` in
 * docs/PIPELINE.md.
 *
 * @param marker e.g. `slurm-script`
 * @returns the block's lines, with a final line feed
 * @throws Error naming the document when the marker or its block is missing
 */
export function docBlock(marker: string): string {
  const text = Deno.readTextFileSync(PIPELINE_DOC);
  const at = text.indexOf(`<!-- ${marker}:`);
  if (at < 0) throw new Error(`${PIPELINE_DOC}: no "<!-- ${marker}: ... -->" marker`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at));
  if (!m) throw new Error(`${PIPELINE_DOC}: no code block after the ${marker} marker`);
  return m[1];
}

/** Run a command to the end; its stdout as text. Throws with its stderr on a nonzero status. */
export async function output(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await new Deno.Command(cmd, { args, ...opts, stdin: "null" }).output();
  const err = new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")}: status ${r.code}\n${err}`);
  return new TextDecoder().decode(r.stdout);
}

/** Whether `name` is found as an executable on PATH or in /usr/sbin, /sbin. */
export function onPath(name: string): boolean {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  return dirs.some((d) => {
    try {
      return Deno.statSync(join(d, name)).isFile;
    } catch {
      return false;
    }
  });
}

/**
 * Install Debian packages with apt-get when one of the programs they provide is missing.
 *
 * @param programs programs that must be on PATH afterwards
 * @param packages the packages to install when one is missing
 * @throws Error when apt-get fails or a program is still missing
 */
export async function ensurePrograms(programs: string[], packages: string[]): Promise<void> {
  const missing = programs.filter((p) => !onPath(p));
  if (missing.length === 0) return;
  console.error(`missing ${missing.join(", ")}: apt-get install ${packages.join(" ")}`);
  const r = await new Deno.Command("apt-get", {
    args: ["install", "-y", "--no-install-recommends", ...packages],
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdin: "null",
  }).spawn().status;
  if (!r.success) throw new Error(`apt-get install ${packages.join(" ")} failed (${r.code})`);
  const still = programs.filter((p) => !onPath(p));
  if (still.length) throw new Error(`still missing after apt-get: ${still.join(", ")}`);
}

/** A prepared work folder. */
export interface WorkDir {
  /** The folder (the documented commands run here). */
  dir: string;
  /** The environment for them: PATH starts with `dir/bin`, where `grafiqs` is. */
  env: Record<string, string>;
}

/**
 * Make a work folder for the documented commands (see the module description).
 *
 * @param prefix the temporary folder's name prefix
 * @throws Error when ../shared's images or model are missing
 */
export async function prepareWorkDir(prefix: string): Promise<WorkDir> {
  const shared = resolve(ROOT, "..", "shared");
  const images = join(shared, "reference", "images");
  const model = join(shared, "models", "mobilefacenet", "mobilefacenet.pt");
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.symlink(images, join(dir, "faces"));
  await Deno.copyFile(model, join(dir, "w.pth"));
  await Deno.mkdir(join(dir, "bin"));
  const wrapper = join(dir, "bin", "grafiqs");
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh\nexec '${Deno.execPath()}' run -A '${join(ROOT, "mod.ts")}' "$@"\n`,
  );
  await Deno.chmod(wrapper, 0o755);
  const env = { PATH: `${join(dir, "bin")}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };
  return { dir, env };
}

/** How many of the documented listing's images fall in each of `count` shards. */
export async function shardSizes(work: WorkDir, count: number): Promise<number[]> {
  const paths = await selectImages({
    imagePath: join(work.dir, "faces"),
    imageExtensions: ["jpg", "png"],
    recursive: true,
    shard: null,
  });
  const sizes = new Array(count).fill(0);
  const prefix = work.dir + "/";
  for (const p of paths) sizes[shardOf(p.slice(prefix.length), count)]++;
  return sizes;
}

/**
 * One folder-mode run over the whole input into `work.dir/full`, with the documented commands'
 * selection and weights.
 *
 * @returns its wall time in seconds
 * @throws Error with its stderr when it fails (status other than 0)
 */
export async function folderRun(work: WorkDir): Promise<number> {
  const t0 = performance.now();
  await output("grafiqs", [...SELECT_ARGS, "--weights", "w.pth", "--output-dir", "full"], {
    cwd: work.dir,
    env: work.env,
  });
  return (performance.now() - t0) / 1000;
}

/**
 * Compare two output folders file by file, byte for byte.
 *
 * @returns the names compared
 * @throws Error naming the first file that is missing or differs
 */
export async function compareFolders(actual: string, expected: string): Promise<string[]> {
  const names = async (d: string) => {
    const n: string[] = [];
    for await (const e of Deno.readDir(d)) n.push(e.name);
    return n.sort();
  };
  const a = await names(actual);
  const e = await names(expected);
  if (a.join("\n") !== e.join("\n")) {
    throw new Error(`${actual} holds ${a.join(", ")}; ${expected} holds ${e.join(", ")}`);
  }
  for (const n of e) {
    const x = await Deno.readFile(join(actual, n));
    const y = await Deno.readFile(join(expected, n));
    if (x.length !== y.length || x.some((b, i) => b !== y[i])) {
      throw new Error(`${join(actual, n)} differs from ${join(expected, n)}`);
    }
  }
  return e;
}
