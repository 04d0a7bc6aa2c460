/**
 * The library's layering, checked on the import graph of src/ (no GPU needed):
 * - no import cycle between files (type-only imports count: a cycle of types is still a knot);
 * - no file in src/ outside src/cli/ imports from src/cli/: the commands sit at the edge, and
 *   the library (gpu, kernels, graph, weights, image, io, pipeline, eval, reference) never
 *   reaches up into them;
 * - the platform seam: the modules the web page reaches from web/main.ts (bytes only) use no
 *   Deno API and import no `node:` module; files and paths stay on the other side
 *   (io/files.ts, io/score_files.ts, weights/read_file.ts, graph/load_model.ts,
 *   image/read_file.ts, ...).
 *
 * The graph is read from the source text: every static `import ... from "..."`,
 * `export ... from "..."`, side-effect `import "..."` and dynamic `import("...")` with a
 * relative specifier of a .ts file. `npm:`, `node:` and `jsr:` imports, and the WGSL text
 * imports of the kernels, are outside the graph.
 *
 * @module
 */
import { assert, assertEquals } from "./assert.ts";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SRC = join(ROOT, "src");

/** Every .ts file below `dir`, as absolute paths, sorted. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...tsFiles(p));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

// `import X from`, `import type { A, B } from`, `import * as ns from`, `import X, { A } from`,
// `export { A } from`, `export type { A } from`, `export * from`, `export * as ns from`.
const FROM_RE = new RegExp(
  String.raw`(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?` +
    String
      .raw`(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?|[\w$]+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+[\w$]+))?)` +
    String.raw`\s+from\s+["']([^"']+)["']`,
  "g",
);
const BARE_RE = /(?:^|\n)\s*import\s+["']([^"']+)["']/g;
const DYNAMIC_RE = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The relative specifiers a module imports (static, re-exports and dynamic). */
function importSpecifiers(source: string): string[] {
  const specs: string[] = [];
  for (const re of [FROM_RE, BARE_RE, DYNAMIC_RE]) {
    for (const m of source.matchAll(re)) if (m[1].startsWith(".")) specs.push(m[1]);
  }
  return specs;
}

/** The import graph of src/: each file (relative to the repository root) to the files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(SRC)) {
    const deps = importSpecifiers(Deno.readTextFileSync(file))
      .filter((s) => s.endsWith(".ts")) // not the WGSL text imports
      .map((s) => relative(ROOT, join(dirname(file), s)).replaceAll("\\", "/"));
    graph.set(relative(ROOT, file).replaceAll("\\", "/"), [...new Set(deps)].sort());
  }
  return graph;
}

/** The strongly connected components with a cycle (Tarjan), each as one concrete cycle. */
function findCycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(comp);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // One shortest cycle through the first file of each component (breadth-first within it).
  return components.map((comp) => {
    const inComp = new Set(comp);
    const start = [...comp].sort()[0];
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!inComp.has(w)) continue;
        if (w === start) {
          const path = [v];
          while (path[0] !== start) path.unshift(prev.get(path[0])!);
          return [...path, start];
        }
        if (!prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    return [start, start];
  });
}

Deno.test("architecture: the import parser sees the library's imports", () => {
  assertEquals(
    importSpecifiers(
      'import { a,\n  b } from "./x.ts";\nimport type { T } from "../y.ts";\n' +
        'export { c } from "./z.ts";\nexport * from "./w.ts";\nimport * as ns from "./v.ts";\n' +
        'import d, { e } from "./u.ts";\nimport "./t.ts";\nconst m = await import("./s.ts");\n' +
        'import { parseArgs } from "node:util";\n// import { q } from "./commented_out.ts";\n',
    ).sort(),
    [
      "../y.ts",
      "./s.ts",
      "./t.ts",
      "./u.ts",
      "./v.ts",
      "./w.ts",
      "./x.ts",
      "./z.ts",
    ],
  );
  const graph = importGraph();
  assert(graph.size > 20, `only ${graph.size} files found in ${SRC}`);
  const edges = [...graph.values()].reduce((n, d) => n + d.length, 0);
  assert(edges > 40, `only ${edges} imports found in src/: the import parser is broken`);
  for (const [file, deps] of graph) {
    for (const d of deps) assert(graph.has(d), `${file} imports ${d}, which does not exist`);
  }
});

Deno.test("architecture: no import cycle between the files of src/", () => {
  const cycles = findCycles(importGraph());
  assert(
    cycles.length === 0,
    `${cycles.length} import cycle(s) in src/ (move the shared code down a layer):\n` +
      cycles.map((c) => "  " + c.join("\n    -> ")).join("\n"),
  );
});

Deno.test("architecture: only src/cli/ imports src/cli/ (commands sit at the edge)", () => {
  const offending: string[] = [];
  for (const [file, deps] of importGraph()) {
    if (file.startsWith("src/cli/")) continue;
    for (const d of deps) if (d.startsWith("src/cli/")) offending.push(`  ${file} imports ${d}`);
  }
  assert(
    offending.length === 0,
    `library code imports command code (throw a typed error or take a parameter instead):\n` +
      offending.join("\n"),
  );
});

/** The source without comments (block comments, and line comments after code or alone). */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Every .ts module reached from `entry` by relative imports (type-only ones too). */
function reachable(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const s of importSpecifiers(Deno.readTextFileSync(file))) {
      if (s.endsWith(".ts")) visit(join(dirname(file), s));
    }
  };
  visit(entry);
  return [...seen].sort();
}

Deno.test("architecture: the web page's modules use no Deno API and no node: module", () => {
  const files = reachable(join(ROOT, "web", "main.ts"));
  const rel = files.map((f) => relative(ROOT, f).replaceAll("\\", "/"));
  // The page runs the real pipeline: these must be among its modules, not copies.
  for (
    const m of [
      "src/graph/executor.ts",
      "src/kernels/conv3x3_tex.ts",
      "src/kernels/winograd.ts",
      "src/weights/pth.ts",
      "src/image/decode.ts",
      "src/pipeline/score_stream.ts",
      "src/io/scores.ts",
    ]
  ) assert(rel.includes(m), `web/main.ts no longer reaches ${m}`);
  const offending: string[] = [];
  files.forEach((f, i) => {
    const code = withoutComments(Deno.readTextFileSync(f));
    if (/\bDeno\./.test(code)) offending.push(`  ${rel[i]} uses Deno.*`);
    if (/from\s+["']node:/.test(code)) offending.push(`  ${rel[i]} imports a node: module`);
  });
  assert(
    offending.length === 0,
    "modules of the web page reach the platform (move the file or path code to its " +
      "files-side module and pass bytes in):\n" + offending.join("\n"),
  );
});
