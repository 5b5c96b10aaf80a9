#!/usr/bin/env bash
# The review's tree (run()'s one refusal check for a norm's scale; comments): test_cuda_gemv,
# test_cuda_model, and the fla shape at B = 1 chain / apart, twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
for i in 1 2; do
  decode_run "chain" build-cuda/retnet 1
  decode_run "apart" build-cuda/retnet 1 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
