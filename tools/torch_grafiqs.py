#!/usr/bin/python3
"""PyTorch reference of GraFIQs on iResNets: the project's tool-time oracle.

This module is used only at tool time (golden-fixture generation, validation against
../shared/reference, benchmarks). Nothing at runtime or in the Deno tests imports it.
It needs Debian's python3-torch, python3-numpy and python3-opencv, run with /usr/bin/python3.

Contents
--------
- :class:`IResNet`: the iResNet of docs/ALGORITHM.md#the-network (ArcFace state-dict layout),
  generalised to tiny widths, depths and input sizes.
- :func:`grafiqs_single`: the official GraFIQs algorithm of docs/ALGORITHM.md for ONE image
  (batch size 1, as the official implementation runs it): BN-statistics loss, backward,
  gradient sums per group, plus the embedding.
- :func:`load_image_official` / :func:`preprocess_official`: the official preprocessing of
  docs/ALGORITHM.md#input (OpenCV decode, optional BGR->RGB, antialiased bilinear resize, [-1, 1]).
- :func:`format_score` / :func:`write_score_files`: the official score-file format of
  docs/ALGORITHM.md#score-files.
- ``python3 tools/torch_grafiqs.py validate``: compares this module against the official
  outputs stored in ../shared/reference/iresnet50 and prints the agreement.
- ``python3 tools/torch_grafiqs.py extract ...``: an official-equivalent command line.

All code here was written from docs/ALGORITHM.md; nothing is copied from the ArcFace or GraFIQs
code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

#: The five score groups of an iResNet, in the official file order (docs/ALGORITHM.md).
GROUPS = ("image", "block1", "block2", "block3", "block4")

#: Depths of the named iResNets (docs/ALGORITHM.md#the-network).
DEPTHS = {
    "iresnet18": [2, 2, 2, 2],
    "iresnet34": [3, 4, 6, 3],
    "iresnet50": [3, 4, 14, 3],
    "iresnet100": [3, 13, 30, 3],
    "iresnet200": [6, 26, 60, 6],
}

#: BN epsilon used by every BatchNorm of the iResNet (docs/ALGORITHM.md#the-network).
BN_EPS = 1e-5

#: Side length the official tool resizes every image to (docs/ALGORITHM.md#input).
OFFICIAL_SIZE = 112


# ---------------------------------------------------------------------------------------------
# Network (docs/ALGORITHM.md#the-network)
# ---------------------------------------------------------------------------------------------


def _conv3x3(cin: int, cout: int, stride: int) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (docs/ALGORITHM.md#the-network)."""
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """One iResNet residual block (docs/ALGORITHM.md#the-network).

    out = BN1(x) -> conv3x3(stride 1) -> BN2 -> PReLU -> conv3x3(stride s) -> BN3;
    identity = x, or downsample(x) = conv1x1(stride s, no bias) -> BN when the shape changes;
    returns out + identity, with no activation after the add.

    Input N x cin x H x W, output N x cout x ceil(H/s) x ceil(W/s).
    Submodule names match the ArcFace state dict: bn1, conv1, bn2, prelu, conv2, bn3,
    downsample.0 (conv), downsample.1 (BN).
    """

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=BN_EPS)
        self.conv1 = _conv3x3(cin, cout, 1)
        self.bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.prelu = nn.PReLU(cout)
        self.conv2 = _conv3x3(cout, cout, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=BN_EPS)
        if stride != 1 or cin != cout:
            self.downsample: Optional[nn.Sequential] = nn.Sequential(
                nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(cout, eps=BN_EPS),
            )
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        # The residual branch runs after the main branch, as in the ArcFace forward; this fixes
        # the execution order of the downsample BN that the golden fixtures record.
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


def _stage_size(size: int, stages: int = 4) -> int:
    """Spatial side after `stages` stride-2 3x3 convolutions with padding 1: ceil halving."""
    for _ in range(stages):
        size = (size + 2 - 3) // 2 + 1
    return size


