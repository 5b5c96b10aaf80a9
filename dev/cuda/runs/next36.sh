#!/usr/bin/env bash
# Tenth session, first call (the record of a reverted change: the persistent decoding step,
# commits 3fac446..1747a03, reverted after; `git show 1747a03:src/cuda/decode_step.cu`): built
# for sm_90a only, its tests (test_cuda_model: test_persistent and the decoding steps of every
# variant), then the 1.3B step with RETNET_CUDA_PERSISTENT=0 / 1 alternated at B = 1, 2, 4.
# The later calls of that session ran the same build and test_cuda_model by hand, then
# `retnet bench decode` with RETNET_CUDA_PERSISTENT_PROF=1 (the kernel's timeline) and the
# switches named in dev/cuda/README.md's "Tenth session".
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "persistent|FAIL|error" "$OUT/tests.log" | head -40
decode_ab RETNET_CUDA_PERSISTENT "0 1" 1,2,4
echo "total $((SECONDS - t0)) s"
