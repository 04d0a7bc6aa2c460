#!/usr/bin/python3
"""Write tests/fixtures/io/pyfloat.json: Python's repr() of many doubles.

The test of src/io/pyfloat.ts compares formatPythonFloat against this real Python output. Each
case is [bits, repr] with bits the IEEE-754 binary64 pattern as 16 lowercase hex digits (so -0.0,
inf, NaN payloads and every last bit survive JSON). Deterministic: a fixed random seed.

Categories: special values; powers of ten from 1e-330 to 1e310 and their neighbours one ulp
either side (the switches to exponent notation at 1e-4 and 1e16, JavaScript's own switch at 1e21);
integers around 1e15..1e17 and 2^53; subnormals; float32 values widened to double (the score
files hold exactly these), random and in the typical score range; short decimals such as 1.5e-07;
random 64-bit patterns.

Usage: /usr/bin/python3 tools/make_pyfloat_fixture.py   (run from the repository root; no torch)
"""
import json
import math
import random
import struct
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "io" / "pyfloat.json"


def bits_of(x: float) -> str:
    return struct.pack(">d", x).hex()


def from_bits(b: int) -> float:
    return struct.unpack(">d", b.to_bytes(8, "big"))[0]


def widen_f32(b: int) -> float:
    return struct.unpack(">f", b.to_bytes(4, "big"))[0]


def main() -> None:
    rng = random.Random(20240417)
    patterns: list[int] = []

    def add(x: float) -> None:
        patterns.append(int.from_bytes(struct.pack(">d", x), "big"))

    # Special values, including NaNs with sign bit and payloads (repr prints all as 'nan').
    for x in [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 0.5, 2.0, 10.0, 0.1, 0.2, 0.3]:
        add(x)
    patterns += [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFF4000000000123]
    # Extremes.
    for b in [0x0000000000000001, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF]:
        patterns += [b, b | (1 << 63)]
    # Powers of ten and neighbours.
    for k in range(-330, 311):
        x = float(f"1e{k}")
        for y in [x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)]:
            if math.isfinite(y):
                add(y)
                if k % 7 == 0:
                    add(-y)
    # Multiples near the notation switches.
    for base in [1e-5, 1e-4, 1e15, 1e16, 1e17, 1e20, 1e21, 1e22]:
        for m in [1.5, 2.5, 9.5, 9.999, 9.9999999, 1.0000001, 3.0, 7.0]:
            add(base * m)
            add(-base * m)
    # Integers around 1e15..1e17 and 2^53.
    for c in [10**15, 10**16, 10**17, 2**53, 2**54, 7190, 123456789]:
        for d in range(-4, 5):
            add(float(c + d))
    add(9999999999999998.0)
    add(12345678901234567.0)
    # Subnormals.
    for _ in range(150):
        patterns.append(rng.randrange(1, 1 << 52))
    # float32 values widened to double: random patterns over all exponents (no NaN/inf) ...
    for _ in range(1200):
        while True:
            b = rng.getrandbits(32)
            if (b >> 23) & 0xFF != 0xFF:
                break
        add(widen_f32(b))
    # ... and in the range GraFIQs scores take (about 1e-7 .. 1e7).
    for _ in range(1200):
        x = 10 ** rng.uniform(-7, 7)
        add(widen_f32(int.from_bytes(struct.pack(">f", x), "big")))
    # Short decimals (few significant digits, both notations).
    for _ in range(600):
        digits = rng.randint(1, 6)
        mant = rng.randrange(1, 10**digits)
        exp = rng.randint(-25, 25)
        add(float(f"{mant}e{exp}"))
    # Random 64-bit patterns, mostly finite.
    for _ in range(2500):
        patterns.append(rng.getrandbits(64))

    seen: set[int] = set()
    cases = []
    for b in patterns:
        if b in seen:
            continue
        seen.add(b)
        x = from_bits(b)
        cases.append([f"{b:016x}", repr(x)])
    # Sanity: the bits round-trip and repr reads back to the same double (NaN aside).
    for h, r in cases:
        x = from_bits(int(h, 16))
        assert math.isnan(x) or bits_of(float(r)) == h, (h, r)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join("  " + json.dumps(c) for c in cases)
    text = (
        "{\n"
        + f' "generator": "tools/make_pyfloat_fixture.py",\n'
        + f' "python": {json.dumps(sys.version.split()[0])},\n'
        + ' "format": "cases: [binary64 bits as 16 hex digits, repr(float)]",\n'
        + f' "cases": [\n{lines}\n ]\n'
        + "}\n"
    )
    tmp = OUT.with_name(OUT.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(OUT)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
