#!/usr/bin/python3
"""Generate the committed fixtures of tests/align_test.ts (tests/fixtures/align/).

Run with Debian's Python (it has numpy and OpenCV):

    /usr/bin/python3 tools/make_align_fixtures.py

Independent references for src/align/similarity.ts:
- the similarity fit: OpenCV's `cv2.estimateAffinePartial2D` (RANSAC with a threshold that keeps all points
  inliers, then Levenberg-Marquardt refinement: the least-squares similarity) and a NumPy
  transcription of Umeyama's SVD algorithm as scikit-image's `SimilarityTransform.estimate`
  computes it; they must agree to 1e-4 here before the fixture is written (OpenCV's refinement stops
  at its own tolerance, about 1e-5; the test holds our fit to the SVD one to 1e-9);
- the warp: `cv2.warpAffine(img, M, (112, 112))` (INTER_LINEAR, BORDER_CONSTANT 0) of a
  synthetic 200 x 170 image (made on both sides by the same formula, see `synthetic`), one
  case per matrix, including matrices that put part of the crop outside the image.

What it writes: align.json with the point sets, both matrices and, per warp case, the
output's SHA-256 and the raw 112 x 112 x 3 bytes zlib-compressed and base64-encoded.
"""
import base64
import hashlib
import json
import os
import zlib

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "align")

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def synthetic(w, h):
    """The test image, made the same way by the test: smooth waves (so that sub-pixel shifts
    change values by a few levels) plus an 8 px checkerboard (sharp edges), per channel c
    v = clip(round(100 + 80 sin(0.11 x + 0.05 (c + 1) y + c)) + 60 checker, 0, 255)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chk = (((x.astype(int) >> 3) + (y.astype(int) >> 3)) & 1) * 60
    out = np.empty((h, w, 3), dtype=np.uint8)
    for c in range(3):
        v = np.round(100 + 80 * np.sin(0.11 * x + 0.05 * (c + 1) * y + c)) + chk
        out[:, :, c] = np.clip(v, 0, 255)
    return out


def umeyama(src, dst):
    """scikit-image's _umeyama(src, dst, estimate_scale=True), 2 x 3 result."""
    num, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_demean, dst_demean = src - src_mean, dst - dst_mean
    A = dst_demean.T @ src_demean / num
    d = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(A) < 0:
        d[dim - 1] = -1
    T = np.eye(dim + 1, dtype=np.float64)
    U, S, V = np.linalg.svd(A)
    rank = np.linalg.matrix_rank(A)
    if rank == dim - 1:
        if np.linalg.det(U) * np.linalg.det(V) > 0:
            T[:dim, :dim] = U @ V
        else:
            s = d[dim - 1]
            d[dim - 1] = -1
            T[:dim, :dim] = U @ np.diag(d) @ V
            d[dim - 1] = s
    else:
        T[:dim, :dim] = U @ np.diag(d) @ V
    scale = 1.0 / src_demean.var(axis=0).sum() * (S @ d)
    T[:dim, dim] = dst_mean - scale * (T[:dim, :dim] @ src_mean.T)
    T[:dim, :dim] *= scale
    return T[:2]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261205)
    # Landmark sets: the template moved, scaled, rotated and perturbed, as a detector gives.
    fits = []
    for k in range(6):
        ang = rng.uniform(-0.6, 0.6)
        s = rng.uniform(0.4, 2.5)
        R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        pts = (TEMPLATE - 56) @ R.T * s + rng.uniform(40, 160, size=2)
        pts = pts + rng.normal(0, 2.0 * (k > 0), size=pts.shape)
        M1 = umeyama(pts, TEMPLATE)
        M2, inl = cv2.estimateAffinePartial2D(pts, TEMPLATE, method=cv2.RANSAC,
                                              ransacReprojThreshold=1000.0)
        assert inl.all()
        # OpenCV's Levenberg-Marquardt refinement stops at its own tolerance: its matrix is
        # the least-squares one to about 1e-5 px (measured), not to rounding.
        assert np.abs(M1 - M2).max() < 1e-4, (M1, M2)
        fits.append({"src": pts.tolist(), "umeyama": M1.ravel().tolist(),
                     "opencv": M2.ravel().tolist()})
    W, H = 200, 170
    img = synthetic(W, H)
    warps = []
    mats = [fits[i]["umeyama"] for i in (0, 2, 4)] + [
        [1.0, 0.0, -150.0, 0.0, 1.0, -120.0],  # mostly outside
        [0.3, -0.9, 60.0, 0.9, 0.3, -40.0],  # rotated, enlarged, partly outside
    ]
    for M in mats:
        Mm = np.array(M, dtype=np.float64).reshape(2, 3)
        # the fit maps detected points to the template: the crop of the image region is the
        # warp with M as it is (cv2.warpAffine inverts it internally)
        out = cv2.warpAffine(img, Mm, (112, 112))
        raw = np.ascontiguousarray(out).tobytes()
        warps.append({"m": M, "sha256": hashlib.sha256(raw).hexdigest(),
                      "data": base64.b64encode(zlib.compress(raw, 9)).decode()})
    doc = {"opencv": cv2.__version__, "template": TEMPLATE.tolist(), "fits": fits,
           "image": {"width": W, "height": H},
           "warps": warps}
    with open(os.path.join(OUT, "align.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
