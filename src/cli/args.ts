/**
 * The project's one choice of command-line parser. `@std/cli` lives on JSR, which these build
 * machines cannot reach, so the tool uses Node's built-in `node:util` `parseArgs` (shipped
 * inside Deno). Every command parses through this module, which also holds what the commands
 * share: the usage error, the exit statuses and the parse-error messages.
 *
 * @module
 */
export { parseArgs } from "node:util";
export type { ParseArgsConfig } from "node:util";

/** Exit status: success (every image was scored; the evaluation was written). */
export const EXIT_OK = 0;
/** Exit status: a fatal error (weights, GPU, output directory, EDC inputs); nothing was written. */
export const EXIT_ERROR = 1;
/** Exit status: bad command line. */
export const EXIT_USAGE = 2;
/** Exit status: some images could not be scored; the others' results were written. */
export const EXIT_SOME_FAILED = 3;
/** Exit status: stopped by SIGINT (128 + 2, the shell's convention); finished records are kept. */
export const EXIT_INTERRUPTED = 130;

/** Raised for a bad command line; the message says what is wrong. */
export class UsageError extends Error {
  /** @param message what is wrong with the command line */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The message for a command line that `parseArgs` rejected, with a hint when an unknown option
 * is close to a known one (`--weight` → "did you mean --weights?": a prefix either way, or at
 * most two single-character edits).
 *
 * @param e what `parseArgs` threw
 * @param options the option names the command accepts (the `options` keys, without `--`)
 * @returns one line, e.g. `unknown option --weight (did you mean --weights?)`
 */
export function describeParseError(e: unknown, options: Iterable<string>): string {
  const msg = (e as Error).message;
  const code = (e as { code?: string }).code;
  const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(msg);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
    const given = unknown[2];
    let best: string | undefined;
    let bestDist = 3;
    for (const name of options) {
      const d = name.startsWith(given) || given.startsWith(name) ? 1 : editDistance(given, name);
      if (d < bestDist) [best, bestDist] = [name, d];
    }
    return `unknown option ${unknown[1]}${given}` + (best ? ` (did you mean --${best}?)` : "");
  }
  const missing = /^Option '([^']*)' argument missing/.exec(msg);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && missing) {
    return `option ${missing[1]} needs a value`;
  }
  return msg.charAt(0).toLowerCase() + msg.slice(1);
}

/** Levenshtein distance between two short strings (option names). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
