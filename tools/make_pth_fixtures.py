#!/usr/bin/python3
"""Write the small PyTorch checkpoints that tests/weights_test.ts reads, and the expected values.

Run from the repository root with the Debian PyTorch (tool-time only; nothing at test time needs
PyTorch):

    /usr/bin/python3 tools/make_pth_fixtures.py

Writes into tests/fixtures/pth/:

- zip_small.pth      torch.save (zip format) of a state_dict covering float16/float32/bfloat16/
                     float64/int64/int32/uint8/bool tensors, a 0-d scalar, an empty tensor,
                     special float16/bfloat16 values (subnormals, +-0, +-inf, NaN) and views that
                     share one storage: a row slice (storage offset), a column slice and a
                     transpose (non-contiguous strides), a broadcast (stride 0) view and a
                     strided float16 view.
- legacy_small.pth   the same state_dict in the legacy (pre-1.6) format
                     (_use_new_zipfile_serialization=False).
- wrapped_zip.pth    {"epoch", "state_dict": {"module.*": ...}, "optimizer"} (zip format): a
                     training checkpoint saved from nn.DataParallel.
- wrapped_legacy.pth {"model": {"module.*": ...}, "best_acc"} in the legacy format.
- whole_module.pth   torch.save of an nn.Linear object (not a state_dict): the pickle names the
                     class torch.nn.modules.linear.Linear and must be refused.
- malicious_os_system.pth   a zip checkpoint whose data.pkl calls os.system (hand-written
                     pickle opcodes) and must be refused without running anything.
- malicious_eval_legacy.pth a legacy checkpoint whose object pickle calls builtins.eval.
- expected.json      what PyTorch itself reads back from the files above: for each file the
                     keys in order (after the documented unwrapping: a top-level "state_dict" or
                     "model" dict is used, and a "module." prefix present on every key is
                     dropped), and per tensor the dtype, shape, the contiguous little-endian bytes
                     as hex and the values widened to float64 (non-finite values as the strings
                     "nan", "inf", "-inf").
- shared_reference.json  for the real checkpoints in ../shared (when present): per tensor
                     [name, dtype, shape, first 16 hex digits of the SHA-256 of its contiguous
                     little-endian bytes]; per file the SHA-256 of all tensors converted to
                     float32 by PyTorch (t.float()) and concatenated in key order, and the float64
                     sum and sum of absolute values of a few tensors.
"""

