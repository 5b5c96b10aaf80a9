#!/usr/bin/env bash
# Thirty-seventh session: the persistent step promoted (src/cuda/decode_persistent.cu, taken by
# model_cuda.cu for B = 1 of fla's variant at the 1.3B shapes). test_cuda_model (with the new
# test_persistent: CPU, the persistent step and the chain; the graph's bits against the host
# states'), then the step against the chain (RETNET_CUDA_PERSISTENT=0) alternated three times,
# `retnet bench decode`, the fla-shaped 1.3B, B = 1, context 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model
RETNET_CUDA_PSTEP_DEBUG=1 TEST_TIMEOUT=300 cuda_tests build-cuda/cuda/tests/test_cuda_model
grep -E "pstep|persistent|chain:|FAIL|passed" "$OUT/tests.log" | head -30
for i in 1 2 3; do
  decode_run pstep build-cuda/retnet 1
  decode_run chain build-cuda/retnet 1 RETNET_CUDA_PERSISTENT=0
done
decode_table
echo "total $((SECONDS - t0)) s"
