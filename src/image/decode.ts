/**
 * Image decoding with the semantics of OpenCV's `cv2.imread(path)` (IMREAD_COLOR), which the
 * official GraFIQs code uses (docs/ALGORITHM.md, "Input" item 1), on top of the pure-WASM decoders
 * of the npm package `imagescript` and the EXIF reader `exifr`.
 *
 * What OpenCV does, and how this module matches it (each point checked against OpenCV 4.6 by
 * tools/make_image_fixtures.py and tests/image_test.ts):
 * - Format by signature, not by file name. JPEG (baseline and progressive), PNG (all bit depths
 *   and colour types, interlaced too) and GIF are decoded.
 * - GIF: the first frame. OpenCV 4.6 cannot read GIF at all (the official code crashes on
 *   one), so decoding it is an extension; imagescript gives transparent GIF pixels as black,
 *   where PIL gives the palette colour.
 * - TIFF, WebP, BMP and the other formats are refused with an "unsupported image format"
 *   error, although OpenCV reads TIFF, WebP and BMP: imagescript has no WebP or BMP decoder,
 *   and its TIFF decoder (1.3.1) fails with a WASM out-of-bounds access on every TIFF tried,
 *   written by OpenCV and by PIL alike.
 * - Grayscale is replicated to three channels.
 * - Alpha is dropped without compositing: the colour under a transparent pixel is kept as
 *   stored. imagescript's PNG decoder returns straight (not premultiplied) RGBA, so dropping its
 *   alpha byte gives OpenCV's result.
 * - 16-bit PNG samples keep their high byte (v >> 8, libpng's strip_16, as OpenCV). imagescript's
 *   PNG decoder does the same.
 * - Palette PNGs (with or without tRNS) are expanded to their palette colours.
 * - CMYK JPEGs: the decoder returns C, M, Y, K with 0 = no ink (the Adobe inversion undone).
 *   OpenCV converts libjpeg's stored (inverted) values c' = 255 - C, k' = 255 - K with
 *   R = k' - ((255 - c') * k' >> 8), so this module applies that integer formula to
 *   255 - C, 255 - K (imagescript's own conversion uses a floating-point formula instead).
 * - The EXIF orientation (JPEG APP1, PNG eXIf) is applied; OpenCV 4.6 does so for both.
 * - A JPEG whose data ends early: libjpeg (inside OpenCV) warns "Premature end of JPEG file",
 *   pads the missing data and returns an image; imagescript's decoder refuses it. Such an
 *   image is mostly padding (a JPEG cut to a tenth of its bytes scored best of its set), so
 *   by default it is refused here: when the decode fails and the file does not end with the
 *   EOI marker, the error says "truncated JPEG". Only with
 *   {@link DecodeOptions.allowTruncated} (the command's `--allow-truncated`) is the decode
 *   retried with EOI appended; if that succeeds, the image is returned, as OpenCV returns
 *   one, with a warning in {@link DecodedImage.warnings} so a caller can report it. The
 *   padded region differs from OpenCV's (libjpeg even garbles the last MCU row of a file that
 *   lacks only the EOI marker; imagescript decodes that one completely). A JPEG cut before
 *   its scan data fails in both. Not detected: a JPEG cut inside its scan data and then
 *   given an EOI marker again (the decoder pads such a scan without an error).
 * - Decompression bombs: before any decoder runs, the sizes the headers declare (PNG IHDR,
 *   JPEG SOFn, GIF logical screen and first frame: header.ts) are checked against
 *   {@link DecodeOptions.maxPixels} (the command's `--max-pixels`, default
 *   {@link DEFAULT_MAX_PIXELS}), and the GIF decoder gets a matching memory limit, so a
 *   small file declaring a huge image is refused without allocating it; the memory of one
 *   decode stays in proportion to the allowed pixel count. The decoded size is checked again.
 * - Decoders: imagescript's JPEG and PNG WASM modules are called directly (the JPEG one to see
 *   the raw gray / RGB / CMYK samples, both to reuse one WASM instance across images); GIF goes
 *   through imagescript's `GIF.decode`.
 * - JPEG pixel values differ slightly between decoders (inverse DCT and chroma upsampling).
 *   Measured on the 18 reference JPEGs of ../shared (raw and magface): at most 3 levels, mean
 *   0.068 levels (0.045 to 0.085 per image), 3 to 6 % of the values off by one or more.
 *   Grayscale and CMYK JPEGs and flat colours matched exactly in the synthetic tests. PNG
 *   decodes bit-exactly (all 24 reference PNGs and every synthetic variant).
 *
 * @module
 */
