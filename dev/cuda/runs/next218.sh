#!/usr/bin/env bash
# (branch wip-ln-chain, compiled for sm_90a, not yet run: the twenty-ninth session's GPU time
# was spent) The LayerNorm chain at B = 1 (model_cuda.cu's ln_ready, cuda_gemv_rms's center):
# the paper preset's two LayerNorm launches a layer gone, as the RMS chain took the fla shape's.
# Tests (test_cuda_gemv test_rms_chain's ln cases; test_cuda_model test_ln_chain, with a
# training step), then the preset at B = 1 on / off (RETNET_CUDA_LN_CHAIN=0), three runs.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv \
  build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
train_decode_tests
grep -h "ln chain" "$OUT/tests.log" | head -12
for i in 1 2 3; do
  for v in 1 0; do
    DECODE_MODEL="--preset 1.3b" decode_run "p-ln$v" build-cuda/retnet 1 RETNET_CUDA_LN_CHAIN=$v
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
