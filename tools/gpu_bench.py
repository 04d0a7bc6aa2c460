#!/usr/bin/python3
"""PyTorch side of tools/gpu_bench.sh: weights, images, the official program on CUDA, the table.

Subcommands (run from the repository root, or anywhere: paths are explicit):

    gpu_bench.py images --out DIR --count N [--seed 0]
        N synthetic 112x112 face-sized PNGs (smooth random colour fields plus noise), written
        with OpenCV; the official program and ours read the same files.
    gpu_bench.py weights --backbone NAME --out FILE.pth --calib DIR [--device cuda] [--seed 0]
        calibrated random weights: the seeded random iResNet of tools/bench_torch.py, whose BN
        running statistics are then recomputed from the network's own activations on the
        images of DIR (train-mode passes with a cumulative average, momentum None), so the
        BN-statistics loss of GraFIQs sees the magnitudes a trained network would (scores of
        realistic size, neither zero nor dominated by one layer). Saved as a state-dict .pth.
    gpu_bench.py official --backbone NAME --weights FILE.pth --image-path DIR --output-dir OUT
        [--device cuda] [--json FILE]
        the official algorithm as released: batch 1, one image at a time, loss.backward() with
        the parameters trainable (weight gradients formed, as the released tool does), the
        five sums, the five score files in OUT. Timed from the first statement (whole process)
        and per image (the loop, first image left out as warm-up). JSON: backbone, device,
        images, whole_s, loop_images_per_s, peak_mem_mib (torch.cuda.max_memory_allocated),
        gflop_per_image, tf32 (torch's cuDNN TF32 flag, as released: on).
    gpu_bench.py table --runs FILE.jsonl [--peak-tflops X]
        one Markdown table from the JSON lines of the official runs and of our runs (written by
        tools/gpu_bench.sh): images/s and the ratio to the official CUDA loop, GFLOP/s and the
        share of the GPU's fp32 peak, max relative score error against the official CUDA
        outputs, peak GPU memory. The fp32 peak is SMs x FP32 lanes per SM x 2 x the maximum SM
        clock (torch.cuda and nvidia-smi), or --peak-tflops.

GFLOP per image counts the multiply-adds of every convolution and of the head, twice (one
multiply and one add), forward and input gradient (GraFIQs needs the input gradient of every
layer down to the image); BN, activations and sums are left out (they are < 2 % here).

Nothing here downloads anything; it needs torch (CUDA build for the real run), numpy and cv2.
"""

from __future__ import annotations

import time

T_START = time.time()  # before torch is imported: the whole-process time includes the import

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_grafiqs as tg  # noqa: E402
from bench_torch import random_model, synthetic_images  # noqa: E402


def gflop_per_image(model: nn.Module, size: int = tg.OFFICIAL_SIZE) -> float:
    """GFLOP of one GraFIQs pass: 2 x multiply-adds of convolutions and linears, forward plus
    input gradient (see the module doc)."""
    macs = 0

    def conv_hook(m: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal macs
        k = m.kernel_size[0] * m.kernel_size[1]
        macs += out.shape[1] * out.shape[2] * out.shape[3] * (m.in_channels // m.groups) * k

    def linear_hook(m: nn.Linear, _inp, _out) -> None:
        nonlocal macs
        macs += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    dev = next(model.parameters()).device
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size, device=dev))
    for h in handles:
        h.remove()
    return 2 * 2 * macs / 1e9


def cmd_images(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="gpu_bench.py images")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    synthetic_images(a.out, a.count, a.seed)
    return 0


def cmd_weights(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="gpu_bench.py weights")
    ap.add_argument("--backbone", required=True, choices=sorted(tg.DEPTHS))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--calib", required=True, type=Path, help="folder of PNGs for the BN statistics")
    ap.add_argument("--calib-count", type=int, default=32)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    model = random_model(a.backbone, a.seed).to(a.device)
    paths = sorted(a.calib.glob("*.png"))[: a.calib_count]
    if not paths:
        ap.error(f"{a.calib}: no *.png images")
    x = torch.stack([tg.load_image_official(p) for p in paths]).to(a.device)
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration passes
    model.train()
    with torch.no_grad():
        for chunk in x.split(8):
            model(chunk)
    for m in bns:
        m.momentum = 0.1
    model.eval()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, a.out)
    return 0


