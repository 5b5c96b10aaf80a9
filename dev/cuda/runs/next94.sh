#!/usr/bin/env bash
# Seventeenth session: gemv_ring_kernel (src/cuda/gemv.cu), the mma kernel's arithmetic on a
# TMA ring that never stops (one block an SM, a producer warp, 8 consumer warps), behind
# RETNET_CUDA_GEMV_RING (0 off, 1 where the mma kernel runs, 2 every M). test_cuda_gemv under
# 1 and 2; the decoding tests with it on for every M; single products back to back
# (test_cuda_gemv --bench) under 0 / 1 / 2; the 1.3B step A/B at B = 1-16.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
cuda_build
gemv_tests_under RETNET_CUDA_GEMV_RING 1 2
RETNET_CUDA_GEMV_RING=2 decode_tests
for v in 0 1 2; do
  RETNET_CUDA_GEMV_RING=$v timeout 60 build-cuda/cuda/tests/test_cuda_gemv --bench >"$OUT/bench-ring$v.txt" 2>&1
done
paste <(awk '{print $0}' "$OUT/bench-ring0.txt") <(awk '{print $(NF-1), $NF}' "$OUT/bench-ring1.txt") <(awk '{print $(NF-1), $NF}' "$OUT/bench-ring2.txt")
decode_ab RETNET_CUDA_GEMV_RING "0 1" 3,4,8,16
decode_ab RETNET_CUDA_GEMV_RING "0 2" 1,2
echo "total $((SECONDS - t0)) s"
