#!/usr/bin/env bash
# The twenty-first session's final tree (9fad2b7: the window step's narrow shapes with 4 rows
# a set; gradients written by default): the decoding path's tests, the window's shape forced
# (RETNET_CUDA_WINDOW_SHAPE 3, 4: 256 and 128 columns, one wave) against the default at
# B = 4 and 8, twice; then the paper preset's decoding record at the issue's batches and
# contexts (bench/gpu/preset-1.3b-h200.jsonl) in the time left.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
decode_tests
for i in 1 2; do
  decode_run default build-cuda/retnet 4,8
  decode_run shape3 build-cuda/retnet 4,8 RETNET_CUDA_WINDOW_SHAPE=3
  decode_run shape4 build-cuda/retnet 4,8 RETNET_CUDA_WINDOW_SHAPE=4
done
decode_table
left=$((450 - SECONDS))
echo "preset with ${left} s left"
preset_record "$left"
echo "total $((SECONDS - t0)) s"
