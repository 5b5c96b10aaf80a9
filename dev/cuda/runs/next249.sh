#!/usr/bin/env bash
# Thirty-fourth session, call 4: ring_lab.cu mode 6 with each SM's share of every product sized
# by its measured speed (`bal`: the lateness of its block at the meetings of an equal-shares run,
# as a fraction of the phase before them; an SM's share found by %smid), against equal shares;
# and whether an SM's lateness is its own (even against odd meetings).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu &&
  for i in 1 2; do RING_ONLY6=1 timeout 120 /tmp/ring_lab; done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
