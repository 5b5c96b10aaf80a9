#!/usr/bin/env bash
# Fourteenth session: ring_lab.cu with the L2 asked ahead of the ring (0-32 MB of the grid's
# stream) and two grid barriers (a generation word polled with __nanosleep; a growing count
# polled hot), under the step's four and five barriers a layer.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/ring_lab" dev/cuda/ring_lab.cu &&
  timeout 120 "$OUT/ring_lab" | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
