#!/usr/bin/env bash
# The norms' forward at 1024 threads an SM (launch bounds: at most 64 registers; the rows of
# 2048 ran 3 blocks an SM at 71 registers, one 8 KB row in flight each): test_cuda_ops and
# _model (the same operations: the same bits), the norm kernels and the preset's step against
# HEAD before it (next125's tree), alternated; the losses must be equal.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build_base build-cuda/cuda/bench_cuda_ops
JOBS=12 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
wait $BPID
ops_ab "norm"
preset_ab base new base new
train_table
echo "total $((SECONDS - t0)) s"