import {
  decodeGifFirstFrame,
  jpegCodec,
  type JpegFrame,
  pngCodec,
  type PngFrame,
} from "./wasm_codecs.ts";
import { applyExifOrientation, readExifOrientation } from "./orientation.ts";
import { declaredSizes, jpegFrames } from "./header.ts";

/**
 * Default largest image, in pixels (width x height as declared), that {@link decodeImage}
 * decodes: 50,000,000 (a 50-megapixel photo; a face crop is far smaller). The command's
 * `--max-pixels` changes it.
 */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/** Options of {@link decodeImage}: what it refuses. */
export interface DecodeOptions {
  /**
   * Largest image in pixels (width x height, as the headers declare it and as decoded);
   * larger ones are refused before decoding with "image too large (W x H, over --max-pixels
   * N)". A positive integer; default {@link DEFAULT_MAX_PIXELS}.
   */
  maxPixels?: number;
  /**
   * Decode a JPEG whose data ends early (no end-of-image marker) as OpenCV does, padding the
   * missing data, with a warning in {@link DecodedImage.warnings}, instead of refusing it
   * with "truncated JPEG: ..." (the default, false). The command's `--allow-truncated`.
   */
  allowTruncated?: boolean;
}

/** A decoded image: 8-bit, three channels, in RGB order. */
export interface DecodedImage {
  /** Width in pixels, after the EXIF orientation. */
  width: number;
  /** Height in pixels, after the EXIF orientation. */
  height: number;
  /** Pixels, height x width x 3, row-major, interleaved R, G, B, values 0..255. */
  rgb: Uint8Array;
  /** Format detected from the file signature. */
  format: "jpeg" | "png" | "gif";
  /** EXIF orientation that was applied (1 = none). */
  orientation: number;
  /** Non-fatal problems, e.g. a JPEG that ended early; empty when none. */
  warnings: string[];
}

/**
 * Thrown when a file cannot be decoded: empty, not an image, an unsupported format, or corrupt
 * or truncated data. The message starts with the file name, then says what is wrong. Callers
 * catch it to leave the file out and report it (docs/ALGORITHM.md, "Input" item 1).
 */
export class ImageDecodeError extends Error {
  /** The file name given to {@link decodeImage}. */
  readonly fileName: string;
  /** What is wrong, in words, without the file name (for reports that already name the file). */
  readonly problem: string;

  /**
   * @param fileName the file the error is about
   * @param problem what is wrong, in words
   * @param options the underlying error, if any
   */
  constructor(fileName: string, problem: string, options?: ErrorOptions) {
    super(`${fileName}: ${problem}`, options);
    this.name = "ImageDecodeError";
    this.fileName = fileName;
    this.problem = problem;
  }
}

/** A per-format WASM decoder of wasm_codecs.ts: `init()` makes one reusable instance. */
interface WasmCodec<T> {
  init(): Promise<{ decode(data: Uint8Array): T }>;
}

/**
 * One reusable instance of an imagescript WASM decoder. imagescript itself instantiates the
 * module afresh for every image, which costs about as much as decoding a 250x250 JPEG; one
 * instance decodes any number of images (the decoders free what they allocate: memory stayed
 * flat over 4000 decodes). After a failed decode the instance is dropped, so no state left by
 * an error reaches the next file.
 */
