#!/usr/bin/env bash
# (reverted after it: commit 539e2e4 has the code and its tests)
# Forty-fifth session: decoding's RMSNorms by the residual products' last blocks at 3-16
# sequences (gemv.cu's norm_tail; model_cuda.cu's norm_tail; RETNET_CUDA_NORM_TAIL=0 off). Tests:
# test_cuda_gemv (test_norm_tail: y and xw the separate launches' bits), test_cuda_model
# (test_norm_tail: the logits and states the separate norms' bits, and the rest), test_cuda_train's
# decoding tests (graphs against op by op at B 2, 12, 24); memcheck and racecheck of the gemv
# test. Then the 1.3B fla shape on / off, three runs alternated, at B = 3, 4, 8, 12, 16.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_train
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
train_decode_tests
grep -h "norm tail" "$OUT/tests.log" | head -12
cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
for tool in memcheck racecheck; do
  timeout 90 "$cs" --tool $tool --print-limit 10 build-cuda/cuda/tests/test_cuda_gemv test_norm_tail \
    >"$OUT/cs-$tool.log" 2>&1
  echo "$tool: exit $?"; grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|Invalid|hazard" "$OUT/cs-$tool.log" | head -5
done
for i in 1 2 3; do
  decode_run on build-cuda/retnet 3,4,8,12,16
  decode_run off build-cuda/retnet 3,4,8,12,16 RETNET_CUDA_NORM_TAIL=0
done
decode_table ms_per_step_mean
echo "total $((SECONDS - t0)) s"
