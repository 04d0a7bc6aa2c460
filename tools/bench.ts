/**
 * Throughput benchmark: images/s of this project's WebGPU GraFIQs for iresnet50 and iresnet100
 * at several batch sizes on the current adapter, next to the official-equivalent PyTorch loop
 * (batch 1, CPU, 1 and 2 threads, tools/bench_torch.py via Debian's python3-torch) measured in
 * the same run, and the ratio. All five groups are scored (full reverse pass to the image).
 *
 * `deno task bench [--backbones iresnet50,iresnet100] [--batches 1,8,32] [--no-torch]`
 *
 * Weights are random (speed does not depend on values), except that iresnet50 uses the shared
 * reference checkpoint when ../shared is present. Inputs are random in [-1, 1]; the time
 * covers upload, forward, reverse pass, reductions and read-back, not image decoding.
 *
 * @module
 */
import { parseArgs } from "../src/cli/args.ts";
import { Gpu } from "../src/gpu/gpu.ts";
import { Executor } from "../src/graph/executor.ts";
import { buildIResNet, standardIResNet } from "../src/graph/iresnet.ts";
import type { Graph } from "../src/graph/ir.ts";
import { expectedShapes, type GraphWeights } from "../src/graph/weights.ts";
import { mulberry32 } from "../src/eval/edc.ts";

/** Random but sane weights for every tensor of `graph` (BN variances positive). */
export function randomWeights(graph: Graph, seed = 1): GraphWeights {
  const next = mulberry32(seed);
  const rnd = () => next() / 2 ** 32;
  const out: GraphWeights = new Map();
  for (const [key, shape] of expectedShapes(graph)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const fan = shape.length === 4
      ? shape[1] * shape[2] * shape[3]
      : shape.length === 2
      ? shape[1]
      : 1;
    for (let i = 0; i < n; i++) {
      if (key.endsWith("running_var")) v[i] = 0.5 + rnd();
      else if (key.endsWith(".weight") && shape.length === 1) {
        v[i] = 0.8 + 0.4 * rnd();
      } else v[i] = (rnd() * 2 - 1) * Math.sqrt(3 / fan);
    }
    out.set(key, v);
  }
  return out;
}

async function torchBench(backbone: string, threads: number): Promise<number | undefined> {
  try {
    const tool = new URL("./bench_torch.py", import.meta.url).pathname;
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        tool,
        "--backbone",
        backbone,
        "--threads",
        String(threads),
        "--images",
        "4",
        "--warmup",
        "1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) return undefined;
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const rec = JSON.parse(lines[lines.length - 1]);
    return rec.images_per_s as number;
  } catch {
    return undefined;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backbones: { type: "string", default: "iresnet50,iresnet100" },
      batches: { type: "string", default: "1,8,32" },
      "no-torch": { type: "boolean", default: false },
    },
  });
  const gpu = await Gpu.create();
  console.log(`adapter: ${gpu.adapterName}; ${navigator.hardwareConcurrency} CPU threads`);
  const rows: string[] = [];
  for (const name of values.backbones!.split(",")) {
    const graph = buildIResNet(standardIResNet(name));
    const ex = await Executor.create(gpu, graph, randomWeights(graph));
    const per = 3 * 112 * 112;
    const t1 = values["no-torch"] ? undefined : await torchBench(name, 1);
    const t2 = values["no-torch"] ? undefined : await torchBench(name, 2);
    // Warm-up: compiles every pipeline (Mesa caches them on disk afterwards).
    await ex.run(new Float32Array(per), 1);
    for (const b of values.batches!.split(",").map(Number)) {
      const input = new Float32Array(b * per).map(() => Math.random() * 2 - 1);
      // Timed from the first run at this size: planning it costs well under a second, next to
      // minutes of GPU work at iResNet sizes on a software adapter.
      const t0 = performance.now();
      await ex.run(input, b);
      const secs = (performance.now() - t0) / 1000;
      const ips = b / secs;
      const ratio = (t: number | undefined) => (t ? (ips / t).toFixed(2) : "n/a");
      const row = `| ${name} | ${b} | ${ips.toFixed(3)} | ${(secs / b).toFixed(2)} | ` +
        `${t1?.toFixed(2) ?? "n/a"} | ${t2?.toFixed(2) ?? "n/a"} | ${ratio(t1)} | ${ratio(t2)} |`;
      console.log(row);
      rows.push(row);
    }
    ex.destroy();
  }
  console.log(
    "\n| backbone | batch | WebGPU images/s | s/image | PyTorch 1 thread images/s | PyTorch 2 threads images/s | ratio vs 1 thread | ratio vs 2 threads |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
}
