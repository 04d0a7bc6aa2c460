/**
 * Sources of image paths for the pipeline: a list (a directory listing) or a byte stream of
 * line-feed or NUL-separated paths (stdin), read only as fast as paths are wanted.
 *
 * @module
 */

/** Returned by {@link PathSource.next} when no path arrived within the wait. */
export const STALL: unique symbol = Symbol("stall");

/**
 * An input record that is not a usable path (e.g. a line longer than
 * {@link DelimitedPathReader.MAX_PATH}): the pipeline gives it a failed record with `error` as
 * its reason, in its place in the input order, and goes on with the next path.
 */
export interface BadPath {
  /**
   * A stand-in for the record's path text (for an over-long line: its first characters and
   * `…`), printed in the failed record and used by the shard and resume filters.
   */
  path: string;
  /** Why the record is not a path, e.g. `path too long: 70000 bytes, over 65536`. */
  error: string;
}

/** A stream of path texts. */
export interface PathSource {
  /**
   * The next path (or a {@link BadPath} to report as failed), {@link STALL} when none arrived
   * within `waitMs` (the read goes on in the background; call again), or null at the end of
   * the input.
   */
  next(waitMs: number): Promise<string | BadPath | typeof STALL | null>;
}

/** A {@link PathSource} over a list (a directory listing); it never stalls. */
export function arraySource(paths: readonly string[]): PathSource {
  let i = 0;
  return { next: () => Promise.resolve(i < paths.length ? paths[i++] : null) };
}

/**
 * Paths from a byte stream (stdin), separated by line feeds or by NUL bytes (`find -print0`).
 *
 * The bytes are read one chunk at a time, only when the next path is wanted, split at the
 * separator byte and each path decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD, so
 * such a file cannot be opened and its record says so; a byte-order mark at the start of the
 * stream is dropped). With line feeds, a carriage return before the line feed is removed (CRLF
 * lists). Empty records are skipped. A path longer than {@link MAX_PATH} bytes (binary data, or
 * NUL-separated input read without `-0`) is not kept: its bytes are counted and dropped as they
 * arrive, and it comes out as a {@link BadPath} (`path too long: N bytes, over 65536`), so it
 * costs the run one failed record, not the run. Memory: one chunk plus at most
 * {@link MAX_PATH} bytes of one partial path.
 */
