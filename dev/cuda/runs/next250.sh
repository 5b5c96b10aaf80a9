#!/usr/bin/env bash
# Thirty-fourth session, call 5: ring_lab.cu mode 6 with the last 10% or 25% of every product's
# rows left in a pool (bal 3) that the producers take from a counter in pieces of half or a
# quarter of a stage, the next piece asked for before its ring slot is waited for: does taking
# the phase's tail as it comes shrink the meetings' spread (1.8 us with equal shares)?
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu &&
  for i in 1 2; do RING_ONLY6=1 RING_POOL=1 timeout 120 /tmp/ring_lab; done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
