/**
 * Progress on stderr, drawn by the `cli-progress` package only when stderr is a terminal.
 * Nothing here is needed for correctness; NO_COLOR is honoured (the bar uses no colour then).
 *
 * @module
 */
import cliProgress from "cli-progress";
import process from "node:process";

/**
 * A path as printed on stderr: each control character (U+0000..U+001F, U+007F) is written as
 * `\n`, `\t`, `\r` or `\xHH`, so that a path holding a line feed cannot split a message line
 * or move the terminal's cursor. Every other character, the backslash included, is kept, so an
 * ordinary path prints as it is.
 *
 * @param path a path (or path text) to print
 * @returns the path with its control characters escaped
 * @example
 * ```ts
 * printablePath("a\nb.jpg"); // "a\\nb.jpg"
 * ```
 */
export function printablePath(path: string): string {
  return path.replace(
    // deno-lint-ignore no-control-regex -- matching control characters is the point
    /[\x00-\x1f\x7f]/g,
    (c) =>
      c === "\n"
        ? "\\n"
        : c === "\t"
        ? "\\t"
        : c === "\r"
        ? "\\r"
        : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * A count / images per second / ETA bar (a count, rate and elapsed time when the total is
 * unknown), or plain log lines when stderr is not a terminal.
 */
export class Progress {
  #bar: cliProgress.SingleBar | undefined;
  #t0 = performance.now();

  /**
   * @param total number of images, or undefined when unknown (a stream: the bar then shows a
   *   count, the rate and the elapsed time)
   * @param enabled false to draw nothing (e.g. when records go to the same terminal)
   */
  constructor(total: number | undefined, enabled = true) {
    if (!enabled || !Deno.stderr.isTerminal() || total === 0) return;
    const noColor = Deno.env.get("NO_COLOR") !== undefined && Deno.env.get("NO_COLOR") !== "";
    this.#bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: total === undefined
        ? "{value} images | {rate} images/s | {duration_formatted}"
        : "{bar} {value}/{total} images | {rate} images/s | ETA {eta_formatted}",
      barCompleteChar: noColor ? "#" : "\u2588",
      barIncompleteChar: noColor ? "-" : "\u2591",
      hideCursor: !noColor && total !== undefined,
      clearOnComplete: false,
      etaBuffer: 4,
    }, cliProgress.Presets.shades_classic);
    this.#bar.start(total ?? 0, 0, { rate: "0.00" });
  }

  /** Report `done` images processed so far. */
  update(done: number): void {
    const secs = (performance.now() - this.#t0) / 1000;
    this.#bar?.update(done, { rate: (done / Math.max(secs, 1e-9)).toFixed(2) });
  }

  /** Print a message without breaking the bar. */
  log(message: string): void {
    if (this.#bar) {
      process.stderr.write("\r\x1b[K" + message + "\n");
      this.#bar.render();
    } else console.error(message);
  }

  /** Finish the bar (leaves the last state on screen). */
  stop(): void {
    this.#bar?.stop();
  }
}
