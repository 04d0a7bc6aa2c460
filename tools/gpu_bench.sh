#!/usr/bin/env bash
# GPU benchmark against the official CUDA code, for an offline Linux machine with an NVIDIA GPU,
# its Vulkan driver and CUDA PyTorch (issue 14). It fetches nothing.
#
# Inputs: this copy of the project (for tools/*.py), a deno binary (plain or zstd-compressed),
# and the project's bundle (`deno task bundle` -> dist/grafiqs.js, every npm package inlined).
#
#   tools/gpu_bench.sh --deno deno.zst --bundle grafiqs.js [--python /usr/bin/python3]
#       [--backbones iresnet50,iresnet100] [--batches 1,32,max] [--images 1024]
#       [--official-images 256] [--kernels auto] [--work DIR] [--peak-tflops X]
#   tools/gpu_bench.sh --dry-run        # CPU torch + the local adapter (llvmpipe), tiny sizes
#
# Steps, per backbone:
#   1. synthetic 112x112 PNGs (tools/gpu_bench.py images), shared by both implementations;
#   2. calibrated random weights with PyTorch (gpu_bench.py weights: seeded random iResNet, BN
#      running statistics recomputed from its own activations), one .pth both load;
#   3. the official algorithm on CUDA as released: batch 1, whole process and loop
#      (gpu_bench.py official), on the first --official-images images;
#   4. ours (deno run -A BUNDLE, the main command) on all --images images at each batch size;
#      "max" tries 256, 128, 64, 32 and keeps the first that runs (the largest that fits);
#   5. the tiled convolution kernels alone per iResNet layer shape, GFLOP/s at batch 32 and 256
#      (tools/bench_kernels.ts, from the project copy);
#   6. one table (gpu_bench.py table): images/s and the ratio to the official loop, GFLOP/s
#      and % of fp32 peak, max relative score error against the official CUDA outputs (on the
#      images both scored), peak GPU memory (ours: nvidia-smi's per-process figure, polled
#      every 100 ms; official: torch.cuda.max_memory_allocated, which leaves out the CUDA
#      context).
# Our images/s is the main command's own figure: every image decoded, scored and written,
# first batch (shader compilation) included.
#
# Budget: under 8 minutes on an H100/H200-class GPU with the defaults.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DENO_IN=""
BUNDLE=""
PYTHON="/usr/bin/python3"
BACKBONES="iresnet50,iresnet100"
BATCHES="1,32,max"
IMAGES=1024
OFFICIAL_IMAGES=256
KERNELS="auto"
WORK=""
PEAK=""
DRY=0
DEVICE="cuda"

usage() { sed -n '2,/^# Budget/p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --deno) DENO_IN="$2"; shift 2 ;;
    --bundle) BUNDLE="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    --backbones) BACKBONES="$2"; shift 2 ;;
    --batches) BATCHES="$2"; shift 2 ;;
    --images) IMAGES="$2"; shift 2 ;;
    --official-images) OFFICIAL_IMAGES="$2"; shift 2 ;;
    --kernels) KERNELS="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --peak-tflops) PEAK="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "gpu_bench.sh: unknown option $1" >&2; usage 2 >&2 ;;
  esac
done

if [ "$DRY" = 1 ]; then
  # Everything small, on the CPU build of torch and whatever adapter WebGPU finds (llvmpipe in
  # CI), the tiled family forced so that its kernels run end to end.
  DEVICE="cpu"
  BACKBONES="${BACKBONES/iresnet50,iresnet100/iresnet18}"
  BATCHES="1,2"
  IMAGES=2
  OFFICIAL_IMAGES=2
  KERNELS="tiled"
fi

[ -n "$WORK" ] || WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_bench.XXXXXX")"
mkdir -p "$WORK"
RUNS="$WORK/runs.jsonl"
: > "$RUNS"

# The deno binary: a .zst is decompressed into WORK; default: deno on PATH.
if [ -z "$DENO_IN" ]; then
  DENO="$(command -v deno || true)"
  [ -n "$DENO" ] || { echo "gpu_bench.sh: no deno on PATH; pass --deno FILE[.zst]" >&2; exit 2; }
elif [[ "$DENO_IN" == *.zst ]]; then
  DENO="$WORK/deno"
  zstd -q -d -f "$DENO_IN" -o "$DENO"
  chmod +x "$DENO"
else
  DENO="$DENO_IN"
fi
# Our command: the bundle; without one (development), the project's mod.ts.
if [ -n "$BUNDLE" ]; then
  OURS=("$DENO" run -A "$BUNDLE")
else
  OURS=("$DENO" run -A "$HERE/../mod.ts")
fi
[ "$DEVICE" = cpu ] || export DENO_WEBGPU_BACKEND="${DENO_WEBGPU_BACKEND:-vulkan}"

log() { echo "gpu_bench: $*" >&2; }

# Peak memory (MiB) nvidia-smi saw for process $1 while it ran: a poller writes samples to $2.
start_mem_poll() {
  if command -v nvidia-smi > /dev/null && [ "$DEVICE" != cpu ]; then
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits -lms 100 \
      > "$1" 2> /dev/null &
    echo $!
  else
    echo ""
  fi
}
peak_mem() { # $1 samples file, $2 pid
  awk -F', *' -v pid="$2" '$1 == pid && $2 + 0 > m { m = $2 + 0 } END { print (m ? m : "null") }' \
    "$1" 2> /dev/null || echo null
}

