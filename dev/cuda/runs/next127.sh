#!/usr/bin/env bash
# (Written after the twentieth session's GPU time was spent; not yet run.) The norms'
# backward's fallback (RETNET_CUDA_NORM_STAGES=0) under test_cuda_ops; RETNET_CUDA_GRAD_WRITE=1:
# test_cuda_train (its test_grad_write: three configs against the CPU with the products'
# gradients written, tied embeddings included, and zeros read right after zero_grad; the rest
# of the file as before), then the preset's step with the switch off and on, alternated: the
# losses must agree to the products' rounding (beta 0 may take another cuBLASLt algorithm),
# and the step should lose the ~1.3 ms of zeroing the whole gradient buffer.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_dist build-cuda/cuda/tests/test_cuda_ops
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_dist
# the norms' backward unstaged (the fallback where 2 rounds do not fit a block) and forced to
# 2 and 3 buffers: the same results, so test_cuda_ops passes under each
for st in 0 2 3; do
  RETNET_CUDA_NORM_STAGES=$st timeout 100 build-cuda/cuda/tests/test_cuda_ops >"$OUT/ops-st$st.log" 2>&1
  echo "test_cuda_ops, RETNET_CUDA_NORM_STAGES=$st: exit $?: $(tail -n 1 "$OUT/ops-st$st.log")"
done
for i in 1 2; do
  train_run "preset" build-cuda/retnet "--preset 1.3b"
  train_run "preset grad_write" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_GRAD_WRITE=1
done
train_run "fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_run "fla grad_write" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json" 8 2048 RETNET_CUDA_GRAD_WRITE=1
train_table
echo "total $((SECONDS - t0)) s"
