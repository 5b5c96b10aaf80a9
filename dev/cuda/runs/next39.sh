#!/usr/bin/env bash
# Eleventh session: the products' weights staged in shared memory before the programmatic-
# launch wait (gemv.cu's STAGED kernels, RETNET_CUDA_GEMV_STAGE 0 / 1 / 2). The gemv and
# model tests (every case at stage 0, 1 and 2), the products back to back at each setting,
# then the 1.3B decoding step at B = 1, 2, 4, 8 with each setting, alternated twice.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
JOBS=16 cuda_build build-cuda/retnet build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
TEST_TIMEOUT=150 cuda_tests build-cuda/cuda/tests/test_cuda_gemv build-cuda/cuda/tests/test_cuda_model
for m in 0 1 2; do
  RETNET_CUDA_GEMV_STAGE=$m build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/gemv-stage$m.txt" 2>&1
done
paste <(cut -c1-60 "$OUT/gemv-stage0.txt") <(awk '{print $(NF-1)}' "$OUT/gemv-stage1.txt") <(awk '{print $(NF-1)}' "$OUT/gemv-stage2.txt") | tail -21
for r in 1 2; do
  for m in 0 1 2; do decode_run s$m build-cuda/retnet 1,2,4,8 RETNET_CUDA_GEMV_STAGE=$m; done
done
decode_table
echo "total $((SECONDS - t0)) s"
