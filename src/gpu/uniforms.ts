/**
 * Named uniform blocks: each kernel declares its WGSL `struct Params` once, as an ordered list
 * of named, typed fields, and every dispatch passes an object keyed by those names. One packer
 * turns that object into the bytes of the struct, so no call site has to repeat the field order
 * by hand, and a role swap (passing one quantity in the slot named for another) stays visible.
 *
 * The declaration is also checked against the shader text ({@link paramsMismatch}): by
 * tests/uniforms_test.ts for every kernel, and by `Gpu.pipeline` (gpu.ts) before a shader is
 * compiled.
 *
 * @module
 */

/**
 * WGSL scalar types a uniform field may have. Each is 4 bytes with 4-byte alignment, so fields
 * lie at 4-byte steps in declaration order with no padding between them.
 */
export type UniformType = "u32" | "i32" | "f32";

/** One field of a uniform struct: its WGSL name and type. */
export type UniformField = readonly [name: string, type: UniformType];

/** A uniform struct declaration: its fields in WGSL declaration order. */
export type UniformStruct = readonly UniformField[];

/**
 * The values a dispatch passes for the struct `S`: exactly one number per declared field,
 * keyed by field name (u32/i32 fields take integers, f32 fields any non-NaN number).
 *
 * @example
 * ```ts
 * const P = [["len", "u32"], ["coef", "f32"]] as const;
 * const v: UniformValues<typeof P> = { len: 12, coef: 0.5 };
 * ```
 */
export type UniformValues<S extends UniformStruct> = {
  readonly [F in S[number] as F[0]]: number;
};

const RANGE: Record<"u32" | "i32", [number, number]> = {
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

/** Byte size and alignment of each supported WGSL type (WGSL spec, "Alignment and Size"). */
const SIZE_ALIGN: Record<UniformType, { size: number; align: number }> = {
  u32: { size: 4, align: 4 },
  i32: { size: 4, align: 4 },
  f32: { size: 4, align: 4 },
};

function roundUp(k: number, n: number): number {
  return Math.ceil(n / k) * k;
}

const layouts = new WeakMap<UniformStruct, { offsets: number[]; size: number }>();

/**
 * Byte offset of each field of `struct` (kernel `kernel`, named in errors) and the size of the
 * slot that holds it. Each field lies at the next multiple of its WGSL alignment after the one
 * before; the slot is the struct's end rounded up to 16 bytes, which covers the struct's size
 * (its end rounded up to its largest alignment) for every supported type.
 *
 * @throws {RangeError} for a field of an unsupported type or a repeated name.
 */
export function uniformLayout(
  kernel: string,
  struct: UniformStruct,
): { offsets: number[]; size: number } {
  const known = layouts.get(struct);
  if (known) return known;
  const seen = new Set<string>();
  const offsets: number[] = [];
  let end = 0;
  for (const [name, type] of struct) {
    const t = SIZE_ALIGN[type];
    if (!t) throw new RangeError(`Kernel ${kernel}: uniform field ${name} has type ${type}`);
    if (seen.has(name)) throw new RangeError(`Kernel ${kernel}: uniform field ${name} repeats`);
    seen.add(name);
    const at = roundUp(t.align, end);
    offsets.push(at);
    end = at + t.size;
  }
  const layout = { offsets, size: roundUp(16, Math.max(end, 4)) };
  layouts.set(struct, layout);
  return layout;
}

/**
 * Pack `values` into the bytes of the uniform struct `struct` of kernel `kernel`
 * (little-endian, laid out by {@link uniformLayout}).
 *
 * @param kernel kernel name, for error messages
 * @param struct the kernel's declaration of its `struct Params`
 * @param values one number per declared field, keyed by name
 * @returns a buffer of the slot size (a multiple of 16 bytes)
 * @throws {RangeError} naming the kernel and field when a declared field is missing, a field
 *   is not declared, a u32/i32 value is not an integer in that type's range, or an f32 value
 *   is not a number or is NaN.
 * @example
 * ```ts
 * const bytes = packUniforms("abs_sum", [["len", "u32"], ["stride", "u32"]], {
 *   len: 512,
 *   stride: 4,
 * });
 * // bytes.byteLength === 16
 * ```
 */
export function packUniforms<S extends UniformStruct>(
  kernel: string,
  struct: S,
  values: UniformValues<S>,
): ArrayBuffer {
  const given = values as Readonly<Record<string, unknown>>;
  const declared = new Set(struct.map(([name]) => name));
  for (const name of Object.keys(given)) {
    if (!declared.has(name)) {
      throw new RangeError(
        `Kernel ${kernel}: uniform field ${name} is not declared in its Params ` +
          `(${[...declared].join(", ")})`,
      );
    }
  }
  const { offsets, size } = uniformLayout(kernel, struct);
  const buf = new ArrayBuffer(size);
  const dv = new DataView(buf);
  struct.forEach(([name, type], i) => {
    if (!Object.hasOwn(given, name)) {
      throw new RangeError(`Kernel ${kernel}: uniform field ${name} (${type}) is not given`);
    }
    const v = given[name];
    if (typeof v !== "number") {
      throw new RangeError(`Kernel ${kernel}: uniform field ${name} is not a number: ${v}`);
    }
    if (type === "f32") {
      if (Number.isNaN(v)) throw new RangeError(`Kernel ${kernel}: uniform field ${name} is NaN`);
      dv.setFloat32(offsets[i], v, true);
      return;
    }
    const [lo, hi] = RANGE[type];
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new RangeError(
        `Kernel ${kernel}: uniform field ${name} is ${v}, not an integer in ${type} range ` +
          `${lo}..${hi}`,
      );
    }
    if (type === "u32") dv.setUint32(offsets[i], v, true);
    else dv.setInt32(offsets[i], v, true);
  });
  return buf;
}

