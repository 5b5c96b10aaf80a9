#!/usr/bin/env bash
# Seventeenth session: overlap_lab.cu, a plain read of half a layer's states (B = 128 of the
# 1.3B shape) on k SMs beside half a layer's products on the others (see the lab's header).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/overlap_lab" dev/cuda/overlap_lab.cu -lcublasLt >"$OUT/lab-build.log" 2>&1
echo "lab build: exit $?"
timeout 120 "$OUT/overlap_lab" 2>&1 | tee "$OUT/overlap_lab.txt"
echo "total $((SECONDS - t0)) s"
