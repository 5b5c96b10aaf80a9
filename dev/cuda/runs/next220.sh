#!/usr/bin/env bash
# (branch wip-ready: reverted, not on main)
# (thirtieth session) A head's state update on its ready counts at B = 1: the q k v g
# product takes its columns head by head and counts them in (cuda_op_gemv_heads), the step's
# head waits for its own count, not for the whole launch (RETNET_CUDA_HEAD_READY=0: as before).
# Tests (gemv test_heads, retention test_step_hn's ready case, model test_head_ready, the
# train decode tests), then B = 1 in three modes and off, three runs alternated (second
# form: counts on 128-byte lines, relaxed polls).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention
train_decode_tests
grep -h "heads h\|head ready\|FAIL" "$OUT/tests.log" | head -20
# 1: relaxed polls 64 ns apart, then a fence; 2: acquire polls; 3: the product head by head
# and counted, but the step on the launch's wait (what the product's order and counts cost)
for i in 1 2 3; do
  for v in 1 2 3 0; do
    decode_run "ready$v" build-cuda/retnet 1 RETNET_CUDA_HEAD_READY=$v
  done
done
decode_table
echo "total $((SECONDS - t0)) s"