export class DelimitedPathReader implements PathSource {
  /** Longest accepted path, in bytes of UTF-8 (without the separator and a CRLF's CR). */
  static readonly MAX_PATH = 65536;
  /** How many bytes of an over-long path its {@link BadPath.path} stand-in shows (at most). */
  static readonly STAND_IN_BYTES = 200;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #sep: number;
  #name: string;
  /** The pieces of the current partial path (while it is not over-long). */
  #pieces: Uint8Array[] = [];
  #pieceBytes = 0;
  /** Set once the current path is over-long: its stand-in text; its bytes are only counted. */
  #longStandIn: string | null = null;
  #longBytes = 0;
  #longNul = false;
  #lastByte = -1;
  /** Whether the current path is the stream's first (where a byte-order mark is dropped). */
  #first = true;
  #queue: (string | BadPath)[] = [];
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
    this.#sep = separator === "\n" ? 10 : 0;
    this.#name = name;
  }

  /**
   * See {@link PathSource.next}. A path longer than {@link MAX_PATH} bytes comes out as a
   * {@link BadPath}.
   *
   * @throws Error naming the stream when reading fails
   */
  async next(waitMs: number): Promise<string | BadPath | typeof STALL | null> {
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
      try {
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
      } catch (e) {
        this.#pending = undefined;
        throw new Error(`cannot read ${this.#name}: ${(e as Error).message}`, { cause: e });
      }
      this.#pending = undefined;
      if (r.done) {
        this.#eof = true;
        this.#end();
      } else this.#take(r.value);
    }
  }

  /** Split a chunk at the separator: each separator ends the current path. */
  #take(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const i = chunk.indexOf(this.#sep, start);
      this.#add(chunk.subarray(start, i < 0 ? chunk.length : i));
      if (i < 0) return;
      this.#end();
      start = i + 1;
    }
  }

  /** Append bytes to the current path, or only count them once it is over-long. */
  #add(part: Uint8Array): void {
    if (part.length === 0) return;
    this.#lastByte = part[part.length - 1];
    if (this.#longStandIn !== null) {
      this.#longBytes += part.length;
      if (!this.#longNul && part.includes(0)) this.#longNul = true;
      return;
    }
    this.#pieces.push(part.slice());
    this.#pieceBytes += part.length;
    // One byte of slack for the CR of a CRLF line (and three for the stream's byte-order mark),
    // removed when the line ends.
    if (this.#pieceBytes > DelimitedPathReader.MAX_PATH + 1) {
      const bytes = this.#joinPieces();
      const bom = this.#first && hasBom(bytes) ? 3 : 0;
      if (bytes.length - bom <= DelimitedPathReader.MAX_PATH + 1) {
        this.#pieces = [bytes];
        return;
      }
      this.#longStandIn = this.#standIn(bytes.subarray(bom));
      this.#longBytes = bytes.length - bom;
      this.#longNul = bytes.includes(0);
      this.#pieces = [];
      this.#pieceBytes = 0;
    }
  }

  #joinPieces(): Uint8Array {
    if (this.#pieces.length === 1) return this.#pieces[0];
    const out = new Uint8Array(this.#pieceBytes);
    let o = 0;
    for (const p of this.#pieces) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** The current path ended (at a separator or the end of the stream): queue it. */
  #end(): void {
    const crlf = this.#sep === 10 && this.#lastByte === 13;
    if (this.#longStandIn !== null) {
      // Over MAX_PATH + 1 bytes without the mark, so still over MAX_PATH without a CR.
      this.#tooLong(this.#longStandIn, this.#longBytes - (crlf ? 1 : 0), this.#longNul);
      this.#reset();
      return;
    }
    let bytes = this.#joinPieces();
    if (this.#first && hasBom(bytes)) bytes = bytes.subarray(3);
    if (crlf && bytes.length) bytes = bytes.subarray(0, bytes.length - 1);
    this.#reset();
    if (bytes.length === 0) return;
    if (bytes.length > DelimitedPathReader.MAX_PATH) {
      this.#tooLong(this.#standIn(bytes), bytes.length, bytes.includes(0));
    } else this.#queue.push(this.#decoder.decode(bytes));
  }

  /** The stand-in text of an over-long path: its first characters (whole ones) and `…`. */
  #standIn(bytes: Uint8Array): string {
    let cut = Math.min(bytes.length, DelimitedPathReader.STAND_IN_BYTES);
    while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--; // not inside a character
    return this.#decoder.decode(bytes.subarray(0, cut)) + "\u2026";
  }

  /** Queue the failed record of an over-long path of `n` bytes. */
  #tooLong(standIn: string, n: number, nul: boolean): void {
    const hint = this.#sep === 10 && nul ? " (NUL-separated input needs -0)" : "";
    this.#queue.push({
      path: standIn,
      error: `path too long: ${n} bytes, over ${DelimitedPathReader.MAX_PATH}${hint}`,
    });
  }

  #reset(): void {
    this.#pieces = [];
    this.#pieceBytes = 0;
    this.#longStandIn = null;
    this.#longBytes = 0;
    this.#longNul = false;
    this.#lastByte = -1;
    this.#first = false;
  }

  /** Stop reading (releases the stream). */
  async cancel(): Promise<void> {
    try {
      await this.#reader.cancel();
    } catch { /* already closed */ }
  }
}

/** Whether `b` starts with the UTF-8 byte-order mark EF BB BF. */
function hasBom(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
}
