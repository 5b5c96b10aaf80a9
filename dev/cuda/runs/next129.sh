#!/usr/bin/env bash
# The twenty-first session's tree: gradients written by default (RETNET_CUDA_GRAD_WRITE=0 the
# old way) and the norms' backward's shared-memory limit set to the kernel's whole room (with
# RETNET_CUDA_NORM_STAGES=3, next127.sh's test_cuda_ops failed 3 of 17: a kernel memoised at
# one round size launched after its limit was lowered for another). Every CUDA test (sm_90a),
# test_cuda_ops under NORM_STAGES 0 and 3, then the preset's step with the gradients written
# and added, alternated, and the fla shape's.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
rm -rf build-cuda
JOBS=16 cuda_build
TEST_TIMEOUT=200 cuda_tests
for st in 0 3; do
  RETNET_CUDA_NORM_STAGES=$st timeout 100 build-cuda/cuda/tests/test_cuda_ops >"$OUT/ops-st$st.log" 2>&1
  echo "test_cuda_ops, RETNET_CUDA_NORM_STAGES=$st: exit $?: $(tail -n 1 "$OUT/ops-st$st.log")"
done
for i in 1 2; do
  train_run "preset written" build-cuda/retnet "--preset 1.3b"
  train_run "preset added" build-cuda/retnet "--preset 1.3b" 8 2048 RETNET_CUDA_GRAD_WRITE=0
done
train_run "fla written" build-cuda/retnet "--config dev/cuda/cfg-1.3b-fla.json"
train_table
echo "total $((SECONDS - t0)) s"
