#!/usr/bin/env bash
# Twelfth session, fifth call: step_lab.cu, the decoding step's state update in other block
# shapes (columns, row groups, rows in flight, cache hints) against step_kernel's, at B = 64
# and 256 of the 1.3B model's heads.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
nvcc -O2 -arch=sm_90a -std=c++17 dev/cuda/step_lab.cu -o /tmp/step_lab && /tmp/step_lab | tee "$OUT/step-lab.txt"
echo "total $((SECONDS - t0)) s"
