#!/usr/bin/env bash
# (reverted: 0bd2ad4 -> the next commit; slower: fla B = 1 one 1.158 1.139 / off 1.059 1.058 ms, the preset B = 1 1.136 / 1.133; test_cuda_gemv passed with it on)
# (lab, the session's last 4 minutes of GPU time) At B = 1 the products with K <= 2048 (the
# RMS consumers q k v g and fc1 | gate, the output layer) with one warp a row pair and 8 loads
# a lane (RETNET_CUDA_FMA_ONE=1: one round, no meeting of two warps' sums) against two warps
# of 4: the step first (one / off alternated, fla shape twice, the preset once), then
# test_cuda_gemv with it on.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv
for i in 1 2; do
  decode_run "one" build-cuda/retnet 1 RETNET_CUDA_FMA_ONE=1
  decode_run "off" build-cuda/retnet 1
done
DECODE_MODEL="--preset 1.3b" decode_run "p-one" build-cuda/retnet 1 RETNET_CUDA_FMA_ONE=1
DECODE_MODEL="--preset 1.3b" decode_run "p-off" build-cuda/retnet 1
decode_table
gemv_tests_under RETNET_CUDA_FMA_ONE 1
echo "total $((SECONDS - t0)) s"
