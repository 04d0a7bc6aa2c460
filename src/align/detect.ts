/**
 * Face detection and five landmarks for `--align`: MediaPipe's BlazeFace (back-camera model,
 * 256 x 256) finds the faces, MediaPipe's FaceMesh (468 points, 192 x 192) refines the chosen
 * one, and five points are taken from the mesh: the two eye centres (the mean of each eye's 16
 * contour points), the nose tip and the two mouth corners. Both models are TensorFlow.js graph
 * models shipped in the npm package @vladmandic/human (its models/ folder; the package is MIT,
 * the models were converted from Google's MediaPipe, Apache-2.0) and run on tfjs's WebAssembly
 * backend (tfjs_model.ts).
 *
 * Steps for one decoded image (RGB, EXIF orientation already applied):
 * 1. the image is scaled to fit 256 x 256 (antialiased bilinear, aspect kept) and centred on a
 *    black square; BlazeFace's 896 anchors give a score (sigmoid of the logit), a box and six
 *    key points each; boxes over {@link AlignOptions.minScore} are kept after greedy
 *    non-maximum suppression (IoU 0.3);
 * 2. faces whose box is narrower than {@link AlignOptions.minFacePx} image pixels are dropped
 *    (too few pixels to align); one face is chosen by {@link FaceRule};
 * 3. FaceMesh runs on a 192 x 192 crop around the box (1.5 x its size), rotated so the eyes are
 *    level, twice: the second crop is re-centred on the first mesh. A mesh whose face flag is
 *    under 0.5 (FaceMesh's "is a face" output) makes the image fail as "no face found".
 *
 * @module
 */
import type { DecodedImage } from "../image/decode.ts";
import { resizeAntialiasBilinear } from "../image/resize.ts";
import {
  type Affine,
  applyAffine,
  invertAffine,
  type Point,
  warpAffineBilinear,
} from "./similarity.ts";
import type { GraphModel } from "@tensorflow/tfjs-converter";
import { loadTfjsGraphModel, type ModelFiles, runTfjs } from "./tfjs_model.ts";
import { type DetectedFace, type FaceLandmarks, NoFaceError } from "./face.ts";

export { type DetectedFace, type FaceLandmarks, type ModelFiles, NoFaceError };

/** Which face of an image with several is aligned (`--face`). */
export type FaceRule = "center" | "largest";

/** Options of the face detector. */
export interface AlignOptions {
  /** Which face to align: the one nearest the image centre (default) or the largest box. */
  face?: FaceRule;
  /** BlazeFace score (0..1) a face needs; default {@link DEFAULT_MIN_SCORE}. */
  minScore?: number;
  /** Smallest face box width in image pixels; default {@link DEFAULT_MIN_FACE_PX}. */
  minFacePx?: number;
}

/** Default BlazeFace score threshold. */
export const DEFAULT_MIN_SCORE = 0.5;
/** Default smallest face (box width in image pixels) that is aligned. */
export const DEFAULT_MIN_FACE_PX = 20;
/** FaceMesh face-flag threshold under which a detection is not taken as a face. */
export const MESH_MIN_FLAG = 0.5;

const DET = 256;
const MESH = 192;
// FaceMesh indices: each eye's 16 contour points (upper and lower lid), nose tip, mouth corners.
const EYE_IMAGE_LEFT = [
  33,
  7,
  163,
  144,
  145,
  153,
  154,
  155,
  133,
  246,
  161,
  160,
  159,
  158,
  157,
  173,
];
const EYE_IMAGE_RIGHT = [
  263,
  249,
  390,
  373,
  374,
  380,
  381,
  382,
  362,
  466,
  388,
  387,
  386,
  385,
  384,
  398,
];
const NOSE_TIP = 1;
const MOUTH_LEFT = 61;
const MOUTH_RIGHT = 291;

