/**
 * Named uniforms (src/gpu/uniforms.ts), no GPU needed: every kernel's Params declaration
 * matches the `struct Params` of its WGSL code (names, order, types), every shader in shaders/
 * has a kernel, and the packer lays fields out as WGSL does and rejects missing, unknown and
 * out-of-range fields.
 */
import { assert, assertEquals } from "./assert.ts";
import type { KernelSource } from "../src/gpu/gpu.ts";
import {
  packUniforms,
  paramsMismatch,
  parseWgslParams,
  uniformLayout,
  type UniformStruct,
} from "../src/gpu/uniforms.ts";
import * as batchnorm from "../src/kernels/batchnorm.ts";
import * as conv2d from "../src/kernels/conv2d.ts";
import * as conv3x3Tex from "../src/kernels/conv3x3_tex.ts";
import * as winograd from "../src/kernels/winograd.ts";
import * as convTiled from "../src/kernels/conv_tiled.ts";
import * as depthwise from "../src/kernels/depthwise.ts";
import * as reduce from "../src/kernels/reduce.ts";

/** The kernel modules. */
const MODULES = [batchnorm, conv2d, conv3x3Tex, convTiled, depthwise, reduce, winograd];

/** Every exported KernelSource of the kernel modules (found by shape, so new ones count). */
const KERNELS: KernelSource[] = MODULES.flatMap((m) =>
  Object.values(m).filter((v): v is KernelSource =>
    typeof v === "object" && v !== null && "code" in v && "params" in v && "bindings" in v
  )
);

function throwsRange(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert(e instanceof RangeError, `expected a RangeError, got ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("uniforms: every shader in shaders/ has exactly one kernel", async () => {
  const dir = new URL("../shaders/", import.meta.url);
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".wgsl")) files.push(e.name);
  assertEquals(KERNELS.length, files.length, `kernels: ${KERNELS.map((k) => k.name)}`);
  for (const f of files) {
    const code = await Deno.readTextFile(new URL(f, dir));
    const users = KERNELS.filter((k) => k.code === code).map((k) => k.name);
    assertEquals(users.length, 1, `shaders/${f} is the code of kernels [${users}]`);
  }
});

for (const k of KERNELS) {
  Deno.test(`uniforms: ${k.name} declares its WGSL struct Params field by field`, () => {
    const wgsl = parseWgslParams(k.code);
    const declared = k.params.map(([name, type]) => ({ name, type }));
    assertEquals(declared, wgsl, `kernel ${k.name}: declaration vs shader struct Params`);
    assertEquals(paramsMismatch(k.name, k.params, k.code), undefined);
    assertEquals(k.bindings[0], "uniform", `kernel ${k.name}: binding 0 holds the Params`);
    assert(
      /@group\(0\)\s*@binding\(0\)\s*var<uniform>\s*\w+\s*:\s*Params\s*;/.test(k.code),
      `kernel ${k.name}: Params is not bound at group 0, binding 0`,
    );
  });
}

Deno.test("uniforms: a renamed, reordered, retyped or added field is a mismatch", () => {
  const k = conv2d.CONV2D;
  const renamed = k.code.replace(/(struct Params \{[^}]*?)\bcin: u32/, "$1c_in: u32");
  const reordered = k.code.replace(
    /(struct Params \{[^}]*?)(hin: u32,)(\s*)(win: u32,)/,
    "$1$4$3$2",
  );
  const retyped = k.code.replace(/(struct Params \{[^}]*?)\bfold: u32/, "$1fold: i32");
  const added = k.code.replace(/(struct Params \{[^}]*?)(c1: u32,)/, "$1$2\n  extra: u32,");
  for (
    const [what, code, field] of [
      ["renamed", renamed, 1],
      ["reordered", reordered, 2],
      ["retyped", retyped, 10],
      ["added", added, 13],
    ] as const
  ) {
    assert(code !== k.code, `the ${what} edit did not apply`);
    const m = paramsMismatch(k.name, k.params, code);
    assert(m !== undefined, `${what} field not detected`);
    assert.match(m, new RegExp(`^Kernel conv2d: struct Params field ${field} `));
  }
  assert.match(
    paramsMismatch("x", k.params, "fn main() {}") ?? "",
    /Kernel x: WGSL code has no `struct Params/,
  );
});

