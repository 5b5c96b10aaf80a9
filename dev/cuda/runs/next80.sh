#!/usr/bin/env bash
# Fifteenth session: next79 with q read where its loads land (next79 dropped it: o wrong, states right),
# the window tests, then the 1.3B step window off / W = 16 at every batch, three runs each.

cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for i in 1 2 3; do
  for w in 0 16,0; do
    decode_run "w$w" build-cuda/retnet 4,8,16,32,64,128,256 RETNET_CUDA_WINDOW=$w
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