class IResNet(nn.Module):
    """iResNet backbone with the ArcFace state-dict layout (docs/ALGORITHM.md#the-network),
    generalised.

    Args:
      layers: number of IBasicBlocks per stage, 4 entries (iresnet50 = [3, 4, 14, 3]).
      widths: output channels of layer1..layer4 (official: [64, 128, 256, 512]).
      stem_width: output channels of the stem conv1/bn1/prelu (official: 64).
      input_size: square input side in pixels (official 112). The head's fc input is
        widths[3] * s * s with s = input_size after four ceil-halvings (7 for 112; for sides
        divisible by 16 this is input_size / 16).
      embedding_size: length of the embedding (official 512).
      dropout: dropout probability before fc (identity in eval; iresnet50 used 0.4).

    Input: N x 3 x input_size x input_size float, values in [-1, 1] (docs/ALGORITHM.md#input).
    Output: N x embedding_size embedding (output of `features`, BatchNorm1d), not normalised.
    Raises ValueError on bad configuration (wrong list lengths, non-positive sizes).
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 14, 3),
        widths: Sequence[int] = (64, 128, 256, 512),
        stem_width: int = 64,
        input_size: int = OFFICIAL_SIZE,
        embedding_size: int = 512,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"IResNet needs 4 stages, got layers={layers} widths={widths}")
        if min(layers) < 1 or min(widths) < 1 or stem_width < 1 or embedding_size < 1:
            raise ValueError(
                f"IResNet sizes must be positive: layers={layers} widths={widths} "
                f"stem_width={stem_width} embedding_size={embedding_size}"
            )
        if input_size < 1:
            raise ValueError(f"IResNet input_size must be positive, got {input_size}")
        self.config = {
            "layers": [int(v) for v in layers],
            "widths": [int(v) for v in widths],
            "stemWidth": int(stem_width),
            "inputSize": int(input_size),
            "embeddingSize": int(embedding_size),
        }
        self.conv1 = _conv3x3(3, stem_width, 1)
        self.bn1 = nn.BatchNorm2d(stem_width, eps=BN_EPS)
        self.prelu = nn.PReLU(stem_width)
        cin = stem_width
        for i, (depth, width) in enumerate(zip(layers, widths), start=1):
            blocks = []
            for j in range(depth):
                blocks.append(IBasicBlock(cin, width, 2 if j == 0 else 1))
                cin = width
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.bn2 = nn.BatchNorm2d(widths[3], eps=BN_EPS)
        self.dropout = nn.Dropout(p=dropout, inplace=True)
        final = _stage_size(input_size)
        self.fc = nn.Linear(widths[3] * final * final, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=BN_EPS)

    def stages(self) -> List[nn.Sequential]:
        """The four stages layer1..layer4, whose outputs are the groups block1..block4."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.bn2(x)
        x = torch.flatten(x, 1)  # NCHW order, C-major
        x = self.dropout(x)
        return self.features(self.fc(x))


def iresnet_by_name(name: str, **kwargs) -> IResNet:
    """Official-width iResNet by name (keys of :data:`DEPTHS`). Raises KeyError if unknown."""
    if name not in DEPTHS:
        raise KeyError(f"unknown backbone {name!r}; known: {sorted(DEPTHS)}")
    return IResNet(layers=DEPTHS[name], **kwargs)


def load_model(path: str | os.PathLike, layers: Sequence[int], dtype=torch.float32, **kwargs) -> IResNet:
    """Load a state-dict .pth (zip or legacy) into an IResNet in eval mode.

    Float16 conv/linear weights are widened by load_state_dict to the model dtype, as the
    official tool does. Raises RuntimeError (from load_state_dict) when keys or shapes differ.
    """
    state = torch.load(path, map_location="cpu")
    model = IResNet(layers=layers, **kwargs)
    model.load_state_dict(state, strict=True)
    return model.to(dtype).eval()


# ---------------------------------------------------------------------------------------------
# GraFIQs (docs/ALGORITHM.md)
# ---------------------------------------------------------------------------------------------


class BNRecord:
    """Per-image statistics of one BatchNorm2d input, captured by a forward hook.

    name: state-dict prefix (e.g. "layer1.0.bn2"); mean, var: C-vectors over (h, w), var biased;
    height, width: spatial size of the BN input; loss_term: the layer's L_l (scalar tensor).
    """

    def __init__(self, name: str, mean: torch.Tensor, var: torch.Tensor, height: int,
                 width: int, loss_term: torch.Tensor) -> None:
        self.name = name
        self.mean = mean
        self.var = var
        self.height = height
        self.width = width
        self.loss_term = loss_term


