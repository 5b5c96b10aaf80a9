#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6 as a dataflow step would reload its input: x only
# after a meeting (before q k v g and fc1 | gate; wo and fc2 read what the block made itself),
# the tensor-core consumers' sums kept to the half-layer's end (two part buffers, no barrier a
# product). Against x reloaded before every product, for tc 2 (with its floor), tc 1 and the
# FMA consumer with x as bf16. RING_PATTERN: every row checked against float64.
cd "$(dirname "$0")/../.."
t0=$SECONDS
export PATH=/usr/local/cuda/bin:$PATH
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
for i in 1 2; do
  echo "== run $i"
  RING_ONLY6=1 RING_XM=1 RING_PATTERN=1 timeout 150 /tmp/ring_lab | grep -E "^\| [0-9]|check:|plain|drain [-0-9]+:"
done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
