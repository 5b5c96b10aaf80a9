#!/usr/bin/env bash
# (reverted: 510b50a, 5bf1dca have it) on / off best of two: fla B 24 2.059 / 2.077 ms, 32 2.307 / 2.279, 48 2.783 / 2.807, 64 3.199 / 3.205; preset 24 2.178 / 2.164, 64 3.297 / 3.291
# Decoding's output products (wo, fc2) at 17-64 rows on Hopper by skinny.cu (TMA + wgmma,
# split K) with their slices added by the next norm (cuda_op_residual_norm_bf16): every CUDA
# test but the long training ones (test_cuda_ops' new test_skinny; test_cuda_model's
# test_wide_batch at B 17, 18 and 20 against the CPU), then the step on / off
# (RETNET_CUDA_SKINNY=0: cuBLASLt) alternated twice, the fla shape and the paper preset at B =
# 24, 32, 48, 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
grep -h "skinny\|wide" "$OUT/tests.log" | head -12
for i in 1 2; do
  decode_run "on" build-cuda/retnet 24,32,48,64
  decode_run "off" build-cuda/retnet 24,32,48,64 RETNET_CUDA_SKINNY=0
  DECODE_MODEL="--preset 1.3b" decode_run "p-on" build-cuda/retnet 24,64
  DECODE_MODEL="--preset 1.3b" decode_run "p-off" build-cuda/retnet 24,64 RETNET_CUDA_SKINNY=0
done
decode_table
echo "total $((SECONDS - t0)) s"
