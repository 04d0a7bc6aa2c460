/**
 * Sources of image paths for the pipeline: a list (a directory listing) or a byte stream of
 * line-feed or NUL-separated paths (stdin), read only as fast as paths are wanted.
 *
 * @module
 */

/** Returned by {@link PathSource.next} when no path arrived within the wait. */
export const STALL: unique symbol = Symbol("stall");

/** A stream of path texts. */
export interface PathSource {
  /**
   * The next path, {@link STALL} when none arrived within `waitMs` (the read goes on in the
   * background; call again), or null at the end of the input.
   */
  next(waitMs: number): Promise<string | typeof STALL | null>;
}

/** A {@link PathSource} over a list (a directory listing); it never stalls. */
export function arraySource(paths: readonly string[]): PathSource {
  let i = 0;
  return { next: () => Promise.resolve(i < paths.length ? paths[i++] : null) };
}

/**
 * Paths from a byte stream (stdin), separated by line feeds or by NUL bytes (`find -print0`).
 *
 * The bytes are read one chunk at a time, only when the next path is wanted, and decoded as
 * UTF-8 (bytes that are not UTF-8 become U+FFFD, so such a file cannot be opened and its record
 * says so). With line feeds, a carriage return before the line feed is removed (CRLF lists).
 * Empty records are skipped. Memory: one chunk plus one partial path.
 */
export class DelimitedPathReader implements PathSource {
  /** Longest accepted path, in UTF-16 code units. */
  static readonly MAX_PATH = 65536;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #sep: "\n" | "\0";
  #name: string;
  #buf = "";
  #queue: string[] = [];
  #qi = 0;
  #pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  #eof = false;

  /**
   * Read paths from `stream` (locks it).
   *
   * @param stream the bytes, e.g. `Deno.stdin.readable`
   * @param separator `"\n"` (lines) or `"\0"` (NUL-separated, `-0`)
   * @param name the stream's name for messages
   */
  constructor(stream: ReadableStream<Uint8Array>, separator: "\n" | "\0", name = "stdin") {
    this.#reader = stream.getReader();
    this.#sep = separator;
    this.#name = name;
  }

  /**
   * See {@link PathSource.next}.
   *
   * @throws Error naming the stream when a path is longer than {@link MAX_PATH} (e.g. binary
   *   data, or NUL-separated input read without `-0`), or when reading fails
   */
  async next(waitMs: number): Promise<string | typeof STALL | null> {
    for (;;) {
      if (this.#qi < this.#queue.length) {
        const p = this.#queue[this.#qi++];
        if (this.#qi === this.#queue.length) {
          this.#queue = [];
          this.#qi = 0;
        }
        return p;
      }
      if (this.#eof) return null;
      this.#pending ??= this.#reader.read();
      let r: ReadableStreamReadResult<Uint8Array> | typeof STALL;
      if (waitMs === Infinity) r = await this.#pending;
      else {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const t = new Promise<typeof STALL>((res) => {
          timer = setTimeout(() => res(STALL), waitMs);
        });
        r = await Promise.race([this.#pending, t]);
        clearTimeout(timer);
        if (r === STALL) return STALL;
      }
      this.#pending = undefined;
      if (r.done) {
        this.#eof = true;
        this.#take(this.#decoder.decode(), true);
      } else this.#take(this.#decoder.decode(r.value, { stream: true }), false);
    }
  }

  #take(text: string, end: boolean): void {
    const parts = (this.#buf + text).split(this.#sep);
    this.#buf = end ? "" : parts.pop()!;
    for (let p of parts) {
      if (this.#sep === "\n" && p.endsWith("\r")) p = p.slice(0, -1);
      if (p !== "") this.#queue.push(p);
    }
    if (this.#buf.length > DelimitedPathReader.MAX_PATH) {
      const hint = this.#sep === "\n" ? " (NUL-separated input needs -0)" : "";
      throw new Error(
        `${this.#name}: a path longer than ${DelimitedPathReader.MAX_PATH} characters${hint}`,
      );
    }
  }

  /** Stop reading (releases the stream). */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch { /* already closed */ }
  }
}
