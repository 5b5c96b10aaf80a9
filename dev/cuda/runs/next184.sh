#!/usr/bin/env bash
# (reverted: 3b5baec -> the next commit; no gain: B = 4 pair 1.409-1.441 / off 1.349-1.375 ms, B = 8 1.516-1.528 / 1.513-1.541, the preset B = 8 1.575-1.620 / 1.598-1.612)
# The window's step with two sequences a block (step_window_pair_kernel, RETNET_CUDA_WINDOW_PAIR=1:
# the second sequence's state columns copied into shared memory beside the first's rows in
# registers, both before the wait; the small states' shape, B = 2-15 at the 1.3B shape): the
# decoding tests, test_cuda_retention (test_step_window now also at B 2, dk 512, W 32) and
# test_cuda_model with it on, then the step pair / off alternated three times: the fla shape at
# B = 4 and 8, the paper preset at B = 8.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_retention
decode_tests
for t in test_cuda_retention test_cuda_model; do
  RETNET_CUDA_WINDOW_PAIR=1 timeout 150 build-cuda/cuda/tests/$t >"$OUT/pair-$t.log" 2>&1
  echo "$t with the pair kernel: exit $?: $(tail -n 1 "$OUT/pair-$t.log")"
  grep FAIL "$OUT/pair-$t.log" | head -5
done
for i in 1 2 3; do
  decode_run "pair" build-cuda/retnet 4,8 RETNET_CUDA_WINDOW_PAIR=1
  decode_run "off" build-cuda/retnet 4,8
  DECODE_MODEL="--preset 1.3b" decode_run "p-pair" build-cuda/retnet 8 RETNET_CUDA_WINDOW_PAIR=1
  DECODE_MODEL="--preset 1.3b" decode_run "p-off" build-cuda/retnet 8
done
decode_table
echo "total $((SECONDS - t0)) s"
