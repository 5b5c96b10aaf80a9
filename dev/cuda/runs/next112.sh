#!/usr/bin/env bash
# Nineteenth session: §3's row sums' backward inside retention's dq and dk passes
# (retention_cuda_backward_rows; RETNET_CUDA_ROWSUMS=0 keeps the v = 1 pass apart).
# test_cuda_retention (the new test_backward_rows), test_cuda_train, test_cuda_model; then
# the preset's step against 2284725 (build/base.tar), alternated. The rows as a template
# argument of wg_kernel (RW) after the first run (a runtime flag slowed the other kernels).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=6 cuda_build_base
JOBS=10 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
grep -E "backward\+rows" "$OUT/tests.log" | head -30
wait $BPID
preset_ab base new rowsums0 new base new
train_table
echo "total $((SECONDS - t0)) s"
