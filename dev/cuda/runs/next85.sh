#!/usr/bin/env bash
# Sixteenth session: window_lab2.cu, the window's step in other block shapes (wider blocks,
# two register sets of rows, the fold with the tokens outside the rows) against
# step_window_kernel<64, 32>, read-only and folding, B = 64 and 256. ~60 s. (The lab kernel
# it timed is window_lab2.cu at 4fb342b; the lab now times the mainline kernel's shapes.)
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/window_lab2" dev/cuda/window_lab2.cu &&
  timeout 200 "$OUT/window_lab2" | tee "$OUT/window_lab2.txt"
echo "total $((SECONDS - t0)) s"
