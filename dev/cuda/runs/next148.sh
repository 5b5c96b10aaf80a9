#!/usr/bin/env bash
# Decoding's RMSNorms inside the products (rms_chain: wo and fc2 write xw = bf16(x w) and x's
# pair sums of squares, q k v g, fc1 | gate and the output layer scale by the row's norm; two
# launches a layer fewer at B = 1-2): the decoding tests (test_cuda_gemv's test_rms_chain,
# test_cuda_model's test_rms_chain), then the fla shape at B = 1 and 2, chain on / off
# (RETNET_CUDA_RMS_CHAIN), alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
timeout 100 build-cuda/cuda/tests/test_cuda_gemv test_rms_chain 2>&1 | grep -E "rms chain|FAIL|passed" | head -16
decode_tests
for i in 1 2 3; do
  decode_run "chain" build-cuda/retnet 1,2
  decode_run "apart" build-cuda/retnet 1,2 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
