#!/usr/bin/env bash
# Seventh session: the gemv's split of K over S warps a column pair (gemv_split; RETNET_CUDA_
# GEMV_SPLIT=1 is the unsplit kernel), and the norms' rewrite of next15-17 with 3 blocks an SM
# for the rms head norm only. Build; every CUDA test (test_cuda_gemv covers S = 1, 2, 4 by its
# shapes); the gemv benchmark unsplit and split; the 1.3B decoding step unsplit / split
# alternated twice, B = 1, 8, 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build
TEST_TIMEOUT=200 cuda_tests
for S in 1 0; do
  echo "== gemv bench, RETNET_CUDA_GEMV_SPLIT=$S"
  RETNET_CUDA_GEMV_SPLIT=$S build-cuda/cuda/tests/test_cuda_gemv --bench 2>&1 | grep -E "^(q k|wo|fc|logits)"
done
decode_ab RETNET_CUDA_GEMV_SPLIT "1 0" 1,8,64
echo "total $((SECONDS - t0)) s"
