/**
 * Image decoding with the semantics of OpenCV's `cv2.imread(path)` (IMREAD_COLOR), which the
 * official GraFIQs code uses (docs/ALGORITHM.md, "Input" item 1), on top of WASM decoders:
 * libjpeg-turbo (npm package `@cwasm/jpeg-turbo`, MIT) for JPEG, the npm package `imagescript`
 * for PNG and GIF, and the EXIF reader `exifr`.
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
 * - JPEG is decoded by libjpeg-turbo, the library inside OpenCV, with OpenCV's settings
 *   (libjpeg's defaults: accurate integer inverse DCT, fancy chroma upsampling), so the pixels
 *   are OpenCV's bit for bit: all 18 reference JPEGs of ../shared and every synthetic case
 *   (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, luma 1 x 4, odd sizes, progressive, grayscale, CMYK,
 *   YCCK, RGB, EXIF-rotated, corrupt, and truncated files with their padding), difference 0.
 *   The reference is `cv2.imread` of the file: `cv2.imdecode` pads truncated data differently.
 * - CMYK and YCCK JPEGs: OpenCV asks libjpeg for CMYK (libjpeg converts YCCK) and converts the
 *   values as libjpeg returns them (Adobe-inverted as stored) with the integer formula
 *   R = K - ((255 - C) * K >> 8) (G from M, B from Y); this module does the same.
 * - The EXIF orientation (JPEG APP1, PNG eXIf) is applied; OpenCV 4.6 does so for both.
 * - A JPEG whose data ends early: libjpeg (inside OpenCV) warns "Premature end of JPEG file",
 *   pads the missing data and returns an image. Such an image is mostly padding (a JPEG cut to
 *   a tenth of its bytes scored best of its set), so by default it is refused here: when
 *   libjpeg warns that way, or warns at all on a file that does not end with the EOI marker,
 *   the error says "truncated JPEG". Only with {@link DecodeOptions.allowTruncated} (the
 *   command's `--allow-truncated`) is the image returned, as OpenCV returns it (same padding,
 *   bit for bit), with a warning in {@link DecodedImage.warnings} so a caller can report it.
 *   A JPEG cut before its scan data fails in both ("truncated or corrupt JPEG data").
 * - Other libjpeg warnings (corrupt data that libjpeg decodes anyway, e.g. "Corrupt JPEG
 *   data: 3 extraneous bytes before marker 0xd9", or a scan cut and then given an EOI marker
 *   again): the image is returned, as OpenCV returns it, with the warning in
 *   {@link DecodedImage.warnings}. Fatal libjpeg errors are "corrupt JPEG data (libjpeg's
 *   message)".
 * - Arithmetic-coded JPEGs: the WASM build of libjpeg-turbo has no arithmetic decoder (OpenCV's
 *   usually has), so they are refused as unsupported, as are hierarchical ones (libjpeg reads
 *   none).
 * - Decompression bombs: before any decoder runs, the sizes the headers declare (PNG IHDR,
 *   JPEG SOFn, GIF logical screen and first frame: header.ts) are checked against
 *   {@link DecodeOptions.maxPixels} (the command's `--max-pixels`, default
 *   {@link DEFAULT_MAX_PIXELS}), and the GIF decoder gets a matching memory limit, so a
 *   small file declaring a huge image is refused without allocating it; the memory of one
 *   decode stays in proportion to the allowed pixel count (the JPEG decoder checks the size it
 *   reads once more before allocating the pixels). The decoded size is checked again.
 * - Decoders: the WASM modules are called directly (wasm_codecs.ts), one instance reused
 *   across images; GIF's first frame is composed as imagescript's `GIF.decode` does. PNG
 *   decodes bit-exactly too (all 24 reference PNGs and every synthetic variant).
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
  init(): Promise<{ decode(data: Uint8Array, maxPixels: number): T }>;
}

/**
 * One reusable instance of a WASM decoder (libjpeg-turbo, imagescript's PNG). Instantiating a
 * module costs about as much as decoding a 250x250 JPEG; one instance decodes any number of
 * images (the decoders free what they allocate: memory stays flat over thousands of decodes).
 * After a failed decode the instance is dropped, so no state left by an error (for
 * libjpeg-turbo: a stack and heap abandoned by its `longjmp`) reaches the next file.
 */