/**
 * The fields of `struct Params { ... }` in WGSL source `code`, in order, with their types as
 * written (comments stripped). Only plain `name: type` members are recognised; an attribute
 * such as `@align(16)` is kept in the name so a comparison with a declaration fails.
 *
 * @throws {Error} when the code has no `struct Params` or a member cannot be read.
 */
export function parseWgslParams(code: string): { name: string; type: string }[] {
  const noComments = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const m = /\bstruct\s+Params\s*\{([^}]*)\}/.exec(noComments);
  if (!m) throw new Error("WGSL code has no `struct Params { ... }`");
  const members = m[1].split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  return members.map((member) => {
    const f = /^([^:]+?)\s*:\s*(.+)$/s.exec(member);
    if (!f) throw new Error(`Cannot read struct Params member "${member}"`);
    return { name: f[1].trim(), type: f[2].replace(/\s+/g, "") };
  });
}

/**
 * Compare a kernel's uniform declaration with the `struct Params` of its WGSL code.
 *
 * @returns undefined when names, order and types agree; otherwise a message naming the kernel
 *   and the first difference.
 */
export function paramsMismatch(
  kernel: string,
  struct: UniformStruct,
  code: string,
): string | undefined {
  let wgsl: { name: string; type: string }[];
  try {
    wgsl = parseWgslParams(code);
  } catch (e) {
    return `Kernel ${kernel}: ${(e as Error).message}`;
  }
  const n = Math.max(wgsl.length, struct.length);
  for (let i = 0; i < n; i++) {
    const w = wgsl[i];
    const d = struct[i];
    const ws = w ? `${w.name}: ${w.type}` : "nothing";
    const ds = d ? `${d[0]}: ${d[1]}` : "nothing";
    if (ws !== ds) {
      return `Kernel ${kernel}: struct Params field ${i} is ${ws} in the WGSL code but ${ds} ` +
        "in the kernel's declaration";
    }
  }
  return undefined;
}