"$PYTHON" "$HERE/gpu_bench.py" images --out "$WORK/images" --count "$IMAGES"
mkdir -p "$WORK/official_images"
ls "$WORK/images" | sort | head -n "$OFFICIAL_IMAGES" | while read -r f; do
  ln -sf "$WORK/images/$f" "$WORK/official_images/$f"
done

IFS=',' read -r -a BBS <<< "$BACKBONES"
IFS=',' read -r -a BATCH_LIST <<< "$BATCHES"
for bb in "${BBS[@]}"; do
  W="$WORK/$bb.pth"
  log "$bb: calibrated random weights"
  "$PYTHON" "$HERE/gpu_bench.py" weights --backbone "$bb" --out "$W" --calib "$WORK/images" \
    --device "$DEVICE"
  log "$bb: official algorithm, batch 1 ($DEVICE)"
  "$PYTHON" "$HERE/gpu_bench.py" official --backbone "$bb" --weights "$W" \
    --image-path "$WORK/official_images" --output-dir "$WORK/official_$bb" --device "$DEVICE" \
    --json "$RUNS" > /dev/null
  for b in "${BATCH_LIST[@]}"; do
    if [ "$b" = max ]; then tries=(256 128 64 32); else tries=("$b"); fi
    for t in "${tries[@]}"; do
      out="$WORK/ours_${bb}_$t"
      mem="$WORK/mem_ours_${bb}_$t.csv"
      log "$bb: ours, batch $t, --kernels $KERNELS"
      poller="$(start_mem_poll "$mem")"
      t0=$(date +%s.%N)
      set +e
      "${OURS[@]}" --image-path "$WORK/images" --image-extension png --weights "$W" \
        --backbone "$bb" --output-dir "$out" --batch-size "$t" --kernels "$KERNELS" \
        2> "$out.stderr" &
      pid=$!
      wait "$pid"
      rc=$?
      set -e
      t1=$(date +%s.%N)
      [ -z "$poller" ] || kill "$poller" 2> /dev/null || true
      grep -v XDG_RUNTIME_DIR "$out.stderr" | grep '^grafiqs: ' >&2 || true
      if [ "$rc" != 0 ]; then
        log "$bb: batch $t failed (exit $rc); see $out.stderr"
        continue
      fi
      # "grafiqs: ..., batch B, adapter NAME, kernels F" and "scored N images in S s (R images/s)"
      line="$(grep -m1 ', kernels ' "$out.stderr")"
      ran="$(sed -E 's/.*, batch ([0-9]+), .*/\1/' <<< "$line")"
      fam="$(sed -E 's/.*, kernels ([a-z]+).*/\1/' <<< "$line")"
      adapter="$(sed -E 's/.*, adapter (.*), kernels .*/\1/' <<< "$line")"
      # Images/s from "scored N images in S s": the printed rate has two decimals only.
      ips="$(sed -nE 's/.*scored ([0-9]+) images in ([0-9.]+) s.*/\1 \2/p' "$out.stderr" |
        head -n1 | awk '{ printf "%.6g", $1 / $2 }')"
      err="$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import gpu_bench as g; from pathlib import Path; print(g.max_rel_error(Path(sys.argv[2]), Path(sys.argv[3])))' "$HERE" "$out" "$WORK/official_$bb")"
      printf '{"impl": "ours", "backbone": "%s", "batch": %s, "kernels": "%s", "adapter": "%s", "images": %s, "whole_s": %s, "loop_images_per_s": %s, "max_rel_error": %s, "peak_mem_mib": %s}\n' \
        "$bb" "$ran" "$fam" "${adapter//\"/}" "$IMAGES" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$ips" \
        "$(sed 's/^nan$/NaN/' <<< "$err")" "$(peak_mem "$mem" "$pid")" >> "$RUNS"
      break
    done
  done
done

# The tiled convolution kernels alone, per iResNet layer shape (tools/bench_kernels.ts runs from
# the project copy: it needs no npm package), against the fp32 peak in the table's header.
if [ "$DRY" = 1 ]; then
  kargs=(--batch 1 --shapes 64x28,3x56,128x28s2,128x28d --reps 2)
else
  kargs=(--batch 32,256 --reps 10 --shapes \
    64x112,64x56,128x28,256x14,512x7,3x112,64:64x56s2,128x28s2,256x14s2,512x7s2,64:64x56d,128x28d)
fi
log "tiled convolution kernels alone (tools/bench_kernels.ts)"
(cd "$HERE/.." && "$DENO" run -A tools/bench_kernels.ts --variants tiled --dirs fwd,bwd \
  "${kargs[@]}" 2>&1 | grep -v XDG_RUNTIME_DIR) || log "bench_kernels failed"
echo

log "runs: $RUNS"
peak_args=()
[ -z "$PEAK" ] || peak_args=(--peak-tflops "$PEAK")
"$PYTHON" "$HERE/gpu_bench.py" table --runs "$RUNS" "${peak_args[@]}"
