#!/usr/bin/env bash
# The RMSNorm chain at one row only (B = 1; at 2 rows it lost 12% in next165), the kernel
# unheld (79 registers): the decoding tests (test_rms_chain: M = 1 shapes, 2 rows refused;
# the model at B = 1 against the CPU and the launches apart, at B = 2 the apart bits), then
# the fla shape at B = 1, 2, chain / apart (RETNET_CUDA_RMS_CHAIN=0), alternated four times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
grep -h "rms chain" "$OUT/tests.log" | head -14
for i in 1 2 3 4; do
  decode_run "chain" build-cuda/retnet 1,2
  decode_run "apart" build-cuda/retnet 1,2 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
