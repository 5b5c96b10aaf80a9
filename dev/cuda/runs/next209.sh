#!/usr/bin/env bash
# (RETNET_CUDA_TIMING_SKIP was a local timing patch, not committed; the record is in the README)
# The twenty-eighth session's two fixes first run on a GPU (test_cuda_attention's q amplitude;
# test_cuda_train's test_batches_interleaved) with this session's decoding-graph cache (a
# graph a batch, four kept: the same test now counts the captures); then ceilings, timing
# only: the 1.3B step with launches left out (RETNET_CUDA_TIMING_SKIP, a local patch not
# committed: norm = the RMS/LayerNorm launches, hn = the head norm's, step = the state's
# update; wrong results), so that a fusion's best case is known before it is built.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_attention \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_attention build-cuda/cuda/tests/test_cuda_train \
  build-cuda/cuda/tests/test_cuda_model
for i in 1 2; do
  for v in off norm hn norm,hn step; do
    decode_run "$v" build-cuda/retnet 1,8 RETNET_CUDA_TIMING_SKIP=$v
  done
  for v in off norm step; do
    DECODE_MODEL="--preset 1.3b" decode_run "p-$v" build-cuda/retnet 1,8 RETNET_CUDA_TIMING_SKIP=$v
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