class ReusedDecoder<T> {
  #codec: WasmCodec<T>;
  #instance: Promise<{ decode(data: Uint8Array): T }> | undefined;

  constructor(codec: WasmCodec<T>) {
    this.#codec = codec;
  }

  /**
   * @param bytes the encoded file
   * @param pixels the decoded image's pixel count, to drop an instance whose WASM memory grew
   *   for a very large image (WASM memory never shrinks)
   */
  async decode(bytes: Uint8Array, pixels: (r: T) => number): Promise<T> {
    this.#instance ??= this.#codec.init();
    const inst = await this.#instance;
    try {
      const r = inst.decode(bytes);
      if (pixels(r) > LARGE_IMAGE_PIXELS) this.#instance = undefined;
      return r;
    } catch (e) {
      this.#instance = undefined;
      throw e;
    }
  }
}

/** Images above this many pixels (16 MP) get their decoder instance discarded afterwards. */
const LARGE_IMAGE_PIXELS = 16_000_000;
const pixelCount = (fb: { width: number; height: number }) => fb.width * fb.height;
const jpegDecoder = new ReusedDecoder(jpegCodec);
const pngDecoder = new ReusedDecoder(pngCodec);

type Signature = "jpeg" | "png" | "gif" | "unsupported" | "unknown";

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** Name the format of a file from its first bytes. */
function sniff(b: Uint8Array): { kind: Signature; name: string } {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { kind: "jpeg", name: "JPEG" };
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return { kind: "png", name: "PNG" };
  }
  if (startsWith(b, ascii("GIF87a")) || startsWith(b, ascii("GIF89a"))) {
    return { kind: "gif", name: "GIF" };
  }
  const other: [string, number[], number][] = [
    ["TIFF", [0x49, 0x49, 0x2a, 0x00], 0],
    ["TIFF", [0x4d, 0x4d, 0x00, 0x2a], 0],
    ["WebP", ascii("WEBP"), 8],
    ["BMP", ascii("BM"), 0],
    ["JPEG 2000", [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20], 0],
    ["JPEG 2000", [0xff, 0x4f, 0xff, 0x51], 0],
    ["HEIF/AVIF", ascii("ftyp"), 4],
    ["OpenEXR", [0x76, 0x2f, 0x31, 0x01], 0],
    ["Radiance HDR", ascii("#?"), 0],
    ["JPEG XL", [0xff, 0x0a], 0],
  ];
  for (const [name, sig, at] of other) {
    if (startsWith(b, sig, at)) return { kind: "unsupported", name };
  }
  if (b.length >= 2 && b[0] === 0x50 && b[1] >= 0x31 && b[1] <= 0x37) {
    return { kind: "unsupported", name: "PNM/PAM" };
  }
  return { kind: "unknown", name: "" };
}

/** Convert the JPEG decoder's framebuffer to interleaved RGB with OpenCV's conversions. */
function jpegToRgb(fb: JpegFrame, fileName: string): Uint8Array {
  const n = fb.width * fb.height;
  const channels = fb.format === 0 ? 1 : fb.format === 1 ? 3 : fb.format === 2 ? 4 : 0;
  if (channels === 0) {
    throw new ImageDecodeError(fileName, `unsupported JPEG pixel format code ${fb.format}`);
  }
  if (fb.buffer.length < n * channels) {
    throw new ImageDecodeError(
      fileName,
      `JPEG decoder returned ${fb.buffer.length} bytes for ${fb.width} x ${fb.height} x ${channels}`,
    );
  }
  const src = fb.buffer;
  if (channels === 3) return src.length === n * 3 ? src : src.slice(0, n * 3);
  const rgb = new Uint8Array(n * 3);
  if (channels === 1) {
    for (let i = 0; i < n; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = src[i];
  } else {
    for (let i = 0; i < n; i++) {
      const k = 255 - src[4 * i + 3]; // libjpeg's stored (Adobe-inverted) K
      for (let c = 0; c < 3; c++) {
        const v = 255 - src[4 * i + c]; // stored (inverted) C, M or Y
        rgb[3 * i + c] = k - (((255 - v) * k) >> 8);
      }
    }
  }
  return rgb;
}

/** Drop the alpha byte of straight RGBA pixels. */
function rgbaToRgb(rgba: Uint8Array | Uint8ClampedArray, n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = rgba[4 * i];
    rgb[3 * i + 1] = rgba[4 * i + 1];
    rgb[3 * i + 2] = rgba[4 * i + 2];
  }
  return rgb;
}

