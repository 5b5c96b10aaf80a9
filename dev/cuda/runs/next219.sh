#!/usr/bin/env bash
# (branch wip-next: main at 0faa970 with wip-hn-push and wip-ln-chain on it; compiled for
# sm_90a, not yet run) One call for the twenty-ninth session's untested work: main's
# test_graphs_after_train (the review fix), next217's pushed head-norm sums and next218's
# LayerNorm chain, each with its tests, then both A/Bs at B = 1, three runs alternated.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention
train_decode_tests
grep -h "ln chain" "$OUT/tests.log" | head -12
cp "$OUT/tests.log" "$OUT/tests-main.log" # the next cuda_tests starts its log afresh
RETNET_CUDA_HN_PUSH=0 TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_retention
for i in 1 2 3; do
  for v in 1 0; do
    decode_run "push$v" build-cuda/retnet 1 RETNET_CUDA_HN_PUSH=$v
    DECODE_MODEL="--preset 1.3b" decode_run "p-ln$v" build-cuda/retnet 1 RETNET_CUDA_LN_CHAIN=$v
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
