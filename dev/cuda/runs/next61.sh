#!/usr/bin/env bash
# Thirteenth session, the record's call: HEAD (the FMA gemv with K shared by two warps), a
# clean build for every target, every CUDA test; the FMA kernel (now KS = 2 at every M) against
# the mma kernel at 3-8 rows (RETNET_CUDA_GEMV_MMA_M 3 / 9); then the decoding record as
# next53.sh.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests
RETNET_CUDA_GEMV_MMA_M=9 timeout 100 build-cuda/cuda/tests/test_cuda_gemv >"$OUT/gemv-fma9.log" 2>&1
echo "test_cuda_gemv with the FMA kernel to 8 rows: exit $?: $(tail -n 1 "$OUT/gemv-fma9.log")"
decode_ab RETNET_CUDA_GEMV_MMA_M "3 9" 3,4,6,8
decode_record
echo "total $((SECONDS - t0)) s"
