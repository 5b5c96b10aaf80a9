#!/usr/bin/env bash
# Sixteenth session, first call: the fifteenth session's review (9b4aadd) and the window runs
# of test_graphs, never yet run on a GPU: a clean build (sm_90a only, for time) and every CUDA
# test; then next83's lab (window_lab.cu: the streamed window step against the block kernel).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
export CUDA_GENCODE="-gencode arch=compute_90a,code=sm_90a"
clean_tests 150
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/window_lab" dev/cuda/window_lab.cu &&
  timeout 120 "$OUT/window_lab" | tee "$OUT/window_lab.txt"
echo "total $((SECONDS - t0)) s"
