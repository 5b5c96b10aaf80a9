#!/usr/bin/env bash
# gemm_lab.cu: the 1.3B layer's four decoding products at M = 64 and 32 as a multistage GEMM
# (cp.async ring of 4 stages for both operands, ldmatrix, mma.sync, split K with a separate
# sum) against cuBLASLt, each launch on its own copy of the weights; outputs checked against
# cuBLASLt's.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemm_lab dev/cuda/gemm_lab.cu -lcublasLt \
  >"$OUT/gemm_build.log" 2>&1
echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/gemm_build.log" | head -5
for m in 64 32; do timeout 120 build/gemm_lab $m; echo "exit $?"; done
echo "total $((SECONDS - t0)) s"
