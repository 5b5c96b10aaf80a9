#!/usr/bin/env bash
# Twelfth session, fourth call: the split kernel's rotations spread over heads (SPLIT_HB
# heads a thread instead of all: next48's ncu had it at 10.5 us a layer at B = 64);
# test_cuda_ops (its bits against rope_bf16) and test_cuda_model; copy_bw.cu (the ceiling of
# the state's read + rewrite); the 1.3B step with RETNET_CUDA_ONE_PRODUCT 0 / 1 at B = 32, 64,
# 256.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
nvcc -O2 $CUDA_GENCODE -std=c++17 dev/cuda/copy_bw.cu -o /tmp/copy_bw &
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
wait
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model
/tmp/copy_bw | tee "$OUT/copy-bw.txt"
decode_ab RETNET_CUDA_ONE_PRODUCT "0 1" 32,64,256
echo "total $((SECONDS - t0)) s"
