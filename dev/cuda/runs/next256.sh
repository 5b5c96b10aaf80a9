#!/usr/bin/env bash
# Thirty-fourth session, after the review: ring_lab.cu's mode 6 with its products checked (x = 1,
# out set to NaN, every row of every product K times the weight within 1e-4) in every setting it
# has (the drains, the balanced shares, the pools), and a mutant that drops each stage's last
# row, which the check must catch. Timings as next248-next255 (one run each).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_lab dev/cuda/ring_lab.cu || exit 1
sed 's/if (!lane \&\& j < n) out\[j\] = acc;/if (!lane \&\& j < n - 1) out[j] = acc;/' dev/cuda/ring_lab.cu >/tmp/ring_mut.cu
cmp -s dev/cuda/ring_lab.cu /tmp/ring_mut.cu && { echo "the mutant is the same file"; exit 1; }
(cd dev/cuda && nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o /tmp/ring_mut /tmp/ring_mut.cu -I.) || exit 1
for env in "RING_BDRAIN=1" "RING_POOL=1" ""; do
  echo "== $env"
  env RING_ONLY6=1 $env timeout 120 /tmp/ring_lab | grep -E "^\| [0-9]|check:|plain"
done | tee "$OUT/ring_lab.txt"
echo "== the mutant (each stage's last row dropped)"
RING_ONLY6=1 RING_BDRAIN=1 timeout 120 /tmp/ring_mut | grep -E "check:" | head -4
echo "total $((SECONDS - t0)) s"
