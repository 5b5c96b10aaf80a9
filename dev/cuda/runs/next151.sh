#!/usr/bin/env bash
# The mma gemv past 16 rows (lab, RETNET_CUDA_GEMV_MAX_M=64): RG groups of 16 weight rows a
# block so that each x load through L1 serves RG times the weights, U loads in flight
# (RETNET_CUDA_GEMV_WIDE=RG,U); q k v g with the rotation in its epilogue (no split kernel),
# fc1 | gate with the GLU in it; wo, fc2 and the output layer stay on cuBLASLt. test_cuda_gemv
# (M to 64) under each shape, test_cuda_model with the lab on (its B 17 and 20 cases), then the
# fla shape at B = 24, 32, 64 against the default, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
gemv_tests_under RETNET_CUDA_GEMV_WIDE 4,4 2,2
grep -h "FAIL" "$OUT"/gemv-*.log | head -8
env RETNET_CUDA_GEMV_MAX_M=64 timeout 100 build-cuda/cuda/tests/test_cuda_model >"$OUT/model64.log" 2>&1
echo "test_cuda_model at MAX_M 64: exit $?: $(tail -n 1 "$OUT/model64.log")"; grep FAIL "$OUT/model64.log" | head -4
for i in 1 2; do
  decode_run "cublas" build-cuda/retnet 24,32,64
  decode_run "w44" build-cuda/retnet 24,32,64 RETNET_CUDA_GEMV_MAX_M=64 RETNET_CUDA_GEMV_WIDE=4,4
  decode_run "w24" build-cuda/retnet 24,32,64 RETNET_CUDA_GEMV_MAX_M=64 RETNET_CUDA_GEMV_WIDE=2,4
  decode_run "w42" build-cuda/retnet 24,32,64 RETNET_CUDA_GEMV_MAX_M=64 RETNET_CUDA_GEMV_WIDE=4,2
done
decode_table
echo "total $((SECONDS - t0)) s"
