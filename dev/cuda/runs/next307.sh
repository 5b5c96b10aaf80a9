#!/usr/bin/env bash
# Forty-first session, after the review (retnet_batch_greedy's one loop for a GPU without
# graphs, RETNET_CUDA_GREEDY_RUN read when the model moves): test_greedy and test_persistent.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
for t in "test_cuda_train test_greedy" "test_cuda_model test_persistent"; do
  set -- $t
  timeout 100 build-cuda/cuda/tests/$1 $2 >"$OUT/$2.log" 2>&1
  echo "$t: exit $? $(tail -1 "$OUT/$2.log")"; grep FAIL "$OUT/$2.log" | head -5
done
echo "total $((SECONDS - t0)) s"
