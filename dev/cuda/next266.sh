#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6 (two meetings a layer, x after meetings) with eight
# sequences on tensor cores, x of the 8 sequences held in shared memory (tc 4: 64 KB, the ring
# down to two 64 KB stages) against x read through L1/L2 (tc 3) and one sequence (tc 2), with tc
# 4's ring without products; every row of every sequence checked against float64.
cd "$(dirname "$0")/../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
for i in 1 2; do
  echo "== run $i"
  RING_ONLY6=1 RING_B8=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| 6|check:|plain"
done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
