#!/usr/bin/python3
"""PyTorch reference of GraFIQs on MobileFaceNet: the tool-time oracle for issue 4.

Used only at tool time (validation against ../shared/reference/mobilefacenet, golden fixtures for
a tiny MobileFaceNet). Nothing at runtime or in the Deno tests imports it. Needs Debian's
python3-torch, python3-numpy and python3-opencv: run it with /usr/bin/python3.

Contents
--------
- :class:`MobileFaceNet`: the network of ../shared/models/mobilefacenet/MODEL.md, written from
  that description (state-dict keys as listed there), generalised to other widths, stage
  settings and input sizes so that a tiny variant can serve as a golden fixture.
- :func:`grafiqs_mfn`: the GraFIQs algorithm of docs/ALGORITHM.md for ONE image on it: the loss over
  every BatchNorm2d (the head ``bn`` included), one backward pass, sum of |gradient| for the
  groups image and stage1..stage5.
- :func:`load_image_mfn`: OpenCV decode, RGB, ImageNet mean/std (MODEL.md "Preprocessing").
- ``validate``: compares with ../shared/reference/mobilefacenet and prints the agreement.
- ``fixtures``: writes tests/fixtures/golden/mfn_tiny/ (model.pth in the legacy format,
  expected.json); see tests/fixtures/golden/README.md for the common layout.

All code here was written from MODEL.md and docs/ALGORITHM.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_grafiqs import read_score_file, write_bytes_atomic  # noqa: E402

#: Groups of the reference outputs, in file order (MODEL.md).
GROUPS = ("image", "stage1", "stage2", "stage3", "stage4", "stage5")

#: (expansion t, output channels c, repeats n, first stride s) of the real network (MODEL.md).
STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))

#: ImageNet mean/std in RGB order, on v/255 (MODEL.md "Preprocessing").
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

BN_EPS = 1e-5


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class ConvBnAct(nn.Sequential):
    """conv (no bias) -> BN -> activation; keys ``0`` (conv) and ``1`` (BN)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: int, groups: int,
                 act: nn.Module) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False), _bn(cout),
                         act)


class InvertedResidual(nn.Module):
    """MODEL.md step 3: [expand 1x1 -> BN -> ReLU6] -> depthwise 3x3 -> BN -> ReLU6 ->
    project 1x1 -> BN, plus the input when stride 1 and in == out. Keys conv.0.{0,1},
    conv.1.{0,1}, conv.2, conv.3 (the expand pair is absent when t == 1)."""

    def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = cin * t
        layers: List[nn.Module] = []
        if t != 1:
            layers.append(ConvBnAct(cin, hidden, 1, 1, 0, 1, nn.ReLU6()))
        layers.append(ConvBnAct(hidden, hidden, 3, stride, 1, hidden, nn.ReLU6()))
        layers.append(nn.Conv2d(hidden, cout, 1, 1, 0, bias=False))
        layers.append(_bn(cout))
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class DwPw(nn.Module):
    """MODEL.md step 2: depthwise 3x3 -> bn1 -> ReLU -> pointwise 1x1 -> bn2 -> ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False)
        self.bn1 = _bn(c)
        self.pointwise = nn.Conv2d(c, c, 1, 1, 0, bias=False)
        self.bn2 = _bn(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.depthwise(x)))
        return F.relu(self.bn2(self.pointwise(x)))


class GdConv(nn.Module):
    """MODEL.md step 5: depthwise k x k, no padding, then BN (no activation)."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, k, 1, 0, groups=c, bias=False)
        self.bn = _bn(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.depthwise(x))


