#!/usr/bin/env bash
# next160 with the meetings' rows in runs a block (consecutive threads on consecutive outputs: y's writes coalesced; they were N floats apart), ct as [x row][weight row]; as next159:
# each block's accumulators in its shared memory, summed across the cluster through
# distributed shared memory (no partials in global memory, cluster barriers instead of a
# polled count); at M = 64 and 32.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o build/gemm_lab dev/cuda/gemm_lab.cu -lcublasLt \
  >"$OUT/gemm_build.log" 2>&1
echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/gemm_build.log" | head -5
for m in 64; do timeout 120 build/gemm_lab $m; echo "exit $?"; done
echo "total $((SECONDS - t0)) s"
