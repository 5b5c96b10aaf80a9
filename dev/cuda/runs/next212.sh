#!/usr/bin/env bash
# next211's WIDE window step up to 256 columns (4 row groups) where 128 still take more than
# a wave (B = 9-15 at the 1.3B shapes: RETNET_CUDA_WINDOW_WIDE=2) against 128 at most (=1, the
# default) and 64 (=0). Tests (the window test under shapes 1-8), then the 1.3B step.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention
for i in 1 2 3; do
  for v in 2 1 0; do
    decode_run "wide$v" build-cuda/retnet 10,12,15 RETNET_CUDA_WINDOW_WIDE=$v
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
