#!/usr/bin/python3
"""Generate the committed fixtures of tests/image_test.ts (tests/fixtures/image/).

Run from anywhere with Debian's Python (it has torch, numpy, OpenCV and PIL):

    /usr/bin/python3 tools/make_image_fixtures.py

Everything here is an independent reference for src/image/: OpenCV's `cv2.imread` (what the
official GraFIQs code decodes with), PyTorch's `interpolate(..., antialias=True)` float32 path
(what resized the reference inputs) and PyTorch's float32 tensor ops for the normalisation.

What it writes (all small; nothing is copied from ../shared):
- synthetic/: tiny generated images covering the decode rules of docs/ALGORITHM.md#input step 1
  (gray, alpha, 16-bit, palette, interlaced, EXIF orientation, CMYK, truncation, unsupported
  formats), and JPEG variants for the JPEG decoder's bit-exactness (`jpeg_variant_cases`: every
  chroma subsampling, odd and tiny sizes, progressive, restart markers, optimised tables,
  grayscale, CMYK, YCCK, RGB, EXIF-rotated).
- expected/: OpenCV's decode of each synthetic image, raw H x W x 3 BGR bytes.
- resize/: PyTorch's rounded uint8 resize output per case (zlib-compressed raw H x W x 3).
  The inputs are not stored: both sides generate them with the same 32-bit LCG (see `lcg`).
- shared_jpeg/: for a few JPEGs of ../shared/reference/images, OpenCV's decode as lossless PNG
  (BGR as OpenCV holds it, written by cv2.imwrite), the input of a resize check on real content;
  every shared JPEG's decode is in the manifest as a SHA-256 digest.
- manifest.json: the cases, sizes, SHA-256 digests and value tables the test reads.
"""
import hashlib
import json
import os
import struct
import sys
import tempfile
import zlib

import cv2
import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "image")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

# JPEGs of ../shared whose whole OpenCV decode is committed (the rest get block sums only).
# Sachiko_Yamada_0004 is one of the raw images whose 112x112 resize changes when the float32
# accumulation order changes (see src/image/resize.ts), so it also tests the resize on real content.
FULL_JPEGS = {("raw", "Sachiko_Yamada_0004.jpg"), ("magface", "5.jpg"), ("magface", "9.jpg")}


