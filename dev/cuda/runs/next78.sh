#!/usr/bin/env bash
# Fifteenth session: the window's loads 16 bytes at a time, all in flight before any is
# stored (next77: one scalar load then its store at a time, B = 256 23.8 ms against 14.3),
# and 2 blocks an SM. Tests of the window, then the 1.3B step with the window off and at
# W = 8, 16, 32 (on at every batch).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for i in 1 2; do
  for w in 0 16,0 8,0 32,0; do
    decode_run "w$w" build-cuda/retnet 1,8,16,64,256 RETNET_CUDA_WINDOW=$w
  done
done
decode_table
decode_runs 64
echo "total $((SECONDS - t0)) s"
