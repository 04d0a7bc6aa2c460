#!/usr/bin/python3
"""CPU speed of the official-equivalent PyTorch GraFIQs (tool time only).

Usage (from the repository root), three subcommands:

    /usr/bin/python3 tools/bench_torch.py official --backbone iresnet50 --weights FILE.pth \
        --image-path DIR [--image-extension png] --output-dir OUT [--threads 1] [--bgr2rgb]
    /usr/bin/python3 tools/bench_torch.py save-random --backbone iresnet100 --out FILE.pth [--seed 0]
    /usr/bin/python3 tools/bench_torch.py [loop] [--backbone iresnet50,iresnet100] [--threads 1,2]
        [--images 4] [--warmup 1] [--image-dir DIR] [--weights FILE.pth] [--no-weight-grads]

official: the whole official program, timed from inside, as tools/bench.ts runs it (one process
per thread count, the parent times the process): import torch, torch.set_num_threads(N), load
the .pth, then for each image of sorted(DIR.glob("*.EXT")) at batch size 1 cv2.imread, official
preprocessing, forward with the BN hooks and torch.autograd.grad of L on the image and the four
block outputs only (no weight gradients; tools/torch_grafiqs.py grafiqs_single(autograd=True)),
five sums; finally the five score files, written as the official tool writes them. Prints one
JSON line to stdout: {"backbone", "threads", "images", "grads": "autograd", epoch seconds
"t_start" (first statement, before importing torch), "t_imported", "t_model", "t_images" (one
per image, when its scores were ready), "t_written", "peak_rss_kib" (getrusage) and "torch"
(the version)}.

save-random: writes the seeded random weights of `random_model` as a state_dict .pth (zip), so
that both implementations can load the same random iresnet100.

loop: per image, like the official tool at batch size 1: cv2.imread, official preprocessing,
forward with BN hooks, backward, five gradient sums. Prints one JSON line per
(backbone, threads) to stdout:
    {"backbone", "threads", "images", "weight_grads", "images_per_s", "sec_per_image",
     "sec_per_image_median", "sec_per_image_min"}
images_per_s and sec_per_image use the mean over the timed images; the median and minimum are
there because shared CI machines are noisy. Nothing else goes to stdout. Weights: random
(seeded) unless --weights is given; speed does not depend on the values, but the random init
keeps activations finite and away from denormals, which would be slow on CPUs. Images:
--image-dir (its *.png/*.jpg, used cyclically) or synthetic 112x112 PNGs written to a temporary
folder. Weight gradients: by default the parameters stay trainable, so loss.backward() also
forms weight gradients; --no-weight-grads freezes them (same scores, faster).
"""

from __future__ import annotations

import time

T_START = time.time()  # before torch is imported: the official mode reports the import time

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import List

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_grafiqs as tg  # noqa: E402


def random_model(backbone: str, seed: int = 0) -> tg.IResNet:
    """Official-width iResNet with seeded random weights and BN statistics, eval mode.

    Conv weights N(0, 1/fan_in) keep the residual sums of deep stacks (iresnet100) finite;
    BN running statistics are mean 0, variance U(0.5, 2); PReLU slopes 0.25.
    """
    gen = torch.Generator().manual_seed(seed)
    model = tg.iresnet_by_name(backbone)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                std = (1.0 / m.weight[0].numel()) ** 0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
            elif isinstance(m, nn.Linear):
                std = (1.0 / m.weight.shape[1]) ** 0.5
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.num_features, generator=gen))
    return model.eval()


def synthetic_images(folder: Path, count: int, seed: int = 0) -> List[Path]:
    """Write `count` random smooth 112x112 PNGs into folder and return their paths."""
    import cv2

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
        img = cv2.resize(coarse, (112, 112), interpolation=cv2.INTER_CUBIC)
        img = np.clip(np.rint(img + rng.normal(0, 8, img.shape)), 0, 255).astype(np.uint8)
        p = folder / f"synthetic_{i:03d}.png"
        if not cv2.imwrite(str(p), img):
            raise RuntimeError(f"{p}: could not write the synthetic image")
        paths.append(p)
    return paths


def measure(model: tg.IResNet, paths: List[Path], images: int, warmup: int,
            weight_grads: bool) -> List[float]:
    """Seconds of the official loop for each of `images` images after `warmup` untimed ones.

    Raises RuntimeError if a score is not finite (a broken model would time the wrong thing).
    """
    def one(i: int) -> None:
        x = tg.load_image_official(paths[i % len(paths)])
        r = tg.grafiqs_single(model, x, weight_grads=weight_grads)
        if not all(math.isfinite(v) for v in r.scores.values()):
            raise RuntimeError(f"{paths[i % len(paths)]}: non-finite GraFIQs score {r.scores}")

    for i in range(warmup):
        one(i)
    times = []
    for i in range(images):
        t0 = time.perf_counter()
        one(warmup + i)
        times.append(time.perf_counter() - t0)
    return times


