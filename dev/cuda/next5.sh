#!/usr/bin/env bash
# The second call after next4.sh: FLAGS (the lab flags that won there, e.g. FLAGS=96) under the
# model's tests, and the 1.3B training step with and without them, alternated, then timed by
# phase. If they pass and win: make them the default in run_chunk (and drop the flags), then
# bench/gpu/e2e.sh --only train and dev/cuda/device_run.sh for the records.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
: "${FLAGS:?FLAGS=the lab flags to test}"
cuda_build
RETNET_CUDA_LAB_FLAGS=$FLAGS TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
train_ab 0 $FLAGS 0 $FLAGS
RETNET_CUDA_LAB_FLAGS=$FLAGS train_phases
echo "total $((SECONDS - t0)) s"
