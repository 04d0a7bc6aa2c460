/**
 * The command-line part shared by the shader generators (tools/gen_conv3x3_tex.ts,
 * tools/gen_winograd.ts): write each generated shader to shaders/, or with `--check` compare
 * it with the committed text the kernel module imports.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/**
 * WGSL of `put(i, v)`, the store the generated convolution kernels share: y[i] = v, or with the
 * `acc` uniform set, y[i] = v + y[i] (input gradients adding into a held gradient). Lines, for a
 * generator's line list; `y` and `p.acc` must be declared by the shader.
 */
export const PUT_LINES: readonly string[] = [
  `fn put(i: u32, v: f32) {`,
  `  if (p.acc != 0u) {`,
  `    y[i] = v + y[i];`,
  `  } else {`,
  `    y[i] = v;`,
  `  }`,
  `}`,
];

/** One generated shader: its file stem in shaders/, the generator's text, the committed text. */
export interface GeneratedShader {
  /** File name in shaders/ without `.wgsl`. */
  name: string;
  /** What the generator writes. */
  text: string;
  /** What the kernel module imports today. */
  committed: string;
}

/**
 * Write every shader (default), or with `--check` in `args` report each committed file that
 * differs from its generated text and exit with status 1 when any does (0 and one line when none
 * does). Any other argument prints the usage and exits with status 2, writing nothing.
 *
 * @param generator the generator's path, for the messages (e.g. "tools/gen_winograd.ts")
 * @example
 * ```ts
 * await writeOrCheck(Deno.args, "tools/gen_winograd.ts", [{ name: "x", text, committed }]);
 * ```
 */
export async function writeOrCheck(
  args: string[],
  generator: string,
  shaders: GeneratedShader[],
): Promise<void> {
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    console.error(
      `${generator}: unknown argument ${unknown[0]}\n` +
        `usage: deno run -A ${generator} [--check]\n` +
        "  writes its shaders to shaders/; --check only compares them with the committed files",
    );
    Deno.exit(2);
  }
  const check = args.includes("--check");
  let stale = 0;
  for (const s of shaders) {
    const path = fileURLToPath(new URL(`../shaders/${s.name}.wgsl`, import.meta.url));
    if (check) {
      if (s.committed !== s.text) {
        console.error(`${path} differs from ${generator}'s output`);
        stale++;
      }
    } else {
      await Deno.writeTextFile(path, s.text);
      console.log(`wrote ${path}`);
    }
  }
  if (stale) Deno.exit(1);
  if (check) console.log(`${generator}: the ${shaders.length} committed shaders are up to date`);
}
