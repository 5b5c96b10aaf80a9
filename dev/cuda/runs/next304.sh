#!/usr/bin/env bash
# Forty-first session: retnet_batch_greedy (n greedy steps queued at once, each step's tokens
# fed from the decoding graph's argmax on the device). The two test binaries it touches
# (test_cuda_train's test_greedy: ids, states and next ids bit for bit against argmax + forward
# one step at a time, RetNet B 1, 3, 12, the window, the Transformer, no graphs;
# test_cuda_model's test_persistent with a greedy run), memcheck of test_greedy, then the
# 1.3B fla shape's decoding at B 1, 8, 64: steps one at a time (--queue 1, as before) against
# runs of 8 and 48, alternated three times.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet cuda-tests
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_model
grep -hE "greedy|persistent" "$OUT/tests.log" | head -12
cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
timeout 150 "$cs" --tool memcheck --print-limit 20 build-cuda/cuda/tests/test_cuda_train test_greedy \
  >"$OUT/cs-greedy.log" 2>&1
echo "memcheck test_greedy: exit $?"; grep -E "ERROR SUMMARY|passed" "$OUT/cs-greedy.log" | head -3
echo "at $((SECONDS - t0)) s"
for i in 1 2 3; do
  for q in 1 8 48; do DECODE_ARGS="--queue $q" decode_run q$q build-cuda/retnet 1,8,64; done
done
decode_table
echo "total $((SECONDS - t0)) s"
