#!/usr/bin/env bash
# (Written after the twentieth session's GPU time was spent; not yet run.) RETNET_CUDA_GRAD_WRITE=1:
# test_cuda_train (its test_grad_write: three configs against the CPU with the products'
# gradients written, tied embeddings included, and zeros read right after zero_grad; the rest
# of the file as before), then the preset's step with the switch off and on, alternated: the
# losses must agree to the products' rounding (beta 0 may take another cuBLASLt algorithm),
# and the step should lose the ~1.3 ms of zeroing the whole gradient buffer.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_dist
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_dist
for i in 1 2; do
  train_run "preset" build-cuda/retnet "--preset 1.3b"
  train_run "preset grad_write" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_GRAD_WRITE=1
done
train_run "fla" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_run "fla grad_write" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json" 8 2048 RETNET_CUDA_GRAD_WRITE=1
train_table
echo "total $((SECONDS - t0)) s"
