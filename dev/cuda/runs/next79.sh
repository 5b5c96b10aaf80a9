#!/usr/bin/env bash
# Fifteenth session: the window kernel for large states with the old tokens, q, k and v in one
# round trip after the wait (next78: the window before the wait, then q, k, v: two). Tests of
# the window, then the 1.3B step, window off / W = 16 (on at every batch).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for i in 1 2; do
  for w in 0 16,0; do
    decode_run "w$w" build-cuda/retnet 4,16,64,256 RETNET_CUDA_WINDOW=$w
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
