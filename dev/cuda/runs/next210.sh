#!/usr/bin/env bash
# (reverted: the branch wip-window-smt has the kernel; the record is in the README. RETNET_CUDA_TIMING_SKIP was a local patch)
# The window step's small states' shape with each thread's second set of rows in shared
# memory (cp.async before the wait) and 64 registers, four blocks an SM, so that B = 8's 512
# blocks are all resident and every row is asked for before the wait
# (RETNET_CUDA_WINDOW_SMT=0: the old kernel, two blocks an SM). Tests (the window test under
# every shape, 6 the old one), then the 1.3B step on / off alternated; the state's update left
# out (RETNET_CUDA_TIMING_SKIP=step, a local timing patch) for the ceiling at B = 2-8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_retention \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_model
train_decode_tests
RETNET_CUDA_WINDOW_SMT=0 TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_model
for i in 1 2 3; do
  for v in 1 0; do
    decode_run "smt$v" build-cuda/retnet 2,4,8,12 RETNET_CUDA_WINDOW_SMT=$v
    DECODE_MODEL="--preset 1.3b" decode_run "p-smt$v" build-cuda/retnet 4,8 RETNET_CUDA_WINDOW_SMT=$v
  done
done
for v in 1 0; do
  decode_run "skip-smt$v" build-cuda/retnet 2,4,8 RETNET_CUDA_WINDOW_SMT=$v RETNET_CUDA_TIMING_SKIP=step
done
decode_table
echo "total $((SECONDS - t0)) s"
