#!/usr/bin/env bash
# (Written after the twenty-first session's GPU time was spent; not yet run: first on the next
# call.) The review's refactor of the decoding step's launch (one step_launch for the plain
# step, §3's key sums and the head norm's cluster; pdl_launch_cluster): the decoding path's
# tests (test_step_rows and test_step_hn against the separate launches, the model's decoding
# against the CPU, graphs bit for bit op by op), then B = 1 for both shapes as next133/134
# measured them.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
decode_tests
for i in 1 2; do
  decode_run fla build-cuda/retnet 1
  decode_run fla_hn0 build-cuda/retnet 1 RETNET_CUDA_HN_FUSED=0
done
decode_table
echo "total $((SECONDS - t0)) s"
