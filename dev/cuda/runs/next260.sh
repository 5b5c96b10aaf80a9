#!/usr/bin/env bash
# Thirty-fifth session: ring_lab.cu mode 6 as a dataflow step would reload its input: x only
# after a meeting (before q k v g and fc1 | gate; wo and fc2 read what the block made itself),
# the tensor-core consumers' sums kept to the half-layer's end (two part buffers, no barrier a
# product). Against x reloaded before every product, for tc 2 (with its floor), tc 1 and the
# FMA consumer with x as bf16. RING_PATTERN: every row checked against float64.
cd "$(dirname "$0")/../../.."
. dev/cuda/lib.sh
ring_lab_runs RING_XM=1 || exit 1
echo "total $((SECONDS - t0)) s"