Deno.test("uniforms: parseWgslParams reads members with comments and odd spacing", () => {
  const code = `
    /* struct Params { fake: u32 } */
    struct Params {
      a : u32, // first, with a comment: b: f32
      b:f32,
      c: vec4<f32>
    }`;
  assertEquals(parseWgslParams(code), [
    { name: "a", type: "u32" },
    { name: "b", type: "f32" },
    { name: "c", type: "vec4<f32>" },
  ]);
});

Deno.test("uniforms: fields are packed little-endian in declaration order, 16-byte slots", () => {
  // The bytes the 1x1 kernel's input gradient wrote before named uniforms (conv2d_test "dconv").
  const bytes = packUniforms("conv1x1", conv2d.CONV1X1.params, {
    fold: 1,
    total: 8,
    co4: 4,
    nblk: 4,
    plane: 60,
    cout: 13,
    cin: 20,
    n: 2,
  });
  const hex = [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
  assertEquals(hex, "02000000140000000d0000003c00000004000000040000000800000001000000");

  const mixed = [["u", "u32"], ["i", "i32"], ["f", "f32"], ["g", "f32"], ["v", "u32"]] as const;
  const dv = new DataView(
    packUniforms("mixed", mixed, { u: 0xffffffff, i: -2, f: 0.1, g: -Infinity, v: 7 }),
  );
  assertEquals(dv.byteLength, 32);
  assertEquals(dv.getUint32(0, true), 0xffffffff);
  assertEquals(dv.getInt32(4, true), -2);
  assertEquals(dv.getFloat32(8, true), Math.fround(0.1));
  assertEquals(dv.getFloat32(12, true), -Infinity);
  assertEquals(dv.getUint32(16, true), 7);
  assertEquals([...new Uint8Array(dv.buffer, 20)], new Array(12).fill(0));

  const sizes = [1, 3, 4, 5, 8, 13].map((n) => {
    const s: UniformStruct = Array.from({ length: n }, (_, i) => [`f${i}`, "u32"] as const);
    return uniformLayout("sizes", s).size;
  });
  assertEquals(sizes, [16, 16, 16, 32, 32, 64]);
});

Deno.test("uniforms: missing, unknown and out-of-range fields are RangeErrors naming both", () => {
  const s = [["len", "u32"], ["off", "i32"], ["coef", "f32"]] as const;
  const ok = { len: 1, off: -1, coef: 0.5 };
  const pack = (v: Record<string, unknown>) =>
    packUniforms("demo", s, v as { len: number; off: number; coef: number });
  pack(ok);
  throwsRange(
    () => pack({ len: 1, coef: 0.5 }),
    /Kernel demo: uniform field off \(i32\) is not given/,
  );
  throwsRange(() => pack({ ...ok, cin: 3 }), /Kernel demo: uniform field cin is not declared/);
  throwsRange(
    () => pack({ ...ok, len: -1 }),
    /Kernel demo: uniform field len is -1, not an integer in u32 range 0\.\.4294967295$/,
  );
  throwsRange(() => pack({ ...ok, len: 1.5 }), /uniform field len is 1\.5, not an integer in u32/);
  throwsRange(() => pack({ ...ok, len: 2 ** 32 }), /field len is 4294967296, not an integer/);
  throwsRange(
    () => pack({ ...ok, off: 2 ** 31 }),
    /field off is 2147483648, not an integer in i32/,
  );
  throwsRange(() => pack({ ...ok, off: -(2 ** 31) - 1 }), /range -2147483648\.\.2147483647/);
  throwsRange(() => pack({ ...ok, coef: NaN }), /Kernel demo: uniform field coef is NaN/);
  throwsRange(() => pack({ ...ok, len: "1" }), /Kernel demo: uniform field len is not a number/);
  throwsRange(
    () => uniformLayout("dup", [["a", "u32"], ["a", "u32"]]),
    /Kernel dup: uniform field a repeats/,
  );
  pack({ ...ok, len: 2 ** 32 - 1, off: -(2 ** 31) });
});