/**
 * The first frame coding of a JPEG that the decoder cannot read, in words ("arithmetic (SOF9)",
 * "hierarchical (SOF5)"), or null: arithmetic entropy coding (SOF9..SOF11, SOF13..SOF15) and
 * hierarchical frames (SOF5..SOF7). OpenCV's libjpeg reads some of them; this decoder does not,
 * so such a file is reported as unsupported rather than corrupt.
 */
function unsupportedJpegCoding(bytes: Uint8Array): string | null {
  for (const { marker } of jpegFrames(bytes)) {
    const n = marker - 0xc0;
    if (n >= 9) return `arithmetic${n >= 13 ? ", hierarchical" : ""} (SOF${n})`;
    if (n >= 5 && n <= 7) return `hierarchical (SOF${n})`;
  }
  return null;
}

/**
 * A decoder error in words. A WASM decoder that panics on malformed data traps with the bare
 * message "unreachable" (a `WebAssembly.RuntimeError`), which says nothing to a user.
 */
const errText = (e: unknown) =>
  e instanceof WebAssembly.RuntimeError
    ? "the decoder stopped on malformed data (WebAssembly trap)"
    : e instanceof Error
    ? e.message
    : String(e);

/**
 * Decode an image file to 8-bit RGB with the semantics of OpenCV's `imread(path)`
 * (docs/ALGORITHM.md, "Input" item 1; the module comment lists each rule). The result is RGB; the
 * official code sees BGR, which is the same array with channels 0 and 2 swapped
 * ({@link prepareImage} takes care of the order).
 *
 * @param bytes the whole file
 * @param fileName the name used in error messages (not opened, not used to pick the format)
 * @param options the pixel cap and whether truncated JPEGs are decoded ({@link DecodeOptions})
 * @returns width, height and H x W x 3 RGB pixels, with the EXIF orientation applied
 * @throws ImageDecodeError when the file is empty, not an image, in an unsupported format,
 *   larger than `options.maxPixels` ("image too large (W x H, over --max-pixels N)"), a JPEG
 *   that ends early without `options.allowTruncated` ("truncated JPEG: ..."), or corrupt or
 *   truncated beyond what OpenCV would still decode
 * @throws RangeError when `options.maxPixels` is not a positive integer
 */
