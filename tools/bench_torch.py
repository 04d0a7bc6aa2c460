#!/usr/bin/python3
"""Time the official-equivalent PyTorch GraFIQs loop on CPU (tool time only).

Usage (from the repository root):
    /usr/bin/python3 tools/bench_torch.py [--backbone iresnet50,iresnet100] [--threads 1,2]
        [--images 4] [--warmup 1] [--image-dir DIR] [--weights FILE.pth] [--no-weight-grads]

Per image, like the official tool at batch size 1: cv2.imread, official preprocessing, forward
with BN hooks, backward, five gradient sums (tools/torch_grafiqs.py). Prints one JSON line per
(backbone, threads) to stdout:
    {"backbone", "threads", "images", "weight_grads", "images_per_s", "sec_per_image",
     "sec_per_image_median", "sec_per_image_min"}
images_per_s and sec_per_image use the mean over the timed images; the median and minimum are
there because shared CI machines are noisy. Nothing else goes to stdout, so tools/bench.ts can parse it line by line.

Weights: random (seeded) unless --weights is given; speed does not depend on the values, but the
random init keeps activations finite and away from denormals, which would be slow on CPUs.
Images: --image-dir (its *.png/*.jpg, used cyclically) or synthetic 112x112 PNGs written to a
temporary folder. Weight gradients: the official tool leaves the parameters trainable, so
autograd also computes weight gradients; --no-weight-grads freezes them (same scores, faster),
which is the fairer comparison with an implementation that only needs activation gradients.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
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


def main(argv: List[str]) -> int:
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
