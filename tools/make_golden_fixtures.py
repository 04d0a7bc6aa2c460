#!/usr/bin/python3
"""Write the PyTorch golden fixtures of tests/fixtures/golden/ (tool time only).

Usage (from the repository root):
    /usr/bin/python3 tools/make_golden_fixtures.py [--out tests/fixtures/golden] [--only NAME]
    /usr/bin/python3 tools/make_golden_fixtures.py --verify   # re-score the committed files

Each fixture is a tiny iResNet (docs/ALGORITHM.md#the-network) with seeded random weights, run
through the official GraFIQs algorithm (docs/ALGORITHM.md) by tools/torch_grafiqs.py, one image at a
time. The folder format is described in tests/fixtures/golden/README.md and tools/README.md. CI
never runs this script; it only reads the committed output.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_grafiqs as tg  # noqa: E402

#: Fixture definitions: name -> IResNet config, batch and seed.
FIXTURES: Dict[str, dict] = {
    "tiny_a": dict(layers=[1, 1, 1, 1], widths=[8, 16, 24, 32], stem_width=8, input_size=32,
                   embedding_size=16, batch=3, seed=1001),
    # Widths not multiples of 4 and a 3x3 final map (48 -> 24 -> 12 -> 6 -> 3); stages with
    # two blocks exercise the stride-1 blocks without downsample.
    "tiny_b": dict(layers=[2, 1, 2, 1], widths=[6, 10, 12, 20], stem_width=6, input_size=48,
                   embedding_size=10, batch=3, seed=2002),
    # The real 112x112 input size, fed by PNG files, for end-to-end command-line tests.
    "iresnet112_tiny": dict(layers=[1, 1, 1, 1], widths=[4, 8, 8, 8], stem_width=4,
                            input_size=112, embedding_size=8, batch=2, seed=3003, images=True),
}

#: Largest expected.json we accept before dropping gradients (bytes).
SIZE_LIMIT = 1_050_000


def randomize(model: tg.IResNet, gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """Fill model with seeded random weights and return the state dict to save.

    Conv weights: N(0, 2/fan_in); fc: N(0, 1/fan_in), bias N(0, 0.1^2). BN (2d and 1d):
    gamma U(0.7, 1.3), beta N(0, 0.1^2), running_mean N(0, 0.3^2) (non-zero), running_var
    U(0.5, 2.0) (positive), num_batches_tracked 7. PReLU slopes U(0.1, 0.4).
    Conv and fc weights are rounded to float16 in the returned state dict (like the shared
    reference .pth) and the float32 model holds exactly those rounded values.
    """

    def normal(shape, std):
        return torch.randn(shape, generator=gen, dtype=torch.float64) * std

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)

    with torch.no_grad():
        for _name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(normal(m.weight.shape, (2.0 / fan_in) ** 0.5).half().float())
            elif isinstance(m, nn.Linear):
                fan_in = m.weight.shape[1]
                m.weight.copy_(normal(m.weight.shape, (1.0 / fan_in) ** 0.5).half().float())
                m.bias.copy_(normal(m.bias.shape, 0.1))
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                c = m.num_features
                m.weight.copy_(uniform(c, 0.7, 1.3))
                m.bias.copy_(normal(c, 0.1))
                m.running_mean.copy_(normal(c, 0.3))
                m.running_var.copy_(uniform(c, 0.5, 2.0))
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(uniform(m.weight.shape, 0.1, 0.4))
    return half_state(model)


def half_state(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The model's state dict with conv and fc weights as float16 (like the reference .pth)."""
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().clone()
        if k.endswith(".weight") and v.dim() in (2, 4):  # conv and fc weights
            v = v.half()
        state[k] = v
    return state


