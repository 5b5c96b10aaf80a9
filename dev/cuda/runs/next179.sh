#!/usr/bin/env bash
# The mma gemv's shape by K (gemv.cu's gemv_mma_shape): 16 warps x 4 loads a lane for K <=
# 2048 (two blocks an SM; the rotation's angles formed by the last warp into shared memory),
# 16 x 8 past it, against next178's first version (RETNET_CUDA_MMA_SHAPE=long: 16 x 8 past K
# 2048 only) and the old 8 x 8 (=old). Also a lab switch at B = 1-2: the FMA kernel with 8
# loads in flight a lane where K takes two rounds of 4 (wo, fc2; RETNET_CUDA_FMA_LONG_U=8).
# The decoding tests on the new default, test_cuda_gemv under =old and the FMA switch, then
# the step alternated twice: the fla shape and the paper preset.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
gemv_tests_under RETNET_CUDA_MMA_SHAPE old
gemv_tests_under RETNET_CUDA_FMA_LONG_U 8
for i in 1 2; do
  decode_run "new" build-cuda/retnet 1,2,4,8,12,16
  decode_run "old" build-cuda/retnet 4,8,12,16 RETNET_CUDA_MMA_SHAPE=old
  decode_run "long" build-cuda/retnet 4,8 RETNET_CUDA_MMA_SHAPE=long
  decode_run "u8" build-cuda/retnet 1,2 RETNET_CUDA_FMA_LONG_U=8
  DECODE_MODEL="--preset 1.3b" decode_run "p-new" build-cuda/retnet 1,8
  DECODE_MODEL="--preset 1.3b" decode_run "p-old" build-cuda/retnet 8 RETNET_CUDA_MMA_SHAPE=old
  DECODE_MODEL="--preset 1.3b" decode_run "p-u8" build-cuda/retnet 1 RETNET_CUDA_FMA_LONG_U=8
done
decode_table
echo "total $((SECONDS - t0)) s"
