#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6 (two meetings a layer, x after meetings) with eight
# sequences on the tensor-core consumer (tc 3: the mma's n = 8, x of 8 sequences read through L1
# in the mma loop, the warps' sums by red.shared) against one sequence (tc 2). RING_PATTERN:
# every row of every sequence checked against float64.
cd "$(dirname "$0")/../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
for i in 1 2; do
  echo "== run $i"
  RING_ONLY6=1 RING_B8=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| [0-9]|check:|plain|drain [-0-9]+:"
done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
