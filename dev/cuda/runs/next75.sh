#!/usr/bin/env bash
# Fourteenth session: ring_lab.cu with the barriers a dataflow step would keep (mode 4: after
# wo and fc2, two a layer; mode 5: one a layer) beside modes 0-3 (next66, next67), counter
# barrier, 32 and 64 KB stages: what a persistent step could reach at B = 1 if only its global
# meetings stopped the stream.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/ring_lab" dev/cuda/ring_lab.cu &&
  timeout 120 "$OUT/ring_lab" | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
