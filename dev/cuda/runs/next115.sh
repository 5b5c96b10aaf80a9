#!/usr/bin/env bash
# §3's row sums in the training forward's retention pass too (retention_cuda_forward_rows,
# wg_kernel RW = 3: 8 partial slots a row, the blocks of a head sharing the key columns;
# cuda_retention_forward_normalized), beside next113's backward. test_cuda_retention (the
# new test_forward_rows), test_cuda_train, test_cuda_model, test_cuda_ops; the preset's step
# against 2284725 (before this session), alternated, and with RETNET_CUDA_ROWSUMS=0.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_ops
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_ops
grep -E "forward\+rows" "$OUT/tests.log" | head -20
wait $BPID
preset_ab base new rowsums0 new base new
train_table
echo "total $((SECONDS - t0)) s"
