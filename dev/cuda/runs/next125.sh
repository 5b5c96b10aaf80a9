#!/usr/bin/env bash
# The session's record on its final kernels (next124's tree: test_cuda_ops, _model and _train
# passed there): the CUDA tests it did not run (retention and attention, whose cp.async helpers
# moved to mbar.cuh; dist and gemv), ops and model again, then the preset's training record
# (train_record: B 8 x T 2048 and B 2 x T 8192 twice each, the fla shape beside them).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_attention build-cuda/cuda/tests/test_cuda_dist build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_attention build-cuda/cuda/tests/test_cuda_dist build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader
train_record
echo "total $((SECONDS - t0)) s"
