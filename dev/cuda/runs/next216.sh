#!/usr/bin/env bash
# (reverted: the branch wip-window-early has the kernel; the record is in the README)
# The window step's fold before the wait (EARLY: a step that folds folds the window's old
# tokens into its first rows and stores them before the programmatic-launch wait;
# RETNET_CUDA_WINDOW_EARLY=0 after it, as before). Tests (the window test folds at W 1, 4, 16,
# 32), then the 1.3B step on / off at B = 4 and 8, and at B = 1 the window of one token from
# any size (RETNET_CUDA_WINDOW=1,0: every step folds the token before, i.e. the state's stores
# move before the wait) and of 16, against B = 1's default (no window, the head norm in the
# step's cluster).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
for i in 1 2 3; do
  decode_run "early1" build-cuda/retnet 4,8
  decode_run "early0" build-cuda/retnet 4,8 RETNET_CUDA_WINDOW_EARLY=0
  decode_run "b1-default" build-cuda/retnet 1
  decode_run "b1-w1" build-cuda/retnet 1 RETNET_CUDA_WINDOW=1,0
  decode_run "b1-w1-late" build-cuda/retnet 1 RETNET_CUDA_WINDOW=1,0 RETNET_CUDA_WINDOW_EARLY=0
  decode_run "b1-w16" build-cuda/retnet 1 RETNET_CUDA_WINDOW=16,0
done
decode_table
echo "total $((SECONDS - t0)) s"
