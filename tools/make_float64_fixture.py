#!/usr/bin/python3
"""Write tests/fixtures/float64/iresnet50.json: GraFIQs scores of a few reference faces in float64.

The official program computes in float32. On some faces its scores are measurably away from what
exact arithmetic gives (on the raw LFW photo Charles_Kartman_0002.jpg, RGB order, its image score
is 1.6e-4 from a float64 evaluation), so "how close to the official scores" and "how close to the
true value" are different questions. This fixture answers the second: the same algorithm
(tools/torch_grafiqs.py grafiqs_single, autograd, as the official tool) on the same preprocessed
input (decoded and resized in float32 exactly as the official tool does, then widened), with the
shared iresnet50 checkpoint's float32 weights widened to float64, every operation in float64.
tests/parity_test.ts compares the winograd kernel family against it.

Output: {"weights": "reference/iresnet50/weights.pth", "dtype": "float64", "torch": version,
"groups": [...], "sets": {"<set>_<order>": {"<file name>": [score per group]}}}; the scores
are Python floats (float64, JSON's shortest round trip).

`--all FILE` writes the same JSON for every reference face (aligned, raw and magface, both
channel orders: 2 x 42 evaluations, about 15 min on one core) to FILE instead of the fixture; the
README's float64 table was made from it.

Needs ../shared (the reference images and checkpoint) and python3-torch, python3-opencv.
Usage (from the repository root): /usr/bin/python3 tools/make_float64_fixture.py [--all FILE]
"""
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import torch_grafiqs as tg  # noqa: E402

ROOT = HERE.parent
REF = ROOT.parent / "shared" / "reference"
OUT = ROOT / "tests" / "fixtures" / "float64" / "iresnet50.json"
GROUPS = ["image", "block1", "block2", "block3", "block4"]
# (set, channel order, file names): the raw face where the official float32 scores are furthest
# from float64, a second raw face, and two aligned PNGs.
CASES = [
    ("raw", "rgb", ["Charles_Kartman_0002.jpg", "Fred_Durst_0001.jpg"]),
    ("aligned", "bgr", ["Andrew_Gilligan_0001.png", "Osama_bin_Laden_0004.png"]),
]


def main(argv) -> int:
    out_path, cases = OUT, CASES
    if argv[:1] == ["--all"] and len(argv) == 2:
        out_path = Path(argv[1])
        cases = [(kind, order, sorted(p.name for p in (REF / "images" / kind).iterdir()))
                 for kind in ("aligned", "raw", "magface") for order in ("bgr", "rgb")]
    elif argv:
        print("usage: make_float64_fixture.py [--all FILE]", file=sys.stderr)
        return 2
    if not REF.is_dir():
        print(f"make_float64_fixture: {REF} is absent (needs ../shared)", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    model = tg.load_model(str(REF / "iresnet50" / "weights.pth"), [3, 4, 14, 3],
                          dtype=torch.float64)
    sets = {}
    for kind, order, names in cases:
        rows = {}
        for name in names:
            x = tg.load_image_official(REF / "images" / kind / name, bgr2rgb=(order == "rgb"))
            r = tg.grafiqs_single(model, x.to(torch.float64), autograd=True)
            rows[name] = [float(r.scores[g]) for g in GROUPS]
        sets[f"{kind}_{order}"] = rows
    out = {"weights": "reference/iresnet50/weights.pth", "dtype": "float64",
           "torch": torch.__version__, "groups": GROUPS, "sets": sets}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
