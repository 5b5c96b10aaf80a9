#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6 (two meetings a layer, x after meetings) with eight
# sequences on the tensor-core consumer (tc 3: the mma's n = 8, x of 8 sequences read through L1
# in the mma loop, the warps' sums by red.shared) against one sequence (tc 2). RING_PATTERN:
# every row of every sequence checked against float64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
ring_lab_runs RING_B8=1 || exit 1
echo "total $((SECONDS - t0)) s"
