#!/usr/bin/env bash
# Lab: the head norm's backward for segments of 257-512 by groups of 128 threads, one 16-byte
# chunk each (norm.cu's config 6, 70-80 registers, 3 blocks an SM), where 64 threads x 2
# chunks need 118-128 registers (2 blocks) in the centred variants. RETNET_CUDA_NORM128 = 0
# (as before), 1 (centred and §3's rows), 2 (every variant): test_cuda_ops under each,
# bench_cuda_ops' norm lines under each, the preset's step (0 / 1 alternated) and the fla
# shape's (rms head norm: 0 / 2).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=12 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/bench_cuda_ops
for v in 0 1 2; do
  RETNET_CUDA_NORM128=$v timeout 100 build-cuda/cuda/tests/test_cuda_ops >"$OUT/ops_$v.log" 2>&1
  echo "test_cuda_ops NORM128=$v: exit $?: $(tail -n 1 "$OUT/ops_$v.log")"
  grep FAIL "$OUT/ops_$v.log" | head -5
done
for v in 0 1 2; do
  RETNET_CUDA_NORM128=$v timeout 120 build-cuda/cuda/bench_cuda_ops >"$OUT/bench_ops_$v.log" 2>&1
  echo "== NORM128=$v"; grep -E "norm" "$OUT/bench_ops_$v.log"
done
echo "at $((SECONDS - t0)) s"
for i in 1 2; do
  train_run "norm0 preset" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_NORM128=0
  train_run "norm1 preset" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_NORM128=1
done
train_run "norm0 fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json" 8 2048 RETNET_CUDA_NORM128=0
train_run "norm2 fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json" 8 2048 RETNET_CUDA_NORM128=2
train_table
echo "total $((SECONDS - t0)) s"