class MobileFaceNet(nn.Module):
    """MobileFaceNet of MODEL.md, generalised.

    Args:
      stem: channels of conv1 and dw_conv (64).
      stages: (t, c, n, s) per stage (:data:`STAGES`).
      head: channels of conv2 and gdconv (512).
      embedding: embedding size (128).
      input_size: square input side (112); gdconv's kernel is the final side (7).
    Input N x 3 x S x S (normalised RGB); output N x embedding (output of ``bn``, flattened).
    """

    def __init__(self, stem: int = 64, stages: Sequence[Tuple[int, int, int, int]] = STAGES,
                 head: int = 512, embedding: int = 128, input_size: int = 112) -> None:
        super().__init__()
        self.config = {"stem": stem, "stages": [list(s) for s in stages], "head": head,
                       "embedding": embedding, "inputSize": input_size}
        self.conv1 = ConvBnAct(3, stem, 3, 2, 1, 1, nn.ReLU6())
        self.dw_conv = DwPw(stem)
        side = (input_size - 1) // 2 + 1
        blocks: List[nn.Module] = []
        self.stage_ends: List[int] = []
        cin = stem
        for t, c, n, s in stages:
            for i in range(n):
                stride = s if i == 0 else 1
                blocks.append(InvertedResidual(cin, c, stride, t))
                if stride == 2:
                    side = (side - 1) // 2 + 1
                cin = c
            self.stage_ends.append(len(blocks) - 1)
        self.features = nn.Sequential(*blocks)
        self.conv2 = ConvBnAct(cin, head, 1, 1, 0, 1, nn.ReLU6())
        self.gdconv = GdConv(head, side)
        self.conv3 = nn.Conv2d(head, embedding, 1, 1, 0, bias=True)
        self.bn = _bn(embedding)

    def stage_modules(self) -> List[nn.Module]:
        """The blocks whose outputs are the groups stage1..stageN."""
        return [self.features[i] for i in self.stage_ends]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_conv(self.conv1(x))
        x = self.features(x)
        x = self.bn(self.conv3(self.gdconv(self.conv2(x))))
        return torch.flatten(x, 1)


def load_mfn(path: str | Path, **kwargs) -> MobileFaceNet:
    """Load a state_dict (legacy or zip) into a MobileFaceNet in eval mode (strict keys)."""
    state = torch.load(str(path), map_location="cpu")
    model = MobileFaceNet(**kwargs)
    model.load_state_dict(state, strict=True)
    return model.float().eval()


def grafiqs_mfn(model: MobileFaceNet, x: torch.Tensor, keep_grads: bool = False) -> dict:
    """GraFIQs (docs/ALGORITHM.md) for ONE normalised image 3 x S x S on a MobileFaceNet.

    L = mean over every BatchNorm2d l (51 in the real network, ``bn`` included) of
    mean_c (mu_c - rm_c)^2 + mean_c (var_c - rv_c)^2, with mu, var (biased) of the BN input over
    (h, w). Returns {"scores": {group: float}, "embedding": np.ndarray, "loss": float,
    "bnLayers": int, "grads": {group: np.ndarray} (only with keep_grads)}.
    """
    x = x.detach().float().reshape(1, *x.shape[-3:]).clone().requires_grad_(True)
    terms: List[torch.Tensor] = []
    outs: Dict[str, torch.Tensor] = {}
    handles = []

    def bn_hook(module: nn.Module, inputs, _out) -> None:
        a = inputs[0]
        mean = a.mean(dim=(0, 2, 3))
        var = a.permute(1, 0, 2, 3).reshape(a.shape[1], -1).var(dim=1, unbiased=False)
        terms.append(F.mse_loss(mean, module.running_mean) + F.mse_loss(var, module.running_var))

    def stage_hook(name: str):
        def hook(_m, _i, out: torch.Tensor) -> None:
            out.retain_grad()
            outs[name] = out
        return hook

    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                handles.append(m.register_forward_hook(bn_hook))
        for k, m in enumerate(model.stage_modules(), start=1):
            handles.append(m.register_forward_hook(stage_hook(f"stage{k}")))
        emb = model(x)
        loss = torch.stack(terms).mean()
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    tensors = {"image": x, **outs}
    groups = ["image"] + [f"stage{k}" for k in range(1, len(outs) + 1)]
    res = {"scores": {g: float(tensors[g].grad[0].abs().sum().item()) for g in groups},
           "embedding": emb.detach()[0].numpy().copy(), "loss": float(loss.item()),
           "bnLayers": len(terms)}
    if keep_grads:
        res["grads"] = {g: tensors[g].grad[0].numpy().copy() for g in groups}
    return res


