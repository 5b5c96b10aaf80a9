#!/usr/bin/env bash
# next112.sh again with §3's rows a template argument of wg_kernel (RW: the kernels without
# them are the code they were; with a runtime flag, RETNET_CUDA_ROWSUMS=0 had taken 5 ms
# longer than the base). test_cuda_retention, test_cuda_model; the preset's step against
# 2284725, alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
grep -cE "backward\+rows" "$OUT/tests.log"
wait $BPID
preset_ab base new rowsums0 new base new rowsums0
train_table
echo "total $((SECONDS - t0)) s"
