/**
 * The image decoders' WASM modules, with the module bytes embedded through `bytes` imports
 * instead of read from a package folder at run time. That keeps the decoders working in a
 * single-file `deno bundle` build and a `deno compile` binary, where no package folder exists
 * beside the code.
 *
 * - JPEG: libjpeg-turbo 2.0.4, the module of the npm package `@cwasm/jpeg-turbo` 0.1.3
 *   (`jpeg-turbo.wasm`), called through the TurboJPEG API ({@link jpegCodec}).
 * - PNG and GIF: imagescript 1.3.1's `wasm/any/*.wasm`, whose interfaces are:
 *   - both: `memory`, `walloc(n) -> ptr`, `wfree(ptr[, n])`, `wlen() -> n` (length of the last
 *     returned buffer);
 *   - png: `decode(ptr, n) -> ptr | < 0`, `width()`, `height()`; the result is straight RGBA;
 *   - gif: `decoder_new(ptr, n, limit) -> ptr` (0 error), `decoder_width/height(ptr)`,
 *     `decoder_frame(ptr) -> ptr` (0 error, 1 no more frames), `decoder_frame_x/y/width/height/
 *     buffer/free(frame)`; frames are straight RGBA; `env.push_to_stream` must be imported.
 *
 * @module
 */
import jpegTurboWasm from "@cwasm/jpeg-turbo/jpeg-turbo.wasm" with { type: "bytes" };
import pngWasm from "imagescript/wasm/any/png.wasm" with { type: "bytes" };
import gifWasm from "imagescript/wasm/any/gif.wasm" with { type: "bytes" };

// deno-lint-ignore no-explicit-any
type Exports = any;

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

/**
 * A JPEG decoded by libjpeg-turbo, before any OpenCV conversion: RGB for YCbCr, RGB and
 * grayscale JPEGs (libjpeg's own colour conversion and gray replication, as OpenCV asks
 * libjpeg for BGR), or for 4-component (CMYK and YCCK) JPEGs the four C, M, Y, K samples as
 * libjpeg outputs them (YCCK converted to CMYK by libjpeg; Adobe's inverted values as stored).
 */
export interface JpegFrame {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 3 (RGB) or 4 (CMYK). */
  channels: 3 | 4;
  /** Pixels, height x width x channels, row-major, interleaved. */
  pixels: Uint8Array;
  /**
   * libjpeg's first warning when it warned and decoded anyway, as OpenCV does (e.g. "Premature
   * end of JPEG file" for data that ends early, which libjpeg pads); null when it did not warn.
   */
  warning: string | null;
}

/**
 * A fatal libjpeg-turbo error: the data cannot be decoded. The message is libjpeg's own
 * (e.g. "Not a JPEG file: starts with 0x3c 0x21", "Bogus marker length").
 */
export class JpegLibError extends Error {
  /** @param message libjpeg's message */
  constructor(message: string) {
    super(message);
    this.name = "JpegLibError";
  }
}

/** Thrown by the `longjmp` import: libjpeg's `error_exit` after a fatal error. */
class LongJump extends Error {}

/** TurboJPEG constants (turbojpeg.h): pixel formats and JPEG colour spaces. */
const TJPF_RGB = 0, TJPF_CMYK = 11, TJCS_CMYK = 3, TJCS_YCCK = 4;
/** libjpeg's JMSG_LENGTH_MAX: the size of TurboJPEG's static error-message buffer. */
const JMSG_LENGTH_MAX = 200;

let jpegModule: WebAssembly.Module | undefined;
/** Address of TurboJPEG's static `errStr` buffer in a fresh instance's memory, or -1. */
let jpegErrStr = -1;

/**
 * Find TurboJPEG's static message buffer (`static char errStr[JMSG_LENGTH_MAX] = "No
 * error"`, which the module does not export) in a fresh instance's data: the only place where
 * "No error" is followed by zeros up to JMSG_LENGTH_MAX bytes. -1 when there is not exactly
 * one such place (messages are then left out; tests/hostile_small_test.ts and
 * tests/image_test.ts check libjpeg's messages, so a package update that moves it fails them).
 */
function findErrStr(mem: Uint8Array): number {
  const text = [..."No error"].map((c) => c.charCodeAt(0));
  let found = -1;
  for (let i = mem.indexOf(text[0]); i >= 0; i = mem.indexOf(text[0], i + 1)) {
    if (i + JMSG_LENGTH_MAX > mem.length) break;
    if (!text.every((v, k) => mem[i + k] === v)) continue;
    if (!mem.subarray(i + text.length, i + JMSG_LENGTH_MAX).every((v) => v === 0)) continue;
    if (found >= 0) return -1;
    found = i;
  }
  return found;
}

/**
 * The JPEG decoder: libjpeg-turbo 2.0.4 compiled to WebAssembly, the module of the npm package
 * `@cwasm/jpeg-turbo` (MIT; libjpeg-turbo itself is under the IJG and BSD-style licences).
 * The package's JavaScript reads the module from its folder at run time, so the module bytes
 * are embedded here instead and called through the TurboJPEG C API that it exports
 * (`tjInitDecompress`, `tjDecompressHeader3`, `tjDecompress2`, `tjDestroy`, `malloc`,
 * `free`). Decompression uses libjpeg's defaults (TurboJPEG flags 0), as OpenCV does:
 * accurate integer inverse DCT (JDCT_ISLOW) and fancy (smooth) chroma upsampling, so the pixels
 * equal `cv2.imread`'s.
 *
 * The module's imports: `env.setjmp` returns 0 and `env.longjmp` throws, so a fatal libjpeg
 * error leaves the call as an exception (with libjpeg's message) and the instance, whose
 * stack and heap are then inconsistent, must be dropped. Of the WASI functions only the
 * environment is reached (libjpeg's `getenv`), and it is empty; TurboJPEG formats messages
 * into its buffer and prints nothing, so the file functions throw.
 *
 * `init()` makes one instance; its `decode(data, maxPixels)` decodes one file and throws
 * JpegLibError for data libjpeg cannot decode, or an Error when the declared image has more
 * than `maxPixels` pixels (checked before the pixels are allocated).
 */
