#!/usr/bin/env bash
# Seventeenth session: where the paper preset's training step (326.9 ms, MFU 41.7% at B 8 x
# T 2048 after next99) spends its time beyond the fla shape's (296.7 ms, 45.1%): one step of
# each timed by phase (RETNET_CUDA_TIMING=1, model_cuda.cu's ph_mark).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a" cuda_build build-cuda/retnet
for m in "--preset 1.3b" "--config dev/cuda/cfg-1.3b-fla.json"; do
  echo "== $m"
  RETNET_CUDA_TIMING=1 timeout 120 build-cuda/retnet bench train $m --device cuda --batch 8 \
    --seq 2048 --steps 2 --warmup 1 >"$OUT/timing.log" 2>&1
  grep -A40 "CUDA step timing" "$OUT/timing.log" | tail -32
done
echo "total $((SECONDS - t0)) s"
