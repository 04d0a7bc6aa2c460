import { jpegCodec } from "./src/image/wasm_codecs.ts";
const FIX = "tests/fixtures/image/";
const exp = Deno.readFileSync(FIX + "expected/no_eoi.jpg.bgr");
const b = Deno.readFileSync(FIX + "synthetic/no_eoi.jpg");
const cmp = (p: Uint8Array) => { let n = 0; for (let i = 0; i < p.length; i += 3) for (let k = 0; k < 3; k++) if (p[i+k] !== exp[i+2-k]) n++; return n; };
const c = await jpegCodec.init();
console.log("fresh", cmp(c.decode(b, 1e9).pixels));
console.log("second", cmp(c.decode(b, 1e9).pixels));
const c2 = await jpegCodec.init();
c2.decode(Deno.readFileSync(FIX + "synthetic/baseline420.jpg"), 1e9);
console.log("after other", cmp(c2.decode(b, 1e9).pixels));
const p = c.decode(b, 1e9).pixels;
const rows = new Set<number>(); let ex: string[] = [];
for (let i = 0; i < p.length; i += 3) for (let k = 0; k < 3; k++) if (p[i+k] !== exp[i+2-k]) { rows.add(Math.floor(i / 3 / 48)); if (ex.length < 6) ex.push(`${i/3%48},${Math.floor(i/3/48)}:${p[i+k]} vs ${exp[i+2-k]}`); }
console.log([...rows], ex);
const cv = Deno.readFileSync("/tmp/jt/cv/tests_fixtures_image_synthetic_no_eoi.jpg.bgr");
let d = 0; for (let i = 0; i < cv.length; i++) if (cv[i] !== exp[i]) d++; console.log("old cv dump vs expected", d);
