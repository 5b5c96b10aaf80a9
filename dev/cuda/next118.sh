#!/usr/bin/env bash
# Nineteenth session's last call: build-cuda removed and built again (sm_90a only: the GPU
# time left did not allow every target), the paper preset's training record (B 8 x T 2048 and
# B 2 x T 8192, twice each; once with RETNET_CUDA_ROWSUMS=0, §3's v = 1 passes apart; the fla
# shape's step beside them), then every CUDA test.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
rm -rf build-cuda
JOBS=16 cuda_build
for i in 1 2; do
  TRAIN_STEPS=6 train_run preset build-cuda/retnet "--preset 1.3b" 8 2048
  TRAIN_STEPS=6 train_run preset build-cuda/retnet "--preset 1.3b" 2 8192
done
TRAIN_STEPS=6 train_run "preset rowsums0" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_ROWSUMS=0
TRAIN_STEPS=6 train_run fla build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json" 8 2048
train_table
echo "at $((SECONDS - t0)) s"
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_attention \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_dist \
  build-cuda/cuda/tests/test_cuda_train
echo "total $((SECONDS - t0)) s"
