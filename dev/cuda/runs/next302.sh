#!/usr/bin/env bash
# Written in the fortieth session after its GPU time was spent (compiled, not yet run): the
# persistent step's fallback where down's packed copy cannot be made, as the default meets it
# (the chain's bits, the step off after the first step) and under RETNET_CUDA_PERSISTENT=1 (an
# ENOMEM that names the copy). RETNET_CUDA_PSTEP_NOMEM=1 stands in for a full GPU. Every CUDA
# test (the new checks are in test_cuda_model test_persistent), then memcheck of that test.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet cuda-tests
TEST_TIMEOUT=200 cuda_tests
grep -hE "persistent" "$OUT/tests.log" | head -8
pstep_memcheck
echo "total $((SECONDS - t0)) s"
