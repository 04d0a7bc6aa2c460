/**
 * Command lines of the development tools behind `deno task bench`, `lfw`, `parity:full` and
 * `profile`: `--help` (or `-h`) prints the tool's usage, with its expected running time, and
 * exits 0 before anything else runs; an unknown option or a missing value prints one line and
 * the hint to run with --help, and exits 2. No tool throws on its command line.
 *
 * @module
 */
import { describeParseError, parseArgs, type ParseArgsConfig } from "../src/cli/args.ts";

/** The options of a tool, as `parseArgs` takes them (without `help`, which is added). */
type ToolOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse a tool's command line, or answer `--help` / a bad command line and exit.
 *
 * @param tool the tool's name, for messages (e.g. "bench").
 * @param usage the help text: usage, options, expected running time.
 * @param args the command line (`Deno.args`).
 * @param options the tool's options.
 * @returns the parsed option values (exits the process for --help, status 0, and for a bad
 *   command line, status 2).
 */
export function parseToolArgs<const O extends ToolOptions>(
  tool: string,
  usage: string,
  args: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true }>>["values"] {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage);
    Deno.exit(0);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    console.error(
      `${tool}: ${describeParseError(e, Object.keys(options))}\nRun with --help for usage.`,
    );
    Deno.exit(2);
  }
}
