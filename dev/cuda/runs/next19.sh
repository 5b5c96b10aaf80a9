#!/usr/bin/env bash
# Seventh session, last call: the decoding step's kernel with 32 or 16 columns a block where 64
# leaves SMs without a block (B = 1: 64 blocks on 132 SMs). Build; test_cuda_retention (the
# step at 64, 32, 16 and automatic columns, o and the new state against float64),
# test_cuda_model, test_cuda_gemv; the 1.3B decoding step with RETNET_CUDA_STEP_COLS=64 and
# automatic (16 at B = 1, 64 at B >= 3), alternated twice, B = 1, 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=100 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
decode_ab RETNET_CUDA_STEP_COLS "64 0" 1,8
echo "total $((SECONDS - t0)) s"
