/**
 * What `--align` hands to the rest of the pipeline, free of files and of the detector's
 * runtime: the face fields of a record, the aligner's interface and its "no face" error. The
 * pipeline (pipeline/batch.ts), the records (io/records.ts) and the web page's modules import
 * these from here, so they do not reach the TFJS models or the file system (align.ts,
 * detect.ts).
 *
 * @module
 */
import type { DecodedImage } from "../image/decode.ts";
import type { Point } from "./similarity.ts";

/** One detected face in image pixels. */
export interface DetectedFace {
  /** Box `[x, y, width, height]` from BlazeFace, image pixels. */
  box: [number, number, number, number];
  /** BlazeFace's score, 0..1. */
  score: number;
  /** BlazeFace's six key points (eyes, nose, mouth, ear tragions), image pixels. */
  keypoints: Point[];
}

/** The face chosen for alignment. */
export interface FaceLandmarks extends DetectedFace {
  /**
   * Five points in image pixels, in the ArcFace template's order: the image's left eye, right
   * eye, nose tip, left mouth corner, right mouth corner.
   */
  landmarks: Point[];
  /** FaceMesh's face flag, 0..1. */
  meshScore: number;
  /** How many faces over the threshold and size the image had. */
  faces: number;
}

/** Why no face could be aligned: "no face found" or a too small face. */
export class NoFaceError extends Error {
  /** The failure reason as recorded, e.g. "no face found". */
  readonly problem: string;

  /**
   * An image without a usable face.
   *
   * @param problem the failure reason as recorded
   */
  constructor(problem: string) {
    super(problem);
    this.name = "NoFaceError";
    this.problem = problem;
  }
}

/** What the records show of the aligned face. */
export interface FaceInfo {
  /** The detector's box `[x, y, width, height]`, image pixels (after EXIF orientation). */
  box: [number, number, number, number];
  /** The five landmarks (eyes, nose tip, mouth corners; ArcFace order), image pixels. */
  landmarks: Point[];
  /** The detector's confidence, 0..1. */
  confidence: number;
}

/** An aligned face: the crop and where it came from. */
export interface AlignedFace {
  /** The 112 x 112 RGB crop, as a decoded image (format and orientation of the source). */
  crop: DecodedImage;
  /** Box, landmarks and confidence. */
  face: FaceInfo;
  /** The 2 x 3 similarity matrix from image to crop pixels. */
  matrix: number[];
  /** Everything the detector found on the chosen face. */
  detail: FaceLandmarks;
}

/** Anything that aligns a decoded image ({@link Aligner}, or a wrapper that times it). */
export interface FaceAligner {
  /**
   * The 112 x 112 crop of the image's face and where it came from.
   *
   * @throws {NoFaceError} when the image has no usable face
   */
  align(img: DecodedImage): AlignedFace;
}