class GrafiqsResult:
    """Everything one GraFIQs pass yields for one image.

    scores: {group: float} summed |gradient| (the raw GraFIQs score, lower = better quality),
      computed in the model dtype and widened to a Python float;
    grads: {group: tensor} the gradients themselves, image 3xHxW, blockk C_k x H_k x W_k;
    embedding: 1-D tensor (embedding_size), output of `features`;
    loss: float, L of docs/ALGORITHM.md;
    bn: list of BNRecord in forward execution order.
    """

    def __init__(self) -> None:
        self.scores: Dict[str, float] = {}
        self.grads: Dict[str, torch.Tensor] = {}
        self.embedding: Optional[torch.Tensor] = None
        self.loss: float = float("nan")
        self.bn: List[BNRecord] = []


def grafiqs_single(model: IResNet, x: torch.Tensor, keep_grads: bool = False,
                   weight_grads: bool = False, autograd: bool = False) -> GrafiqsResult:
    """Official GraFIQs for one image (docs/ALGORITHM.md).

    Args:
      model: IResNet in eval mode (any float dtype; the input is cast to it).
      x: 3 x H x W or 1 x 3 x H x W preprocessed image, values in [-1, 1].
      keep_grads: also return the gradient tensors (detached copies).
      weight_grads: leave parameters' requires_grad as they are (the official tool lets
        autograd compute weight gradients too, which costs time but does not change the
        scores). When False, parameters are frozen during the pass so that only activation
        gradients are computed; the scores are the same either way.
      autograd: take the five gradients with torch.autograd.grad(L, [image, block1..block4])
        instead of loss.backward() and retain_grad (parameters frozen, weight_grads ignored):
        only the activation gradients are formed and nothing is accumulated into .grad. Same
        scores; this is the fastest official-equivalent form (tools/bench_torch.py uses it).

    For each BatchNorm2d l with input a (C x H x W): mu_c = mean_hw a, var_c = mean_hw (a-mu_c)^2
    (biased); L_l = mean_c (mu - running_mean)^2 + mean_c (var - running_var)^2;
    L = mean_l L_l over all BN2d layers (the BatchNorm1d `features` does not count).
    Score_group = sum |dL/d(tensor)| with tensor = the input image or the output of layerk.

    Returns a GrafiqsResult. Raises ValueError if x is not one 3-channel image.
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"grafiqs_single needs one 3 x H x W image, got shape {tuple(x.shape)}")
    dtype = next(model.parameters()).dtype
    x = x.detach().to(dtype).clone().requires_grad_(True)
    result = GrafiqsResult()
    stage_out: Dict[str, torch.Tensor] = {}
    handles = []
    names = {m: n for n, m in model.named_modules()}

    def bn_hook(module: nn.Module, inputs, _output) -> None:
        a = inputs[0]
        c = a.shape[1]
        mean = a.mean(dim=(0, 2, 3))
        var = a.permute(1, 0, 2, 3).reshape(c, -1).var(dim=1, unbiased=False)
        term = F.mse_loss(mean, module.running_mean) + F.mse_loss(var, module.running_var)
        result.bn.append(BNRecord(names[module], mean, var, a.shape[2], a.shape[3], term))

    def stage_hook(name: str):
        def hook(_module: nn.Module, _inputs, output: torch.Tensor) -> None:
            if not autograd:
                output.retain_grad()
            stage_out[name] = output
        return hook

    saved_flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if autograd or not weight_grads:
            for p, _ in saved_flags:
                p.requires_grad_(False)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                handles.append(m.register_forward_hook(bn_hook))
        for k, stage in enumerate(model.stages(), start=1):
            handles.append(stage.register_forward_hook(stage_hook(f"block{k}")))
        embedding = model(x)
        loss = torch.stack([r.loss_term for r in result.bn]).mean()
        if autograd:
            wrt = [x] + [stage_out[g] for g in GROUPS[1:]]
            grads = dict(zip(GROUPS, torch.autograd.grad(loss, wrt)))
        else:
            model.zero_grad(set_to_none=True)
            loss.backward()
    finally:
        for h in handles:
            h.remove()
        for p, flag in saved_flags:
            p.requires_grad_(flag)
    tensors = {"image": x, **stage_out}
    for group in GROUPS:
        g = grads[group][0] if autograd else tensors[group].grad[0]
        result.scores[group] = float(g.abs().sum().item())
        if keep_grads:
            result.grads[group] = g.detach().clone()
    result.embedding = embedding.detach()[0].clone()
    result.loss = float(loss.item())
    for r in result.bn:
        r.mean = r.mean.detach()
        r.var = r.var.detach()
        r.loss_term = r.loss_term.detach()
    return result


# ---------------------------------------------------------------------------------------------
# Preprocessing (docs/ALGORITHM.md#input)
# ---------------------------------------------------------------------------------------------


def preprocess_official(img: np.ndarray, bgr2rgb: bool = False, size: int = OFFICIAL_SIZE) -> torch.Tensor:
    """Official preprocessing of a decoded 8-bit image (docs/ALGORITHM.md#input, steps 2-4).

    Args:
      img: H x W x 3 uint8 array in BGR order, as cv2.imread returns it.
      bgr2rgb: swap to RGB (the official --bgr2rgb).
      size: target side (112).
    Returns a float32 tensor 3 x size x size, (v/255 - 0.5)/0.5 in [-1, 1].
    A size x size input is passed through untouched; otherwise it is resized with antialiased
    bilinear interpolation in float32 (half-pixel centres, no corner alignment) and rounded half
    to even back to 8-bit before normalisation.
    Raises ValueError if img is not H x W x 3 uint8.
    """
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"preprocess_official needs H x W x 3 uint8, got {img.dtype} {img.shape}")
    if bgr2rgb:
        img = img[:, :, ::-1]
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()
    if t.shape[1] != size or t.shape[2] != size:
        f = F.interpolate(t.unsqueeze(0).float(), size=(size, size), mode="bilinear",
                          align_corners=False, antialias=True)[0]
        t = torch.round(f).clamp(0, 255).to(torch.uint8)
    return ((t.float() / 255.0) - 0.5) / 0.5


def load_image_official(path: str | os.PathLike, bgr2rgb: bool = False) -> torch.Tensor:
    """cv2.imread (BGR, 8-bit, 3 channels) then :func:`preprocess_official`.

    Returns 3 x 112 x 112 float32. Raises ValueError naming the file if OpenCV cannot decode it.
    """
    import cv2  # local import: only the image paths need OpenCV

    img = cv2.imread(str(path))
    if img is None:
        raise ValueError(f"{path}: OpenCV could not decode this file as an image")
    return preprocess_official(img, bgr2rgb=bgr2rgb)


# ---------------------------------------------------------------------------------------------
# Official output format (docs/ALGORITHM.md#score-files)
# ---------------------------------------------------------------------------------------------


def format_score(value: float) -> str:
    """Python repr of the float32 score widened to double (the official SCORE text)."""
    return repr(float(np.float32(value)))


def _file_mode() -> int:
    """0o666 minus the process umask: the mode a plain open() would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to path via a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes to path via a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_score_files(out_dir: Path, paths: Sequence[str], scores: Sequence[Dict[str, float]]) -> None:
    """Write OUT/GraFIQs_{group}.txt, one `PATH SCORE` line per image
    (docs/ALGORITHM.md#score-files)."""
    for group in GROUPS:
        lines = "".join(f"{p} {format_score(s[group])}\n" for p, s in zip(paths, scores))
        write_text_atomic(out_dir / f"GraFIQs_{group}.txt", lines)


def read_score_file(path: Path) -> Dict[str, float]:
    """Parse an official score file into {file name: score}. Raises ValueError on a bad line."""
    out: Dict[str, float] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line:
            continue
        head, sep, tail = line.rpartition(" ")
        if not sep:
            raise ValueError(f"{path}:{n}: expected 'PATH SCORE', got {line!r}")
        out[Path(head).name] = float(tail)
    return out


def official_image_list(image_dir: str, ext: str) -> List[Path]:
    """sorted(Path(DIR).glob('*.' + ext)), as the official tool lists its images
    (docs/ALGORITHM.md#score-files)."""
    return sorted(Path(image_dir).glob("*." + ext))


# ---------------------------------------------------------------------------------------------
# Command line: validate against ../shared/reference, official-equivalent extract
# ---------------------------------------------------------------------------------------------


def _default_reference() -> Path:
    # The repository root's parent holds shared/ (tools/ -> repo root -> parent).
    return Path(__file__).resolve().parent.parent.parent / "shared" / "reference"


def validate(reference: Path, sets: Sequence[str], threads: Sequence[int]) -> dict:
    """Score the reference images with this module and compare with the official outputs.

    For every set (aligned, raw, magface) and order (bgr, rgb) it reports, per group, the max
    relative error |ours - official| / |official| over the images, and the max relative error of
    the embeddings (max |d| / max |official| per row). Also times one pass per image at each
    thread count. Returns a JSON-ready dict. Raises FileNotFoundError if the reference is absent.
    """
    weights = reference / "iresnet50" / "weights.pth"
    if not weights.exists():
        raise FileNotFoundError(f"{weights}: reference weights not found")
    model = load_model(weights, DEPTHS["iresnet50"])
    report: dict = {"sets": {}, "timing": []}
    for name in sets:
        images = sorted((reference / "images" / name).iterdir())
        for order in ("bgr", "rgb"):
            ref_dir = reference / "iresnet50" / f"{name}_{order}"
            results = []
            for p in images:
                x = load_image_official(p, bgr2rgb=(order == "rgb"))
                results.append(grafiqs_single(model, x))
            entry: dict = {"images": len(images)}
            for group in GROUPS:
                ref = read_score_file(ref_dir / f"GraFIQs_{group}.txt")
                rel = [abs(r.scores[group] - ref[p.name]) / abs(ref[p.name])
                       for p, r in zip(images, results)]
                entry[group] = max(rel)
            emb_ref = np.load(ref_dir / "embeddings.npy")
            emb = np.stack([r.embedding.numpy() for r in results])
            entry["embedding_max_abs"] = float(np.abs(emb - emb_ref).max())
            entry["embedding_max_rel"] = float(
                max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(emb, emb_ref)))
            report["sets"][f"{name}_{order}"] = entry
    images = sorted((reference / "images" / "aligned").iterdir())[:4]
    for n in threads:
        torch.set_num_threads(n)
        x = load_image_official(images[0])
        grafiqs_single(model, x, weight_grads=True)  # warm-up
        for wg in (True, False):
            t0 = time.perf_counter()
            for p in images:
                grafiqs_single(model, load_image_official(p), weight_grads=wg)
            dt = (time.perf_counter() - t0) / len(images)
            report["timing"].append({"threads": n, "weight_grads": wg, "sec_per_image": dt})
    return report


