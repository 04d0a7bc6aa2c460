/**
 * imagescript's JPEG, PNG and GIF decoders (WASM modules shipped in the npm package), with the
 * module bytes embedded through `bytes` imports instead of read from the package folder at run
 * time. That keeps the decoders working in a single-file `deno bundle` build and a
 * `deno compile` binary, where no package folder exists beside the code.
 *
 * The WASM interfaces used (exports of imagescript 1.3.1's `wasm/any/*.wasm`):
 * - all: `memory`, `walloc(n) -> ptr`, `wfree(ptr[, n])`, `wlen() -> n` (length of the last
 *   returned buffer);
 * - png: `decode(ptr, n) -> ptr | < 0`, `width()`, `height()`; the result is straight RGBA;
 * - jpeg: `decode(ptr, n, w, h) -> ptr` (0 error, 1 scaling error), `decode_width/height/
 *   format/buffer/free(ptr)`; format 0 gray, 1 RGB, 2 CMYK;
 * - gif: `decoder_new(ptr, n, limit) -> ptr` (0 error), `decoder_width/height(ptr)`,
 *   `decoder_frame(ptr) -> ptr` (0 error, 1 no more frames), `decoder_frame_x/y/width/height/
 *   buffer/free(frame)`; frames are straight RGBA; `env.push_to_stream` must be imported.
 *
 * @module
 */
import jpegWasm from "imagescript/wasm/any/jpeg.wasm" with { type: "bytes" };
import pngWasm from "imagescript/wasm/any/png.wasm" with { type: "bytes" };
import gifWasm from "imagescript/wasm/any/gif.wasm" with { type: "bytes" };

// deno-lint-ignore no-explicit-any
type Exports = any;

let jpegModule: WebAssembly.Module | undefined;
let pngModule: WebAssembly.Module | undefined;
let gifModule: WebAssembly.Module | undefined;

function bytesOf(mem: WebAssembly.Memory, ptr: number, n: number): Uint8Array {
  return new Uint8Array(mem.buffer, ptr, n).slice();
}

function copyIn(w: Exports, data: Uint8Array): number {
  const ptr = w.walloc(data.length);
  new Uint8Array(w.memory.buffer, ptr, data.length).set(data);
  return ptr;
}

/** The raw JPEG framebuffer: format 0 gray (1 B/px), 1 RGB (3), 2 CMYK (4). */
export interface JpegFrame {
  width: number;
  height: number;
  format: number;
  buffer: Uint8Array;
}

/** A PNG decoded to straight RGBA, 8 bits per sample. */
export interface PngFrame {
  width: number;
  height: number;
  framebuffer: Uint8Array;
}

/** The JPEG decoder: `init()` makes one reusable WASM instance. */
export const jpegCodec = {
  init(): Promise<{ decode(data: Uint8Array): JpegFrame }> {
    jpegModule ??= new WebAssembly.Module(jpegWasm);
    const w: Exports = new WebAssembly.Instance(jpegModule).exports;
    return Promise.resolve({
      decode(data: Uint8Array): JpegFrame {
        const ptr = w.decode(copyIn(w, data), data.length, 0, 0);
        if (ptr === 0) throw new Error("jpg: failed to decode");
        if (ptr === 1) throw new Error("jpg: failed to scale decoder");
        const out = {
          width: w.decode_width(ptr),
          height: w.decode_height(ptr),
          format: w.decode_format(ptr),
          buffer: bytesOf(w.memory, w.decode_buffer(ptr), w.wlen()),
        };
        w.decode_free(ptr);
        return out;
      },
    });
  },
};

/** The PNG decoder: `init()` makes one reusable WASM instance. */
export const pngCodec = {
  init(): Promise<{ decode(data: Uint8Array): PngFrame }> {
    pngModule ??= new WebAssembly.Module(pngWasm);
    const w: Exports = new WebAssembly.Instance(pngModule, {
      env: { emscripten_notify_memory_growth() {} },
    }).exports;
    return Promise.resolve({
      decode(data: Uint8Array): PngFrame {
        const ptr = copyIn(w, data);
        const status = w.decode(ptr, data.length);
        w.wfree(ptr);
        if (status < 0) throw new Error(`png: failed to decode (${status})`);
        const width = w.width(), height = w.height();
        const framebuffer = bytesOf(w.memory, status, 4 * width * height);
        w.wfree(status);
        return { width, height, framebuffer };
      },
    });
  },
};

/**
 * The first frame of a GIF on its logical screen, as straight RGBA: the frame's pixels at its
 * offset, every other pixel and every transparent one (alpha 0) black with alpha 0, as
 * imagescript's `GIF.decode` composes a first frame. The part of a frame outside the screen
 * is cut off.
 *
 * Memory is bounded whatever the file declares: the decoder's frame buffer by its memory
 * limit (4 bytes x `maxPixels`; a larger frame fails to decode), the screen by `maxPixels`.
 *
 * @param data the whole GIF file
 * @param maxPixels the largest frame and screen accepted, in pixels (a positive integer)
 * @throws Error when the header or the first frame cannot be decoded, there is no frame, or
 *   the frame or the screen has more than `maxPixels` pixels
 */
export function decodeGifFirstFrame(data: Uint8Array, maxPixels: number): PngFrame {
  gifModule ??= new WebAssembly.Module(gifWasm);
  const w: Exports = new WebAssembly.Instance(gifModule, {
    env: { push_to_stream() {} },
  }).exports;
  // The gif crate's memory limit, in bytes of the RGBA frame buffer (u32; 0 means none).
  const limit = Math.max(1, Math.min(4 * maxPixels, 0xffffffff));
  const dec = w.decoder_new(copyIn(w, data), data.length, limit);
  if (dec === 0) throw new Error("gif: failed to parse gif header");
  const width = w.decoder_width(dec) | 0, height = w.decoder_height(dec) | 0;
  if (width * height > maxPixels) {
    throw new Error(`gif: logical screen ${width} x ${height} over ${maxPixels} pixels`);
  }
  const f = w.decoder_frame(dec);
  if (f === 1) throw new Error("no frames");
  if (f === 0) throw new Error("gif: failed to decode frame");
  const fx = w.decoder_frame_x(f) | 0, fy = w.decoder_frame_y(f) | 0;
  const fw = w.decoder_frame_width(f) | 0, fh = w.decoder_frame_height(f) | 0;
  const src = bytesOf(w.memory, w.decoder_frame_buffer(f), w.wlen());
  w.decoder_frame_free(f);
  if (src.length < fw * fh * 4) throw new Error("gif: frame buffer shorter than the frame");
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < Math.min(fh, height - fy); y++) {
    for (let x = 0; x < Math.min(fw, width - fx); x++) {
      const s = 4 * (y * fw + x);
      if (src[s + 3] === 0) continue;
      const d = 4 * ((fy + y) * width + fx + x);
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
      out[d + 3] = src[s + 3];
    }
  }
  return { width, height, framebuffer: out };
}