import collections
import hashlib
import io
import json
import math
import os
import pickle
import struct
import sys
import tempfile
import zipfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "pth")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def tensor_bytes(t):
    """Contiguous little-endian bytes of a tensor (any dtype, bfloat16 included)."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    assert sys.byteorder == "little"
    return t.numpy().tobytes()


def float_value(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def describe(t):
    flat = t.detach().reshape(-1)
    if t.dtype == torch.bool:
        values = [float(v) for v in flat.to(torch.uint8).tolist()]
    elif t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        values = [float(v) for v in flat.tolist()]  # exact for these small values
    else:
        values = [float_value(v) for v in flat.double().tolist()]
    return {
        "dtype": dtype_name(t.dtype),
        "shape": list(t.shape),
        "hex": tensor_bytes(t).hex(),
        "values": values,
    }


def unwrap(obj):
    """The documented unwrapping rule, written independently of the TypeScript reader."""
    def has_tensor(d):
        return isinstance(d, dict) and any(torch.is_tensor(v) for v in d.values())

    if not has_tensor(obj):
        for k in ("state_dict", "model"):
            if isinstance(obj, dict) and has_tensor(obj.get(k)):
                obj = obj[k]
                break
    sd = collections.OrderedDict((k, v) for k, v in obj.items() if torch.is_tensor(v))
    if sd and all(k.startswith("module.") for k in sd):
        sd = collections.OrderedDict((k[len("module."):], v) for k, v in sd.items())
    return sd


def small_state_dict():
    g = torch.Generator().manual_seed(20240417)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g).half()
    sd["conv.bias"] = torch.randn(4, generator=g)
    sd["bn.weight"] = torch.rand(4, generator=g) + 0.5
    sd["bn.bias"] = torch.randn(4, generator=g)
    sd["bn.running_mean"] = torch.randn(4, generator=g)
    sd["bn.running_var"] = torch.rand(4, generator=g) + 0.1
    sd["bn.num_batches_tracked"] = torch.tensor(12345, dtype=torch.int64)
    # Views of one float32 storage of 30 elements: all four keys share it in the file.
    base = torch.arange(30, dtype=torch.float32).reshape(5, 6) * 0.25 - 3.0
    sd["view.base"] = base
    sd["view.rows"] = base[1:4]  # contiguous, storage offset 6
    sd["view.cols"] = base[:, 2:5]  # strides (6, 1), storage offset 2: not contiguous
    sd["view.t"] = base.t()  # strides (1, 6): not contiguous
    sd["view.expanded"] = base[2:3, 1:4].expand(2, 3)  # strides (0, 1), storage offset 13
    # A strided float16 view: rows 1..4, every second column, storage offset 8, strides (8, 2).
    hbase = torch.randn(6, 8, generator=g).half()
    sd["view.half_strided"] = hbase[1:5, ::2]
    sd["misc.f64"] = torch.randn(3, dtype=torch.float64, generator=g)
    sd["misc.bf16"] = torch.randn(5, generator=g).bfloat16()
    sd["misc.i32"] = torch.tensor([-2, 0, 7, 2147483647], dtype=torch.int32)
    sd["misc.u8"] = torch.tensor([0, 255, 3], dtype=torch.uint8)
    sd["misc.bool"] = torch.tensor([True, False, True])
    sd["misc.i64"] = torch.tensor([-5, 2**40 + 3, -(2**33)], dtype=torch.int64)
    sd["misc.scalar"] = torch.tensor(2.5)
    sd["misc.empty"] = torch.zeros(0, 3)
    special = [0.0, -0.0, 1.0, -2.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08,
               3.0517578125e-05, float("inf"), float("-inf"), float("nan")]
    sd["misc.f16_special"] = torch.tensor(special, dtype=torch.float16)
    sd["misc.bf16_special"] = torch.tensor(special + [3.0e38, 1.0e-40], dtype=torch.bfloat16)
    return sd


def wrapped_state_dict():
    g = torch.Generator().manual_seed(7)
    inner = collections.OrderedDict()
    inner["module.fc.weight"] = torch.randn(3, 2, generator=g)
    inner["module.fc.bias"] = torch.randn(3, generator=g).half()
    inner["module.bn.num_batches_tracked"] = torch.tensor(4, dtype=torch.int64)
    return inner


def replace_atomically(write, path):
    """Write through write(tmp_path) into a fresh temporary folder, then rename onto path.

    The temporary file keeps the final base name because torch.save names the zip's folder after
    it."""
    tmp_dir = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(path))
    tmp = os.path.join(tmp_dir, os.path.basename(path))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        os.rmdir(tmp_dir)


def write_bytes(path, data):
    def w(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    replace_atomically(w, path)


def save(obj, name, legacy=False):
    path = os.path.join(OUT, name)
    replace_atomically(lambda tmp: torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy),
                       path)
    return path


def write_zip(path, folder, entries):
    """A zip laid out as torch.save lays it out (stored entries in one folder)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(folder + "/" + name, data)
    write_bytes(path, buf.getvalue())


def malicious_pickle(module, name, arg):
    """Protocol-2 pickle: GLOBAL module.name, call it with (arg,), STOP. Written opcode by opcode."""
    a = arg.encode()
    return (b"\x80\x02" + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(a)) + a + b"\x85" + b"R" + b".")


SUM_KEYS = ("conv1.weight", "bn1.running_var", "conv1.0.weight", "conv1.1.running_var",
            "fc.weight", "features.running_mean", "bn.running_var")


