#!/usr/bin/env bash
# Eleventh session, fifth call: the mma gemv for up to 64 rows of x (NT = 1, 2, 4, 8 tiles of
# 8 rows; CUDA_GEMV_MAX_M 8 -> 64), so that decoding at B = 9-64 runs q k v g, the GLU and
# the rotation as one launch each under programmatic launch instead of cuBLASLt products.
# The decoding tests (the gemv's new cases at M = 9-64), the products at M = 1-64 against
# cuBLASLt's (RETNET_CUDA_GEMV=0), the 1.3B step with RETNET_CUDA_GEMV_MAX_M 8 / 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model \
  build-cuda/cuda/tests/test_cuda_retention build-cuda/cuda/tests/test_cuda_ops build-cuda/cuda/tests/test_cuda_train
decode_tests
build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-new.txt" 2>&1
RETNET_CUDA_GEMV=0 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-cublaslt.txt" 2>&1
paste <(cut -c1-60 "$OUT/gemv-new.txt") <(awk '{print $(NF-1)}' "$OUT/gemv-cublaslt.txt") | tail -36
decode_ab RETNET_CUDA_GEMV_MAX_M "8 64" 8,16,32,64
echo "total $((SECONDS - t0)) s"