export const jpegCodec = {
  init(): Promise<{ decode(data: Uint8Array, maxPixels: number): JpegFrame }> {
    jpegModule ??= new WebAssembly.Module(jpegTurboWasm);
    const unsupported = () => {
      throw new Error("jpeg: unexpected WASI call");
    };
    const w: Exports = new WebAssembly.Instance(jpegModule, {
      env: {
        setjmp: () => 0,
        longjmp: () => {
          throw new LongJump("libjpeg error_exit");
        },
      },
      wasi_snapshot_preview1: {
        // An empty environment (libjpeg's getenv looks for JPEGMEM and the like).
        environ_sizes_get(countPtr: number, sizePtr: number): number {
          const v = new DataView(w.memory.buffer);
          v.setUint32(countPtr, 0, true);
          v.setUint32(sizePtr, 0, true);
          return 0;
        },
        environ_get: () => 0,
        proc_exit: unsupported,
        fd_close: unsupported,
        fd_seek: unsupported,
        fd_write: unsupported,
      },
    }).exports;
    if (jpegErrStr < 0) jpegErrStr = findErrStr(new Uint8Array(w.memory.buffer));
    const errAt = jpegErrStr;
    /** TurboJPEG's last message ("" when none), and clear it for the next call. */
    const takeMessage = (): string => {
      if (errAt < 0) return "";
      const b = new Uint8Array(w.memory.buffer, errAt, JMSG_LENGTH_MAX);
      const end = b.indexOf(0);
      const text = new TextDecoder().decode(b.subarray(0, end < 0 ? JMSG_LENGTH_MAX : end));
      b.fill(0);
      return text === "No error" ? "" : text;
    };
    /** Run a TurboJPEG call; a fatal libjpeg error becomes a JpegLibError. */
    const call = (f: () => number): number => {
      try {
        return f();
      } catch (e) {
        if (e instanceof LongJump) throw new JpegLibError(takeMessage() || "libjpeg error");
        throw e;
      }
    };
    takeMessage();
    return Promise.resolve({
      decode(data: Uint8Array, maxPixels: number): JpegFrame {
        const handle = w.tjInitDecompress();
        if (handle === 0) throw new Error("jpeg: cannot allocate the decompressor");
        const src = w.malloc(Math.max(1, data.length));
        const meta = w.malloc(16);
        if (src === 0 || meta === 0) throw new Error("jpeg: out of WASM memory");
        new Uint8Array(w.memory.buffer, src, data.length).set(data);
        // width, height, subsampling, colour space (int32 each)
        const header = call(() =>
          w.tjDecompressHeader3(handle, src, data.length, meta, meta + 4, meta + 8, meta + 12)
        );
        const [width, height, , colorspace] = new Int32Array(w.memory.buffer, meta, 4);
        const headerMessage = takeMessage();
        // -1 without a longjmp: a libjpeg warning (e.g. "Corrupt JPEG data: 3 extraneous bytes
        // before marker 0xc0"; tjDecompress2 meets it again and reports it), or TurboJPEG's own
        // refusal ("tjDecompressHeader3(): ..."). TurboJPEG 2.0 refuses sampling factors
        // outside its named subsamplings (4:4:4, 4:2:2, 4:2:0, gray, 4:4:0, 4:1:1) after
        // reading the header completely and storing the size and colour space; libjpeg (and
        // OpenCV) decode such files, and the subsampling is not needed to decode, so that
        // refusal is passed over too.
        const refused = headerMessage === "" ||
          (headerMessage.startsWith("tjDecompressHeader3()") &&
            !headerMessage.includes("Could not determine subsampling type"));
        if (header !== 0 && refused) {
          throw new JpegLibError(headerMessage || "cannot read the JPEG header");
        }
        if (!(width > 0 && height > 0)) throw new JpegLibError(`bad size ${width} x ${height}`);
        if (width * height > maxPixels) {
          throw new Error(`jpeg: ${width} x ${height} over ${maxPixels} pixels`);
        }
        const cmyk = colorspace === TJCS_CMYK || colorspace === TJCS_YCCK;
        const channels = cmyk ? 4 : 3;
        const n = width * height * channels;
        const out = w.malloc(n);
        if (out === 0) throw new Error("jpeg: out of WASM memory");
        const status = call(() =>
          w.tjDecompress2(
            handle,
            src,
            data.length,
            out,
            width,
            0,
            height,
            cmyk ? TJPF_CMYK : TJPF_RGB,
            0,
          )
        );
        const message = takeMessage();
        // -1 without a longjmp: TurboJPEG's own refusal ("tjDecompress2(): ...") or, after a
        // complete decode, libjpeg's warning (TurboJPEG reports warnings as -1 too).
        if (status !== 0 && (message === "" || message.startsWith("tjDecompress2()"))) {
          throw new JpegLibError(message || "decompression failed");
        }
        const pixels = new Uint8Array(w.memory.buffer, out, n).slice();
        w.free(out);
        w.free(meta);
        w.free(src);
        w.tjDestroy(handle);
        return { width, height, channels, pixels, warning: status !== 0 ? message : null };
      },
    });
  },
};

/** A PNG decoded to straight RGBA, 8 bits per sample. */
export interface PngFrame {
  width: number;
  height: number;
  framebuffer: Uint8Array;
}

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