def shared_reference():
    out = {}
    files = {
        "iresnet50": "reference/iresnet50/weights.pth",
        "mobilefacenet": "models/mobilefacenet/mobilefacenet.pt",
    }
    for label, rel in files.items():
        path = os.path.join(SHARED, rel)
        if not os.path.exists(path):
            print("skipping", path, "(absent)")
            continue
        sd = unwrap(torch.load(path, map_location="cpu"))
        tensors = []
        all_f32 = hashlib.sha256()
        sums = {}
        for k, t in sd.items():
            tensors.append([k, dtype_name(t.dtype), list(t.shape),
                            hashlib.sha256(tensor_bytes(t)).hexdigest()[:16]])
            all_f32.update(tensor_bytes(t.detach().float()))
            if k in SUM_KEYS:
                d = t.detach().double()
                sums[k] = {"sum": float(d.sum()), "sum_abs": float(d.abs().sum())}
        out[label] = {
            "path": rel,
            "size": os.path.getsize(path),
            "count": len(tensors),
            "sha256_float32_all": all_f32.hexdigest(),
            "sums": sums,
            "tensors": tensors,
        }
    return out


def compact_json(obj):
    """JSON with one tensor row per line: small, and readable in a diff."""
    lines = ["{"]
    labels = list(obj)
    for i, label in enumerate(labels):
        entry = dict(obj[label])
        rows = entry.pop("tensors")
        head = json.dumps(entry)[1:-1]
        lines.append(f' "{label}": {{{head}, "tensors": [')
        lines += [" " + json.dumps(r) + ("," if j < len(rows) - 1 else "") for j, r in enumerate(rows)]
        lines.append(" ]}" + ("," if i < len(labels) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"torch_version": torch.__version__, "files": {}}

    small = small_state_dict()
    for name, legacy in (("zip_small.pth", False), ("legacy_small.pth", True)):
        path = save(small, name, legacy)
        back = unwrap(torch.load(path))
        expected["files"][name] = {
            "format": "torch-legacy" if legacy else "torch-zip",
            "keys": list(back.keys()),
            "tensors": {k: describe(v) for k, v in back.items()},
        }

    wz = {"epoch": 3, "state_dict": wrapped_state_dict(), "optimizer": {"lr": 0.1}}
    wl = {"model": wrapped_state_dict(), "best_acc": 0.5}
    for name, obj, legacy in (("wrapped_zip.pth", wz, False), ("wrapped_legacy.pth", wl, True)):
        path = save(obj, name, legacy)
        back = unwrap(torch.load(path))
        expected["files"][name] = {
            "format": "torch-legacy" if legacy else "torch-zip",
            "keys": list(back.keys()),
            "tensors": {k: describe(v) for k, v in back.items()},
        }

    torch.manual_seed(0)
    save(torch.nn.Linear(2, 2), "whole_module.pth")

    # Hand-written hostile files. Their command only creates a file named PWNED in the working
    # directory, so even a reader that wrongly ran them would do no harm.
    write_zip(os.path.join(OUT, "malicious_os_system.pth"), "malicious_os_system", [
        ("data.pkl", malicious_pickle("os", "system", "touch PWNED")),
        ("version", b"3\n"),
    ])
    legacy = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, legacy, protocol=2)  # torch's legacy magic number
    pickle.dump(1001, legacy, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 8}}, legacy, protocol=2)
    legacy.write(malicious_pickle("builtins", "eval", "open('PWNED', 'w')"))
    pickle.dump([], legacy, protocol=2)
    write_bytes(os.path.join(OUT, "malicious_eval_legacy.pth"), legacy.getvalue())

    write_bytes(os.path.join(OUT, "expected.json"),
                (json.dumps(expected, indent=1) + "\n").encode())
    ref = shared_reference()
    if ref:
        write_bytes(os.path.join(OUT, "shared_reference.json"), compact_json(ref).encode())
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):8d}  {name}")


if __name__ == "__main__":
    main()