class ReusedDecoder<T> {
  #codec: WasmCodec<T>;
  #instance: Promise<{ decode(data: Uint8Array, maxPixels: number): T }> | undefined;

  constructor(codec: WasmCodec<T>) {
    this.#codec = codec;
  }

  /**
   * @param bytes the encoded file
   * @param maxPixels the largest image the decoder may allocate (the JPEG decoder checks it)
   * @param pixels the decoded image's pixel count, to drop an instance whose WASM memory grew
   *   for a very large image (WASM memory never shrinks)
   */
  async decode(bytes: Uint8Array, maxPixels: number, pixels: (r: T) => number): Promise<T> {
    this.#instance ??= this.#codec.init();
    const inst = await this.#instance;
    try {
      const r = inst.decode(bytes, maxPixels);
      if (pixels(r) > LARGE_IMAGE_PIXELS) this.#instance = undefined;
      return r;
    } catch (e) {
      this.#instance = undefined;
      throw e;
    }
  }
}

/** libjpeg's warning JWRN_JPEG_EOF: the data ended before the end-of-image marker. */
const PREMATURE_END = "Premature end of JPEG file";

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

/**
 * The RGB pixels of a libjpeg-turbo decode, with OpenCV's conversion for 4-component JPEGs.
 * OpenCV asks libjpeg for CMYK output (YCCK converted to CMYK by libjpeg) and converts the
 * samples as libjpeg returns them (Adobe-inverted as stored) with `icvCvt_CMYK2BGR_8u_C4C3R`:
 * R = K - ((255 - C) * K >> 8), G and B likewise from M and Y. 3-channel frames are RGB already
 * (libjpeg's YCbCr conversion; gray replicated to three channels by libjpeg, as OpenCV gets it).
 */
function jpegToRgb(fb: JpegFrame): Uint8Array {
  if (fb.channels === 3) return fb.pixels;
  const n = fb.width * fb.height, src = fb.pixels;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const k = src[4 * i + 3];
    for (let c = 0; c < 3; c++) rgb[3 * i + c] = k - (((255 - src[4 * i + c]) * k) >> 8);
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
    const endsWithEoi = bytes.length >= 2 && bytes[bytes.length - 2] === 0xff &&
      bytes[bytes.length - 1] === 0xd9;
    let fb: JpegFrame;
    try {
      fb = await jpegDecoder.decode(bytes, maxPixels, pixelCount);
    } catch (e) {
      const problem = endsWithEoi
        ? `corrupt JPEG data (${errText(e)})`
        : `truncated or corrupt JPEG data: no end-of-image marker, and the data cannot be ` +
          `decoded (${errText(e)})`;
      throw new ImageDecodeError(fileName, problem, { cause: e });
    }
    if (fb.warning !== null) {
      if (fb.warning === PREMATURE_END || !endsWithEoi) {
        if (!options.allowTruncated) {
          throw new ImageDecodeError(
            fileName,
            `truncated JPEG: the data ends early (libjpeg: "${fb.warning}"); ` +
              `--allow-truncated decodes it padded, as OpenCV does`,
          );
        }
        warnings.push(
          "JPEG data ends early; decoded anyway, padded as OpenCV pads it " +
            `(libjpeg: "${fb.warning}")`,
        );
      } else {
        warnings.push(
          `corrupt JPEG data; decoded anyway, as OpenCV does (libjpeg: "${fb.warning}")`,
        );
      }
    }
    width = fb.width;
    height = fb.height;
    rgb = jpegToRgb(fb);
  } else if (kind === "png") {
    let fb: PngFrame;
    try {
      fb = await pngDecoder.decode(bytes, maxPixels, pixelCount);
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
