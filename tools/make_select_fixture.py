#!/usr/bin/python3
"""Write tests/fixtures/io/select.json: pathlib's image selection on a tricky directory layout.

The official GraFIQs code selects images with `sorted(Path(DIR).glob("*." + ext))` and prints
`str(path)`. This script builds a layout in a temp directory ROOT (names with spaces, a tab and a
line feed, dot-files, NFC and NFD umlauts, private-use, replacement and astral-plane characters,
upper-case and longer extensions, a directory named d.jpg, symlinks to a file, to a directory and
to nowhere), runs the selection for many DIR spellings and extensions, and records:

- "layout": the entries to recreate, in creation order: {"path", "type": file|dir|symlink,
  "target" (symlinks)}; paths are relative to ROOT, "/"-separated;
- "glob": [{"cwd", "dir", "ext", "expected"}] with expected = [str(p) for p in
  sorted(Path(dir).glob("*." + ext))] run with the working directory ROOT/cwd;
- "recursive": [{"cwd", "dir", "exts", "expected"}] for the project's --recursive mode, whose
  reference here is os.walk(dir) (no symlinked directories followed), non-directory entries
  whose name.lower() ends in "." + ext.lower() for some ext, as sorted(Path objects).

- "normalize": [[text, str(PurePosixPath(text))]] for DIR spellings;
- "sort": [strings, [str(p) for p in sorted(map(PurePosixPath, strings))]];
- "replace": [[s, a, b, s.replace(a, b)]], the official --path-replace operation.

Absolute paths are written with the placeholder {ROOT}, which the Deno test replaces by its own
temp directory. Run: /usr/bin/python3 tools/make_select_fixture.py (repository root; no torch).
"""
import json
import os
import sys
import tempfile
from pathlib import Path, PurePosixPath

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "io" / "select.json"

LAYOUT = [
    {"path": "top.jpg", "type": "file"},
    {"path": "imgs", "type": "dir"},
    *[
        {"path": "imgs/" + n, "type": "file"}
        for n in [
            "a.jpg", "b.jpg", "B.jpg", ".hidden.jpg", ".jpg", "sp ace.jpg", "x.JPG", "y.jpgx",
            "z.jpg.png", "\u00fc.jpg", "u\u0308.jpg", "\ue000.jpg", "\ufffd.jpg",
            "\U0001F600.jpg", "\U0001D538.jpg", "a-b.jpg", "a.b.jpg", "tab\t.jpg", "nl\nx.jpg",
            "dot.", "c.png", "D.PNG", "10.jpg", "9.jpg", "[x].jpg", "q.Jpeg", "jpg", "trail.jpg ",
        ]
    ],
    {"path": "imgs/d.jpg", "type": "dir"},
    {"path": "imgs/d.jpg/inner.jpg", "type": "file"},
    {"path": "imgs/e.JPG", "type": "dir"},
    {"path": "imgs/e.JPG/in.png", "type": "file"},
    {"path": "imgs/sub", "type": "dir"},
    {"path": "imgs/sub/c.JPG", "type": "file"},
    {"path": "imgs/sub/deeper", "type": "dir"},
    {"path": "imgs/sub/deeper/e.Jpeg", "type": "file"},
    {"path": "imgs/sub/deeper/f.jpg", "type": "file"},
    {"path": "imgs/a", "type": "dir"},
    {"path": "imgs/a/x.jpg", "type": "file"},
    {"path": "imgs/a-b", "type": "dir"},
    {"path": "imgs/a-b/x.jpg", "type": "file"},
    {"path": "imgs/\U0001F600", "type": "dir"},
    {"path": "imgs/\U0001F600/s.jpg", "type": "file"},
    {"path": "imgs/\ue000", "type": "dir"},
    {"path": "imgs/\ue000/p.jpg", "type": "file"},
    {"path": "imgs/.hid", "type": "dir"},
    {"path": "imgs/.hid/h.png", "type": "file"},
    {"path": "imgs/link.jpg", "type": "symlink", "target": "a.jpg"},
    {"path": "imgs/broken.jpg", "type": "symlink", "target": "nowhere"},
    {"path": "imgs/linkdir", "type": "symlink", "target": "sub"},
    {"path": "imgs/linkdir.jpg", "type": "symlink", "target": "sub"},
]

GLOB = [
    # (cwd relative to ROOT, DIR, ext); DIR may use {ROOT}.
    ("", "imgs", "jpg"),
    ("", "./imgs/", "jpg"),
    ("", "imgs//", "jpg"),
    ("", ".//imgs/./", "jpg"),
    ("", "imgs/sub/..", "jpg"),
    ("", "{ROOT}/imgs", "jpg"),
    ("", "{ROOT}//imgs/", "jpg"),
    ("", "/{ROOT}/imgs", "jpg"),
    ("", "//{ROOT}/imgs", "jpg"),
    ("", ".", "jpg"),
    ("imgs", ".", "jpg"),
    ("imgs", "", "jpg"),
    ("imgs", "./", "JPG"),
    ("imgs", ".", "png"),
    ("imgs", ".", "PNG"),
    ("imgs", ".", ""),
    ("imgs", ".", "jpg.png"),
    ("imgs", ".", "Jpeg"),
    ("imgs", ".", "jpg "),
    ("imgs", "..", "jpg"),
    ("imgs", "sub", "JPG"),
    ("imgs", "sub/deeper", "jpg"),
    ("imgs", "linkdir", "JPG"),
    ("imgs", "\U0001F600", "jpg"),
]

