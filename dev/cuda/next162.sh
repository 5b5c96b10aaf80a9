#!/usr/bin/env bash
# (Written after the twenty-third session's GPU time was spent; compiled for sm_90a, not run.)
# gemm_lab.cu with its kernel's tile (128 or 64 weight rows) and ring depth (4-8 stages) as
# template parameters, and a sweep of four more shapes after each product's row: 128 x 6,
# 64 x 4, 64 x 6, 64 x 8 (the blocks an SM from the occupancy API, the slices for one wave),
# each alone and with the sum kernel, checked against cuBLASLt; at M = 64 and 32. The 64-row
# tiles give q k v g 192 tiles, so it needs no slices (no meeting) at 2 blocks an SM.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemm_lab dev/cuda/gemm_lab.cu -lcublasLt \
  >"$OUT/gemm_build.log" 2>&1
echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/gemm_build.log" | head -5
for m in 64 32; do timeout 150 build/gemm_lab $m; echo "exit $?"; done
echo "total $((SECONDS - t0)) s"
