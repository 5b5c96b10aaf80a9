#!/usr/bin/env bash
# (reverted: fd3f6d4 has it) all tests passed (gemv 6, model 7, train 3); on / off three runs: B 4 1.411 1.408 1.407 / 1.341 1.325 1.334 ms, B 8 1.672 1.677 1.673 / 1.520 1.512 1.523: slower
# Decoding's RMSNorms inside the mma gemv at 3-8 rows (gemv_mma_kernel's RMS: the consumer
# sums x's squares from the fp32 rows beside the xw it reads, after its products, and scales
# its sums by each row's norm; the producer's xw as at B = 1), so that B = 3-8 steps lose the
# two norm launches a layer (next197's trace: ~3.9 us of a layer's chain each). Tests:
# test_cuda_gemv (test_rms_chain at M 3-8 too), test_cuda_model (test_rms_chain at B 1, 2, 3,
# 8), test_cuda_train's argmax, batch, graphs; then the step on / RETNET_CUDA_RMS_CHAIN=0,
# three runs alternated, the fla shape at B = 4 and 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
train_decode_tests
grep -h "rms chain" "$OUT/tests.log" | grep -E " M [38] |B=[38]" | head -6
for i in 1 2 3; do
  decode_run "on" build-cuda/retnet 4,8
  decode_run "off" build-cuda/retnet 4,8 RETNET_CUDA_RMS_CHAIN=0
done
decode_table
echo "total $((SECONDS - t0)) s"