def _main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="compare with ../shared/reference/iresnet50")
    v.add_argument("--reference", type=Path, default=_default_reference())
    v.add_argument("--sets", default="aligned,raw,magface")
    v.add_argument("--threads", default="1,2")
    e = sub.add_parser("extract", help="official-equivalent scorer (iResNet backbones)")
    e.add_argument("--image-path", required=True)
    e.add_argument("--image-extension", default="jpg")
    e.add_argument("--output-dir", required=True, type=Path)
    e.add_argument("--backbone", default="iresnet50", choices=sorted(DEPTHS))
    e.add_argument("--weights", required=True)
    e.add_argument("--bgr2rgb", action="store_true")
    e.add_argument("--path-replace", default=None)
    e.add_argument("--path-replace-with", default="")
    args = ap.parse_args(argv)
    if args.cmd == "validate":
        report = validate(args.reference, args.sets.split(","),
                          [int(t) for t in args.threads.split(",")])
        print(json.dumps(report, indent=1))
        return 0
    model = load_model(args.weights, DEPTHS[args.backbone])
    paths = official_image_list(args.image_path, args.image_extension)
    names, scores = [], []
    for p in paths:
        r = grafiqs_single(model, load_image_official(p, bgr2rgb=args.bgr2rgb))
        text = str(p)
        if args.path_replace is not None:
            text = text.replace(args.path_replace, args.path_replace_with)
        names.append(text)
        scores.append(r.scores)
    write_score_files(args.output_dir, names, scores)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
