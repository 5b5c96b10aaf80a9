#!/usr/bin/env bash
# Eleventh session, last call: HEAD after the mma gemv's limit went to 16 rows (1 or 2 tiles;
# next43.sh measured 4 and 8 tiles slower than cuBLASLt). A clean build for every target
# (all gencodes, as CI and users build), every CUDA test, the products at M = 1-16 against
# cuBLASLt, and the 1.3B step at B = 8 and 16 with RETNET_CUDA_GEMV_MAX_M 8 / 16.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
clean_tests
build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-new.txt" 2>&1
RETNET_CUDA_GEMV=0 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-cublaslt.txt" 2>&1
paste <(cut -c1-60 "$OUT/gemv-new.txt") <(awk '{print $(NF-1)}' "$OUT/gemv-cublaslt.txt") | tail -26
decode_ab RETNET_CUDA_GEMV_MAX_M "8 16" 8,16
echo "total $((SECONDS - t0)) s"
