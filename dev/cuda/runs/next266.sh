#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6 (two meetings a layer, x after meetings) with eight
# sequences on tensor cores, x of the 8 sequences held in shared memory (tc 4: 64 KB, the ring
# down to two 64 KB stages) against x read through L1/L2 (tc 3) and one sequence (tc 2), with tc
# 4's ring without products; every row of every sequence checked against float64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
ring_lab_runs RING_B8=1 || exit 1
echo "total $((SECONDS - t0)) s"
