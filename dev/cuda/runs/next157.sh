#!/usr/bin/env bash
# gemm_lab.cu with the slices met inside the kernel (every block resident; each sums its
# share of its tile's rows in slice order), at M = 64 and 32, and with 1 block an SM's worth
# of slices (LAB_BLOCKS_PER_SM=1) at M = 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemm_lab dev/cuda/gemm_lab.cu -lcublasLt \
  >"$OUT/gemm_build.log" 2>&1
echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/gemm_build.log" | head -5
for m in 64 32; do timeout 120 build/gemm_lab $m; echo "exit $?"; done
LAB_BLOCKS_PER_SM=1 timeout 120 build/gemm_lab 64; echo "exit $?"
echo "total $((SECONDS - t0)) s"