def write_atomic(path, data):
    """Write bytes to path through a temp file in the same folder and a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256(data):
    return hashlib.sha256(bytes(data)).hexdigest()


def lcg(seed, n):
    """n bytes of the 32-bit LCG s = s * 1664525 + 1013904223 (mod 2^32), byte = s >> 24,
    starting from s = seed and stepping before each byte. tests/image_test.ts has the same."""
    out = bytearray(n)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = s >> 24
    return np.frombuffer(bytes(out), np.uint8)


def pattern(w, h):
    """A deterministic H x W x 3 image with smooth ramps and sharp wraps:
    v = (7x + 3y + 50c + floor(x*y/4)) mod 256. tests/image_test.ts has the same."""
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((7 * x + 3 * y + 50 * c + ((x * y) >> 2)) % 256).astype(np.uint8)


def make_input(kind, w, h, seed):
    return lcg(seed, w * h * 3).reshape(h, w, 3) if kind == "noise" else pattern(w, h)


def torch_resize(img, out_w, out_h):
    """The reference resize: 1 x 3 x H x W float32 (a permuted view of the HWC array, as the
    official code builds it), interpolate(bilinear, align_corners=False, antialias=True), then
    round half to even (torch.round), clamp, uint8. Returns (float32 HWC, uint8 HWC)."""
    t = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).unsqueeze(0).float()
    o = F.interpolate(t, size=(out_h, out_w), mode="bilinear", align_corners=False,
                      antialias=True)
    fl = o[0].permute(1, 2, 0).contiguous()
    u8 = torch.round(fl).clamp(0, 255).to(torch.uint8)
    return fl.numpy(), u8.numpy()


def torch_input(bgr, order, mean, std):
    """The normalised CHW float32 input computed with PyTorch tensor ops, official style:
    from_numpy(img).permute(2,0,1).float().div(255), then (x - mean) / std with float32
    per-channel tensors (torchvision Normalize style; for mean = std = 0.5 this equals the
    official .sub(0.5).div(0.5))."""
    img = bgr if order == "bgr" else bgr[:, :, ::-1]
    x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float().div(255)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return ((x - m) / s).contiguous().numpy()


# ---------------------------------------------------------------- hand-built PNG writer
def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_interlaced(arr, color_type, bit_depth):
    """Encode an Adam7-interlaced PNG (filter type 0 on every row). arr: H x W x C uint8 or
    uint16 (C = 1 gray, 3 RGB). Neither OpenCV nor PIL writes interlaced PNGs."""
    h, w = arr.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw.append(0)
            raw += row.astype(">u2").tobytes() if bit_depth == 16 else row.tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- synthetic decode fixtures
def encode_cv(ext, arr, params=()):
    ok, buf = cv2.imencode(ext, arr, list(params))
    assert ok, ext
    return buf.tobytes()


def cv_read(path):
    """OpenCV's decode of a file as the official code gets it: cv2.imread(path), BGR, or None.
    Not cv2.imdecode: for a JPEG whose data ends early the two differ (imread's stdio source
    inserts an end-of-image marker, imdecode's memory source suspends), and the official code
    uses imread."""
    return cv2.imread(path, cv2.IMREAD_COLOR)


def encode_pil(img, fmt, **kw):
    import io
    bio = io.BytesIO()
    img.save(bio, format=fmt, **kw)
    return bio.getvalue()


def exif_bytes(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    return ex.tobytes()


def blocks_image(w, h):
    """Flat colour blocks (4 x 2 grid) so that any wrong orientation is obvious through JPEG's
    small decoder differences."""
    cols = [(230, 20, 20), (20, 230, 20), (20, 20, 230), (230, 230, 20), (20, 230, 230),
            (230, 20, 230), (128, 128, 128), (250, 250, 250)]
    img = np.zeros((h, w, 3), np.uint8)
    for k, c in enumerate(cols):
        by, bx = divmod(k, 4)
        img[by * h // 2:(by + 1) * h // 2, bx * w // 4:(bx + 1) * w // 4] = c
    return img


def synthetic_cases():
    """Yield (file name, bytes, note). Expected values come from cv2.imread of the file."""
    rng = np.random.default_rng(20240417)
    rgb = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    yield "rgb8.png", encode_cv(".png", rgb), "8-bit RGB PNG"
    gray = rng.integers(0, 256, (13, 19), dtype=np.uint8)
    yield "gray8.png", encode_cv(".png", gray), "8-bit grayscale PNG"
    yield "gray1.png", encode_pil(Image.fromarray(gray > 127), "PNG"), "1-bit grayscale PNG"
    la = np.stack([gray, rng.integers(0, 256, gray.shape, dtype=np.uint8)], -1)
    la[0, :, 1] = 0
    yield "gray_alpha8.png", encode_pil(Image.fromarray(la, "LA"), "PNG"), \
        "gray + alpha, a transparent row"
    bgra = rng.integers(0, 256, (11, 17, 4), dtype=np.uint8)
    bgra[0, :, 3] = 0
    bgra[1, :, 3] = 1
    bgra[2, :, 3] = 128
    yield "rgba8.png", encode_cv(".png", bgra), \
        "RGBA with alpha 0, 1, 128 rows whose colour must survive (no compositing)"
    rgb16 = rng.integers(0, 65536, (9, 14, 3), dtype=np.uint16)
    yield "rgb16.png", encode_cv(".png", rgb16), "16-bit RGB PNG (high byte kept)"
    g16 = rng.integers(0, 65536, (9, 14), dtype=np.uint16)
    # v >> 8 gives 0, 1, 127, 255 here; rounding v / 257 would give 1, 2, 128, 255.
    g16[0, :4] = [0x00FF, 0x01FF, 0x7FFF, 0xFFFF]
    yield "gray16.png", encode_cv(".png", g16), "16-bit grayscale PNG"
    bgra16 = rng.integers(0, 65536, (9, 14, 4), dtype=np.uint16)
    bgra16[0, :, 3] = 0
    yield "rgba16.png", encode_cv(".png", bgra16), "16-bit RGBA PNG"
    pal = Image.fromarray(rng.integers(0, 16, (10, 15), dtype=np.uint8), "P")
    pal.putpalette(list(rng.integers(0, 256, 48, dtype=np.uint8)))
    yield "palette4_trns.png", encode_pil(pal, "PNG", bits=4, transparency=3), \
        "4-bit palette with a transparent index"
    yield "interlaced_rgb8.png", png_interlaced(rng.integers(0, 256, (21, 19, 3), np.uint8), 2, 8), \
        "Adam7-interlaced 8-bit RGB"
    yield "interlaced_gray16.png", \
        png_interlaced(rng.integers(0, 65536, (13, 11, 1), dtype=np.uint16), 0, 16), \
        "Adam7-interlaced 16-bit gray"
    small = rng.integers(0, 256, (3, 5, 3), dtype=np.uint8)
    for o in range(1, 9):
        yield f"exif_o{o}.png", encode_pil(Image.fromarray(small), "PNG", exif=exif_bytes(o)), \
            f"PNG with an eXIf chunk, orientation {o} (OpenCV 4.6 applies it)"
    blocks = Image.fromarray(blocks_image(32, 16))
    for o in (1, 2, 3, 4, 5, 6, 7, 8):
        yield f"exif_o{o}.jpg", encode_pil(blocks, "JPEG", quality=95, subsampling=0,
                                           exif=exif_bytes(o)), \
            f"JPEG with EXIF orientation {o}"
    yy, xx = np.mgrid[0:40, 0:48]
    grad = Image.fromarray(np.stack([xx * 5, yy * 6, (xx + yy) * 2], -1).astype(np.uint8))
    yield "baseline420.jpg", encode_pil(grad, "JPEG", quality=90, subsampling=2), \
        "baseline JPEG, 4:2:0"
    yield "progressive.jpg", encode_pil(grad, "JPEG", quality=90, progressive=True), \
        "progressive JPEG"
    yield "gray.jpg", encode_pil(grad.convert("L"), "JPEG", quality=90), "grayscale JPEG"
    yield "cmyk.jpg", encode_pil(grad.convert("CMYK"), "JPEG", quality=95), \
        "Adobe CMYK JPEG (PIL writes inverted CMYK with an APP14 marker)"


def jpeg_segments(jpg):
    """The marker segments of a JPEG up to its first scan: [(offset, marker, length)], where
    offset is that of the FF byte and length counts the two length bytes (not the marker)."""
    out, i = [], 2
    while i + 4 <= len(jpg):
        assert jpg[i] == 0xFF, "bad marker"
        marker, length = jpg[i + 1], struct.unpack(">H", jpg[i + 2:i + 4])[0]
        out.append((i, marker, length))
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def with_sampling(jpg, factors):
    """The JPEG with its frame header's sampling factors replaced: factors is one (h, v) per
    component. The entropy-coded data is kept, so the MCU count and the blocks per MCU must be
    unchanged (e.g. 4:2:2 -> 4:4:0 for sizes that are multiples of 16): the result is then a
    valid JPEG of another subsampling whose pixels are a scramble of the original's."""
    b = bytearray(jpg)
    off = next(o for o, m, _ in jpeg_segments(jpg) if m in (0xC0, 0xC1, 0xC2))
    assert b[off + 9] == len(factors)
    for k, (h, v) in enumerate(factors):
        b[off + 11 + 3 * k] = (h << 4) | v
    return bytes(b)


def with_adobe_transform(jpg, transform):
    """The JPEG with the colour transform byte of its Adobe APP14 segment replaced (0 none:
    RGB or CMYK; 1 YCbCr; 2 YCCK)."""
    b = bytearray(jpg)
    off = next(o for o, m, _ in jpeg_segments(jpg) if m == 0xEE and jpg[o + 4:o + 9] == b"Adobe")
    b[off + 15] = transform
    return bytes(b)


def as_rgb_colourspace(jpg):
    """The JPEG without its JFIF APP0 segment and with component identifiers 'R', 'G', 'B':
    libjpeg then reads the three components as RGB, not YCbCr (no colour conversion)."""
    b = bytearray(jpg)
    segs = jpeg_segments(jpg)
    for off, marker, _ in segs:
        if marker in (0xC0, 0xC1, 0xC2):
            for k, cid in enumerate(b"RGB"):
                b[off + 10 + 3 * k] = cid
        if marker == 0xDA:
            for k, cid in enumerate(b"RGB"):
                b[off + 5 + 2 * k] = cid
    app0 = [(o, n) for o, m, n in segs if m == 0xE0]
    for off, length in reversed(app0):
        del b[off:off + 2 + length]
    return bytes(b)


def jpeg_variant_cases():
    """JPEGs for the bit-exactness of the JPEG decoder with cv2.imread: every chroma
    subsampling libjpeg upsamples differently (4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1, and luma 1 x 4,
    which has no name), odd and tiny
    sizes (partial MCUs), progressive, restart markers, optimised Huffman tables, low quality,
    grayscale, CMYK, YCCK and RGB colour spaces, and EXIF orientations on an odd-sized 4:2:0
    image. Yields (file name, bytes, note)."""
    rng = np.random.default_rng(20261205)

    def photo(w, h):
        """Ramps plus noise: flat and detailed regions, saturated colours at the corners."""
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                         (xx + yy) * 255 // max(w + h - 2, 1)], -1)
        return np.clip(base + rng.integers(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)

    def pil(arr, **kw):
        return encode_pil(Image.fromarray(arr), "JPEG", **kw)

    odd = photo(37, 23)
    for sub, name in ((0, "444"), (1, "422"), (2, "420")):
        yield f"sub{name}_37x23.jpg", pil(odd, quality=90, subsampling=sub), \
            f"4:{name[1]}:{name[2]} chroma subsampling, odd size (partial MCUs)"
    even = photo(48, 32)
    yield "sub440_48x32.jpg", \
        with_sampling(pil(even, quality=90, subsampling=1), [(1, 2), (1, 1), (1, 1)]), \
        "4:4:0 (luma 1x2): a 4:2:2 file's sampling factors swapped"
    yield "sub411_64x32.jpg", \
        with_sampling(pil(photo(64, 32), quality=90, subsampling=2), [(4, 1), (1, 1), (1, 1)]), \
        "4:1:1 (luma 4x1): a 4:2:0 file's sampling factors changed"
    yield "tiny_1x1.jpg", pil(photo(1, 1), quality=90, subsampling=2), "1 x 1, 4:2:0"
    yield "tiny_2x3.jpg", pil(photo(2, 3), quality=90, subsampling=2), "2 x 3, 4:2:0"
    yield "tall_9x41.jpg", pil(photo(9, 41), quality=75, subsampling=1), "9 x 41, 4:2:2"
    yield "progressive444_29x19.jpg", pil(photo(29, 19), quality=85, subsampling=0,
                                         progressive=True), "progressive, 4:4:4, odd size"
    yield "progressive420_odd.jpg", pil(photo(41, 27), quality=85, subsampling=2,
                                        progressive=True), "progressive, 4:2:0, odd size"
    yield "restart_37x23.jpg", encode_cv(".jpg", odd[:, :, ::-1],
                                         [cv2.IMWRITE_JPEG_RST_INTERVAL, 1]), \
        "restart marker after every MCU (written by OpenCV)"
    yield "optimized_q30.jpg", encode_cv(".jpg", odd[:, :, ::-1],
                                         [cv2.IMWRITE_JPEG_OPTIMIZE, 1,
                                          cv2.IMWRITE_JPEG_QUALITY, 30]), \
        "optimised Huffman tables, quality 30 (written by OpenCV)"
    yield "gray_23x9.jpg", encode_pil(Image.fromarray(photo(23, 9)).convert("L"), "JPEG",
                                      quality=90), "grayscale, odd size"
    yield "gray_progressive.jpg", encode_pil(Image.fromarray(photo(17, 13)).convert("L"),
                                             "JPEG", quality=90, progressive=True), \
        "grayscale, progressive"
    cmyk = Image.fromarray(odd).convert("CMYK")
    yield "cmyk_37x23.jpg", encode_pil(cmyk, "JPEG", quality=90), \
        "Adobe CMYK, odd size (PIL writes inverted CMYK, APP14 transform 0)"
    yield "ycck_37x23.jpg", with_adobe_transform(encode_pil(cmyk, "JPEG", quality=90), 2), \
        "Adobe YCCK: a CMYK file's APP14 transform set to 2 (libjpeg converts YCC to RGB, " \
        "then OpenCV's CMYK formula)"
    yield "rgb_colourspace.jpg", as_rgb_colourspace(pil(odd, quality=90, subsampling=0)), \
        "RGB colour space (no JFIF, component ids R, G, B: no YCbCr conversion)"
    small = photo(13, 7)
    for o in (2, 5, 6, 8):
        yield f"exif_odd_o{o}.jpg", pil(small, quality=90, subsampling=2, exif=exif_bytes(o)), \
            f"odd-sized 4:2:0 JPEG with EXIF orientation {o}"
    yield "sampling_1x4_64x64.jpg", \
        with_sampling(pil(photo(64, 64), quality=90, subsampling=2), [(1, 4), (1, 1), (1, 1)]), \
        "luma sampled 1 x 4: a subsampling TurboJPEG has no name for (libjpeg decodes it)"


def damaged_jpeg_cases():
    """JPEGs whose data ends early, which libjpeg (inside OpenCV) still decodes with the warning
    "Premature end of JPEG file": (name, bytes, complete file, note). libjpeg pads the missing
    entropy-coded data (even with only the EOI marker missing it garbles the last MCU rows);
    the expectation is OpenCV's decode of the damaged file, padding included."""
    yy, xx = np.mgrid[0:40, 0:48]
    grad = Image.fromarray(np.stack([xx * 5, yy * 6, (xx + yy) * 2], -1).astype(np.uint8))
    full = encode_pil(grad, "JPEG", quality=90, subsampling=2)
    assert full[-2:] == b"\xff\xd9"
    yield "no_eoi.jpg", full[:-2], full, "JPEG without its end-of-image marker"
    yield "cut_entropy.jpg", full[:-12], full, "JPEG with its last entropy-coded bytes cut"
    rng = np.random.default_rng(3)
    noisy = encode_cv(".jpg", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    yield "truncated_half.jpg", noisy[:len(noisy) // 2], noisy, "JPEG cut in half"


def corrupt_jpeg_cases():
    """JPEGs with corrupt data that libjpeg decodes anyway with a warning (OpenCV prints it and
    returns the image): (name, bytes, note)."""
    yy, xx = np.mgrid[0:40, 0:48]
    grad = Image.fromarray(np.stack([xx * 5, yy * 6, (xx + yy) * 2], -1).astype(np.uint8))
    full = encode_pil(grad, "JPEG", quality=90, subsampling=2)
    yield "extraneous_bytes.jpg", full[:-2] + b"\x00\x01\x02" + full[-2:], \
        "three garbage bytes before the end-of-image marker (common in the wild)"
    sof = next(o for o, m, _ in jpeg_segments(full) if m == 0xC0)
    yield "garbage_before_sof.jpg", full[:sof] + b"\x00\x11\x22" + full[sof:], \
        "three garbage bytes before the frame header (libjpeg warns while reading the header)"
    sos = sos_offset(full)
    yield "cut_then_eoi.jpg", full[:sos + (len(full) - sos) // 2] + b"\xff\xd9", \
        "scan data cut in half, then an end-of-image marker"


def sos_offset(jpg):
    """Byte offset of the first start-of-scan marker (FF DA) of a JPEG."""
    i = 2
    while i + 4 <= len(jpg):
        assert jpg[i] == 0xFF, "bad marker"
        marker, length = jpg[i + 1], struct.unpack(">H", jpg[i + 2:i + 4])[0]
        if marker == 0xDA:
            return i
        i += 2 + length
    raise ValueError("no SOS")


def gif_case():
    """A two-frame GIF. OpenCV 4.6 cannot read GIF; the expectation is PIL's first frame."""
    rng = np.random.default_rng(7)
    frames = [Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).quantize(32)
              for _ in range(2)]
    import io
    bio = io.BytesIO()
    frames[0].save(bio, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    data = bio.getvalue()
    first = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return "anim2.gif", data, first[:, :, ::-1].copy()


def error_cases():
    """Files that cannot be decoded: (name, bytes, expected error kind)."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    jpg = encode_cv(".jpg", img)
    png = encode_cv(".png", img)
    yield "truncated_header.jpg", jpg[:sos_offset(jpg) - 10], "truncated"
    yield "truncated.png", png[:len(png) // 2], "truncated"
    yield "not_image.jpg", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", "not-image"
    yield "empty.jpg", b"", "empty"
    yield "image.webp", encode_pil(Image.fromarray(img), "WEBP", lossless=True), "unsupported"
    yield "image.tif", encode_cv(".tif", img), "unsupported"
    yield "image.bmp", encode_cv(".bmp", img), "unsupported"


# ---------------------------------------------------------------- resize cases
RESIZE_CASES = [
    # name, kind, seed, w, h, outW, outH
    ("face250_noise", "noise", 1, 250, 250, 112, 112),
    ("face250_pattern", "pattern", 0, 250, 250, 112, 112),
    ("up_37x23_to_80x61", "noise", 2, 37, 23, 80, 61),
    ("down_23x37_to_11x5", "noise", 3, 23, 37, 11, 5),
    ("down_300x200_to_97x61", "pattern", 0, 300, 200, 97, 61),
    ("height_up_40x17_to_40x53", "noise", 4, 40, 17, 40, 53),
    ("width_down_150x30_to_67x30", "noise", 5, 150, 30, 67, 30),
    ("mixed_7x9_to_20x3", "noise", 6, 7, 9, 20, 3),
    ("many_taps_1000x17_to_64x40", "noise", 7, 1000, 17, 64, 40),
    ("slight_57x43_to_56x42", "noise", 8, 57, 43, 56, 42),
    ("half_64x64_to_32x32", "pattern", 0, 64, 64, 32, 32),
    ("one_1x1_to_5x3", "noise", 9, 1, 1, 5, 3),
    # Two cases where the float32 accumulation order changes rounded values (found by trying
    # seeds): they show that the default order of src/image/resize.ts is needed.
    ("order_up_64x48_to_112x112", "noise", 20, 64, 48, 112, 112),
    ("order_down_90x70_to_40x30", "noise", 20, 90, 70, 40, 30),
    ("to_one_5x3_to_1x1", "noise", 10, 5, 3, 1, 1),
]


def main():
    manifest = {
        "generator": "tools/make_image_fixtures.py",
        "versions": {"opencv": cv2.__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "pil": PIL.__version__},
        "cpu_capability": torch.backends.cpu.get_cpu_capability()
        if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability")
        else [line.strip() for line in torch.__config__.show().splitlines()
              if "CPU capability" in line][0],
    }

    # Synthetic decode fixtures.
    decode = []
    for name, data, note in list(synthetic_cases()) + list(jpeg_variant_cases()):
        write_atomic(os.path.join(OUT, "synthetic", name), data)
        bgr = cv_read(os.path.join(OUT, "synthetic", name))
        assert bgr is not None, name
        write_atomic(os.path.join(OUT, "expected", name + ".bgr"), bgr.tobytes())
        decode.append({"file": name, "note": note, "width": bgr.shape[1], "height": bgr.shape[0],
                       "expected": name + ".bgr", "source": "opencv"})
    damaged = []
    for name, data, full, note in damaged_jpeg_cases():
        write_atomic(os.path.join(OUT, "synthetic", name), data)
        bgr = cv_read(os.path.join(OUT, "synthetic", name))
        assert bgr is not None, name
        whole = cv2.imdecode(np.frombuffer(full, np.uint8), cv2.IMREAD_COLOR)
        differs = np.nonzero((bgr != whole).any(axis=(1, 2)))[0]
        intact = int(differs[0]) if len(differs) else bgr.shape[0]
        write_atomic(os.path.join(OUT, "expected", name + ".bgr"), bgr.tobytes())
        damaged.append({"file": name, "note": note, "width": bgr.shape[1],
                        "height": bgr.shape[0], "expected": name + ".bgr",
                        "intact_rows": intact})
    manifest["damaged_jpeg"] = damaged
    corrupt = []
    for name, data, note in corrupt_jpeg_cases():
        write_atomic(os.path.join(OUT, "synthetic", name), data)
        bgr = cv_read(os.path.join(OUT, "synthetic", name))
        assert bgr is not None, name
        write_atomic(os.path.join(OUT, "expected", name + ".bgr"), bgr.tobytes())
        corrupt.append({"file": name, "note": note, "width": bgr.shape[1], "height": bgr.shape[0],
                        "expected": name + ".bgr"})
    manifest["corrupt_jpeg"] = corrupt

    name, data, bgr = gif_case()
    write_atomic(os.path.join(OUT, "synthetic", name), data)
    write_atomic(os.path.join(OUT, "expected", name + ".bgr"), bgr.tobytes())
    decode.append({"file": name, "note": "GIF, first of two frames (OpenCV 4.6 cannot read GIF; "
                   "expectation from PIL)", "width": bgr.shape[1], "height": bgr.shape[0],
                   "expected": name + ".bgr", "source": "pil",
                   "opencv_decodes": cv2.imdecode(np.frombuffer(data, np.uint8), 1) is not None})
    manifest["decode"] = decode

    errors = []
    for name, data, kind in error_cases():
        write_atomic(os.path.join(OUT, "synthetic", name), data)
        cv_ok = cv_read(os.path.join(OUT, "synthetic", name)) is not None
        errors.append({"file": name, "kind": kind, "opencv_decodes": cv_ok})
    manifest["errors"] = errors

    # Resize cases.
    resize = []
    for name, kind, seed, w, h, ow, oh in RESIZE_CASES:
        img = make_input(kind, w, h, seed)
        fl, u8 = torch_resize(img, ow, oh)
        write_atomic(os.path.join(OUT, "resize", name + ".u8.z"), zlib.compress(u8.tobytes(), 9))
        resize.append({"name": name, "input": kind, "seed": seed, "w": w, "h": h, "outW": ow,
                       "outH": oh, "input_sha256": sha256(img.tobytes()),
                       "float32_sha256": sha256(fl.astype("<f4").tobytes()),
                       "uint8_file": name + ".u8.z", "uint8_sha256": sha256(u8.tobytes())})
    manifest["resize"] = resize

    # Normalisation tables: PyTorch float32 ops on every 8-bit value.
    v = torch.arange(256, dtype=torch.uint8)
    official = v.float().div(255).sub(0.5).div(0.5)
    mfn_mean, mfn_std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    mfn = [((v.float().div(255) - torch.tensor(m)) / torch.tensor(s)).tolist()
           for m, s in zip(mfn_mean, mfn_std)]
    manifest["normalization"] = {
        "iresnet_official": {"ops": "x.float().div(255).sub(0.5).div(0.5)",
                             "values": official.tolist()},
        "mobilefacenet": {"ops": "(x.float().div(255) - mean[c]) / std[c], float32 tensors",
                          "mean": mfn_mean, "std": mfn_std, "values": mfn},
    }

    # ../shared reference images: digests of OpenCV's decode and of the prepared inputs.
    shared = {"aligned": [], "jpeg": []}
    if os.path.isdir(SHARED):
        base = os.path.join(SHARED, "reference", "images")
        for fn in sorted(os.listdir(os.path.join(base, "aligned"))):
            bgr = cv2.imread(os.path.join(base, "aligned", fn))
            shared["aligned"].append({
                "file": fn, "width": bgr.shape[1], "height": bgr.shape[0],
                "bgr_sha256": sha256(bgr.tobytes()),
                "iresnet_bgr_input_sha256": sha256(
                    torch_input(bgr, "bgr", [0.5] * 3, [0.5] * 3).astype("<f4").tobytes()),
                "iresnet_rgb_input_sha256": sha256(
                    torch_input(bgr, "rgb", [0.5] * 3, [0.5] * 3).astype("<f4").tobytes()),
                "mobilefacenet_input_sha256": sha256(
                    torch_input(bgr, "rgb", mfn_mean, mfn_std).astype("<f4").tobytes()),
            })
        for sub in ("raw", "magface"):
            for fn in sorted(os.listdir(os.path.join(base, sub))):
                bgr = cv2.imread(os.path.join(base, sub, fn))
                key = f"{sub}_{os.path.splitext(fn)[0]}"
                entry = {"set": sub, "file": fn, "width": bgr.shape[1], "height": bgr.shape[0],
                         "bgr_sha256": sha256(bgr.tobytes()), "full_png": None}
                if (sub, fn) in FULL_JPEGS:
                    write_atomic(os.path.join(OUT, "shared_jpeg", key + ".opencv.png"),
                                 encode_cv(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9]))
                    entry["full_png"] = key + ".opencv.png"
                    if bgr.shape[:2] != (112, 112):
                        _, u8 = torch_resize(bgr, 112, 112)
                        entry["resize112_bgr_sha256"] = sha256(u8.tobytes())
                shared["jpeg"].append(entry)
    else:
        print(f"warning: {SHARED} not found; the shared-image part of the manifest is empty",
              file=sys.stderr)
    manifest["shared"] = shared

    write_atomic(os.path.join(OUT, "manifest.json"),
                 (json.dumps(manifest, indent=1) + "\n").encode())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
