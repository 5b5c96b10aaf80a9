#!/usr/bin/env bash
# Thirty-fifth session: the tensor-core consumer's shape in ring_lab.cu mode 6 (two meetings a
# layer): 32 KB stages (6 in the ring) against 64 KB (3), the slot handed back right after
# ldmatrix (early release) or after the mma, each against the same ring without products (the
# floor); two chains of mma a warp. RING_PATTERN: every row checked against float64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
ring_lab_runs RING_TC=1 || exit 1
echo "total $((SECONDS - t0)) s"