/** BlazeFace's anchor centres (in 256-pixel units): strides 16 (2 each) then 32 (6 each). */
function anchors(): Point[] {
  const out: Point[] = [];
  for (const [stride, n] of [[16, 2], [32, 6]]) {
    const g = DET / stride;
    for (let y = 0; y < g; y++) {
      for (let x = 0; x < g; x++) {
        for (let k = 0; k < n; k++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
      }
    }
  }
  return out;
}

function iou(a: number[], b: number[]): number {
  const x0 = Math.max(a[0], b[0]), y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[0] + a[2], b[0] + b[2]), y1 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/** The four model files a detector needs (the weight shards are the ones the .json files name). */
export const MODEL_FILES = ["blazeface.json", "blazeface.bin", "facemesh.json", "facemesh.bin"];

let embeddedModels: ModelFiles | undefined;

/**
 * Make the detector take its models from memory instead of the npm package's folder. The
 * one-file builds call this (tools/compile.ts generates their entry module, which embeds the
 * model files' bytes through `bytes` imports); the source tree never does.
 *
 * @param files blazeface.json/.bin and facemesh.json/.bin (see {@link MODEL_FILES}) by name
 * @throws Error naming the first missing file
 */
export function useEmbeddedModels(files: ModelFiles): void {
  for (const f of MODEL_FILES) {
    if (!files.has(f)) throw new Error(`embedded face models: ${f} is missing`);
  }
  embeddedModels = files;
}

/**
 * Where the models are: the models/ folder of the installed npm package @vladmandic/human
 * (found from its entry point; the package's exports do not list models/, so the files are read
 * from its folder rather than imported).
 *
 * @throws Error when the package cannot be located (e.g. a bundle made without the build step
 *   of tools/compile.ts, which embeds the models)
 */
export function defaultModelDir(): URL {
  let entry: string;
  try {
    entry = import.meta.resolve("@vladmandic/human");
  } catch (e) {
    throw new Error(
      `--align needs the face models of the npm package @vladmandic/human, which cannot be ` +
        `located here (${(e as Error).message}); run from the source tree (deno run mod.ts) or ` +
        `a build of deno task bundle / deno task compile, which embeds them`,
      { cause: e },
    );
  }
  return new URL("../models/", entry);
}

/**
 * BlazeFace + FaceMesh on tfjs: finds faces and five landmarks in decoded images.
 *
 * @example Five landmarks of the centred face
 * ```ts
 * import { decodeImage, FaceDetector } from "@grafiqs/grafiqs-webgpu";
 *
 * const det = await FaceDetector.create();
 * const img = await decodeImage(await Deno.readFile("photo.jpg"), "photo.jpg");
 * const face = det.locate(img, { face: "center" }); // throws NoFaceError when none
 * console.log(face.box, face.landmarks, face.score);
 * ```
 */
export class FaceDetector {
  #anchors = anchors();
  #detector: GraphModel;
  #meshModel: GraphModel;

  private constructor(detector: GraphModel, mesh: GraphModel) {
    this.#detector = detector;
    this.#meshModel = mesh;
  }

  /**
   * Load both models.
   *
   * @param dir folder holding blazeface.json/.bin and facemesh.json/.bin (default: the models
   *   embedded in a one-file build, see {@link useEmbeddedModels}, else
   *   {@link defaultModelDir})
   * @throws TfjsModelError or a file error naming the model file when it cannot be read
   */
  static async create(dir?: URL): Promise<FaceDetector> {
    const src = dir ?? embeddedModels ?? defaultModelDir();
    const det = await loadTfjsGraphModel(src, "blazeface");
    const mesh = await loadTfjsGraphModel(src, "facemesh");
    return new FaceDetector(det, mesh);
  }

  /**
   * All faces over the score threshold, largest score first (BlazeFace and non-maximum
   * suppression; no size filter).
   *
   * @param img decoded RGB image
   * @param minScore the score threshold, 0..1
   */
  detect(img: DecodedImage, minScore = DEFAULT_MIN_SCORE): DetectedFace[] {
    const { width: w, height: h } = img;
    const s = DET / Math.max(w, h);
    const rw = Math.max(1, Math.min(DET, Math.round(w * s)));
    const rh = Math.max(1, Math.min(DET, Math.round(h * s)));
    const small = resizeAntialiasBilinear(img.rgb, w, h, rw, rh);
    const ox = Math.floor((DET - rw) / 2), oy = Math.floor((DET - rh) / 2);
    const x = new Float32Array(DET * DET * 3).fill(-1);
    for (let y = 0; y < rh; y++) {
      for (let i = 0; i < rw * 3; i++) {
        x[((y + oy) * DET + ox) * 3 + i] = small[y * rw * 3 + i] / 127.5 - 1;
      }
    }
    const out = runTfjs(this.#detector, x, [1, DET, DET, 3]);
    // Two heads: 512 anchors (stride 16) and 384 (stride 32), each scores [1, n, 1] and
    // regressors [1, n, 16]; told apart by their shapes.
    const find = (n: number, c: number) => {
      const t = out.find((o) => o.shape[1] === n && o.shape[2] === c);
      if (!t) throw new Error(`BlazeFace output [1, ${n}, ${c}] missing`);
      return t.data;
    };
    const heads = [[find(512, 1), find(512, 16)], [find(384, 1), find(384, 16)]];
    // back to image pixels: (v - offset) / scale, with the scale of the actual resize
    const sx = rw / w, sy = rh / h;
    const cand: { box: number[]; score: number; kp: Point[] }[] = [];
    let a = 0;
    for (const [sc, reg] of heads) {
      for (let i = 0; i < sc.length; i++, a++) {
        const score = 1 / (1 + Math.exp(-sc[i]));
        if (!(score >= minScore)) continue;
        const r = reg.subarray(i * 16, i * 16 + 16);
        const [ax, ay] = this.#anchors[a];
        const cx = r[0] + ax, cy = r[1] + ay, bw = r[2], bh = r[3];
        if (!(bw > 0 && bh > 0)) continue;
        const kp: Point[] = [];
        for (let k = 0; k < 6; k++) {
          kp.push([(r[4 + 2 * k] + ax - ox) / sx, (r[5 + 2 * k] + ay - oy) / sy]);
        }
        cand.push({
          box: [(cx - bw / 2 - ox) / sx, (cy - bh / 2 - oy) / sy, bw / sx, bh / sy],
          score,
          kp,
        });
      }
    }
    cand.sort((p, q) => q.score - p.score);
    const kept: DetectedFace[] = [];
    for (const c of cand) {
      if (kept.some((k) => iou(k.box, c.box) > 0.3)) continue;
      kept.push({ box: c.box as DetectedFace["box"], score: c.score, keypoints: c.kp });
    }
    return kept;
  }

  /**
   * Find the face to align and its five landmarks.
   *
   * @param img decoded RGB image
   * @param opts which face, thresholds ({@link AlignOptions})
   * @returns the chosen face with its five landmarks
   * @throws {NoFaceError} "no face found" when no face is over the threshold (or FaceMesh
   *   does not confirm it), or "face too small (N px wide, under M)" when the only faces are
   *   narrower than `minFacePx`
   */
  locate(img: DecodedImage, opts: AlignOptions = {}): FaceLandmarks {
    const minFace = opts.minFacePx ?? DEFAULT_MIN_FACE_PX;
    const all = this.detect(img, opts.minScore ?? DEFAULT_MIN_SCORE);
    if (all.length === 0) throw new NoFaceError("no face found");
    const faces = all.filter((f) => f.box[2] >= minFace);
    if (faces.length === 0) {
      // rounded down, so that a face just under the minimum never reads as the minimum
      const widest = (Math.floor(Math.max(...all.map((f) => f.box[2])) * 10) / 10).toFixed(1);
      throw new NoFaceError(
        `face too small (${widest} px wide, under ${minFace}); no face found at or over it`,
      );
    }
    const rule = opts.face ?? "center";
    const cx = img.width / 2, cy = img.height / 2;
    const key = (f: DetectedFace) =>
      rule === "largest"
        ? -(f.box[2] * f.box[3])
        : Math.hypot(f.box[0] + f.box[2] / 2 - cx, f.box[1] + f.box[3] / 2 - cy);
    const face = faces.reduce((best, f) => (key(f) < key(best) ? f : best));
    // First crop from the detection: centre of the box, eyes (key points 0 and 1) level.
    const [e0, e1] = face.keypoints;
    let center: Point = [face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2];
    let size = 1.5 * Math.max(face.box[2], face.box[3]);
    let angle = Math.atan2(e1[1] - e0[1], e1[0] - e0[0]);
    if (e1[0] < e0[0]) angle += Math.PI; // keep upright whichever way the points are ordered
    let mesh = this.#mesh(img, center, size, angle);
    // Second crop from the mesh: its extent's centre and size, its eye line.
    const xs = mesh.points.map((p) => p[0]), ys = mesh.points.map((p) => p[1]);
    const minX = Math.min(...xs),
      maxX = Math.max(...xs),
      minY = Math.min(...ys),
      maxY = Math.max(...ys);
    center = [(minX + maxX) / 2, (minY + maxY) / 2];
    size = 1.5 * Math.max(maxX - minX, maxY - minY);
    const l = mean(mesh.points, EYE_IMAGE_LEFT), r = mean(mesh.points, EYE_IMAGE_RIGHT);
    angle = Math.atan2(r[1] - l[1], r[0] - l[0]);
    mesh = this.#mesh(img, center, size, angle);
    if (!(mesh.flag >= MESH_MIN_FLAG)) throw new NoFaceError("no face found");
    const p = mesh.points;
    return {
      ...face,
      landmarks: [
        mean(p, EYE_IMAGE_LEFT),
        mean(p, EYE_IMAGE_RIGHT),
        p[NOSE_TIP],
        p[MOUTH_LEFT],
        p[MOUTH_RIGHT],
      ],
      meshScore: mesh.flag,
      faces: faces.length,
    };
  }

  /** FaceMesh on a `size`-pixel square around `center`, rotated by `angle` (radians). */
  #mesh(img: DecodedImage, center: Point, size: number, angle: number) {
    // crop → image: p = center + R(angle) · (q − 96) · size / 192
    const k = size / MESH, c = Math.cos(angle) * k, s = Math.sin(angle) * k;
    const toImage: Affine = [
      c,
      -s,
      center[0] - c * MESH / 2 + s * MESH / 2,
      s,
      c,
      center[1] - s * MESH / 2 - c * MESH / 2,
    ];
    const crop = warpAffineBilinear(
      img.rgb,
      img.width,
      img.height,
      invertAffine(toImage),
      MESH,
      MESH,
    );
    const x = new Float32Array(crop.length);
    for (let i = 0; i < crop.length; i++) x[i] = crop[i] / 255;
    const out = runTfjs(this.#meshModel, x, [1, MESH, MESH, 3]);
    const pts = out.find((o) => o.shape[1] === 1404)!.data;
    const flag = out.find((o) => o.shape[1] === 1)!.data[0];
    const points: Point[] = [];
    for (let i = 0; i < 468; i++) points.push(applyAffine(toImage, [pts[3 * i], pts[3 * i + 1]]));
    return { points, flag };
  }
}

function mean(p: Point[], idx: number[]): Point {
  let x = 0, y = 0;
  for (const i of idx) {
    x += p[i][0];
    y += p[i][1];
  }
  return [x / idx.length, y / idx.length];
}
