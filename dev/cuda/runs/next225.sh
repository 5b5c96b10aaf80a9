#!/usr/bin/env bash
# Thirty-first session, call 2: issue 6 a's record on main's retention kernels: the library
# built on the device (dev/cuda/build.sh: sm_80, sm_90a, compute_90 PTX), the lab's checks
# against float64, then bench/gpu/retention_bench.py against fla's chunk_retention (and its
# faster path) and PyTorch SDPA in the same process.
cd "$(dirname "$0")/../../.."
LIBS=build/ret-cuda PROBE=0 BENCH_HARD=${BENCH_HARD:-260} bash dev/cuda/device_run.sh
