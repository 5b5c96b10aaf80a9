#!/usr/bin/env bash
# Twelfth session, seventh call: step_lab.cu at B = 1, 8, 64, 256, each variant timed as 20
# launches in one graph, with narrower blocks (16 and 32 columns: more blocks where the
# step is latency, at B = 1 64 blocks of 64 columns on 132 SMs).
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O2 -arch=sm_90a -std=c++17 dev/cuda/step_lab.cu -o /tmp/step_lab && /tmp/step_lab | tee "$OUT/step-lab.txt"
echo "total $((SECONDS - t0)) s"
