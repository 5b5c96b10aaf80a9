#!/usr/bin/env bash
# Nineteenth session's last call: build-cuda removed and built again (sm_90a only: the GPU
# time left did not allow every target), the paper preset's training record (B 8 x T 2048 and
# B 2 x T 8192, twice each; once with RETNET_CUDA_ROWSUMS=0, §3's v = 1 passes apart; the fla
# shape's step beside them), then every CUDA test.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
rm -rf build-cuda
JOBS=16 cuda_build
train_record rowsums0 RETNET_CUDA_ROWSUMS=0
echo "at $((SECONDS - t0)) s"
TEST_TIMEOUT=150 cuda_tests
echo "total $((SECONDS - t0)) s"
