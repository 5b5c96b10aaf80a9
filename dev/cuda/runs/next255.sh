#!/usr/bin/env bash
# Thirty-fourth session: ring_lab.cu mode 6 with a landed stage drained into registers before
# every reload of the product's input too (bdrain), without meetings and with the two a layer:
# how much of the ~1.2 us a product that the reload costs (mode 6 without meetings 0.72 ms
# against mode 1's 0.59) the ring keeps streaming through.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu &&
  for i in 1 2; do RING_ONLY6=1 RING_BDRAIN=1 timeout 120 /tmp/ring_lab; done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