def calibrate(model: tg.IResNet, calib: torch.Tensor, gen: torch.Generator) -> None:
    """Set each BatchNorm2d's running statistics near its actual input statistics.

    Like the shared reference (whose BN statistics were calibrated on real faces), this keeps
    every layer's activations and loss term at a realistic scale; without it the deviations
    compound through the blocks and one layer dominates the loss. Layers are visited in forward
    execution order; layer l sees the eval-mode outputs of the already calibrated layers
    before it. For a calibration batch calib (N x 3 x H x W) with per-channel input mean mu and
    biased variance v over (N, H, W): running_mean = mu + 0.3 sqrt(v) z, z ~ N(0, 1), and
    running_var = v * U(0.6, 1.6). Both are therefore random, the variances positive and the
    means non-zero (almost surely), and every image still deviates from them.
    """
    order: List[nn.BatchNorm2d] = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
             for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        model.eval()(calib)
    for h in hooks:
        h.remove()
    for bn in order:
        seen = {}

        def grab(_mod, inputs, _out):
            seen["a"] = inputs[0]

        h = bn.register_forward_hook(grab)
        with torch.no_grad():
            model(calib)
        h.remove()
        a = seen["a"].double()
        mu = a.mean(dim=(0, 2, 3))
        v = a.var(dim=(0, 2, 3), unbiased=False)
        z = torch.randn(mu.shape, generator=gen, dtype=torch.float64)
        u = 0.6 + torch.rand(mu.shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            bn.running_mean.copy_(mu + 0.3 * v.sqrt() * z)
            bn.running_var.copy_(v * u)


def same_state(path: Path, state: Dict[str, torch.Tensor]) -> bool:
    """True when path holds a state dict with exactly these keys, dtypes, shapes and bits."""
    if not path.exists():
        return False
    old = torch.load(path, map_location="cpu")
    return list(old) == list(state) and all(
        old[k].dtype == v.dtype and old[k].shape == v.shape and torch.equal(old[k], v)
        for k, v in state.items())


def save_state(path: Path, state: Dict[str, torch.Tensor], legacy: bool) -> None:
    """torch.save(state) into memory (archive name 'archive'), then write atomically.

    The legacy format names storages by memory address, so its bytes change on every run; an
    existing file that already holds the same tensors is therefore left untouched, which keeps
    regeneration free of spurious diffs.
    """
    if same_state(path, state):
        return
    buf = io.BytesIO()
    torch.save(state, buf, _use_new_zipfile_serialization=not legacy)
    tg.write_bytes_atomic(path, buf.getvalue())


def f32list(t: torch.Tensor) -> List[float]:
    """Flatten a float32 tensor to Python floats (each the exact double of a float32)."""
    return [float(v) for v in t.detach().to(torch.float32).reshape(-1).numpy()]


def smooth_image(gen: np.random.Generator, size: int = 112) -> np.ndarray:
    """Random smooth 8-bit BGR image: upscaled coarse noise plus weaker finer noise."""
    import cv2

    coarse = gen.uniform(0, 255, (7, 7, 3)).astype(np.float32)
    fine = gen.uniform(-40, 40, (28, 28, 3)).astype(np.float32)
    img = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    img += cv2.resize(fine, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def run_all(model: tg.IResNet, inputs: List[torch.Tensor]) -> List[tg.GrafiqsResult]:
    """grafiqs_single on each image (batch size 1, like the official code), keeping grads."""
    return [tg.grafiqs_single(model, x, keep_grads=True) for x in inputs]


def build(name: str, spec: dict, out_root: Path) -> dict:
    """Generate one fixture folder; returns a short summary (sizes, losses)."""
    import cv2

    out = out_root / name
    cfg = {k: spec[k] for k in ("layers", "widths", "stem_width", "input_size", "embedding_size")}
    gen = torch.Generator().manual_seed(spec["seed"])
    model = tg.IResNet(**cfg)
    randomize(model, gen)
    s = spec["input_size"]
    if spec.get("images"):
        calib_rng = np.random.default_rng(spec["seed"] + 1)
        calib = torch.stack([tg.preprocess_official(smooth_image(calib_rng, s)) for _ in range(4)])
    else:
        calib = torch.randint(-256, 257, (4, 3, s, s), generator=gen).float() / 256.0
    calibrate(model, calib, gen)
    state = half_state(model)
    model32 = tg.IResNet(**cfg)
    model32.load_state_dict(state)  # float16 -> float32 widening, as the official loader does
    model32.eval()
    model64 = tg.IResNet(**cfg)
    model64.load_state_dict(state)
    model64 = model64.double().eval()
    save_state(out / "model.pth", state, legacy=False)
    save_state(out / "model_legacy.pth", state, legacy=True)

    n = spec["batch"]
    doc: dict = {"config": model32.config}
    variants = {}
    if spec.get("images"):
        rng = np.random.default_rng(spec["seed"])
        rel_paths = []
        for i in range(n):
            img = smooth_image(rng, s)
            ok, png = cv2.imencode(".png", img)
            if not ok:
                raise RuntimeError(f"{name}: PNG encoding failed")
            rel = f"images/smooth_{chr(ord('a') + i)}.png"
            tg.write_bytes_atomic(out / rel, png.tobytes())
            rel_paths.append(rel)
        # Decode back through the official path, exactly as the official tool would.
        for order in ("bgr", "rgb"):
            variants[order] = [tg.load_image_official(out / r, bgr2rgb=(order == "rgb"))
                               for r in rel_paths]
        inputs = variants["bgr"]
        doc["inputImages"] = rel_paths
        doc["channelOrder"] = "bgr"
    else:
        # Random inputs on a 1/256 grid in [-1, 1]: exact in float32 and short in JSON.
        k = torch.randint(-256, 257, (n, 3, s, s), generator=gen)
        inputs = [(k[i].double() / 256.0).float() for i in range(n)]
        doc["inputs"] = [f32list(x) for x in inputs]

    res = run_all(model32, inputs)
    res64 = [tg.grafiqs_single(model64, x.double()) for x in inputs]
    doc["bnLayers"] = [
        {
            "name": rec.name,
            "channels": int(rec.mean.numel()),
            "height": int(rec.height),
            "width": int(rec.width),
            "mean": [f32list(r.bn[li].mean) for r in res],
            "var": [f32list(r.bn[li].var) for r in res],
            "lossTerm": [float(r.bn[li].loss_term) for r in res],
        }
        for li, rec in enumerate(res[0].bn)
    ]
    doc["groups"] = {
        g: {"scores": [r.scores[g] for r in res], "grad": [f32list(r.grads[g]) for r in res]}
        for g in tg.GROUPS
    }
    doc["groups64"] = {g: {"scores": [r.scores[g] for r in res64]} for g in tg.GROUPS}
    doc["embeddings"] = [f32list(r.embedding) for r in res]
    doc["embeddings64"] = [[float(v) for v in r.embedding.numpy()] for r in res64]
    doc["loss"] = [r.loss for r in res]
    doc["loss64"] = [r.loss for r in res64]

    if spec.get("images"):
        rgb = run_all(model32, variants["rgb"])
        doc["rgb"] = {
            "groups": {g: {"scores": [r.scores[g] for r in rgb]} for g in tg.GROUPS},
            "embeddings": [f32list(r.embedding) for r in rgb],
            "loss": [r.loss for r in rgb],
        }
        for order, rs in (("bgr", res), ("rgb", rgb)):
            tg.write_score_files(out / f"scores_{order}", doc["inputImages"],
                                 [r.scores for r in rs])

    # Drop gradient arrays to keep the file small enough for the repository: among the sets of
    # groups whose removal fits the limit, drop as few of image/block4 (the two ends of the
    # backward pass) as possible, then as few bytes as possible.
    full = json.dumps(doc, separators=(",", ":"))
    sizes = {g: len(json.dumps(doc["groups"][g]["grad"])) + len(',"grad":')
             for g in tg.GROUPS}
    best = None
    for mask in range(1 << len(tg.GROUPS)):
        drop = [g for i, g in enumerate(tg.GROUPS) if mask >> i & 1]
        saved = sum(sizes[g] for g in drop)
        if len(full) - saved > SIZE_LIMIT:
            continue
        key = (sum(g in ("image", "block4") for g in drop), saved)
        if best is None or key < best[0]:
            best = (key, drop)
    doc["omittedGrads"] = best[1]
    for g in best[1]:
        del doc["groups"][g]["grad"]
    text = json.dumps(doc, separators=(",", ":"))
    tg.write_text_atomic(out / "expected.json", text + "\n")
    return {"fixture": name, "bytes": len(text), "omittedGrads": doc["omittedGrads"],
            "loss": doc["loss"], "bnLayers": len(doc["bnLayers"])}


def verify(name: str, out_root: Path) -> dict:
    """Re-score a written fixture from its files alone and compare with expected.json.

    Loads model.pth and model_legacy.pth into fresh float32 models, rebuilds the inputs (from
    expected.json, or by decoding the PNGs through the official path), reruns GraFIQs and
    requires bit-identical scores, embeddings and losses, and for image fixtures identical score
    files. Raises AssertionError naming the fixture and the mismatch.
    """
    out = out_root / name
    doc = json.loads((out / "expected.json").read_text(encoding="utf-8"))
    c = doc["config"]
    kw = dict(widths=c["widths"], stem_width=c["stemWidth"], input_size=c["inputSize"],
              embedding_size=c["embeddingSize"])
    s = c["inputSize"]
    for file in ("model.pth", "model_legacy.pth"):
        model = tg.load_model(out / file, c["layers"], **kw)
        for order in (["bgr", "rgb"] if "inputImages" in doc else ["bgr"]):
            if "inputImages" in doc:
                inputs = [tg.load_image_official(out / r, bgr2rgb=(order == "rgb"))
                          for r in doc["inputImages"]]
            else:
                inputs = [torch.tensor(v, dtype=torch.float32).reshape(3, s, s)
                          for v in doc["inputs"]]
            res = [tg.grafiqs_single(model, x) for x in inputs]
            ref = doc if order == "bgr" else doc["rgb"]
            for g in tg.GROUPS:
                got = [r.scores[g] for r in res]
                assert got == ref["groups"][g]["scores"], f"{name}/{file} {order} {g}: {got}"
            assert [f32list(r.embedding) for r in res] == ref["embeddings"], f"{name}/{file}"
            assert [r.loss for r in res] == ref["loss"], f"{name}/{file} {order} loss"
            if "inputImages" in doc:
                for g in tg.GROUPS:
                    want = (out / f"scores_{order}" / f"GraFIQs_{g}.txt").read_text()
                    got_text = "".join(f"{p} {tg.format_score(r.scores[g])}\n"
                                       for p, r in zip(doc["inputImages"], res))
                    assert got_text == want, f"{name} scores_{order}/GraFIQs_{g}.txt differs"
    return {"fixture": name, "verified": True}


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description="Write PyTorch golden fixtures for tiny iResNets.")
    default_out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "golden"
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--only", default=None, help="comma-separated fixture names")
    ap.add_argument("--verify", action="store_true",
                    help="do not write; re-score the committed fixtures from their files")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one fixed reduction order, so regeneration is reproducible
    names = args.only.split(",") if args.only else list(FIXTURES)
    for name in names:
        if name not in FIXTURES:
            raise SystemExit(f"unknown fixture {name!r}; known: {', '.join(FIXTURES)}")
        if args.verify:
            print(json.dumps(verify(name, args.out)))
        else:
            print(json.dumps(build(name, FIXTURES[name], args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
