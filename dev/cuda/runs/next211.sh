#!/usr/bin/env bash
# The window step's small states' shape at 128 columns (WIDE: 8 row groups, the block's
# partial sums on the window's keys once read) where 64 columns take more than one wave of
# two blocks an SM (B = 8-15 at the 1.3B shapes: 512 -> 256 blocks at B = 8), so that no
# block starts only after the first wave's wait (RETNET_CUDA_WINDOW_WIDE=0: 64 columns).
# Tests (the window test under every shape: 6 the narrow, 7 the wide), then the 1.3B step
# on / off alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
train_decode_tests
for i in 1 2 3; do
  for v in 1 0; do
    decode_run "wide$v" build-cuda/retnet 4,8,12,15 RETNET_CUDA_WINDOW_WIDE=$v
    DECODE_MODEL="--preset 1.3b" decode_run "p-wide$v" build-cuda/retnet 8 RETNET_CUDA_WINDOW_WIDE=$v
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
