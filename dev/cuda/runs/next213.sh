#!/usr/bin/env bash
# The WIDE small states' window step past B = 15 (RETNET_CUDA_WINDOW_SHAPE=1 forces the small
# states' shape where the large one runs now; RETNET_CUDA_WINDOW_WIDE=3 allows 512 columns, 2
# row groups) against the large states' shape (the default there), B = 16-32; the tests with
# shape 9 (512 columns) too.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention
for i in 1 2; do
  decode_run "large" build-cuda/retnet 16,24,32,48
  decode_run "s1w2" build-cuda/retnet 16,24,32,48 RETNET_CUDA_WINDOW_SHAPE=1 RETNET_CUDA_WINDOW_WIDE=2
  decode_run "s1w3" build-cuda/retnet 16,24,32,48 RETNET_CUDA_WINDOW_SHAPE=1 RETNET_CUDA_WINDOW_WIDE=3
done
decode_run "w3" build-cuda/retnet 8,12
decode_table
echo "total $((SECONDS - t0)) s"
