#!/usr/bin/env bash
# skinny_lab.cu with a plain read of each weight and the TMA ring without products (ceilings), M = 64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
mkdir -p build
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -I src -I dev/cuda -o build/skinny_lab \
  dev/cuda/skinny_lab.cu -lcublasLt >"$OUT/skinny_build.log" 2>&1
echo "build: exit $? at $((SECONDS - t0)) s"; grep -E "error" "$OUT/skinny_build.log" | head -5
for m in 64; do timeout 150 build/skinny_lab $m; echo "exit $?"; done
echo "total $((SECONDS - t0)) s"
