/**
 * EXIF orientation: reading the tag and applying it to a pixel array the way OpenCV's
 * `imread` does by default (docs/ALGORITHM.md, "Input" item 1; OpenCV's `ApplyExifOrientation`).
 *
 * @module
 */
import exifr from "exifr";

/**
 * Read the EXIF Orientation tag (IFD0, tag 0x0112) with `exifr`.
 *
 * OpenCV ignores EXIF it cannot parse, so this does too: a missing, malformed or out-of-range
 * tag gives 1 (no change).
 *
 * @param bytes the encoded file (JPEG APP1 Exif, PNG eXIf chunk, ...)
 * @returns the orientation, an integer in 1..8
 */
export async function readExifOrientation(bytes: Uint8Array): Promise<number> {
  try {
    const o = await exifr.orientation(bytes);
    return typeof o === "number" && Number.isInteger(o) && o >= 1 && o <= 8 ? o : 1;
  } catch {
    return 1;
  }
}

/**
 * Apply an EXIF orientation to an interleaved pixel array, producing the image as it should be
 * displayed. The mapping is OpenCV's `ApplyExifOrientation`:
 * 1 none; 2 flip left-right; 3 rotate 180; 4 flip top-bottom; 5 transpose;
 * 6 transpose + flip left-right (rotate 90 clockwise); 7 transpose + rotate 180;
 * 8 transpose + flip top-bottom (rotate 90 counter-clockwise).
 * Orientations 5..8 swap width and height.
 *
 * @param px pixels, height x width x channels, row-major, interleaved
 * @param width input width in pixels
 * @param height input height in pixels
 * @param channels values per pixel (3 for RGB)
 * @param orientation EXIF orientation 1..8
 * @returns the oriented pixels (a new array, or `px` itself for orientation 1) and their size
 * @throws RangeError when `orientation` is not an integer in 1..8 or the array size is wrong
 */
export function applyExifOrientation(
  px: Uint8Array,
  width: number,
  height: number,
  channels: number,
  orientation: number,
): { px: Uint8Array; width: number; height: number } {
  if (!Number.isInteger(orientation) || orientation < 1 || orientation > 8) {
    throw new RangeError(`EXIF orientation must be an integer in 1..8, got ${orientation}`);
  }
  if (px.length !== width * height * channels) {
    throw new RangeError(
      `applyExifOrientation: expected ${height} x ${width} x ${channels} values, got ${px.length}`,
    );
  }
  if (orientation === 1) return { px, width, height };
  const swap = orientation >= 5;
  const ow = swap ? height : width, oh = swap ? width : height;
  const out = new Uint8Array(px.length);
  const W1 = width - 1, H1 = height - 1;
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      let sy: number, sx: number;
      switch (orientation) {
        case 2:
          sy = oy, sx = W1 - ox;
          break;
        case 3:
          sy = H1 - oy, sx = W1 - ox;
          break;
        case 4:
          sy = H1 - oy, sx = ox;
          break;
        case 5:
          sy = ox, sx = oy;
          break;
        case 6:
          sy = H1 - ox, sx = oy;
          break;
        case 7:
          sy = H1 - ox, sx = W1 - oy;
          break;
        default: // 8
          sy = ox, sx = W1 - oy;
      }
      const s = (sy * width + sx) * channels, d = (oy * ow + ox) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = px[s + c];
    }
  }
  return { px: out, width: ow, height: oh };
}
