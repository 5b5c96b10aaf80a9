#!/usr/bin/env bash
# The mma gemv (M 3-16: decoding at B = 3-16) with 16 warps a block where K takes 8 warps
# more than one round of loads (K > 2048: wo, fc2; gemv.cu's gemv_mma_warps, forced with
# RETNET_CUDA_MMA_WARPS=8 or 16). First gemv_lab.cu's M = 8 products under programmatic
# launch, each launch on its own weights: W warps x U loads in flight a lane (W8 U8 is
# gemv.cu's), and a layer's four in turn. Then the decoding tests on the new default, the
# gemv test forced to 8 and to 16 warps, and the step, default / 8 warps alternated twice:
# the fla shape at B = 4, 8, 16 and the paper preset at B = 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
mkdir -p build
nvcc -O3 -std=c++17 $CUDA_GENCODE -o build/gemv_lab dev/cuda/gemv_lab.cu && timeout 120 build/gemv_lab 200 | tee "$OUT/gemv_lab.txt"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
gemv_tests_under RETNET_CUDA_MMA_WARPS 8 16
for i in 1 2; do
  decode_run "auto" build-cuda/retnet 4,8,16
  decode_run "w8" build-cuda/retnet 4,8,16 RETNET_CUDA_MMA_WARPS=8
  DECODE_MODEL="--preset 1.3b" decode_run "p-auto" build-cuda/retnet 8
  DECODE_MODEL="--preset 1.3b" decode_run "p-w8" build-cuda/retnet 8 RETNET_CUDA_MMA_WARPS=8
done
decode_table
echo "total $((SECONDS - t0)) s"
