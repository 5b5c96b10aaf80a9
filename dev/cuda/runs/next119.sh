#!/usr/bin/env bash
# AdamW by 16-byte accesses (optim.cu's adamw4_kernel; the scalar kernel moved 3.6 TB/s):
# test_cuda_ops; bench_cuda_ops' adamw line against 72800a9 (build/base.tar); the preset's
# step against 72800a9, alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base build-cuda/cuda/bench_cuda_ops
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/bench_cuda_ops
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_ops
grep -E "adamw" "$OUT/tests.log" | head -5
wait $BPID
ops_ab "adamw|sumsq"
preset_ab base new base new
train_table
echo "total $((SECONDS - t0)) s"
