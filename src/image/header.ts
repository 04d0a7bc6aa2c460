/**
 * Image dimensions as a file's headers declare them, read before any decoder runs, so that a
 * decompression bomb (a small file declaring a huge image, e.g. an 824-byte GIF of 65535 x 65535
 * pixels, or a 50 KB PNG of 20000 x 20000) is refused before its pixels are allocated
 * (decode.ts checks them against `--max-pixels`).
 *
 * What is read, per format the decoders accept (TIFF, WebP, BMP and the others are refused by
 * their signature before any decoding, so they need no check):
 * - PNG: the IHDR chunk, which the format requires first (width and height, unsigned 32-bit
 *   big-endian at bytes 16 and 20).
 * - JPEG: every start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC) in the file; the
 *   marker walk skips segments by their length and entropy-coded data up to the next marker
 *   (`FF` not followed by `00` or a restart marker), so a frame header anywhere is seen, also
 *   after a scan. A height of 0 (defined later by a DNL marker) is reported as 0; the decoder
 *   refuses such files.
 * - GIF: the logical screen, and the image descriptor of the first frame (the only one
 *   decoded), found by skipping the colour table and the extension blocks before it.
 *
 * @module
 */

/** One declared size: what declares it ("image", "GIF frame"), width and height in pixels. */
export interface DeclaredSize {
  /** What the size belongs to, in words: `"image"`, `"GIF screen"` or `"GIF frame"`. */
  what: string;
  /** Width in pixels as declared. */
  width: number;
  /** Height in pixels as declared (0 for a JPEG whose height a DNL marker gives). */
  height: number;
}

const be16 = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const le16 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const be32 = (b: Uint8Array, i: number) =>
  ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;

/** Whether a JPEG marker code is a start-of-frame (SOFn: C0..CF except C4 DHT, C8 JPG, CC DAC). */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** The frame sizes of every SOF segment of a JPEG (see the module comment). */
function jpegSizes(b: Uint8Array): DeclaredSize[] {
  return jpegFrames(b).map((f) => ({ what: "image", width: f.width, height: f.height }));
}

/**
 * The start-of-frame segments of a JPEG, found by the marker walk of the module comment.
 *
 * @param b the whole file (starting with the SOI marker FF D8)
 * @returns per SOF segment in file order: its marker code (0xC0..0xCF, e.g. 0xC9 for SOF9) and
 *   the declared width and height in pixels
 */
export function jpegFrames(b: Uint8Array): { marker: number; width: number; height: number }[] {
  const out: { marker: number; width: number; height: number }[] = [];
  const n = b.length;
  let i = 2; // after SOI
  while (i < n) {
    if (b[i] !== 0xff) {
      // Entropy-coded data (after SOS) or garbage: go on at the next real marker.
      const j = b.indexOf(0xff, i);
      if (j < 0) break;
      i = j;
      continue;
    }
    while (i < n && b[i] === 0xff) i++; // fill bytes
    if (i >= n) break;
    const m = b[i++];
    if (m === 0x00 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) continue; // stuffed, RSTn, TEM
    if (m === 0xd9) break; // EOI
    if (i + 2 > n) break;
    const len = be16(b, i);
    if (len < 2) break;
    if (isSof(m) && i + 7 <= n) {
      out.push({ marker: m, width: be16(b, i + 5), height: be16(b, i + 3) });
    }
    i += len;
    if (m === 0xda) {
      // Skip the scan's entropy-coded data: FF 00 is a stuffed byte, FF D0..D7 a restart.
      for (;;) {
        const j = b.indexOf(0xff, i);
        if (j < 0 || j + 1 >= n) {
          i = n;
          break;
        }
        const nx = b[j + 1];
        if (nx === 0x00 || (nx >= 0xd0 && nx <= 0xd7) || nx === 0xff) {
          i = j + (nx === 0xff ? 1 : 2);
          continue;
        }
        i = j;
        break;
      }
    }
  }
  return out;
}

/** The IHDR size of a PNG (empty when the first chunk is not IHDR: the decoder refuses it). */
function pngSizes(b: Uint8Array): DeclaredSize[] {
  if (b.length < 24) return [];
  const ihdr = b[12] === 0x49 && b[13] === 0x48 && b[14] === 0x44 && b[15] === 0x52;
  return ihdr ? [{ what: "image", width: be32(b, 16), height: be32(b, 20) }] : [];
}

/** The logical screen and the first image descriptor of a GIF. */
function gifSizes(b: Uint8Array): DeclaredSize[] {
  const n = b.length;
  if (n < 13) return [];
  const out: DeclaredSize[] = [{ what: "GIF screen", width: le16(b, 6), height: le16(b, 8) }];
  let i = 13;
  if (b[10] & 0x80) i += 3 * (1 << ((b[10] & 7) + 1)); // global colour table
  while (i < n) {
    if (b[i] === 0x21) {
      // Extension: label, then data sub-blocks up to a zero-length one.
      i += 2;
      while (i < n && b[i] !== 0) i += b[i] + 1;
      i++;
    } else if (b[i] === 0x2c) {
      if (i + 9 <= n) {
        out.push({ what: "GIF frame", width: le16(b, i + 5), height: le16(b, i + 7) });
      }
      break;
    } else break; // trailer or garbage: the decoder decides
  }
  return out;
}

/**
 * The image sizes that a file's headers declare, without decoding any pixel data.
 *
 * @param bytes the whole file (or at least its headers)
 * @param format the format detected from the signature
 * @returns PNG: the IHDR size; JPEG: each SOF segment's frame size; GIF: the logical screen and
 *   the first frame. Empty when the header is missing or cut (the decoder then reports the
 *   file as corrupt).
 */
export function declaredSizes(bytes: Uint8Array, format: "jpeg" | "png" | "gif"): DeclaredSize[] {
  if (format === "png") return pngSizes(bytes);
  if (format === "jpeg") return jpegSizes(bytes);
  return gifSizes(bytes);
}
