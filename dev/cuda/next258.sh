#!/usr/bin/env bash
# Thirty-fifth session: the tensor-core consumer's shape in ring_lab.cu mode 6 (two meetings a
# layer): 32 KB stages (6 in the ring) against 64 KB (3), the slot handed back right after
# ldmatrix (early release) or after the mma, each against the same ring without products (the
# floor); two chains of mma a warp. RING_PATTERN: every row checked against float64.
cd "$(dirname "$0")/../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
for i in 1 2; do
  echo "== run $i"
  RING_ONLY6=1 RING_TC=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| [0-9]|check:|plain|drain [-0-9]+:"
done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
