#!/usr/bin/env bash
# Twelfth session, review: test_cuda_retention's new test_step_shapes (the decoding step at
# 64 MB and 68 MB of states, where it takes 32 row groups, and at 4 MB, 16; each against
# double), and the tests of the session's paths again on the review's tree.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
grep "step B" "$OUT/tests.log"
echo "total $((SECONDS - t0)) s"
