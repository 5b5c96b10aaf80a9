#!/usr/bin/env bash
# Forty-fifth session: next334's two-sequence step with fewer registers spilled (the state's
# slices and updates in a loop of their own: 92 bytes spilled instead of 248) and 48 KB stages
# (the partial sums 32 rows a segment, the output layer's summed a stage at a time) instead of
# 42 KB; the 42 KB stages built beside it (PSTEP_STAGE2=43008). test_cuda_model, the decoding
# tests of test_cuda_train; memcheck of test_persistent2. Then B = 1 and 2, three runs
# alternated: p2 (this), s42 (42 KB stages), p1 (RETNET_CUDA_PSTEP_B=1: B = 2 by the chain
# with its window, as before), the chain everywhere.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_model build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=200 cuda_tests build-cuda/cuda/tests/test_cuda_model
train_decode_tests
grep -hE "FAIL|persistent|skipped" "$OUT/tests.log" | head -20
cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
timeout 150 "$cs" --tool memcheck --print-limit 10 build-cuda/cuda/tests/test_cuda_model test_persistent2 \
  >"$OUT/cs-memcheck.log" 2>&1
echo "memcheck: exit $?"; grep -E "ERROR SUMMARY|passed|Invalid" "$OUT/cs-memcheck.log" | head -5
mkdir -p build && cp build-cuda/retnet build/retnet-p2
pstep_variant s42 src/cuda/decode_persistent.cu -DPSTEP_STAGE2=43008
timeout 100 build-cuda/cuda/tests/test_cuda_model test_persistent2 >"$OUT/test-s42-2.log" 2>&1
echo "s42 test_persistent2: exit $?: $(tail -n 1 "$OUT/test-s42-2.log")"
pstep_restore
for i in 1 2 3; do
  decode_run p2 build/retnet-p2 1,2
  decode_run s42 build/retnet-s42 1,2
  decode_run p1 build/retnet-p2 1,2 RETNET_CUDA_PSTEP_B=1
  decode_run chain build/retnet-p2 1,2 RETNET_CUDA_PERSISTENT=0
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
