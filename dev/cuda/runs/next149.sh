#!/usr/bin/env bash
# next148 again with the norm's sums read after the products (asked into L1 before them,
# summed in float): test_cuda_gemv and test_cuda_model, then B = 1 and 2 chain / apart, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
for i in 1 2 3; do
  decode_run "chain" build-cuda/retnet 1,2
  decode_run "apart" build-cuda/retnet 1,2 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
