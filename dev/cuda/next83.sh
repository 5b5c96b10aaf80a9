#!/usr/bin/env bash
# Fifteenth session (written, not run: the session's GPU time was spent): window_lab.cu, the
# decoding window's step for large states streamed (scores once a (b, h), sums over all warps)
# against step_window_kernel, read-only and folding, B = 64 and 256, with the plain read of
# the state for the ceiling. ~30 s.
cd "$(dirname "$0")/../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/window_lab" dev/cuda/window_lab.cu &&
  timeout 120 "$OUT/window_lab" | tee "$OUT/window_lab.txt"
echo "total $((SECONDS - t0)) s"
