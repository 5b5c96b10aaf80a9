#!/usr/bin/env bash
# Thirty-fourth session, call 3: ring_lab.cu's mode 6 (the dataflow step's two meetings a layer,
# mode 4's, with each consumer warp draining one landed stage of the next product into its
# registers while it waits, so that the producer can keep the stream going through the
# meeting) against its control (the same code without the drain) and without meetings, beside
# modes 1, 4 and 5 at 64 KB stages; and the meetings' anatomy (%globaltimer stamps).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O3 -std=c++17 -gencode arch=compute_90a,code=sm_90a -o "$OUT/ring_lab" dev/cuda/ring_lab.cu &&
  for i in 1 2; do RING_ONLY6=1 timeout 120 "$OUT/ring_lab"; done | tee "$OUT/ring_lab.txt"
echo "total $((SECONDS - t0)) s"
