#!/usr/bin/env bash
# After the review (the forward rows' slot constants and swizzled offsets in WCfg, the dk
# limit named in retention.h, ones8 only for the v = 1 pass; lib.sh's train_record and
# ops_ab): the CUDA tests that cover it, and the preset's step, whose losses must equal
# next119's (5.85154).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=120 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
preset_ab new
train_table
echo "total $((SECONDS - t0)) s"