export async function decodeImage(
  bytes: Uint8Array,
  fileName: string,
  options: DecodeOptions = {},
): Promise<DecodedImage> {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`decodeImage(${fileName}): bytes must be a Uint8Array`);
  }
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isSafeInteger(maxPixels) || maxPixels < 1) {
    throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
  if (bytes.length === 0) throw new ImageDecodeError(fileName, "empty file, not an image");
  const { kind, name } = sniff(bytes);
  const tooLarge = (w: number, h: number) =>
    new ImageDecodeError(fileName, `image too large (${w} x ${h}, over --max-pixels ${maxPixels})`);
  if (kind === "jpeg" || kind === "png" || kind === "gif") {
    for (const d of declaredSizes(bytes, kind)) {
      if (d.width * d.height > maxPixels) throw tooLarge(d.width, d.height);
    }
  }
  const warnings: string[] = [];
  let width: number, height: number, rgb: Uint8Array;
  if (kind === "jpeg") {
    const coding = unsupportedJpegCoding(bytes);
    if (coding) throw new ImageDecodeError(fileName, `unsupported JPEG coding: ${coding}`);
    let fb: JpegFrame;
    try {
      fb = await jpegDecoder.decode(bytes, pixelCount);
    } catch (first) {
      const endsWithEoi = bytes.length >= 2 && bytes[bytes.length - 2] === 0xff &&
        bytes[bytes.length - 1] === 0xd9;
      if (endsWithEoi) {
        throw new ImageDecodeError(fileName, `corrupt JPEG data (${errText(first)})`, {
          cause: first,
        });
      }
      if (!options.allowTruncated) {
        throw new ImageDecodeError(
          fileName,
          `truncated JPEG: no end-of-image marker, the data ends early (${errText(first)}); ` +
            `--allow-truncated decodes it padded, as OpenCV does`,
          { cause: first },
        );
      }
      const padded = new Uint8Array(bytes.length + 2);
      padded.set(bytes);
      padded[bytes.length] = 0xff;
      padded[bytes.length + 1] = 0xd9;
      try {
        fb = await jpegDecoder.decode(padded, pixelCount);
      } catch (second) {
        throw new ImageDecodeError(
          fileName,
          `truncated or corrupt JPEG data: no end-of-image marker, and the data cannot be ` +
            `decoded (${errText(second)})`,
          { cause: second },
        );
      }
      warnings.push(
        "JPEG data ends early (no end-of-image marker); decoded anyway, as OpenCV does " +
          '("Premature end of JPEG file")',
      );
    }
    width = fb.width;
    height = fb.height;
    rgb = jpegToRgb(fb, fileName);
  } else if (kind === "png") {
    let fb: PngFrame;
    try {
      fb = await pngDecoder.decode(bytes, pixelCount);
    } catch (e) {
      throw new ImageDecodeError(fileName, `corrupt or truncated PNG data (${errText(e)})`, {
        cause: e,
      });
    }
    width = fb.width;
    height = fb.height;
    if (fb.framebuffer.length !== width * height * 4) {
      throw new ImageDecodeError(
        fileName,
        `PNG decoder returned a wrong-sized ${width} x ${height} image`,
      );
    }
    rgb = rgbaToRgb(fb.framebuffer, width * height);
  } else if (kind === "gif") {
    let frame: PngFrame;
    try {
      frame = decodeGifFirstFrame(bytes, maxPixels);
    } catch (e) {
      throw new ImageDecodeError(fileName, `corrupt or truncated GIF data (${errText(e)})`, {
        cause: e,
      });
    }
    width = frame.width;
    height = frame.height;
    rgb = rgbaToRgb(frame.framebuffer, width * height);
  } else if (kind === "unsupported") {
    throw new ImageDecodeError(
      fileName,
      `unsupported image format ${name} (JPEG, PNG and GIF can be decoded)`,
    );
  } else {
    const head = Array.from(bytes.subarray(0, 8), (v) => v.toString(16).padStart(2, "0"));
    throw new ImageDecodeError(
      fileName,
      `not an image: unrecognised file signature (first bytes ${head.join(" ")})`,
    );
  }
  if (width < 1 || height < 1 || rgb.length !== width * height * 3) {
    throw new ImageDecodeError(fileName, `decoder returned an invalid ${width} x ${height} image`);
  }
  if (width * height > maxPixels) throw tooLarge(width, height);
  const orientation = kind === "gif" ? 1 : await readExifOrientation(bytes);
  if (orientation !== 1) {
    const o = applyExifOrientation(rgb, width, height, 3, orientation);
    rgb = o.px;
    width = o.width;
    height = o.height;
  }
  return { width, height, rgb, format: kind, orientation, warnings };
}
