/**
 * Tests of src/io/image_list.ts, the `--image-list` format: comments, blank lines, Windows line
 * ends, duplicates (by pathlib's normalisation), and the refusals. Expected values are written
 * out by hand from the format's rules; comparisons are exact.
 */
import { assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { MAX_LIST_LINE_CHARS, parseImageList, readImageList } from "../src/io/image_list.ts";

Deno.test("image list: comments, blanks, CRLF and surrounding blanks are dropped", () => {
  const text = "# header\n  a.jpg  \r\n\n   \t\n  # indented comment\nsub dir/b c.png\r\nz.jpg";
  const list = parseImageList(text, "l.txt");
  assertEquals(list.paths, ["a.jpg", "sub dir/b c.png", "z.jpg"]);
  assertEquals(list.lines, [2, 6, 7]);
  assertEquals(list.duplicates, []);
});

Deno.test("image list: a path listed again is kept once, at its first place, and reported", () => {
  const text = "b.jpg\n./a.jpg\nx//c.jpg\na.jpg\nx/c.jpg\n./a.jpg\nb.jpg\n";
  const list = parseImageList(text, "l.txt");
  assertEquals(list.paths, ["b.jpg", "./a.jpg", "x//c.jpg"]);
  assertEquals(list.lines, [1, 2, 3]);
  assertEquals(list.duplicates, [
    { path: "b.jpg", firstLine: 1, laterLines: [7] },
    { path: "./a.jpg", firstLine: 2, laterLines: [4, 6] },
    { path: "x//c.jpg", firstLine: 3, laterLines: [5] },
  ]);
});

Deno.test("image list: an empty list or one of comments only has no paths", () => {
  assertEquals(parseImageList("", "l").paths, []);
  assertEquals(parseImageList("# nothing\n\n", "l").paths, []);
});

Deno.test("image list: NUL and over-long paths are refused with file and line", () => {
  assertThrows(() => parseImageList("a.jpg\nb\0.jpg\n", "l.txt"), /^Error: l\.txt:2: .*NUL/);
  const long = "x".repeat(MAX_LIST_LINE_CHARS + 1);
  assertThrows(() => parseImageList(`# c\n${long}\n`, "l.txt"), /l\.txt:2: .*4097 characters/);
  assertEquals(parseImageList("x".repeat(MAX_LIST_LINE_CHARS), "l").paths.length, 1);
});

Deno.test("image list file: UTF-8 BOM dropped; bad UTF-8, missing file, directory, size cap refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ok = `${dir}/ok.txt`;
    await Deno.writeFile(
      ok,
      new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("é.jpg\n")]),
    );
    assertEquals((await readImageList(ok)).paths, ["é.jpg"]);
    const bad = `${dir}/bad.txt`;
    await Deno.writeFile(bad, new Uint8Array([0x61, 0xff, 0x0a]));
    await assertRejects(() => readImageList(bad), /bad\.txt: the image list is not valid UTF-8/);
    await assertRejects(() => readImageList(`${dir}/none.txt`), /none\.txt: no such file/);
    await assertRejects(() => readImageList(dir), /: is a directory/);
    await assertRejects(
      () => readImageList(ok, 4),
      /ok\.txt: the image list is 10 bytes, over the 4/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
