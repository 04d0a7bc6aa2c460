/**
 * The files side of calibrations: reading a `--calibration` file with the bounded reader. The
 * format, its parser and the quality scale are in calibration.ts, which works on text only so
 * that the web page can use it.
 *
 * @module
 */
import { readProblem, readRegularFile } from "./files.ts";
import {
  type Calibration,
  CalibrationError,
  MAX_CALIBRATION_BYTES,
  parseCalibration,
} from "./calibration.ts";

/**
 * Read a calibration file with the bounded reader (at most {@link MAX_CALIBRATION_BYTES}) and
 * parse it ({@link parseCalibration}).
 *
 * @param path the `--calibration` file
 * @returns the calibration
 * @throws {CalibrationError} naming the file when it cannot be read, is too large, is not
 *   UTF-8, or is malformed
 * @example
 * ```ts ignore
 * import { calibratedQuality } from "./calibration.ts";
 * import { readCalibration } from "./calibration_file.ts";
 * const c = await readCalibration("lfw_calibration.json");
 * console.log(calibratedQuality(4321.5, c.groups[0].quantiles)); // e.g. 62.17
 * ```
 */
export async function readCalibration(path: string): Promise<Calibration> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(
      path,
      MAX_CALIBRATION_BYTES,
      (size) => `${size} bytes, over the ${MAX_CALIBRATION_BYTES} a calibration may have`,
    );
  } catch (e) {
    throw new CalibrationError(`calibration ${path}: ${readProblem(e)}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new CalibrationError(`calibration ${path}: not UTF-8 text`);
  }
  return parseCalibration(text, path);
}