def normalize_rgb(img_rgb: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 RGB -> 3 x H x W float32, fl(fl(fl(v/255) - mean) / std) per channel
    (torchvision ToTensor + Normalize arithmetic)."""
    t = torch.from_numpy(np.ascontiguousarray(img_rgb)).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(3, 1, 1)
    return (t - mean) / std


def load_image_mfn(path: str | Path) -> torch.Tensor:
    """cv2.imread, BGR -> RGB, ImageNet normalisation (112x112 images only)."""
    import cv2

    img = cv2.imread(str(path))
    if img is None:
        raise ValueError(f"{path}: OpenCV could not decode this file")
    if img.shape[:2] != (112, 112):
        raise ValueError(f"{path}: expected an aligned 112x112 image, got {img.shape[:2]}")
    return normalize_rgb(img[:, :, ::-1])


def _shared() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared"


def validate(shared: Path) -> dict:
    """Score reference/images/{aligned,magface} with :func:`grafiqs_mfn` and compare with
    reference/mobilefacenet/{aligned,magface}: max relative score error per group, max abs
    embedding error. Raises FileNotFoundError when ../shared is absent."""
    model = load_mfn(shared / "models" / "mobilefacenet" / "mobilefacenet.pt")
    report: dict = {}
    for name in ("aligned", "magface"):
        images = sorted((shared / "reference" / "images" / name).iterdir())
        ref_dir = shared / "reference" / "mobilefacenet" / name
        results = [grafiqs_mfn(model, load_image_mfn(p)) for p in images]
        entry: dict = {"images": len(images), "bnLayers": results[0]["bnLayers"]}
        for g in GROUPS:
            ref = read_score_file(ref_dir / f"GraFIQs_{g}.txt")
            entry[g] = max(abs(r["scores"][g] - ref[p.name]) / abs(ref[p.name])
                           for p, r in zip(images, results))
        emb_ref = np.load(ref_dir / "embeddings.npy")
        emb = np.stack([r["embedding"] for r in results])
        entry["embedding_max_abs"] = float(np.abs(emb - emb_ref).max())
        report[name] = entry
    return report


#: The tiny fixture: every feature of the real network (stride-2 blocks with and without
#: expansion change, residual blocks, t = 1, a channel count not a multiple of 4, the 1x1 head
#: with bias) at a size that keeps the fixture small. 32 -> 16 -> 8 -> 4, gdconv 4x4.
TINY = {"stem": 8, "stages": ((2, 8, 2, 2), (1, 12, 1, 1), (2, 6, 2, 2)), "head": 20,
        "embedding": 10, "input_size": 32}


def _randomize(model: MobileFaceNet, gen: torch.Generator) -> None:
    """Seeded weights and plausible BN statistics (positive running_var)."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            elif name.endswith("running_mean") or name.endswith(".bias"):
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))
            elif t.dim() == 1:  # BN gamma
                t.copy_(0.8 + 0.4 * torch.rand(t.shape, generator=gen))
            else:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=gen) * (1.5 / fan_in) ** 0.5)


def make_fixture(out: Path) -> None:
    """Write out/model.pth (legacy format, as the real checkpoint) and out/expected.json."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(4)
    model = MobileFaceNet(**TINY).eval()
    _randomize(model, gen)
    inputs = [torch.randn(3, 32, 32, generator=gen) for _ in range(3)]
    results = [grafiqs_mfn(model, x) for x in inputs]
    out.mkdir(parents=True, exist_ok=True)
    import io

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf, _use_new_zipfile_serialization=False)
    write_bytes_atomic(out / "model.pth", buf.getvalue())
    doc = {
        "config": model.config,
        "bnLayers": results[0]["bnLayers"],
        "inputs": [x.flatten().tolist() for x in inputs],
        "groups": {g: {"scores": [r["scores"][g] for r in results]} for g in results[0]["scores"]},
        "embeddings": [r["embedding"].tolist() for r in results],
        "losses": [r["loss"] for r in results],
    }
    write_bytes_atomic(out / "expected.json", (json.dumps(doc) + "\n").encode())


def _main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("validate", help="compare with ../shared/reference/mobilefacenet")
    f = sub.add_parser("fixtures", help="write the tiny MobileFaceNet golden fixture")
    f.add_argument("--out", type=Path,
                   default=Path(__file__).resolve().parent.parent / "tests" / "fixtures" /
                   "golden" / "mfn_tiny")
    args = ap.parse_args(argv)
    if args.cmd == "validate":
        print(json.dumps(validate(_shared()), indent=1))
    else:
        make_fixture(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