RECURSIVE = [
    ("", "imgs", ["jpg"]),
    ("imgs", ".", ["jpg", "png", "jpeg"]),
    ("", "{ROOT}/imgs", ["JPG"]),
    ("", "/{ROOT}/imgs/", ["png"]),
    ("imgs", "sub", ["JPEG", "jpg"]),
]


NORMALIZE = [
    "", ".", "./", "..", "./a//b/", "a/./b/.", "./../x", "a/..", "//x", "///x", "////x/y//",
    "/", "//", "///", "/./a", "//./a", "a//", "a b/ c", ".hidden/", "...", "a/.../b",
]

# SORT has no "" (i.e. ".") and no "//" root: CPython 3.12 sorts by the text split on "/", where
# 3.10, 3.11 and 3.13 compare the parts list (root "/" or "//" first, "." has no parts). Listings
# never mix roots or hold ".", so the difference does not matter.
SORT = [
    "b", "a", "B", "a-b", "a/b", "a-b/c", "a/c", "a.b", "\ue000", "\U0001F600", "\ufffd",
    "\U0001D538", "a/\U0001F600", "a/\ue000", "\u00fc", "u\u0308", "10", "9", "a/b/c",
    "/x", "/a/b", "aa", "a\U0001F600b", "a\ue000b", "a\U00010000", "a\uffff",
]

REPLACE = [
    ("imgs/a.jpg", "imgs/", "/data/"),
    ("imgs/imgs/a.jpg", "imgs", "x"),
    ("aaa", "aa", "b"),
    ("aaaa", "aa", "b"),
    ("abc", "", "-"),
    ("", "", "-"),
    ("", "a", "-"),
    ("a\U0001F600b", "", "|"),
    ("x\U0001F600y\U0001F600", "\U0001F600", "$&"),
    ("p/q", "/", "$1$$"),
    ("abc", "abc", ""),
    ("abc", "abcd", "z"),
    ("a.jpg", ".", ".."),
]


def build(root: Path) -> None:
    for e in LAYOUT:
        p = root / e["path"]
        if e["type"] == "dir":
            p.mkdir()
        elif e["type"] == "file":
            p.write_bytes(b"not an image\n")
        else:
            os.symlink(e["target"], p)


def walk(d: str, exts: list[str]) -> list[str]:
    suffixes = ["." + x.lower() for x in exts]
    out = []
    for dirpath, _dirnames, filenames in os.walk(d):
        for n in filenames:
            if any(n.lower().endswith(s) for s in suffixes):
                out.append(Path(dirpath) / n)
    return [str(p) for p in sorted(out)]


def main() -> None:
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rs = str(root)
        assert "{" not in rs and "//" not in rs and rs.startswith("/") and not rs.endswith("/")
        build(root)

        def sub(s: str) -> str:
            return s.replace("{ROOT}", rs)

        def unsub(s: str) -> str:
            return s.replace(rs, "{ROOT}")

        glob_cases = []
        for cwd, d, ext in GLOB:
            os.chdir(root / cwd)
            got = [unsub(str(p)) for p in sorted(Path(sub(d)).glob("*." + ext))]
            glob_cases.append({"cwd": cwd, "dir": d, "ext": ext, "expected": got})
        rec_cases = []
        for cwd, d, exts in RECURSIVE:
            os.chdir(root / cwd)
            got = [unsub(p) for p in walk(sub(d), exts)]
            rec_cases.append({"cwd": cwd, "dir": d, "exts": exts, "expected": got})
        os.chdir(old_cwd)

    normalize = [[t, str(PurePosixPath(t))] for t in NORMALIZE]
    sort = [SORT, [str(p) for p in sorted(map(PurePosixPath, SORT))]]
    replace = [[a, b, c, a.replace(b, c)] for a, b, c in REPLACE]
    doc = {
        "generator": "tools/make_select_fixture.py",
        "python": sys.version.split()[0],
        "layout": LAYOUT,
        "glob": glob_cases,
        "recursive": rec_cases,
        "normalize": normalize,
        "sort": sort,
        "replace": replace,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = OUT.with_name(OUT.name + ".tmp")
    tmp_out.write_text(json.dumps(doc, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    tmp_out.replace(OUT)
    print(f"wrote {len(glob_cases)} glob and {len(rec_cases)} recursive cases to {OUT}")


if __name__ == "__main__":
    main()