def cmd_official(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="gpu_bench.py official")
    ap.add_argument("--backbone", required=True, choices=sorted(tg.DEPTHS))
    ap.add_argument("--weights", required=True)
    ap.add_argument("--image-path", required=True)
    ap.add_argument("--output-dir", required=True, type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", type=Path, default=None, help="append the JSON line here too")
    a = ap.parse_args(argv)
    cuda = a.device.startswith("cuda")
    model = tg.load_model(a.weights, tg.DEPTHS[a.backbone]).to(a.device)
    paths = tg.official_image_list(a.image_path, "png")
    if len(paths) < 2:
        ap.error(f"{a.image_path}: needs at least 2 *.png images")
    names, scores, stamps = [], [], []
    for p in paths:
        x = tg.load_image_official(p).to(a.device)
        r = tg.grafiqs_single(model, x, weight_grads=True)
        if not all(math.isfinite(v) for v in r.scores.values()):
            raise RuntimeError(f"{p}: non-finite GraFIQs score {r.scores}")
        names.append(str(p))
        scores.append(r.scores)
        stamps.append(time.time())
    a.output_dir.mkdir(parents=True, exist_ok=True)
    tg.write_score_files(a.output_dir, names, scores)
    t_end = time.time()
    loop = (len(paths) - 1) / (stamps[-1] - stamps[0])
    out = {
        "impl": "official",
        "backbone": a.backbone,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "batch": 1,
        "images": len(paths),
        "whole_s": t_end - T_START,
        "loop_images_per_s": loop,
        "peak_mem_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "gflop_per_image": gflop_per_image(model),
        "tf32": bool(torch.backends.cudnn.allow_tf32) if cuda else False,
        "torch": torch.__version__,
    }
    line = json.dumps(out)
    print(line, flush=True)
    if a.json:
        with open(a.json, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return 0


def read_scores(folder: Path) -> Dict[str, Dict[str, float]]:
    """{group: {file name: score}} from the five GraFIQs_*.txt of folder."""
    out = {}
    for g in tg.GROUPS:
        rows = tg.read_score_file(folder / f"GraFIQs_{g}.txt")
        out[g] = {Path(k).name: v for k, v in rows.items()}
    return out


def max_rel_error(ours: Path, ref: Path) -> float:
    """Largest |ours - ref| / |ref| over every image and group (NaN if an image is missing)."""
    a, b = read_scores(ours), read_scores(ref)
    worst = 0.0
    for g in tg.GROUPS:
        for name, r in b[g].items():
            if name not in a[g]:
                return float("nan")
            worst = max(worst, abs(a[g][name] - r) / max(abs(r), 1e-30))
    return worst


def fp32_peak_tflops() -> float | None:
    """SMs x FP32 lanes per SM x 2 x max SM clock, or None without CUDA / nvidia-smi."""
    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    lanes = 64 if (p.major, p.minor) in ((6, 0), (7, 0), (7, 2), (7, 5), (8, 0)) else 128
    try:
        mhz = float(subprocess.run(
            ["nvidia-smi", "--query-gpu=clocks.max.sm", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True, text=True, check=True).stdout.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None
    return p.multi_processor_count * lanes * 2 * mhz * 1e6 / 1e12


def cmd_table(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="gpu_bench.py table")
    ap.add_argument("--runs", required=True, type=Path)
    ap.add_argument("--peak-tflops", type=float, default=None)
    a = ap.parse_args(argv)
    runs = [json.loads(l) for l in a.runs.read_text(encoding="utf-8").splitlines() if l.strip()]
    peak = a.peak_tflops or fp32_peak_tflops()
    official = {r["backbone"]: r for r in runs if r["impl"] == "official"}
    print(f"fp32 peak: {f'{peak:.1f} TFLOP/s' if peak else 'unknown'}; "
          f"official: torch {next(iter(official.values()), {}).get('torch', '?')}, "
          f"cuDNN TF32 {'on' if any(r.get('tf32') for r in official.values()) else 'off'}")
    print()
    print("| backbone | implementation | batch | images/s | x official loop | whole process s "
          "| GFLOP/s | % fp32 peak | max rel error | peak GPU MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        o = official.get(r["backbone"])
        gf = (o or r).get("gflop_per_image")
        ips = r["loop_images_per_s"]
        ratio = ips / o["loop_images_per_s"] if o else float("nan")
        gflops = gf * ips if gf else float("nan")
        share = 100 * gflops / (peak * 1e3) if peak and gf else float("nan")
        err = r.get("max_rel_error")
        mem = r.get("peak_mem_mib")
        name = r["impl"] if r["impl"] == "official" else f"ours ({r.get('kernels', '?')})"
        def num(v: float | None, spec: str) -> str:
            return "-" if v is None or math.isnan(v) else format(v, spec)

        print(f"| {r['backbone']} | {name} | {r['batch']} | {num(ips, '.3g')} | "
              f"{num(ratio, '.3g')} | {num(r['whole_s'], '.1f')} | {num(gflops, '.3g')} | "
              f"{num(share, '.1f')} | {num(err, '.2e')} | {num(mem, '.0f')} |")
    return 0


def main(argv: List[str]) -> int:
    cmds = {"images": cmd_images, "weights": cmd_weights, "official": cmd_official,
            "table": cmd_table}
    if not argv or argv[0] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