def official(argv: List[str], t_start: float) -> int:
    """The `official` subcommand (see the module doc). Returns the exit status."""
    ap = argparse.ArgumentParser(prog="bench_torch.py official",
                                 description="Official program at batch size 1, timed.")
    ap.add_argument("--backbone", default="iresnet50", choices=sorted(tg.DEPTHS))
    ap.add_argument("--weights", required=True, help="state-dict .pth")
    ap.add_argument("--image-path", required=True)
    ap.add_argument("--image-extension", default="jpg")
    ap.add_argument("--output-dir", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--bgr2rgb", action="store_true")
    args = ap.parse_args(argv)
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    t_imported = time.time()
    model = tg.load_model(args.weights, tg.DEPTHS[args.backbone])
    t_model = time.time()
    paths = tg.official_image_list(args.image_path, args.image_extension)
    if not paths:
        ap.error(f"{args.image_path}: no *.{args.image_extension} images")
    names, scores, t_images = [], [], []
    for p in paths:
        r = tg.grafiqs_single(model, tg.load_image_official(p, bgr2rgb=args.bgr2rgb),
                              autograd=True)
        if not all(math.isfinite(v) for v in r.scores.values()):
            raise RuntimeError(f"{p}: non-finite GraFIQs score {r.scores}")
        names.append(str(p))
        scores.append(r.scores)
        t_images.append(time.time())
    tg.write_score_files(args.output_dir, names, scores)
    t_written = time.time()
    import resource
    print(json.dumps({
        "backbone": args.backbone, "threads": args.threads, "images": len(paths),
        "grads": "autograd", "t_start": t_start, "t_imported": t_imported, "t_model": t_model,
        "t_images": t_images, "t_written": t_written,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "torch": torch.__version__,
    }), flush=True)
    return 0


def save_random(argv: List[str]) -> int:
    """The `save-random` subcommand: seeded random weights as a .pth state_dict."""
    ap = argparse.ArgumentParser(prog="bench_torch.py save-random",
                                 description="Write seeded random iResNet weights as a .pth.")
    ap.add_argument("--backbone", default="iresnet100", choices=sorted(tg.DEPTHS))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.save(random_model(args.backbone, args.seed).state_dict(), args.out)
    return 0


def main(argv: List[str]) -> int:
    if argv and argv[0] == "official":
        return official(argv[1:], T_START)
    if argv and argv[0] == "save-random":
        return save_random(argv[1:])
    if argv and argv[0] == "loop":
        argv = argv[1:]
    ap = argparse.ArgumentParser(description="Official-equivalent PyTorch GraFIQs CPU timing.")
    ap.add_argument("--backbone", default="iresnet50,iresnet100",
                    help="comma-separated: iresnet18/34/50/100/200")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--images", type=int, default=4, help="timed images per measurement")
    ap.add_argument("--warmup", type=int, default=1, help="untimed images first")
    ap.add_argument("--image-dir", type=Path, default=None)
    ap.add_argument("--weights", default=None, help="state-dict .pth (else random weights)")
    ap.add_argument("--no-weight-grads", action="store_true",
                    help="freeze parameters (activation gradients only)")
    args = ap.parse_args(argv)
    if args.images < 1 or args.warmup < 0:
        ap.error("--images must be >= 1 and --warmup >= 0")
    backbones = args.backbone.split(",")
    for b in backbones:
        if b not in tg.DEPTHS:
            ap.error(f"unknown backbone {b!r}; known: {', '.join(tg.DEPTHS)}")
    threads = [int(t) for t in args.threads.split(",")]
    if args.weights and len(backbones) != 1:
        ap.error("--weights needs exactly one --backbone")
    with tempfile.TemporaryDirectory(prefix="bench_torch_") as tmp:
        if args.image_dir is not None:
            paths = sorted(p for p in args.image_dir.iterdir()
                           if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if not paths:
                ap.error(f"{args.image_dir}: no .png/.jpg images")
        else:
            paths = synthetic_images(Path(tmp), min(args.images + args.warmup, 16))
        for b in backbones:
            if args.weights:
                model = tg.load_model(args.weights, tg.DEPTHS[b])
            else:
                model = random_model(b)
            for n in threads:
                torch.set_num_threads(n)
                times = measure(model, paths, args.images, args.warmup,
                                not args.no_weight_grads)
                sec = sum(times) / len(times)
                print(json.dumps({
                    "backbone": b, "threads": n, "images": args.images,
                    "weight_grads": not args.no_weight_grads,
                    "images_per_s": 1.0 / sec, "sec_per_image": sec,
                    "sec_per_image_median": float(np.median(times)),
                    "sec_per_image_min": min(times),
                }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
